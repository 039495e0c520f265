"""Run a driver over a suite on the batched driving core, one array call per step.

Each scenario builds one :class:`~rlhf_sandbox.envs.driving.DrivingCore` of
``min(n_envs, episodes)`` slots. Slot i starts the scenario's i-th seed; a slot whose
episode ends starts the next seed not yet played, until every seed has been played once
(slots with nothing left keep stepping and are ignored). Episode k of a scenario is
therefore seeded ``scenario.seeds[k]`` whatever ``n_envs`` is, so ``n_envs=1`` runs the same
episodes one env at a time and two drivers meet the same traffic.

Each episode keeps its observations, actions, rewards and features, and the world state at
its start and end: enough to re-simulate it at the simulation rate for clips and videos.

:func:`run_suite` runs several scenarios side by side, each on a Python thread of its own
(one per core by default): the compiled world steps release the GIL, so one scenario's
simulation runs while another's policy and bookkeeping do. Each scenario's episodes are the
same whatever the number of workers.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.episodes import EpisodeScheduler
from rlhf_sandbox.agents.evaluation.harness.drivers import (
    Driver,
    check_driver_config,
    parse_driver,
)
from rlhf_sandbox.agents.evaluation.harness.fault import Fault, judge_episodes
from rlhf_sandbox.agents.evaluation.harness.metrics import episodes_metrics, score_episode
from rlhf_sandbox.agents.evaluation.harness.suites import Scenario, Suite
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.threads import serial_here

DEFAULT_N_ENVS = 64  # slots per scenario at most (a scenario of 20 episodes uses 20)


@dataclass(frozen=True)
class Episode:
    """One played episode of T policy steps."""

    scenario: str
    index: int  # k: the scenario's k-th seed
    seed: int
    metrics: dict[str, float]
    terminated: bool  # ended by a crash, leaving the road or arriving (not by time)
    obs: np.ndarray = field(repr=False)  # float32 [T, D]
    actions: np.ndarray = field(repr=False)  # [T, ...]
    rewards: np.ndarray = field(repr=False)  # float32 [T]
    features: dict[str, np.ndarray] = field(repr=False)  # float32 [T] each
    start_state: dict[str, np.ndarray] = field(repr=False)  # world state of its slot
    end_state: dict[str, np.ndarray] = field(repr=False)
    fault: Fault | None = None  # who caused its collision (fault.py); None without one


@dataclass(frozen=True)
class ScenarioResult:
    """A scenario's episodes under one driver, in seed order."""

    scenario: Scenario
    config: DrivingConfig  # the scenario's settings with the driver's overrides
    episodes: tuple[Episode, ...]
    wall_s: float
    core: DrivingCore | None = field(default=None, repr=False, compare=False)  # for replay

    def replay(self, ep: Episode) -> dict[str, np.ndarray]:
        """The episode's states at the simulation rate, ``[T * substeps + 1, ...]``."""
        core = self.core or DrivingCore(self.config, 1)
        states = core.replay(ep.start_state, ep.actions)
        # The replay must end where the episode went (it is deterministic); else fall back.
        end = {k: v[-1] for k, v in states.items()}
        if all(np.allclose(end[k], ep.end_state[k], atol=1e-3) for k in ("x", "y", "speed")):
            return states
        return {
            k: np.concatenate([v[None], ep.end_state[k][None]]) for k, v in ep.start_state.items()
        }


@dataclass(frozen=True)
class SuiteResult:
    """A driver's results over a whole suite."""

    driver: str
    suite: str
    scenarios: tuple[ScenarioResult, ...]
    wall_s: float

    @property
    def episodes(self) -> list[Episode]:
        return [e for s in self.scenarios for e in s.episodes]


def with_oracle(run: SuiteResult, oracle: Oracle) -> SuiteResult:
    """``run`` with every episode's ``oracle_return`` that of ``oracle`` (the runner's
    metrics use ``courteous``); each episode keeps its features, so nothing is replayed."""

    def rescored(e: Episode) -> Episode:
        r = oracle(e.features, e.rewards.astype(np.float64))
        return replace(e, metrics={**e.metrics, "oracle_return": float(np.sum(r))})

    scenarios = tuple(
        replace(s, episodes=tuple(rescored(e) for e in s.episodes)) for s in run.scenarios
    )
    return replace(run, scenarios=scenarios)


Progress = Callable[[int], None]
"""``progress(n)``: n more episodes have ended (called from the scenarios' threads)."""


class _Stopped(Exception):
    """A scenario given up because another one failed."""


