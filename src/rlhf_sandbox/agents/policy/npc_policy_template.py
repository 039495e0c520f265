"""A trained NPC (or driving) policy run with numpy alone: ``load(path).act(obs)``.

``rlhf-sandbox export --format numpy`` writes this file, unchanged, beside ``policy.npz``
(the actor's weights) and ``policy.json`` (what they mean). Copy the three into a game;
it needs Python 3.9+ and numpy, not torch, not stable-baselines3, not rlhf-sandbox::

    from npc_policy import load

    policy = load("path/to/export")  # the folder, or its policy.npz
    action = policy.act(obs)  # obs: one observation, or a batch [N, *shape]

The action is the one stable-baselines3 takes with ``predict(obs, deterministic=True)``:
for ``Discrete`` actions the index of the largest logit (int64), for ``Box`` actions the
Gaussian's mean clipped to the space's bounds (float32). The forward pass is the actor of
an SB3 ``MlpPolicy``: the observation flattened, tanh hidden layers, a linear head, all in
float32. ``policy.npz`` holds arrays only (read with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "rlhf_sandbox.npc_policy/1"
WEIGHTS = "policy.npz"


class Policy:
    """The actor of an exported policy: ``act(obs)`` gives its deterministic action."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if meta.get("format") != FORMAT:
            raise ValueError(f"not an exported policy (format {meta.get('format')!r})")
        if meta.get("activation") != "tanh":
            raise ValueError(f"unknown activation {meta.get('activation')!r}")
        n = int(meta["hidden_layers"])
        self.layers = [
            (_f32(arrays[f"hidden_weight_{i}"]), _f32(arrays[f"hidden_bias_{i}"])) for i in range(n)
        ]
        self.head = (_f32(arrays["action_weight"]), _f32(arrays["action_bias"]))
        self.observation_shape = tuple(int(d) for d in meta["observation_shape"])
        self.action_shape = tuple(int(d) for d in meta["action_shape"])
        self.discrete = meta["action_type"] == "Discrete"
        if not self.discrete:
            if meta["action_type"] != "Box":
                raise ValueError(f"unknown action type {meta['action_type']!r}")
            self.low = _f32(arrays["action_low"]).reshape(self.action_shape)
            self.high = _f32(arrays["action_high"]).reshape(self.action_shape)
        self.meta = meta

    def act(self, obs: Any) -> np.ndarray:
        """The action for one observation (shape ``observation_shape``), or the actions for
        a batch of them (shape ``[N, *observation_shape]``)."""
        x = np.asarray(obs, dtype=np.float32)
        if x.shape == self.observation_shape:
            single = True
            x = x[None]
        elif x.shape[1:] == self.observation_shape:
            single = False
        else:
            raise ValueError(
                f"observation of shape {x.shape}; expected {self.observation_shape}"
                f" or [N, *{self.observation_shape}]"
            )
        h = x.reshape(len(x), -1)
        for w, b in self.layers:
            h = np.tanh(h @ w.T + b)
        out = h @ self.head[0].T + self.head[1]
        if self.discrete:
            action = out.argmax(axis=1).astype(np.int64)
        else:
            action = np.clip(out.reshape((len(x), *self.action_shape)), self.low, self.high)
        return action[0] if single else action


def load(path: str | Path) -> Policy:
    """The policy exported to ``path``: the export folder, or its ``policy.npz`` (with
    ``policy.json`` beside it)."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return Policy(arrays, meta)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
