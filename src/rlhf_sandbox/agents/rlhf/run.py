"""Train a run, then report on it: the one path of ``train``, ``demo`` and every sweep run.

:func:`open_run` builds the loop (every check before anything is written), so a command
can print what it is about to do; :func:`train_and_report` trains it to its budget and
writes the report, training PPO on the oracle's own reward as the report's baseline when
asked (:func:`train_oracle_ppo`), and returns what the report holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from rlhf_sandbox.agents.evaluation.rollouts import PolicyFn, sb3_policy
from rlhf_sandbox.agents.policy.ppo import RichProgress, make_model, unchecked_distributions
from rlhf_sandbox.agents.reward.wrappers import OracleReward
from rlhf_sandbox.agents.rlhf.loop import LoopState, RLHFLoop
from rlhf_sandbox.agents.rlhf.report import BaselineTrainer, RunReport, write_report
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, clip_steps
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.envs.vector import action_array, decision_hz, make_vec_env


@dataclass(frozen=True)
class RunOutcome:
    state: LoopState  # the loop's final state
    seconds: float  # [s] of training (the report not counted)
    report: RunReport | None  # None when no report was asked for


def open_run(
    settings: RLHFSettings | None,
    out: str | Path,
    *,
    resume: bool = False,
    store: str | None = None,
    clips: str | None = None,
    store_run: str | None = None,
    question: str | None = None,
    rubric: str | None = None,
) -> RLHFLoop:
    """The loop of a new run of ``settings`` in ``out``, or of the run there (``resume``);
    see :class:`~rlhf_sandbox.agents.rlhf.loop.RLHFLoop` for the store options. A new run's
    env is built once first (:func:`check_env`)."""
    if settings is not None and not resume:
        check_env(settings)
    return RLHFLoop(
        settings, out, resume=resume, store=store, clips=clips, store_run=store_run,
        question=question, rubric=rubric,
    )  # fmt: skip


def check_env(settings: RLHFSettings) -> None:
    """Build the run's env once, so that a bad env setting, a query clip longer than an
    env's share of a rollout, or a plug-in oracle reading a feature the env does not give,
    is one ValueError before anything is written."""
    try:
        venv = make_vec_env(settings.env_id, 1, 0, **settings.env_kwargs)
    except TypeError as e:
        raise ValueError(f"{settings.env_id}: {e}") from None
    try:
        clip_steps(settings, decision_hz(venv))
        teacher = settings.teacher_value
        oracle = teacher.resolve() if teacher.plugin else None
        if oracle is not None and oracle.features:
            check_features(venv, settings.env_id, teacher.oracle, oracle.features)
    finally:
        venv.close()


def check_features(venv: VecEnv, env_id: str, name: str, needed: tuple[str, ...]) -> None:
    """ValueError unless one step of ``venv`` gives every feature in ``needed``."""
    venv.reset()
    actions = np.stack([venv.action_space.sample() for _ in range(venv.num_envs)])
    _, _, _, infos = venv.step(action_array(venv.action_space, actions))
    given = infos[0].get("features", {}) if infos else {}
    missing = [k for k in needed if k not in given]
    if missing:
        have = ", ".join(sorted(given)) or "none"
        raise ValueError(
            f"teacher {name!r} reads feature {missing[0]!r}, which {env_id} does not give"
            f" (its features: {have})"
        )


def train_oracle_algo(progress: bool) -> BaselineTrainer:
    """A trainer of PPO with the run's settings and step budget on the oracle's reward
    itself: what the learned reward is measured against (the report's baseline)."""

    def train(s: RLHFSettings, oracle: Oracle) -> OnPolicyAlgorithm:
        venv = make_vec_env(s.env_id, s.ppo.n_envs, s.ppo.seed, **s.env_kwargs)
        env = OracleReward(venv, oracle)
        algo = make_model(env, s.ppo)
        callback = RichProgress(s.timesteps, "PPO on the oracle") if progress else None
        with unchecked_distributions():
            algo.learn(total_timesteps=s.timesteps, callback=callback)
        env.close()
        return algo

    return train


def train_oracle_ppo(progress: bool) -> Callable[[RLHFSettings, Oracle], PolicyFn]:
    """As :func:`train_oracle_algo`, the trained policy as a function of observations."""
    train = train_oracle_algo(progress)
    return lambda s, oracle: sb3_policy(train(s, oracle))


def train_and_report(
    loop: RLHFLoop,
    *,
    report: bool = True,
    baseline: bool = True,
    episodes: int = 20,
    gif: bool = True,
    progress: bool = True,
    store: str | None = None,
) -> RunOutcome:
    """Train ``loop`` to its budget (closing it), then write the run's report.

    ``baseline``: the report also trains PPO on the oracle (doubles the time); ``store``:
    the shared store's URL again when the run's saved one had a password."""
    t0 = time.perf_counter()
    try:
        state = loop.train(progress=progress)
    finally:
        loop.close()
    seconds = time.perf_counter() - t0
    rep = None
    if report:
        trainer = train_oracle_algo(progress) if baseline else None
        rep = write_report(loop.out, episodes=episodes, baseline=trainer, gif=gif, store=store)
    return RunOutcome(state, seconds, rep)
