"""Inputs that the reward model computes from each observation and takes beside it
(``RewardModelConfig.input_features``).

``arena``: the distance from the NPC to the player in metres, capped at
:data:`ARENA_DISTANCE_CAP`. The arena's observation holds the player's offset divided by
the arena's side (12 m), so a metre moves it by 0.08: with 500 labels the reward model did
not find the companion's 1 m personal space in it, and with the distance beside it did
(``bench/companion_fit.py``; the figures in docs/BENCHMARKS.md). ``none``: the observation
alone. ``auto`` resolves by the env (:func:`resolve`): ``arena`` for the arena's ids,
``none`` elsewhere; a model keeps the resolved name, so a saved one reloads with the inputs
it was fitted on.
"""

from __future__ import annotations

from typing import Literal

import torch

from rlhf_sandbox.envs import ARENA_IDS
from rlhf_sandbox.envs.ids import ARENA_V0
from rlhf_sandbox.sim.arena.features import PLAYER_OFFSET
from rlhf_sandbox.sim.arena.params import SIZE

__all__ = ["ARENA_DISTANCE_CAP", "INPUT_FEATURES", "extra_inputs", "n_extra", "resolve"]

INPUT_FEATURES = ("auto", "none", "arena")
ARENA_DISTANCE_CAP = 6.0  # [m] the NPCs' view range: the companion oracle's far edge
_ARENA_GAMES = (*ARENA_IDS, ARENA_V0)


def resolve(name: str, env_id: str | None) -> Literal["none", "arena"]:
    """``name`` with ``auto`` replaced by what suits ``env_id`` (``none`` when unknown)."""
    if name not in INPUT_FEATURES:
        raise ValueError(f"input features {name!r} unknown; known: {', '.join(INPUT_FEATURES)}")
    if name == "auto":
        return "arena" if env_id in _ARENA_GAMES else "none"
    return "arena" if name == "arena" else "none"


def n_extra(name: str) -> int:
    """How many inputs ``name`` (resolved) adds to each observation."""
    return {"none": 0, "arena": 1}[name]


def extra_inputs(name: str, obs: torch.Tensor) -> torch.Tensor:
    """The inputs ``[N, n_extra(name)]`` that ``name`` (resolved) computes from flat
    observations ``obs`` ``[N, obs_dim]`` (for ``arena``, an arena NPC's observation first:
    a reward model's absorbing flag may follow it)."""
    if name == "arena":
        offset = obs[:, PLAYER_OFFSET : PLAYER_OFFSET + 2] * SIZE
        return torch.linalg.vector_norm(offset, dim=1, keepdim=True).clamp_max(ARENA_DISTANCE_CAP)
    return obs[:, :0]
