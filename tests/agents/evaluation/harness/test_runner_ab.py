"""Runs of the smoke suite: idm against random, batching, A/B verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlhf_sandbox.agents.evaluation.harness import (
    SuiteResult,
    compare_runs,
    load_suite,
    parse_driver,
    run_suite,
)
from rlhf_sandbox.agents.evaluation.harness.ab import BETTER, SAME, WORSE, compare, verdict
from rlhf_sandbox.agents.evaluation.harness.aggregate import OVERALL, summarize
from rlhf_sandbox.agents.evaluation.harness.metrics import METRIC_KEYS
from rlhf_sandbox.agents.evaluation.harness.stats import Interval


def test_idm_collides_less_than_random_on_smoke(smoke_runs: dict[str, SuiteResult]) -> None:
    idm = summarize(smoke_runs["idm"].episodes)["collision"]
    rnd = summarize(smoke_runs["random"].episodes)["collision"]
    assert idm.value < rnd.value
    assert rnd.value >= 0.15  # random driving crashes often (measured: ~1/3 of episodes)
    assert idm.hi < rnd.value  # clear of noise, not a coin flip
    assert len(smoke_runs["idm"].episodes) == load_suite("smoke").episodes


def test_episodes_follow_the_seeds_whatever_the_batch(tiny_suite: Path) -> None:
    suite = load_suite(tiny_suite)
    d = parse_driver("random")
    batched, alone = run_suite(d, suite, n_envs=64), run_suite(d, suite, n_envs=1)
    for a, b in zip(batched.episodes, alone.episodes, strict=True):
        assert (a.scenario, a.seed) == (b.scenario, b.seed)
        for k in METRIC_KEYS:
            assert np.isclose(a.metrics[k], b.metrics[k], equal_nan=True), k
        assert np.array_equal(a.actions, b.actions)
    assert [e.seed for e in batched.scenarios[0].episodes] == [50, 51, 52, 53]


def test_replay_reproduces_an_episode(tiny_suite: Path) -> None:
    res = run_suite(parse_driver("random"), load_suite(tiny_suite)).scenarios[0]
    ep = res.episodes[0]
    states = res.replay(ep)
    t = ep.rewards.shape[0]
    assert states["x"].shape[0] == t * (res.config.sim_hz // res.config.policy_hz) + 1
    assert np.allclose(states["x"][-1], ep.end_state["x"], atol=1e-3)


def test_ab_of_a_policy_against_itself_finds_no_difference(
    smoke_runs: dict[str, SuiteResult],
) -> None:
    again = run_suite(parse_driver("random"), load_suite("smoke"))
    comps = compare_runs(smoke_runs["random"], again)
    assert set(comps) == {"highway", "merge", "intersection", OVERALL}
    for cs in comps.values():
        for c in cs:
            assert c.paired and c.verdict == SAME, (c.metric, c.diff)


def test_ab_random_against_idm_is_worse_on_collisions(smoke_runs: dict[str, SuiteResult]) -> None:
    overall = {c.metric: c for c in compare_runs(smoke_runs["random"], smoke_runs["idm"])[OVERALL]}
    assert overall["collision"].verdict == WORSE
    assert overall["collision"].diff.lo > 0
    assert overall["oracle_return"].verdict == WORSE
    reverse = {c.metric: c for c in compare_runs(smoke_runs["idm"], smoke_runs["random"])[OVERALL]}
    assert reverse["collision"].verdict == BETTER


def test_unpaired_comparison_when_seeds_differ(smoke_runs: dict[str, SuiteResult]) -> None:
    idm = smoke_runs["idm"].episodes
    rnd = smoke_runs["random"].episodes[:-1]  # one episode fewer: no pairing
    comps = {c.metric: c for c in compare(rnd, idm)}
    assert not comps["collision"].paired
    assert comps["collision"].verdict == WORSE


def test_verdict_directions() -> None:
    assert verdict(Interval(1.0, 0.5, 1.5), "higher") == BETTER
    assert verdict(Interval(1.0, 0.5, 1.5), "lower") == WORSE
    assert verdict(Interval(-1.0, -1.5, -0.5), "lower") == BETTER
    assert verdict(Interval(0.1, -0.5, 0.7), "lower") == SAME
    assert verdict(Interval(0.0, np.nan, np.nan), "lower") == "n/a"


def test_every_shipped_scenario_runs() -> None:
    from rlhf_sandbox.agents.evaluation.harness.suites import SHIPPED

    for name in SHIPPED:
        res = run_suite(parse_driver("idm"), load_suite(name).with_episodes(1))
        for s in res.scenarios:
            (ep,) = s.episodes
            assert ep.metrics["steps"] >= 1 and ep.metrics["progress"] > 0, (name, s.scenario.name)
