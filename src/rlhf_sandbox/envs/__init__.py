"""Gymnasium and PettingZoo faces of our worlds. Importing ``rlhf_sandbox`` registers the ids.

Every id has a ``vector_entry_point``: ``gymnasium.make_vec(id, num_envs=N)`` returns the
batched VectorEnv (one array call per step), not N copies of the single env.
"""

from __future__ import annotations

import gymnasium as gym

_DRIVING = {
    "Highway-v0": ("HighwayEnv", "make_highway_vector"),
    "HighwayFast-v0": ("HighwayFastEnv", "make_highway_fast_vector"),
    "Merge-v0": ("MergeEnv", "make_merge_vector"),
    "Intersection-v0": ("IntersectionEnv", "make_intersection_vector"),
}
_ARENA = {
    "ArenaCompanion-v0": ("ArenaCompanionEnv", "make_companion_vector"),
    "ArenaGuard-v0": ("ArenaGuardEnv", "make_guard_vector"),
}

DRIVING_IDS = tuple(f"rlhf_sandbox/{name}" for name in _DRIVING)
ARENA_IDS = tuple(f"rlhf_sandbox/{name}" for name in _ARENA)


def register_envs() -> None:
    """Register every id with Gymnasium (idempotent)."""
    for module, table in (("driving", _DRIVING), ("arena_single", _ARENA)):
        for name, (cls, vec) in table.items():
            env_id = f"rlhf_sandbox/{name}"
            if env_id not in gym.registry:
                gym.register(
                    id=env_id,
                    entry_point=f"rlhf_sandbox.envs.{module}:{cls}",
                    vector_entry_point=f"rlhf_sandbox.envs.{module}:{vec}",
                )


register_envs()
