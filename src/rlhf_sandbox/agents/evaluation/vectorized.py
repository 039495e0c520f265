"""Evaluation and GIFs over an SB3 ``VecEnv``, for envs that have no Gymnasium id
(``arena_v0``'s NPC roles): the same contract as :func:`rollout.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from rlhf_sandbox.agents.evaluation.rollouts import EvalResult, PolicyFn, StepObserver
from rlhf_sandbox.envs.vector import core_of
from rlhf_sandbox.files import atomic_path


def evaluate_vec(
    policy_fn: PolicyFn, venv: VecEnv, episodes: int, observer: StepObserver | None = None
) -> EvalResult:
    """Run ``venv`` (seeded by its maker) until ``episodes`` slot-episodes have ended; a slot
    with no episode left keeps stepping and is ignored. ``observer`` as in ``evaluate``."""
    n = venv.num_envs
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    terminated = np.zeros(episodes, dtype=bool)
    episode = np.where(np.arange(n) < episodes, np.arange(n), -1)
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    next_episode = min(n, episodes)
    obs = np.asarray(venv.reset())
    while np.any(episode >= 0):
        actions = np.asarray(policy_fn(obs))
        prev = obs
        step_obs, reward, done, infos = venv.step(actions)
        obs = np.asarray(step_obs)
        if observer is not None:
            names = infos[0].get("features", {}).keys()
            feats = {k: np.array([i["features"][k] for i in infos]) for k in names}
            observer(prev, actions, reward, {"features": feats}, episode.copy())
        active = episode >= 0
        ret[active] += reward[active]
        length[active] += 1
        for i in np.flatnonzero(done & active):
            k = episode[i]
            truncated = bool(infos[i].get("TimeLimit.truncated", False))
            returns[k], lengths[k], terminated[k] = ret[i], length[i], not truncated
            ret[i], length[i] = 0.0, 0
            episode[i] = next_episode if next_episode < episodes else -1
            next_episode += 1
    return EvalResult(float(returns.mean()), float(returns.std()), returns, lengths, terminated)


def vec_gif(policy_fn: PolicyFn, venv: VecEnv, path: str | Path, steps: int = 150) -> int:
    """A GIF of slot 0 of one of our cores under ``policy_fn``, at the policy rate."""
    import imageio.v3 as iio

    base = core_of(venv)
    if base is None:
        raise ValueError("vec_gif draws our own worlds only")
    core: Any = base.core
    w, h = core.render_size
    obs = np.asarray(venv.reset())
    frames = [core.render_slot(0, w, h)]
    for _ in range(steps):
        obs = np.asarray(venv.step(np.asarray(policy_fn(obs)))[0])
        frames.append(core.render_slot(0, w, h))
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 / core.policy_hz, loop=0)
    return len(frames)
