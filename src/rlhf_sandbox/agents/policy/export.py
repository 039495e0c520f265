"""Ship a trained policy to a game: ONNX, or numpy weights with a forward that needs numpy only.

A policy saved by :func:`~rlhf_sandbox.agents.policy.ppo.save_policy` (an SB3 ``MlpPolicy``,
tanh) is reduced to its actor, the part that acts: the observation flattened, the hidden
layers, the action head. Its deterministic action is what SB3's
``policy.predict(obs, deterministic=True)`` returns: for ``Discrete`` actions the index of
the largest logit, for ``Box`` actions the Gaussian's mean clipped to the space's bounds.
The value network is left out.

- :func:`export_onnx`: ``policy.onnx``, one input ``obs`` (float32 ``[batch, obs_dim]``,
  the batch axis dynamic), one output ``action`` (int64 ``[batch]`` for ``Discrete``,
  float32 ``[batch, *shape]`` clipped for ``Box``), opset 15 (the TorchScript exporter:
  game-engine runtimes such as Unity Sentis before 2.6 read opsets 7 to 15); needs the
  ``export`` extra (``onnx``).
- :func:`export_numpy`: ``policy.npz`` (arrays only, no pickle) and ``npc_policy.py``, the
  forward in numpy (the package's ``npc_policy_template.py``, copied verbatim).

Each writes ``policy.json`` beside, what the files mean, and writes every file atomically.
:func:`export_to_folder` writes one format into a new folder of its own, marked as the
``export`` command's, replacing only an earlier export (:mod:`rlhf_sandbox.files`).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_sandbox.envs.spaces import space_to_json
from rlhf_sandbox.files import atomic_path, json_path, replacing_folder, write_atomic

FORMATS = ("onnx", "numpy")
COMMAND = "export"  # the marker of an export folder names the command
ONNX_FILE = "policy.onnx"
NPZ_FILE = "policy.npz"
MODULE_FILE = "npc_policy.py"
TEMPLATE = "npc_policy_template.py"
NUMPY_FORMAT = "rlhf_sandbox.npc_policy/1"  # as in the template
ONNX_FORMAT = "rlhf_sandbox.onnx_policy/1"
OPSET = 15
INPUT, OUTPUT = "obs", "action"
EXTRA = "pip install 'rlhf-sandbox[export]'"


class ExportError(ValueError):
    """A policy this module cannot export (not an SB3 tanh ``MlpPolicy`` over Box
    observations and Discrete or Box actions); says why."""


@dataclass(frozen=True)
class Actor:
    """The acting part of a policy, as float32 arrays: hidden layers ``(weight [out, in],
    bias [out])`` each followed by tanh, then the head (logits or the Gaussian's mean)."""

    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    head: tuple[np.ndarray, np.ndarray]
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete | gym.spaces.Box

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.observation_space.shape))

    def meta(self, fmt: str, **extra: Any) -> dict[str, Any]:
        """``policy.json``: what the exported files hold and how to call them."""
        a = self.action_space
        return {
            "format": NUMPY_FORMAT if fmt == "numpy" else ONNX_FORMAT,
            "activation": "tanh",
            "hidden_layers": len(self.hidden),
            "hidden_sizes": [int(w.shape[0]) for w, _ in self.hidden],
            "observation_shape": list(self.observation_space.shape),
            "obs_dim": self.obs_dim,
            "action_type": type(a).__name__,
            "action_shape": list(a.shape or ()),
            "action": (
                f"int64, the index of the largest of {int(a.n)} logits"
                if isinstance(a, gym.spaces.Discrete)
                else "float32, the Gaussian's mean clipped to the Box's bounds"
            ),
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(a),
            **({"input": INPUT, "output": OUTPUT, "opset": OPSET} if fmt == "onnx" else {}),
            **extra,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``policy.npz`` (the names the template reads)."""
        out: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(self.hidden):
            out[f"hidden_weight_{i}"], out[f"hidden_bias_{i}"] = w, b
        out["action_weight"], out["action_bias"] = self.head
        if isinstance(self.action_space, gym.spaces.Box):
            out["action_low"] = self.action_space.low.astype(np.float32)
            out["action_high"] = self.action_space.high.astype(np.float32)
        return out


def actor_of(policy: Any) -> Actor:
    """The actor of an SB3 ``ActorCriticPolicy`` (MlpPolicy, tanh); :class:`ExportError`
    for anything whose deterministic action it would not reproduce."""
    import torch
    from stable_baselines3.common.distributions import (
        CategoricalDistribution,
        DiagGaussianDistribution,
    )
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(policy, ActorCriticPolicy):
        raise ExportError(f"cannot export a {type(policy).__name__}: an SB3 MlpPolicy only")
    obs_space, act_space = policy.observation_space, policy.action_space
    if not isinstance(obs_space, gym.spaces.Box):
        raise ExportError(f"cannot export a policy over {obs_space} observations (Box only)")
    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise ExportError(
            f"cannot export a {type(policy.pi_features_extractor).__name__} (MlpPolicy only)"
        )
    if policy.normalize_images and is_image_space(obs_space, check_channels=False):
        raise ExportError("cannot export a policy over image observations (scaled by SB3)")
    if isinstance(act_space, gym.spaces.Discrete):
        if int(act_space.start) != 0 or not isinstance(policy.action_dist, CategoricalDistribution):
            raise ExportError(f"cannot export a policy over {act_space} (start 0 only)")
    elif isinstance(act_space, gym.spaces.Box):
        if policy.squash_output or policy.use_sde:
            raise ExportError("cannot export a policy with squashed or gSDE actions")
        if not isinstance(policy.action_dist, DiagGaussianDistribution):
            raise ExportError(f"cannot export a {type(policy.action_dist).__name__}")
    else:
        raise ExportError(f"cannot export a policy over {act_space} (Discrete or Box only)")

    def arrays(layer: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(layer, torch.nn.Linear) or layer.bias is None:
            raise ExportError(f"cannot export a {type(layer).__name__} layer (Linear only)")
        w = layer.weight.detach().cpu().numpy().astype(np.float32)
        return np.ascontiguousarray(w), layer.bias.detach().cpu().numpy().astype(np.float32)

    modules = list(policy.mlp_extractor.policy_net)
    if len(modules) % 2 or not all(isinstance(m, torch.nn.Tanh) for m in modules[1::2]):
        raise ExportError(
            "cannot export hidden layers other than Linear, Tanh pairs (MlpPolicy, tanh)"
        )
    hidden = tuple(arrays(m) for m in modules[0::2])
    return Actor(hidden, arrays(policy.action_net), obs_space, act_space)


# ---------------------------------------------------------------------- numpy
def template_source() -> bytes:
    """The source of ``npc_policy.py``: the package's template, byte for byte."""
    return (importlib.resources.files(__package__) / TEMPLATE).read_bytes()


def export_numpy(policy: Any, path: str | Path, **extra: Any) -> list[Path]:
    """Write the actor of ``policy`` to ``path`` (an ``.npz`` of float32 arrays), its
    ``.json`` beside, and ``npc_policy.py`` (numpy only) beside; ``extra`` (JSON-able,
    an env id for instance) goes into the JSON. Returns the paths written."""
    actor = actor_of(policy)
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: the numpy export is an .npz file")
    with atomic_path(path) as tmp:
        np.savez(tmp, allow_pickle=False, **actor.arrays())
    meta = json_path(path)
    write_atomic(meta, _json(actor.meta("numpy", **extra)))
    module = path.with_name(MODULE_FILE)
    write_atomic(module, template_source())
    return [path, meta, module]


# ---------------------------------------------------------------------- ONNX
def onnx_missing() -> str | None:
    """Why ``--format onnx`` cannot run here (None when it can)."""
    try:
        found = importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"the ONNX export needs the onnx package: {EXTRA}"


def export_onnx(policy: Any, path: str | Path, **extra: Any) -> list[Path]:
    """Write the actor of ``policy`` as an ONNX model to ``path`` (see the module's
    docstring), its ``.json`` beside (also in the model's metadata, key
    ``rlhf_sandbox``). Returns the paths written."""
    if (why := onnx_missing()) is not None:
        raise ModuleNotFoundError(why)
    import onnx
    import torch

    actor = actor_of(policy)
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"{path}: the ONNX export is an .onnx file")
    meta = actor.meta("onnx", **extra)
    module = _torch_actor(actor).eval()
    example = torch.zeros((2, actor.obs_dim), dtype=torch.float32)
    with atomic_path(path) as tmp, _quiet_exporter():
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            **_torchscript(),
        )
        model = onnx.load(str(tmp))
        model.producer_name = "rlhf-sandbox"
        entry = model.metadata_props.add()
        entry.key, entry.value = "rlhf_sandbox", json.dumps(meta)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    jpath = json_path(path)
    write_atomic(jpath, _json(meta))
    return [path, jpath]


