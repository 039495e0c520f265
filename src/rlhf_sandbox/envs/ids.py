"""Env ids: ours, the PettingZoo arena for training, and their checks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS

OUR_IDS = DRIVING_IDS + ARENA_IDS


# The PettingZoo arena, for training: one NPC role's agents as the slots of an SB3 VecEnv
# (``env_kwargs["role"]``), one shared policy (:func:`~rlhf_sandbox.envs.vector.make_vec_env`).
ARENA_V0 = "arena_v0"


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError("unknown env id 'X'; known: ...")`` unless ``env_id`` is registered.

    Our ids are listed; any other id registered with Gymnasium is accepted too.
    """
    if env_id in gym.registry:
        return
    raise ValueError(f"unknown env id {env_id!r}; known: {', '.join(OUR_IDS)}")


def check_train_env_id(env_id: str) -> None:
    """``check_env_id``, and ``arena_v0`` too (trained one NPC role at a time)."""
    if env_id != ARENA_V0:
        check_env_id(env_id)


def is_core_env(env_id: str) -> bool:
    """Whether ``env_id`` is one of ours (its vector entry point builds a batched core)."""
    if env_id == ARENA_V0:
        return True
    ep = gym.spec(env_id).vector_entry_point
    return isinstance(ep, str) and ep.startswith("rlhf_sandbox.")


# Settings shown by `rlhf-sandbox envs`, where an id's config has them.
MAIN_SETTINGS = (
    "road", "lanes", "vehicles", "sim_hz", "policy_hz", "duration", "action",
    "layout", "roles", "max_steps", "dt", "continuous",
)  # fmt: skip


def describe_ids() -> list[tuple[str, str, str, str]]:
    """(id, main settings, observation space, action space) of each of our ids."""
    import dataclasses

    rows = []
    for env_id in OUR_IDS:
        env = gym.make(env_id)
        try:
            config = getattr(env.unwrapped, "config", None)
            fields = (
                {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
                if dataclasses.is_dataclass(config)
                else {}
            )
            main = ", ".join(f"{k}={fields[k]}" for k in MAIN_SETTINGS if k in fields)
            rows.append((env_id, main, _space(env.observation_space), _space(env.action_space)))
        finally:
            env.close()
    return rows


def _space(space: Any) -> str:
    shape = getattr(space, "shape", None)
    n = getattr(space, "n", None)
    return f"{type(space).__name__}({n})" if n is not None else f"{type(space).__name__}{shape}"
