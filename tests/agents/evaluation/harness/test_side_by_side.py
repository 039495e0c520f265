"""Scenarios run side by side on worker threads: same episodes, suite order, errors stop all."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness import load_suite, parse_driver, run_suite
from rlhf_sandbox.agents.evaluation.harness.drivers import Driver, random_actions
from rlhf_sandbox.agents.evaluation.harness.metrics import METRIC_KEYS
from rlhf_sandbox.agents.evaluation.harness.suites import Scenario, Suite


def test_side_by_side_plays_the_episodes_one_worker_plays(
    tiny_suite: Path, sb3_model: Path
) -> None:
    suite = load_suite(tiny_suite)
    suite = Suite("four", suite.scenarios * 2)  # more scenarios than workers
    d = parse_driver(str(sb3_model / "model.zip"))  # a torch policy called from both workers
    one = run_suite(d, suite, n_envs=2, workers=1)
    two = run_suite(d, suite, n_envs=2, workers=2)
    assert [s.scenario.name for s in two.scenarios] == [s.name for s in suite.scenarios]
    for a, b in zip(one.episodes, two.episodes, strict=True):
        assert (a.scenario, a.seed) == (b.scenario, b.seed)
        assert np.array_equal(a.actions, b.actions)
        assert np.array_equal(a.obs, b.obs)
        for k in METRIC_KEYS:
            assert np.isclose(a.metrics[k], b.metrics[k], equal_nan=True), k


def _failing_on(bad_seeds: set[int]) -> Driver:
    """Random actions, but acting fails on the 4th step of an episode with one of these seeds."""

    def bind(obs: Any, act: Any) -> Any:
        def step(o: np.ndarray, seeds: np.ndarray, steps: np.ndarray) -> np.ndarray:
            if any(int(s) in bad_seeds and t > 3 for s, t in zip(seeds, steps, strict=True)):
                raise RuntimeError("policy broke")
            return random_actions(act, seeds, steps)

        return step

    return Driver("flaky", "random", _bind=bind)


def test_a_failing_scenario_stops_the_others_and_its_error_is_raised(tiny_suite: Path) -> None:
    short = load_suite(tiny_suite).scenarios[1]  # seeds 50..53
    first = load_suite(tiny_suite).scenarios[0]
    long = Scenario("long", first.env_id, first.config, tuple(range(1000, 1200)))
    ended = [0]
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            ended[0] += n

    driver = _failing_on(set(short.seeds))
    with pytest.raises(RuntimeError, match="policy broke"):
        run_suite(driver, Suite("s", (long, short)), 1, progress, workers=2)
    assert ended[0] < 100  # the long scenario gave up instead of playing its 200 episodes


def test_workers_must_be_positive(tiny_suite: Path) -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_suite(parse_driver("idm"), load_suite(tiny_suite), workers=0)