def _torch_actor(actor: Actor) -> Any:
    """The actor as a torch module: obs [batch, obs_dim] -> the deterministic action."""
    import torch

    def linear(w: np.ndarray, b: np.ndarray) -> torch.nn.Linear:
        layer = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
        return layer

    class Module(torch.nn.Module):
        low: torch.Tensor  # buffers of a Box's bounds
        high: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            layers: list[torch.nn.Module] = []
            for w, b in actor.hidden:
                layers += [linear(w, b), torch.nn.Tanh()]
            self.body = torch.nn.Sequential(*layers, linear(*actor.head))
            self.discrete = actor.discrete
            a = actor.action_space
            self.shape = tuple(a.shape or ())
            if isinstance(a, gym.spaces.Box):
                self.register_buffer("low", torch.from_numpy(a.low.astype(np.float32)))
                self.register_buffer("high", torch.from_numpy(a.high.astype(np.float32)))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            out = self.body(obs)
            if self.discrete:
                return torch.argmax(out, dim=1)
            if len(self.shape) != 1:
                out = out.reshape((-1, *self.shape))
            # np.clip(a, low, high) as SB3's predict does: min(max(a, low), high)
            return torch.minimum(torch.maximum(out, self.low), self.high)

    return Module()


def _torchscript() -> dict[str, Any]:
    """``dynamo=False`` where ``torch.onnx.export`` takes it (torch 2.5 and later; before,
    the TorchScript exporter is the only one)."""
    import inspect

    import torch

    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The TorchScript exporter without its deprecation warnings and log lines (it is
    deprecated from torch 2.9 in favour of the dynamo exporter, which emits opset 18 and
    up and needs onnxscript; this package pins torch below 2.14, where it still works)."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


# ---------------------------------------------------------------------- a folder
def export_policy(policy: Any, folder: Path, fmt: str, **extra: Any) -> list[Path]:
    """Export ``policy`` in format ``fmt`` into ``folder`` (its files' usual names)."""
    if fmt == "onnx":
        return export_onnx(policy, folder / ONNX_FILE, **extra)
    if fmt == "numpy":
        return export_numpy(policy, folder / NPZ_FILE, **extra)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def export_to_folder(
    policy: Any, out: Path, fmt: str, *, overwrite: bool = False, **extra: Any
) -> list[Path]:
    """Export ``policy`` into the new folder ``out``, whole or not at all: a folder there
    is replaced only when an earlier export made it and ``overwrite`` asks for it
    (:func:`~rlhf_sandbox.files.replacing_folder`; a :class:`~rlhf_sandbox.files.FolderError`
    otherwise). Returns the paths of the files, as they lie in ``out``."""
    actor_of(policy)  # refuse before any folder is made
    with replacing_folder(out, COMMAND, overwrite=overwrite) as tmp:
        written = export_policy(policy, tmp, fmt, **extra)
    return [out / p.name for p in written]


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