def run_scenario(
    driver: Driver,
    scenario: Scenario,
    n_envs: int = DEFAULT_N_ENVS,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    judged: bool = True,
) -> ScenarioResult:
    """Play every seed of ``scenario`` once with ``driver`` on ``min(n_envs, E)`` slots.

    ``stop``: once set, the scenario is given up (raises) at its next step. ``judged``:
    each collision gets its fault and each episode its score (against IDM's progress in
    the same episodes, played once per process and scenario unless the driver is IDM)."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    t0 = time.perf_counter()
    config = check_driver_config(driver, scenario.config)
    seeds = np.asarray(scenario.seeds, dtype=np.int64)
    n = min(n_envs, seeds.size)
    core = DrivingCore(config, n)
    act = driver.bind(core.single_observation_space, core.single_action_space)
    sched = EpisodeScheduler(seeds, n)
    core.reset_slots(np.ones(n, dtype=bool), seeds[:n])
    starts: dict[int, dict[str, np.ndarray]] = {}
    ends: dict[int, dict[str, np.ndarray]] = {}
    _keep(core, np.arange(n), sched.episode, starts)
    hist: dict[str, list[Any]] = {"ep": [], "obs": [], "act": [], "rew": [], "term": []}
    feats: dict[str, list[np.ndarray]] = {}
    while sched.busy:
        if stop is not None and stop.is_set():
            raise _Stopped(scenario.name)
        obs = core.observe()
        actions = core.check_actions(act(obs, core.seeds.copy(), core.world.t.copy()))
        r = core.step(actions)
        hist["ep"].append(sched.episode.copy())
        hist["obs"].append(obs)
        hist["act"].append(actions)
        hist["rew"].append(r.reward)
        hist["term"].append(r.terminated)
        for k, v in r.info["features"].items():
            feats.setdefault(k, []).append(v)
        done = (r.terminated | r.truncated) & sched.active
        if not done.any():
            continue
        ended = sched.advance(done)
        _keep(core, ended.slots, ended.episodes, ends, by_slot=False)
        if ended.restart.any():
            new_seeds = core.seeds.copy()
            new_seeds[ended.restart] = sched.seeds_of(ended.restart)
            core.reset_slots(ended.restart, new_seeds)
            _keep(core, np.flatnonzero(ended.restart), sched.episode, starts)
        if not sched.active.all():
            core.world.active = sched.active  # idle slots: nothing to simulate
        if progress is not None:
            progress(ended.slots.size)
    core.world.active = None
    episodes = _split(scenario, config, hist, feats, starts, ends)
    if judged:
        ref = episodes if driver.kind == "idm" else _idm_reference(scenario, n_envs, stop)
        episodes = _judge(config, episodes, ref)
    return ScenarioResult(scenario, config, episodes, time.perf_counter() - t0, core)


_REFERENCE: dict[tuple[Any, ...], tuple[Episode, ...]] = {}
_REFERENCE_LOCK = threading.Lock()
_REFERENCE_MAX = 64  # scenarios kept


def _idm_reference(
    scenario: Scenario, n_envs: int, stop: threading.Event | None
) -> tuple[Episode, ...]:
    """IDM's episodes of the scenario (for the score's progress), played once per process."""
    key = (scenario.env_id, scenario.config, scenario.seeds)
    with _REFERENCE_LOCK:
        hit = _REFERENCE.get(key)
    if hit is None:
        res = run_scenario(parse_driver("idm"), scenario, n_envs, stop=stop, judged=False)
        hit = res.episodes
        with _REFERENCE_LOCK:
            if len(_REFERENCE) >= _REFERENCE_MAX:
                _REFERENCE.pop(next(iter(_REFERENCE)))
            _REFERENCE[key] = hit
    return hit


def _judge(
    config: DrivingConfig, episodes: tuple[Episode, ...], ref: tuple[Episode, ...]
) -> tuple[Episode, ...]:
    """Episodes with the fault of their collisions and their scores."""
    hit = [e for e in episodes if e.metrics["collision"] > 0]
    faults = dict(
        zip(
            [e.index for e in hit],
            judge_episodes(config, [e.start_state for e in hit], [e.actions for e in hit]),
            strict=True,
        )
    )
    hz = float(config.policy_hz)
    out = []
    for e, r in zip(episodes, ref, strict=True):
        f = faults.get(e.index)
        m = dict(e.metrics)
        score_episode(m, "" if f is None else f.fault, _progress_over(r, len(e.rewards) / hz))
        out.append(replace(e, metrics=m, fault=f))
    return tuple(out)


def _progress_over(ref: Episode, seconds: float) -> float:
    """How far the reference episode got in its first ``seconds`` (all of it if shorter)."""
    hz = ref.metrics["steps"] / max(ref.metrics["duration_s"], 1e-9)
    k = min(max(round(seconds * hz), 1), len(ref.rewards))
    return float(np.sum(ref.features["progress"][:k], dtype=np.float64))


def _keep(
    core: DrivingCore,
    slots: np.ndarray,
    episode: np.ndarray,
    into: dict[int, dict[str, Any]],
    by_slot: bool = True,
) -> None:
    """The slots' world states, kept under their episodes' indices: ``episode[slot]``
    (``by_slot``) or ``episode[j]`` for the j-th slot given."""
    picked = {k: v[slots] for k, v in core.slot_states().items()}  # copies, one per field
    for j, i in enumerate(slots):
        k = episode[i] if by_slot else episode[j]
        into[int(k)] = {name: v[j] for name, v in picked.items()}


def _split(
    scenario: Scenario,
    config: DrivingConfig,
    hist: dict[str, list[Any]],
    feats: dict[str, list[np.ndarray]],
    starts: dict[int, dict[str, np.ndarray]],
    ends: dict[int, dict[str, np.ndarray]],
) -> tuple[Episode, ...]:
    """Per-episode arrays out of the ``[steps, N]`` histories."""
    ep = np.stack(hist["ep"]).ravel()
    n = len(hist["ep"][0])
    # Every played (step, slot), grouped by episode, steps in order within each (one slot
    # per episode; a stable sort keeps the step order of the row-major history).
    played = np.flatnonzero(ep >= 0)
    order = played[np.argsort(ep[played], kind="stable")]
    counts = np.bincount(ep[order], minlength=len(scenario.seeds))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    rows, cols = np.divmod(order, n)
    obs = np.stack(hist["obs"])[rows, cols].astype(np.float32)
    act = np.stack(hist["act"])[rows, cols]
    rew = np.stack(hist["rew"])[rows, cols].astype(np.float32)
    term = np.stack(hist["term"])[rows, cols]
    f = {k: np.stack(v)[rows, cols].astype(np.float32) for k, v in feats.items()}
    metrics = episodes_metrics(f, rew, bounds, float(config.policy_hz))
    out = []
    for k, seed in enumerate(scenario.seeds):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        out.append(
            Episode(
                scenario=scenario.name,
                index=k,
                seed=int(seed),
                metrics=metrics[k],
                terminated=bool(term[hi - 1]),
                obs=obs[lo:hi],
                actions=act[lo:hi],
                rewards=rew[lo:hi],
                features={name: v[lo:hi] for name, v in f.items()},
                start_state=starts[k],
                end_state=ends[k],
            )
        )
    return tuple(out)


def default_workers(scenarios: int) -> int:
    """Scenarios run side by side by default: one per core this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(scenarios, cores or 1))


