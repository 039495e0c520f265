"""Run policies in envs: seeded evaluation on the batched vector env, and GIFs of episodes.

A *policy function* maps a batch of observations ``[N, *obs_shape]`` to a batch of actions
``[N, ...]``; :func:`random_policy` and :func:`sb3_policy` make the two we need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from rlhf_sandbox.agents.evaluation.episodes import EpisodeScheduler, EpisodeTallies
from rlhf_sandbox.envs.ids import check_env_id, is_core_env
from rlhf_sandbox.files import write_gif

PolicyFn = Callable[[np.ndarray], np.ndarray]
"""``policy_fn(obs [N, *obs_shape]) -> actions [N, ...]``"""


@dataclass(frozen=True)
class EvalResult:
    """Returns of ``len(returns)`` episodes; episode k was seeded ``seed + k``."""

    mean: float
    """mean episode return"""
    std: float
    """standard deviation of the episode returns (population, ddof = 0)"""
    returns: np.ndarray
    """float64 [episodes]: undiscounted return of each episode"""
    lengths: np.ndarray
    """int64 [episodes]: policy steps of each episode"""
    terminated: np.ndarray
    """bool [episodes]: ended by termination (a crash, leaving the road, arriving), not time"""

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "returns": self.returns.tolist(),
            "lengths": self.lengths.tolist(),
            "terminated": self.terminated.tolist(),
        }


def evaluate(
    policy_fn: PolicyFn,
    env_id: str,
    episodes: int = 20,
    seed: int = 0,
    n_envs: int = 16,
    observer: StepObserver | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``episodes`` episodes on ``gymnasium.make_vec(env_id, n_envs)``; episode k is seeded
    ``seed + k`` whatever ``n_envs`` is, so two policies evaluated with the same seed meet the
    same episodes. A slot that finishes is reset with the next episode's seed; slots with no
    episode left keep stepping and are ignored. Ids that are not ours run on a
    ``SyncVectorEnv``.

    ``observer(obs, actions, reward, info, episode)`` sees every step (before it), with
    ``episode[i]`` the episode index slot i is playing (-1: none left; ignore that slot).
    """
    check_env_id(env_id)
    if episodes < 1 or n_envs < 1:
        raise ValueError("episodes and n_envs must be >= 1")
    n = min(n_envs, episodes)
    # Ours: the batched core. Others: a SyncVectorEnv (their own vector envs, CartPole's for
    # one, may not take per-slot seeds and reset masks).
    mode = None if is_core_env(env_id) else "sync"
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, **env_kwargs)
    sched = EpisodeScheduler.seeded(episodes, n, seed)
    tally = EpisodeTallies(episodes, n)
    try:
        # Gymnasium types `seed` as int | None, but its vector envs take one seed per slot.
        obs, _ = venv.reset(seed=sched.first_seeds())  # type: ignore[arg-type]
        while sched.busy:
            actions = np.asarray(policy_fn(obs))
            prev_obs = obs
            obs, reward, term, trunc, info = venv.step(actions)
            if observer is not None:
                observer(prev_obs, actions, reward, info, sched.episode.copy())
            tally.add(reward, sched.active)
            if not ((term | trunc) & sched.active).any():
                continue
            ended = sched.advance(term | trunc)
            tally.end(ended, term)
            if ended.restart.any():
                seeds: list[int | None] = [None] * n
                new = sched.seeds_of(ended.restart)
                for i, sd in zip(np.flatnonzero(ended.restart), new, strict=True):
                    seeds[i] = int(sd)
                obs, _ = venv.reset(seed=seeds, options={"reset_mask": ended.restart})  # type: ignore[arg-type]
    finally:
        venv.close()
    return tally_result(tally)


def tally_result(t: EpisodeTallies) -> EvalResult:
    r = t.returns
    return EvalResult(float(r.mean()), float(r.std()), r, t.lengths, t.terminated)


class StepObserver(Protocol):
    def __call__(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        reward: np.ndarray,
        info: dict[str, Any],
        episode: np.ndarray,
    ) -> None: ...


def random_policy(action_space: gym.Space[Any], seed: int = 0) -> PolicyFn:
    """Uniformly random actions from ``action_space``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    if isinstance(action_space, gym.spaces.Discrete):
        lo, n = int(action_space.start), int(action_space.n)
        return lambda obs: rng.integers(lo, lo + n, size=len(obs))
    if isinstance(action_space, gym.spaces.Box):
        low, high = action_space.low, action_space.high
        return lambda obs: rng.uniform(low, high, size=(len(obs), *action_space.shape)).astype(
            action_space.dtype
        )
    action_space.seed(seed)
    return lambda obs: np.stack([action_space.sample() for _ in range(len(obs))])


class _Predictor(Protocol):
    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]: ...  # fmt: skip


def sb3_policy(model: _Predictor, deterministic: bool = True) -> PolicyFn:
    """The policy function of an SB3 model or policy (anything with ``predict``)."""
    return lambda obs: model.predict(obs, deterministic=deterministic)[0]


def _step_seconds(env: gym.Env[Any, Any]) -> float:
    """Seconds of simulated time per env step: ``1 / policy_hz`` where the env has one."""
    config = getattr(env.unwrapped, "config", None)
    hz = getattr(config, "policy_hz", None)
    if hz is None:
        dt = getattr(config, "dt", None)
        return float(dt) if dt else 1.0 / float(env.metadata.get("render_fps", 15))
    return 1.0 / float(hz)


def record_gif(
    policy_fn: PolicyFn,
    env_id: str,
    path: str | Path,
    seed: int = 0,
    max_steps: int = 1000,
    fps: int = 10,
    **env_kwargs: Any,
) -> int:
    """Play one episode (seeded ``seed``) and write it as a GIF that loops forever.

    Our driving envs are drawn at the simulation rate (every substep, from the world
    states it records), so motion is smooth; other envs give one ``rgb_array`` frame per
    policy step, held for ``round(fps * step)`` frames (``step`` being the simulated seconds
    per policy step). The GIF plays in real time at ``fps`` (the simulation rate for ours).
    Returns the number of distinct frames. Atomic write.
    """
    check_env_id(env_id)
    env = gym.make(env_id, render_mode="rgb_array", **env_kwargs)
    core = getattr(env.unwrapped, "core", None)
    smooth = hasattr(core, "render_substeps")
    try:
        if smooth:
            core.world.record_substeps = True  # type: ignore[union-attr]
            fps = int(core.config.sim_hz)  # type: ignore[union-attr]
            size = (core.config.screen_width, core.config.screen_height)  # type: ignore[union-attr]
        hold = 1 if smooth else max(1, round(fps * _step_seconds(env)))
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
        for _ in range(max_steps):
            action = np.asarray(policy_fn(np.asarray(obs)[None]))[0]
            obs, _, term, trunc, _ = env.step(action)
            if smooth:
                frames.extend(core.render_substeps(0, *size))  # type: ignore[union-attr]
            else:
                frames.append(env.render())
            if term or trunc:
                break
    finally:
        env.close()
    images = [np.asarray(f, dtype=np.uint8) for f in frames if f is not None]
    if not images:
        raise RuntimeError(f"{env_id} rendered no frames")
    held = [img for img in images for _ in range(hold)]
    write_gif(path, held, 1000.0 / fps)
    return len(images)
