"""The networks of :class:`~rlhf_sandbox.agents.reward.ensemble.RewardEnsemble`: K small MLPs
``(observation, action) -> reward`` held as one module of batched layers.

One forward pass evaluates all K members. The first layer is split into an observation
part and an action part; a Discrete action selects a row of the action part (the same as
a one-hot input, without building it). :meth:`EnsembleMLP.predict_normalised`, on the PPO
hot path, folds the mean over members and the normalisation into the last layer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EnsembleMLP"]


def _uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator) -> nn.Parameter:
    return nn.Parameter((torch.rand(shape, generator=gen) * 2 - 1) * bound)


_Fn = Callable[[torch.Tensor], torch.Tensor]
_ACTIVATIONS: dict[str, tuple[_Fn, _Fn]] = {  # name: (function, in-place function)
    "relu": (torch.relu, torch.relu_),
    "tanh": (torch.tanh, torch.tanh_),
    "leaky_relu": (F.leaky_relu, F.leaky_relu_),
}


class EnsembleMLP(nn.Module):
    """K MLPs ``(obs, action) -> reward`` held as batched layers.

    The first layer is stored member-interleaved for one dense product over shared inputs:
    ``w_obs`` ``[obs_dim, K * W0]``, ``w_act`` ``[act_dim, K * W0]``, ``b_in`` ``[K * W0]``
    (columns ``k * W0 : (k + 1) * W0`` are member k's). The layers after it are
    ``weights[i]`` ``[K, fan_in, fan_out]`` and ``biases[i]`` ``[K, 1, fan_out]``; the last
    has ``fan_out`` 1. Initialised like ``nn.Linear`` (uniform in +-1/sqrt(fan_in)), each
    member independently.
    """

    norm_mean: torch.Tensor
    norm_std: torch.Tensor
    in_mean: torch.Tensor  # [obs_dim] input standardisation (RewardEnsemble applies it)
    in_std: torch.Tensor
    members: torch.Tensor
    _folded_key: tuple[int, ...] | None
    _folded: tuple[torch.Tensor, torch.Tensor]

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        discrete: bool,
        hidden: tuple[int, ...],
        activation: str,
        seed: int,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        k, widths = n_members, (*hidden, 1)
        bound = 1.0 / math.sqrt(max(obs_dim + act_dim, 1))
        self.w_obs = _uniform((obs_dim, k * widths[0]), bound, gen)
        self.w_act = _uniform((act_dim, k * widths[0]), bound, gen)
        self.b_in = _uniform((k * widths[0],), bound, gen)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(widths):
            self.weights.append(_uniform((k, fan_in, fan_out), 1.0 / math.sqrt(fan_in), gen))
            self.biases.append(_uniform((k, 1, fan_out), 1.0 / math.sqrt(fan_in), gen))
        self.k, self.width_in, self.discrete = k, widths[0], discrete
        self.act_fn, self.act_fn_ = _ACTIVATIONS[activation]
        self.register_buffer("norm_mean", torch.zeros(()))
        self.register_buffer("norm_std", torch.ones(()))
        self.register_buffer("in_mean", torch.zeros(obs_dim))
        self.register_buffer("in_std", torch.ones(obs_dim))
        self.register_buffer("members", torch.arange(k)[:, None], persistent=False)
        self._set_hot()

    def member_views(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each parameter and a view of it with the member axis first (``[K, ...]``)."""
        out: list[tuple[torch.Tensor, torch.Tensor]] = []
        for name, q in self.named_parameters():
            first = name in ("w_obs", "w_act", "b_in")
            out.append((q, q.view(-1, self.k, self.width_in).transpose(0, 1) if first else q))
        return out

    def _first_shared(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """First layer over steps shared by all members: ``[B, K * W0]``."""
        h = torch.addmm(self.b_in, obs, self.w_obs)
        if self.discrete:
            return h + self.w_act[act]
        return torch.addmm(h, act, self.w_act)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Each member's raw reward: ``[K, B]``.

        ``obs``: float ``[B, obs_dim]`` (steps shared by every member) or ``[K, B, obs_dim]``
        (each member its own); ``act`` likewise: int64 ``[B]`` / ``[K, B]`` (Discrete,
        counted from 0) or float ``[B, act_dim]`` / ``[K, B, act_dim]``.
        """
        k, w0 = self.k, self.width_in
        if obs.dim() == 2:
            h = self._first_shared(obs, act).view(-1, k, w0).transpose(0, 1)
        else:
            w_obs = self.w_obs.view(-1, k, w0).transpose(0, 1)  # [K, obs_dim, W0]
            h = torch.baddbmm(self.b_in.view(k, 1, w0), obs, w_obs)
            w_act = self.w_act.view(-1, k, w0)
            if self.discrete:
                h = h + w_act[act, self.members]
            else:
                h = torch.baddbmm(h, act, w_act.transpose(0, 1))
        for w, b in zip(self.weights, self.biases, strict=True):
            h = torch.baddbmm(b, self.act_fn(h), w)
        return h.squeeze(-1)

    def predict_normalised(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """The members' mean normalised reward ``[B]`` of steps ``[B, obs_dim]``: the same as
        ``(forward(obs, act).mean(0) - norm_mean) / norm_std`` in fewer operations.

        For inference only (it works in place). The mean over members and the normalisation
        are folded into the last layer; the folded copy is remade whenever one of the
        tensors it comes from has been written to (their ``_version`` counters).
        """
        w_obs, w_act, b_in, layers, sources = self._hot
        h = torch.addmm(b_in, obs, w_obs)
        if self.discrete:
            h.add_(torch.index_select(w_act, 0, act))
        else:
            h.addmm_(act, w_act)
        key = tuple(t._version for t in sources)
        if key != self._folded_key:
            self._fold(key)
        w_out, b_out = self._folded
        n, k = h.shape[0], self.k
        if not layers:
            return torch.addmv(b_out, h, w_out)
        for w, b in layers[:-1]:
            x = self.act_fn_(h).view(n, k, -1).transpose(0, 1)
            h = torch.baddbmm(b, x, w).transpose(0, 1).reshape(n, -1)
        return torch.addmv(b_out, self.act_fn_(h), w_out)

    def _fold(self, key: tuple[int, ...]) -> None:
        """Last layer, member mean and normalisation as one ``(w [K * width], b [])``."""
        with torch.no_grad():
            scale = 1.0 / (self.k * self.norm_std)
            if self.weights:
                w, b = self.weights[-1].reshape(-1), self.biases[-1].mean()
            else:  # linear members: the first layer is the last
                w, b = self.norm_std.new_ones(self.k), self.norm_std.new_zeros(())
            self._folded = (w * scale, (b - self.norm_mean) / self.norm_std)
        self._folded_key = key

    def _set_hot(self) -> None:
        """Plain references for :meth:`predict_normalised` (module attribute lookup is slow)."""
        layers = tuple(zip(self.weights, self.biases, strict=True))
        sources = (*(layers[-1] if layers else ()), self.norm_mean, self.norm_std)
        self._hot = (self.w_obs, self.w_act, self.b_in, layers, sources)
        self._folded_key = None

    def _apply(self, *args: Any, **kwargs: Any) -> Any:  # .to(device) may replace tensors
        out = super()._apply(*args, **kwargs)
        self._set_hot()
        return out