def run_suite(
    driver: Driver,
    suite: Suite,
    n_envs: int = DEFAULT_N_ENVS,
    progress: Progress | None = None,
    workers: int | None = None,
) -> SuiteResult:
    """Every scenario of ``suite`` with ``driver``, ``workers`` scenarios at a time (default:
    :func:`default_workers`). Each worker runs its world serial (numba's threads would only
    compete with the other workers). ``n_envs=1`` with ``workers=1``: one env at a time."""
    t0 = time.perf_counter()
    k = default_workers(len(suite.scenarios)) if workers is None else workers
    if k < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if k == 1 or len(suite.scenarios) < 2:
        results = tuple(run_scenario(driver, s, n_envs, progress) for s in suite.scenarios)
    else:
        results = _side_by_side(driver, suite.scenarios, n_envs, progress, k)
    return SuiteResult(driver.name, suite.name, results, time.perf_counter() - t0)


def _side_by_side(
    driver: Driver,
    scenarios: tuple[Scenario, ...],
    n_envs: int,
    progress: Progress | None,
    workers: int,
) -> tuple[ScenarioResult, ...]:
    """The scenarios on ``workers`` threads, the longest first (so that the last to end is
    a short one, and no worker idles long); results in suite order. The first error stops
    the other scenarios at their next step and is raised."""
    stop = threading.Event()

    def one(s: Scenario) -> ScenarioResult:
        try:
            with serial_here():
                return run_scenario(driver, s, n_envs, progress, stop)
        except BaseException:
            stop.set()  # the other scenarios give up at their next step
            raise

    order = sorted(range(len(scenarios)), key=lambda i: -_cost(scenarios[i], n_envs))
    with ThreadPoolExecutor(workers, thread_name_prefix="scenario") as pool:
        futures = {i: pool.submit(one, scenarios[i]) for i in order}
        try:
            wait(futures.values(), return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: the running scenarios end at their next step
            stop.set()
            raise
        finally:
            if stop.is_set():
                for f in futures.values():
                    f.cancel()  # those not started
    for f in futures.values():  # the error that stopped the others (not their _Stopped)
        e = None if f.cancelled() else f.exception()
        if e is not None and not isinstance(e, _Stopped):
            raise e
    return tuple(futures[i].result() for i in range(len(scenarios)))


# One batched step's Python (observation, policy, bookkeeping: about 0.3 ms) in units of
# the compiled simulation of one vehicle for one substep (about 70 ns).
_STEP_COST = 4000


def _cost(s: Scenario, n_envs: int) -> float:
    """Rough running time of a scenario, to start the longest first (only the order)."""
    c = s.config
    rounds = math.ceil(s.episodes / min(n_envs, s.episodes))
    steps = c.duration * c.policy_hz
    return rounds * steps * _STEP_COST + s.episodes * c.duration * c.sim_hz * (c.vehicles + 1)
