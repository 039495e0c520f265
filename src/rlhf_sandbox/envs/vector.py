"""SB3 vector envs of any env id, and what lies under SB3's wrappers."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import role_vec_env
from rlhf_sandbox.envs.core import CoreVectorEnv
from rlhf_sandbox.envs.ids import ARENA_V0, check_env_id, is_core_env
from rlhf_sandbox.envs.sb3 import CoreVecEnv


def make_vec_env(env_id: str, n_envs: int, seed: int | None = 0, **env_kwargs: Any) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies with episode statistics (``VecMonitor``).

    Our ids: ``CoreVecEnv`` over the id's batched core, slot i seeded ``seed + i``. Other
    Gymnasium ids: SB3's ``make_vec_env`` (a ``DummyVecEnv`` of ``n_envs`` single envs).
    """
    if env_id == ARENA_V0:
        return VecMonitor(_arena_roles(n_envs, seed, env_kwargs))
    check_env_id(env_id)
    if not is_core_env(env_id):
        return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    vec = gym.make_vec(env_id, num_envs=n_envs, **env_kwargs)
    if not isinstance(vec, CoreVectorEnv):
        raise TypeError(f"{env_id}: expected a CoreVectorEnv from make_vec, got {type(vec)}")
    venv = CoreVecEnv(vec.core)
    venv.seed(seed)
    return VecMonitor(venv)


def _arena_roles(n_envs: int, seed: int | None, env_kwargs: dict[str, Any]) -> VecEnv:
    """arena_v0's agents of one role as SB3 slots: ``n_envs // M`` worlds of M such NPCs."""
    kw = dict(env_kwargs)
    role = kw.pop("role", None)
    if role is None:
        raise ValueError("arena_v0: name the NPC role to train (env setting role=...)")
    config = build_config(ArenaConfig, None, **kw)
    m = sum(r == role for r in config.roles)
    venv = role_vec_env(role, max(1, n_envs // max(m, 1)), config)
    venv.seed(seed)
    return venv


def core_of(venv: VecEnv) -> CoreVecEnv | None:
    """The ``CoreVecEnv`` under any SB3 wrappers, or ``None`` for a foreign env."""
    v: Any = venv
    while True:
        if isinstance(v, CoreVecEnv):
            return v
        if not hasattr(v, "venv"):
            return None
        v = v.venv


def action_array(space: gym.Space[Any], actions: np.ndarray) -> np.ndarray:
    """Actions as the env saw them: int64 ``[N]`` (Discrete) or float32 clipped to the Box."""
    if isinstance(space, gym.spaces.Discrete):
        return np.asarray(actions).reshape(-1).astype(np.int64)
    if isinstance(space, gym.spaces.Box):
        a = np.asarray(actions, dtype=np.float32).reshape((-1, *space.shape))
        return np.clip(a, space.low, space.high)
    raise ValueError(f"unsupported action space {space} (Box or Discrete only)")
