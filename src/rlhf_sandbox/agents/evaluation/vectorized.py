"""Evaluation and GIFs over an SB3 ``VecEnv``, for envs that have no Gymnasium id
(``arena_v0``'s NPC roles, a PettingZoo game's roles): the same contract as
:func:`rollouts.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from rlhf_sandbox.agents.evaluation.episodes import EpisodeScheduler, EpisodeTallies
from rlhf_sandbox.agents.evaluation.rollouts import EvalResult, PolicyFn, StepObserver, tally_result
from rlhf_sandbox.envs.vector import core_of, decision_hz
from rlhf_sandbox.files import write_gif


def evaluate_vec(
    policy_fn: PolicyFn, venv: VecEnv, episodes: int, observer: StepObserver | None = None
) -> EvalResult:
    """Run ``venv`` (seeded by its maker) until ``episodes`` slot-episodes have ended; a slot
    with no episode left keeps stepping and is ignored. ``observer`` as in ``evaluate``."""
    n = venv.num_envs
    # The VecEnv resets its slots itself (its maker seeded it): the scheduler only says which
    # episode each slot plays.
    sched = EpisodeScheduler(np.arange(episodes), n)
    tally = EpisodeTallies(episodes, n)
    obs = np.asarray(venv.reset())
    while sched.busy:
        actions = np.asarray(policy_fn(obs))
        prev = obs
        step_obs, reward, done, infos = venv.step(actions)
        obs = np.asarray(step_obs)
        if observer is not None:
            names = infos[0].get("features", {}).keys()
            feats = {k: np.array([i["features"][k] for i in infos]) for k in names}
            observer(prev, actions, reward, {"features": feats}, sched.episode.copy())
        tally.add(reward, sched.active)
        ended = sched.advance(done)
        if ended.slots.size:
            truncated = [bool(info.get("TimeLimit.truncated", False)) for info in infos]
            tally.end(ended, ~np.array(truncated))
    return tally_result(tally)


def vec_gif(policy_fn: PolicyFn, venv: VecEnv, path: str | Path, steps: int = 150) -> int:
    """A GIF of slot 0 under ``policy_fn``, at the policy rate: our cores draw their world;
    another env its ``get_images()`` (a PettingZoo game made with ``render_mode="rgb_array"``:
    slot 0's copy). Returns the frames written; 0 (and no file) when the env draws none."""
    base = core_of(venv)
    obs = np.asarray(venv.reset())
    if base is not None:
        core: Any = base.core
        w, h = core.render_size

        def frame() -> np.ndarray | None:
            return core.render_slot(0, w, h)

        hz = float(core.policy_hz)
    else:

        def frame() -> np.ndarray | None:
            image = venv.get_images()[0]
            return None if image is None else np.asarray(image)[..., :3]

        hz = decision_hz(venv)
    first = frame()
    if first is None:
        return 0
    frames = [first]
    for _ in range(steps):
        obs = np.asarray(venv.step(np.asarray(policy_fn(obs)))[0])
        f = frame()
        if f is None:
            return 0
        frames.append(f)
    write_gif(path, frames, 1000 / hz)
    return len(frames)
