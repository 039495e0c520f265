"""Env ids: ours, the PettingZoo arena for training, users' own PettingZoo games, and their
checks.

How an ``--env`` spec is told apart (:func:`is_game_spec`): a Gymnasium id keeps its
Gymnasium meaning (registered in ``gymnasium.registry``, or gymnasium's own ``MODULE:ID``
form with an ID that is not a Python name, ``my_envs:Maze-v0``); ``arena_v0`` is our arena;
anything else of the form ``MODULE`` or ``MODULE:ATTR`` (Python names) is a PettingZoo game
(:mod:`~rlhf_sandbox.envs.pz_game`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS
from rlhf_sandbox.envs.pz_game import (
    GameError,
    game_form,
    import_module,
    is_gym_module_id,
    load_factory,
)

OUR_IDS = DRIVING_IDS + ARENA_IDS


# The PettingZoo arena, for training: one NPC role's agents as the slots of an SB3 VecEnv
# (``env_kwargs["role"]``), one shared policy (:func:`~rlhf_sandbox.envs.vector.make_vec_env`).
ARENA_V0 = "arena_v0"


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError("unknown env id 'X'; known: ...")`` unless ``env_id`` is a
    Gymnasium id: registered, or ``MODULE:ID`` whose MODULE registers ID when imported.

    Our ids are listed; any other id registered with Gymnasium is accepted too.
    """
    if env_id in gym.registry:
        return
    if is_gym_module_id(env_id):
        module, _, name = env_id.partition(":")
        import_module(module, f"env {env_id!r}")  # its code runs, as gymnasium.make would
        if name in gym.registry:
            return
        raise ValueError(f"env {env_id!r}: importing {module!r} registered no env id {name!r}")
    raise ValueError(f"unknown env id {env_id!r}; known: {', '.join(OUR_IDS)}")


def is_game_spec(env_id: str) -> bool:
    """Whether ``env_id`` names a user's PettingZoo game (``MODULE[:FACTORY]``, see the
    module docstring): no Gymnasium id, not ``arena_v0``, and of the form of Python names."""
    return env_id != ARENA_V0 and env_id not in gym.registry and game_form(env_id)


def trains_by_role(env_id: str) -> bool:
    """Whether ``env_id`` trains one role's agents as the slots of an SB3 VecEnv
    (``arena_v0``, a PettingZoo game) rather than Gymnasium copies of one env."""
    return env_id == ARENA_V0 or is_game_spec(env_id)


def check_train_env_id(env_id: str) -> None:
    """``check_env_id``, ``arena_v0`` (trained one NPC role at a time) and PettingZoo games
    (their module and factory imported: a GameError, a ValueError, when missing)."""
    if env_id == ARENA_V0:
        return
    if not is_game_spec(env_id):
        check_env_id(env_id)
        return
    try:
        load_factory(env_id)
    except GameError as e:
        if ":" in env_id:
            raise
        raise GameError(
            f"{e}; read as a PettingZoo game MODULE[:FACTORY] since {env_id!r} is no"
            f" registered Gymnasium id (ours: {', '.join(OUR_IDS)}, {ARENA_V0})"
        ) from None


def gym_name(env_id: str) -> str:
    """The registry name of a Gymnasium id (``ID`` of ``MODULE:ID``)."""
    return env_id.partition(":")[2] if is_gym_module_id(env_id) else env_id


def is_core_env(env_id: str) -> bool:
    """Whether ``env_id`` is one of ours (its vector entry point builds a batched core)."""
    if env_id == ARENA_V0:
        return True
    if is_game_spec(env_id):
        return False
    ep = gym.spec(gym_name(env_id)).vector_entry_point
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
