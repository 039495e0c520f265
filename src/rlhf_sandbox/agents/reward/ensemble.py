"""A reward model learned from preferences: an ensemble of small MLPs over (observation, action).

As in Christiano et al. (2017), a segment's score is the sum of its per-step rewards
``r(o, a)``, and the chance that a person prefers the left segment of a pair is

    P(left) = (1 - rr) * sigmoid(R_left - R_right) + rr / 2,

where ``rr`` (``random_response``) allows for answers given at random. Each member is
trained on its own bootstrap resample of the training pairs, from its own initial
weights, so the members' disagreement can guide which pairs to ask about next.

The K members are one :class:`~rlhf_sandbox.agents.reward.net.EnsembleMLP` (batched
layers), so one forward pass evaluates them all; ``predict``, on the PPO hot path, uses its
fast path with the member mean and the normalisation folded into the last layer. Weight
decay is AdamW's decoupled decay, not an L2 term in the loss.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhf_sandbox.agents.reward import ensemble_files
from rlhf_sandbox.agents.reward.batches import (
    FitReport,
    PreferenceBatch,
    SegmentPairs,
    accuracy,
    heldout_mask,
)
from rlhf_sandbox.agents.reward.inputs import extra_inputs, n_extra
from rlhf_sandbox.agents.reward.inputs import resolve as resolve_inputs
from rlhf_sandbox.agents.reward.model_config import (
    RewardModelConfig,
    bradley_terry_loss,
    pair_nll,
)
from rlhf_sandbox.agents.reward.net import EnsembleMLP
from rlhf_sandbox.agents.reward.robust import RimeState, preference_kl, rime_select
from rlhf_sandbox.agents.reward.surf import crop_windows, pseudo_labels

__all__ = [
    "FitReport",
    "PreferenceBatch",
    "RewardEnsemble",
    "RewardModelConfig",
    "SegmentPairs",
    "bradley_terry_loss",
    "heldout_mask",
]

_EVAL_ROWS = 1 << 16  # steps per forward pass when evaluating many pairs (bounds memory)
_MIN_DELTA = 1e-6  # a held-out loss must drop by more than this to count as better


class RewardEnsemble:
    """An ensemble of reward networks over a Box observation and a Box or Discrete action.

    Inputs are the flattened observation and the flattened Box action (or the Discrete
    action as one-hot). ``predict`` gives the ensemble's mean reward, normalised to mean 0
    and std 1 over the steps of the last fit (when ``config.normalise``).
    """

    def __init__(
        self,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        config: RewardModelConfig | None = None,
        *,
        env_id: str | None = None,
    ) -> None:
        config = config if config is not None else RewardModelConfig()
        # ``auto`` input features resolved by the env (none when unknown); the model keeps the
        # resolved name, so that a saved model reloads with the inputs it was fitted on
        features = resolve_inputs(config.input_features, env_id)
        self.config = dataclasses.replace(config, input_features=features)
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(
                f"RewardEnsemble needs a Box observation space, got {observation_space}"
            )
        self._act_shape: tuple[int, ...]
        if isinstance(action_space, gym.spaces.Discrete):
            self._discrete, act_dim = True, int(action_space.n)
            self._act_start, self._act_shape = int(action_space.start), ()
        elif isinstance(action_space, gym.spaces.Box):
            self._discrete, act_dim = False, int(np.prod(action_space.shape, dtype=np.int64))
            self._act_start, self._act_shape = 0, tuple(action_space.shape)
        else:
            raise ValueError(
                f"RewardEnsemble needs a Box or Discrete action space, got {action_space}"
            )
        self.observation_space = observation_space
        self.action_space = action_space
        self._obs_shape: tuple[int, ...] = tuple(observation_space.shape)
        self._obs_dim = int(np.prod(self._obs_shape, dtype=np.int64))
        self._n_extra = n_extra(features)
        self._act_dim = act_dim
        cfg = self.config
        want = cfg.device if cfg.device != "auto" else "cuda"
        self.device = torch.device(want if want == "cpu" or torch.cuda.is_available() else "cpu")
        self._cpu = self.device.type == "cpu"
        self.net = EnsembleMLP(
            cfg.n_members,
            self._obs_dim + self._n_extra,
            act_dim,
            self._discrete,
            cfg.hidden,
            cfg.activation,
            cfg.seed,
        ).to(self.device)
        self.version = 0
        """completed fits"""
        self.last_report: FitReport | None = None
        """the report of the last fit (also after :meth:`load`)"""
        self.rime_state = RimeState()
        """RIME's running statistics during the last fit (``config.rime``)"""
        self.rime_dropped = np.zeros(0, np.int64)
        """pairs of the last fit's batch that its last epoch left out (RIME), by index"""
        self.rime_flipped = np.zeros(0, np.int64)
        """pairs of the last fit's batch that its last epoch trained with flipped labels"""

    @property
    def n_members(self) -> int:
        return self.config.n_members

    # ------------------------------------------------------------------ inputs
    def _inputs(self, obs: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps ``[N, *obs_shape]`` and actions as the tensors that the network takes."""
        o = np.ascontiguousarray(obs, dtype=np.float32)
        n = o.shape[0] if o.ndim else 0
        if o.shape[1:] != self._obs_shape:
            raise ValueError(f"obs must have shape [N, *{self._obs_shape}], got {o.shape}")
        o_t = torch.from_numpy(o).view(n, self._obs_dim)
        a = np.asarray(actions)
        if self._discrete:
            if a.shape != (n,):
                raise ValueError(f"Discrete actions must have shape [{n}], got {a.shape}")
            a = a.astype(np.int64, copy=False)
            if self._act_start:
                a = a - self._act_start
            if n and (a.min() < 0 or a.max() >= self._act_dim):
                raise ValueError(
                    f"actions must be in {self.action_space}, got {a + self._act_start}"
                )
            a_t = torch.from_numpy(np.ascontiguousarray(a))
        else:
            if a.shape != (n, *self._act_shape):
                raise ValueError(
                    f"actions must have shape [{n}, *{self._act_shape}], got {a.shape}"
                )
            a_t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).view(n, self._act_dim)
        if not self._cpu:
            o_t, a_t = o_t.to(self.device), a_t.to(self.device)
        o_t = self._with_computed(o_t)
        if self.config.normalise_inputs:
            o_t = (o_t - self.net.in_mean) / self.net.in_std
        return o_t, a_t

    def _with_computed(self, obs: torch.Tensor) -> torch.Tensor:
        """Flat observations ``[N, obs_dim]`` with the computed inputs (``input_features``)
        appended: what the network's first layer takes."""
        if not self._n_extra:
            return obs
        return torch.cat([obs, extra_inputs(self.config.input_features, obs)], 1)

    def _segments(self, obs: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Segments ``[M, T, *obs_shape]`` as tensors ``[M, T, obs_dim]``, ``[M, T(, act_dim)]``."""
        o, a = np.asarray(obs), np.asarray(actions)
        if o.ndim < 2:
            raise ValueError(f"segments must have shape [M, T, *{self._obs_shape}], got {o.shape}")
        m, t = o.shape[:2]
        if a.shape[:2] != (m, t):
            raise ValueError(f"actions {a.shape} do not match segments {o.shape}")
        o_t, a_t = self._inputs(o.reshape(m * t, *o.shape[2:]), a.reshape(m * t, *a.shape[2:]))
        return o_t.view(m, t, -1), a_t.view(m, t, *a_t.shape[1:])

    # ------------------------------------------------------------------ prediction
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The ensemble's mean normalised reward of each step: float32 ``[N]``.

        ``obs``: ``[N, *obs_shape]``; ``actions``: ``[N, *act_shape]`` (``[N]`` for Discrete).
        One forward pass for all members.
        """
        o, a = self._inputs(obs, actions)
        with torch.inference_mode():
            r = self.net.predict_normalised(o, a)
            return r.numpy() if self._cpu else r.cpu().numpy()

    def member_rewards(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Each member's normalised reward of each step: float32 ``[K, N]``."""
        o, a = self._inputs(obs, actions)
        with torch.inference_mode():
            return self._normalised(self._step_rewards(o, a)).cpu().numpy()

    def segment_returns(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Each member's return (normalised rewards summed over T) of each segment: ``[K, M]``.

        ``obs``: ``[M, T, *obs_shape]``; ``actions``: ``[M, T, *act_shape]``.
        """
        o, a = self._segments(obs, actions)
        with torch.inference_mode():
            return self._normalised(self._step_rewards(o, a)).sum(-1).cpu().numpy()

    def preference_probs(
        self,
        obs_left: np.ndarray,
        act_left: np.ndarray,
        obs_right: np.ndarray,
        act_right: np.ndarray,
    ) -> np.ndarray:
        """Each member's chance that the left segment is preferred: float32 ``[K, P]``.

        The model that training fits: raw (unnormalised) returns and ``random_response``.
        """
        ol, al = self._segments(obs_left, act_left)
        o_r, a_r = self._segments(obs_right, act_right)
        if ol.shape != o_r.shape:
            raise ValueError(f"left {tuple(ol.shape)} and right {tuple(o_r.shape)} differ")
        rr = self.config.random_response
        with torch.inference_mode():
            diff = self._step_rewards(ol, al).sum(-1) - self._step_rewards(o_r, a_r).sum(-1)
            p = (1 - rr) * torch.sigmoid(diff) + rr / 2
            return p.cpu().numpy()

    def _normalised(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.net.norm_mean) / self.net.norm_std

    def _step_rewards(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Raw rewards ``[K, *lead]`` of steps ``[*lead, obs_dim]``, in chunks of steps."""
        lead = obs.shape[:-1]
        o = obs.reshape(-1, obs.shape[-1])
        a = act.reshape(-1) if self._discrete else act.reshape(-1, act.shape[-1])
        parts = [
            self.net(o[i : i + _EVAL_ROWS], a[i : i + _EVAL_ROWS])
            for i in range(0, max(o.shape[0], 1), _EVAL_ROWS)
        ]
        return torch.cat(parts, 1).view(self.n_members, *lead)

    # ------------------------------------------------------------------ training
    def _batch_tensors(self, batch: PreferenceBatch) -> dict[str, torch.Tensor]:
        """The batch, checked, as tensors: ``obs`` ``[P, 2, T, obs_dim]``, ``act``
        ``[P, 2, T(, act_dim)]`` (left then right), ``target`` and ``weight`` ``[P]``."""
        if not isinstance(batch, PreferenceBatch):
            raise TypeError(f"fit needs a PreferenceBatch, got {type(batch).__name__}")
        target = np.asarray(batch.target, dtype=np.float32)
        if target.ndim != 1 or target.shape[0] == 0:
            raise ValueError(f"target must have shape [P] with P >= 1, got {target.shape}")
        if not np.all((target >= 0) & (target <= 1)):
            raise ValueError("target must hold probabilities in [0, 1]")
        p = target.shape[0]
        weight = (
            np.ones(p, np.float32)
            if batch.weight is None
            else np.asarray(batch.weight, dtype=np.float32)
        )
        if weight.shape != (p,) or not np.all(np.isfinite(weight) & (weight >= 0)):
            raise ValueError(f"weight must be finite, >= 0 and of shape [{p}]")
        dev = self.device
        return {
            **self._pair_tensors(
                batch.obs_left, batch.act_left, batch.obs_right, batch.act_right, p
            ),
            "target": torch.from_numpy(target).to(dev),
            "weight": torch.from_numpy(weight).to(dev),
        }

    def _pair_tensors(
        self, obs_l: np.ndarray, act_l: np.ndarray, obs_r: np.ndarray, act_r: np.ndarray, p: int
    ) -> dict[str, torch.Tensor]:
        """``obs`` ``[P, 2, T, obs_dim]`` and ``act`` ``[P, 2, T(, act_dim)]``, checked."""
        ol, al = self._segments(obs_l, act_l)
        o_r, a_r = self._segments(obs_r, act_r)
        if ol.shape[0] != p or o_r.shape != ol.shape:
            raise ValueError(
                f"obs_left {tuple(ol.shape)} and obs_right {tuple(o_r.shape)} must both be "
                f"[P={p}, T, ...] with the same T"
            )
        return {"obs": torch.stack([ol, o_r], 1), "act": torch.stack([al, a_r], 1)}

    def _member_losses(
        self,
        data: dict[str, torch.Tensor],
        idx: torch.Tensor,
        window: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Each member's loss ``[K]`` over its own pairs ``idx`` ``[K, B]``; with ``window``
        (``[K, B, 2, T]``, 0/1) each segment's return sums only the steps it marks."""
        k, b = idx.shape
        obs, act = data["obs"][idx], data["act"][idx]  # [K, B, 2, T, ...]
        t = obs.shape[3]
        r = self.net(obs.view(k, b * 2 * t, -1), act.view(k, b * 2 * t, *act.shape[4:]))
        r = r.view(k, b, 2, t)
        ret = (r * window if window is not None else r).sum(-1)
        nll = pair_nll(ret[..., 0] - ret[..., 1], data["target"][idx], self.config.random_response)
        w = data["weight"][idx]
        return (w * nll).sum(1) / w.sum(1).clamp_min(1e-12)

    def _pseudo_losses(
        self, u_data: dict[str, torch.Tensor], idx: torch.Tensor, window: torch.Tensor | None
    ) -> torch.Tensor:
        """Each member's SURF loss ``[K]`` over its unlabelled pairs ``idx`` ``[K, B]``: a
        pair that the member itself (whole segments, no gradient) gives a chance of at least
        ``pseudo_threshold`` to one side is labelled with that side and its cross-entropy
        taken (over ``window`` when cropping); the mean over all ``B`` pairs, the others
        counting 0 (as SURF's ``mean(loss * mask)``)."""
        k, b = idx.shape
        obs, act = u_data["obs"][idx], u_data["act"][idx]  # [K, B, 2, T, ...]
        t = obs.shape[3]
        r = self.net(obs.view(k, b * 2 * t, -1), act.view(k, b * 2 * t, *act.shape[4:]))
        r = r.view(k, b, 2, t)
        with torch.no_grad():
            whole = r.sum(-1)
            p_left = torch.sigmoid(whole[..., 0] - whole[..., 1])
            label = (p_left >= 0.5).to(r.dtype)
            sure = (torch.maximum(p_left, 1 - p_left) >= self.config.pseudo_threshold).to(r.dtype)
        ret = (r * window if window is not None else r).sum(-1)
        nll = pair_nll(ret[..., 0] - ret[..., 1], label, self.config.random_response)
        return (sure * nll).mean(1)

    def _evaluate(
        self, data: dict[str, torch.Tensor], idx: np.ndarray, metric: str = "loss"
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Each member's loss ``[K]`` over the pairs ``idx`` (shared by all members), and the
        ensemble's mean return difference of each pair ``[len(idx)]``. ``metric="error"``:
        the weighted mean ``|target - P(left)|`` instead of the cross-entropy."""
        i = torch.from_numpy(idx).to(self.device)
        rr = self.config.random_response
        with torch.no_grad():
            ret = self._step_rewards(data["obs"][i], data["act"][i]).sum(-1)  # [K, n, 2]
            diff = ret[..., 0] - ret[..., 1]
            if metric == "error":
                per_pair = (data["target"][i] - ((1 - rr) * torch.sigmoid(diff) + rr / 2)).abs()
            else:
                per_pair = pair_nll(diff, data["target"][i], rr)
            w = data["weight"][i]
            loss = (w * per_pair).sum(1) / w.sum().clamp_min(1e-12)
        return loss, diff.mean(0).cpu().numpy()

    @property
    def stop_metric(self) -> str:
        """What early stopping minimises on the held-out pairs: ``loss`` or ``error``
        (``config.stop_on``; ``auto`` is ``error`` with ``rime``, else ``loss``)."""
        on = self.config.stop_on
        return on if on != "auto" else ("error" if self.config.rime else "loss")

    def _chance_left(self, data: dict[str, torch.Tensor], idx: np.ndarray) -> np.ndarray:
        """The members' mean Bradley-Terry chance of left (no random responses) ``[len(idx)]``."""
        i = torch.from_numpy(idx).to(self.device)
        with torch.no_grad():
            ret = self._step_rewards(data["obs"][i], data["act"][i]).sum(-1)  # [K, n, 2]
            p = torch.sigmoid(ret[..., 0] - ret[..., 1]).mean(0)
        return p.double().cpu().numpy()

    def _rime_epoch(
        self, data: dict[str, torch.Tensor], train_idx: np.ndarray
    ) -> tuple[dict[str, torch.Tensor], int, int]:
        """``data`` with this epoch's RIME weights and targets (``robust``), and the numbers
        of training pairs dropped and flipped."""
        cfg = self.config
        target = data["target"].cpu().numpy()
        kl = preference_kl(self._chance_left(data, train_idx), target[train_idx])
        trusted, flipped = rime_select(
            kl,
            target[train_idx],
            self.rime_state,
            alpha=cfg.rime_alpha,
            beta_max=cfg.rime_beta_max,
            beta_min=cfg.rime_beta_min,
            decay=cfg.rime_decay,
            flip=cfg.rime_flip,
        )
        keep = np.ones(target.shape[0], np.float32)
        keep[train_idx[~(trusted | flipped)]] = 0.0
        new_target = target.copy()
        new_target[train_idx[flipped]] = 1.0 - new_target[train_idx[flipped]]
        dev = self.device
        out = dict(data)
        out["target"] = torch.from_numpy(new_target).to(dev)
        out["weight"] = data["weight"] * torch.from_numpy(keep).to(dev)
        self.rime_dropped = train_idx[~(trusted | flipped)]
        self.rime_flipped = train_idx[flipped]
        return out, int(self.rime_dropped.size), int(self.rime_flipped.size)

    def _windows(self, rng: np.random.Generator, k: int, b: int, t: int) -> torch.Tensor | None:
        """This minibatch's crop windows ``[K, B, 2, T]`` (``config.crop``), or None."""
        if self.config.crop <= 0.0:
            return None
        return torch.from_numpy(crop_windows(rng, (k, b), t, self.config.crop)).to(
            self.device, torch.float32
        )

    def fit(
        self,
        batch: PreferenceBatch,
        *,
        progress: Callable[[int, float], None] | None = None,
        unlabelled: SegmentPairs | None = None,
    ) -> FitReport:
        """Train every member on ``batch``, starting from the current weights.

        The pairs that :func:`heldout_mask` picks are held out (a pair keeps its side of the
        split while the batch grows by appending). Each member draws a bootstrap resample of
        the training pairs (``bagging``; a new one each fit) and is trained on minibatches of
        it with AdamW (a fresh optimiser each fit). After each epoch ``progress(epoch, loss)``
        gets the members' mean held-out loss (the training pairs' loss when none are held
        out). Each member's best weights by that loss are kept; training stops once no
        member has improved for ``patience`` epochs, and the best weights are restored.
        Finally the normalisation is set from the ensemble's mean raw reward over every step
        of ``batch`` (both sides of every pair).

        Off by default (``config``): ``rime`` (each epoch trains on the pairs RIME trusts,
        some with labels flipped: :mod:`~rlhf_sandbox.agents.reward.robust`; early stopping
        then minimises the held-out error, ``stop_on``), ``crop`` (SURF's temporal crops of
        the training pairs) and, given ``unlabelled`` pairs and ``pseudo_weight > 0``, SURF's
        pseudo-labels (:mod:`~rlhf_sandbox.agents.reward.surf`). Early stopping and the
        reported figures always use the whole segments and the labels as given.
        """
        start = time.perf_counter()
        cfg = self.config
        if cfg.normalise_inputs and self.version == 0:
            self._set_input_normalisation(batch)
        data = self._batch_tensors(batch)
        p = int(data["target"].shape[0])
        u_data: dict[str, torch.Tensor] | None = None
        if unlabelled is not None and not isinstance(unlabelled, SegmentPairs):
            raise TypeError(f"unlabelled must be SegmentPairs, got {type(unlabelled).__name__}")
        if unlabelled is not None and cfg.pseudo_weight > 0 and unlabelled.n_pairs > 0:
            u_data = self._pair_tensors(*unlabelled, unlabelled.n_pairs)
            if u_data["obs"].shape[2:] != data["obs"].shape[2:]:
                raise ValueError(
                    f"unlabelled segments {tuple(u_data['obs'].shape[2:])} differ from the"
                    f" labelled ones {tuple(data['obs'].shape[2:])}"
                )
        held = heldout_mask(p, cfg.holdout, cfg.seed)
        train_idx, held_idx = np.flatnonzero(~held), np.flatnonzero(held)
        stop_idx = held_idx if held_idx.size else train_idx
        n_train, k = train_idx.size, cfg.n_members
        rng = np.random.default_rng([cfg.seed, 2, self.version])
        aug = np.random.default_rng([cfg.seed, 3, self.version])  # crops, pseudo minibatches
        t = int(data["obs"].shape[2])
        n_dropped = n_flipped = n_pseudo = 0
        self.rime_dropped = self.rime_flipped = np.zeros(0, np.int64)
        self.rime_state = RimeState()  # afresh each fit: see agents.reward.robust
        if cfg.bagging:
            samples = train_idx[rng.integers(0, n_train, (k, n_train))]
        else:
            samples = np.tile(train_idx, (k, 1))  # C order: permuted() keeps a view's layout
        params = self.net.member_views()  # (parameter, its [K, ...] view)
        opt = torch.optim.AdamW([q for q, _ in params], lr=cfg.lr, weight_decay=cfg.weight_decay)
        best = [v.detach().clone() for _, v in params]
        best_loss = torch.full((k,), math.inf, device=self.device)
        since_best = np.zeros(k, np.int64)
        epoch = 0
        for epoch in range(1, cfg.max_epochs + 1):
            order = torch.from_numpy(rng.permuted(samples, axis=1)).to(self.device)
            epoch_data = data
            if cfg.rime:
                epoch_data, n_dropped, n_flipped = self._rime_epoch(data, train_idx)
            for s in range(0, n_train, cfg.batch_size):
                idx = order[:, s : s + cfg.batch_size]
                loss = self._member_losses(epoch_data, idx, self._windows(aug, k, idx.shape[1], t))
                if u_data is not None:
                    draw = aug.integers(0, u_data["obs"].shape[0], (k, cfg.batch_size))
                    u_loss = self._pseudo_losses(
                        u_data,
                        torch.from_numpy(draw).to(self.device),
                        self._windows(aug, k, draw.shape[1], t),
                    )
                    loss = loss + cfg.pseudo_weight * u_loss
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # members share no weights: each gets its own gradient
                opt.step()
            stop_loss, _ = self._evaluate(data, stop_idx, self.stop_metric)
            better = stop_loss < best_loss - _MIN_DELTA
            with torch.no_grad():
                for (_, v), v_best in zip(params, best, strict=True):
                    v_best.copy_(torch.where(better.view(-1, *[1] * (v.dim() - 1)), v, v_best))
            best_loss = torch.where(better, stop_loss, best_loss)
            since_best = np.where(better.cpu().numpy(), 0, since_best + 1)
            if progress is not None:
                progress(epoch, float(stop_loss.mean()))
            if since_best.min() >= cfg.patience:
                break
        with torch.no_grad():
            for (_, v), v_best in zip(params, best, strict=True):
                v.copy_(v_best)
        self._set_normalisation(data)
        if u_data is not None:
            chance = self._chance_left(u_data, np.arange(u_data["obs"].shape[0]))
            n_pseudo = int(pseudo_labels(chance, cfg.pseudo_threshold)[0].size)
        target = data["target"].cpu().numpy()
        train_loss, train_diff = self._evaluate(data, train_idx)
        if held_idx.size:
            held_loss, held_diff = self._evaluate(data, held_idx)
            heldout_loss = float(held_loss.mean())
            heldout_accuracy = accuracy(held_diff, target[held_idx])
        else:
            heldout_loss = heldout_accuracy = math.nan
        self.version += 1
        self.last_report = FitReport(
            n_pairs=p,
            n_train=int(n_train),
            n_heldout=int(held_idx.size),
            train_loss=float(train_loss.mean()),
            heldout_loss=heldout_loss,
            heldout_accuracy=heldout_accuracy,
            train_accuracy=accuracy(train_diff, target[train_idx]),
            epochs=epoch,
            seconds=time.perf_counter() - start,
            n_dropped=n_dropped,
            n_flipped=n_flipped,
            n_pseudo=n_pseudo,
        )
        return self.last_report

    def _set_input_normalisation(self, batch: PreferenceBatch) -> None:
        """Per-entry mean and std of the observations of every step of the first fit."""
        steps = np.concatenate([batch.obs_left, batch.obs_right], axis=0)
        steps = steps.reshape(-1, self._obs_dim).astype(np.float64)
        steps = self._with_computed(torch.from_numpy(steps)).numpy()  # standardised too
        with torch.no_grad():
            self.net.in_mean.copy_(torch.from_numpy(steps.mean(axis=0)))
            self.net.in_std.copy_(torch.from_numpy(steps.std(axis=0)).clamp_min(1e-3))

    def _set_normalisation(self, data: dict[str, torch.Tensor]) -> None:
        if not self.config.normalise:
            return
        with torch.no_grad():
            steps = self._step_rewards(data["obs"], data["act"]).mean(0).double()
            self.net.norm_mean.fill_(steps.mean())
            self.net.norm_std.fill_(steps.std(correction=0).clamp_min(1e-8))

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the weights and normalisation to ``path`` (``torch.save`` of a state dict)
        and the settings, spaces, version and last report to ``path`` with ``.json``.
        Both writes are atomic. Returns the JSON's path."""
        return ensemble_files.write(self, path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> RewardEnsemble:
        """An ensemble saved by :meth:`save`, on ``device`` (``torch.load(weights_only=True)``).

        ``device`` replaces the saved ``config.device``. A missing file is a
        FileNotFoundError and an unreadable or mismatched one a ValueError, each naming it.
        """
        saved = ensemble_files.read(path, device)
        model = cls(saved.observation_space, saved.action_space, saved.config)
        return ensemble_files.restore(model, saved, path)
