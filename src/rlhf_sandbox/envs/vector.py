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
from rlhf_sandbox.envs.ids import ARENA_V0, check_env_id, is_core_env, is_game_spec
from rlhf_sandbox.envs.pz_maker import game_vec_env
from rlhf_sandbox.envs.sb3 import CoreVecEnv


def make_vec_env(env_id: str, n_envs: int, seed: int | None = 0, **env_kwargs: Any) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies with episode statistics (``VecMonitor``).

    Our ids: ``CoreVecEnv`` over the id's batched core, slot i seeded ``seed + i``. Other
    Gymnasium ids: SB3's ``make_vec_env`` (a ``DummyVecEnv`` of ``n_envs`` single envs).
    ``arena_v0`` and a PettingZoo game (``MODULE[:FACTORY]``): the agents of one role
    (``env_kwargs["role"]``) as the slots, ``n_envs`` rounded down to whole worlds or game
    copies (:func:`~rlhf_sandbox.envs.pz_maker.game_vec_env`; ``render_mode`` goes to the
    game's factory).
    """
    if env_id == ARENA_V0:
        return VecMonitor(_arena_roles(n_envs, seed, env_kwargs))
    if is_game_spec(env_id):
        kw = dict(env_kwargs)
        mode = kw.pop("render_mode", None)
        return VecMonitor(game_vec_env(env_id, n_envs, seed, kw, render_mode=mode))
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


def decision_hz(venv: VecEnv) -> float:
    """Decisions per second of the env in ``venv``: our core's ``policy_hz``; for a foreign
    env (a PettingZoo game too) 1 / its ``dt`` (Pendulum) or ``tau`` (CartPole) where it has
    one, else its ``render_fps``, else 30."""
    base = core_of(venv)
    if base is not None:
        return float(base.core.policy_hz)
    for name in ("dt", "tau"):
        try:
            step = venv.get_attr(name)[0]
        except AttributeError:
            continue
        if isinstance(step, int | float) and step > 0:
            return 1.0 / float(step)
    meta = venv.get_attr("metadata")[0] or {}
    return float(meta.get("render_fps") or 30)


class NonFiniteEnvError(RuntimeError):
    """An env returned NaN or inf; the message names the slot and the step (the caller
    adds the env). A failure of the env, not of the input: commands exit 1 on it."""


def check_finite(obs: np.ndarray, rewards: np.ndarray, steps: np.ndarray) -> None:
    """NonFiniteEnvError unless every observation and reward of a vector step is finite;
    ``steps[i]``: the step of slot i's episode the values came from."""
    bad_obs = ~np.isfinite(obs.reshape(obs.shape[0], -1)).all(axis=1)
    bad_rew = ~np.isfinite(np.asarray(rewards, dtype=np.float64))
    if bad_obs.any() or bad_rew.any():
        slot = int(np.flatnonzero(bad_obs | bad_rew)[0])
        what = "observation" if bad_obs[slot] else "reward"
        raise NonFiniteEnvError(
            f"slot {slot} returned a non-finite {what} at step {int(steps[slot])} of its episode"
        )
