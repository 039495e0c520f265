"""Fault of collisions and the composite score (issue 21): the rules on hand-made cases,
the score on hand-made cases, and both on played episodes."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness import load_suite, parse_driver, run_scenario, run_suite
from rlhf_sandbox.agents.evaluation.harness.collisions import list_collisions
from rlhf_sandbox.agents.evaluation.harness.fault import (
    EGO,
    OTHER,
    SHARED,
    braking_distance,
    judge,
)
from rlhf_sandbox.agents.evaluation.harness.metrics import episode_metrics, score_episode
from rlhf_sandbox.agents.evaluation.harness.suites import SuiteError, parse_suite
from rlhf_sandbox.sim.driving import road as roads

HZ = 15.0
HIGHWAY = roads.highway(3)


def track(
    xe: list[float], xo: list[float], ye: list[float], yo: list[float], lanes_o: list[int],
    prev_o: list[int], ve: float, vo: float, lane_e: int = 1,
) -> list[dict[str, np.ndarray]]:  # fmt: skip
    """States of two vehicles (0 the ego, 1 the other) on the highway; both crashed in the
    last state (the contact)."""
    out = []
    n = len(xe)
    for k in range(n):
        contact = k == n - 1
        out.append(
            {
                "x": np.array([xe[k], xo[k]]),
                "y": np.array([ye[k], yo[k]]),
                "heading": np.zeros(2),
                "speed": np.array([ve, vo]),
                "lane": np.array([lane_e, lanes_o[k]]),
                "prev_lane": np.array([-1, prev_o[k]]),
                "crashed": np.array([contact, contact]),
            }
        )
    return out


def straight(x0: float, v: float, n: int) -> list[float]:
    return [x0 + v * k / HZ for k in range(n)]


def test_rear_ended_while_stopped_is_not_the_egos_fault() -> None:
    n = 30
    xe = [0.0] * n
    xo = straight(-4.99 - 10.0 / HZ * (n - 1), 10.0, n)  # reaches the ego at the last state
    s = track(xe, xo, [4.0] * n, [4.0] * n, [1] * n, [-1] * n, 0.0, 10.0)
    f = judge(HIGHWAY, s, HZ)
    assert (f.fault, f.other) == (OTHER, 1) and "behind ran into the ego" in f.rule


def test_running_into_a_braking_lead_is_the_egos_fault() -> None:
    n = 30
    xe = straight(-4.99 - 8.0 / HZ * (n - 1), 20.0, n)
    xo = straight(-8.0 / HZ * (n - 1) + 12.0 / HZ * (n - 1), 12.0, n)
    s = track(xe, xo, [4.0] * n, [4.0] * n, [1] * n, [-1] * n, 20.0, 12.0)
    assert judge(HIGHWAY, s, HZ).fault == EGO


def cut_in(gap_at_entry: float, ve: float, vo: float) -> list[dict[str, np.ndarray]]:
    """The other moves from lane 0 into the ego's lane 1 ahead of it (sideways 2 m/s), its
    centre crossing the lane boundary ``gap_at_entry`` metres (bumper to bumper) ahead of
    the ego; then the ego runs into it."""
    k_entry = 15  # 1 s after the start of the lane change (2 m sideways at 2 m/s)
    dv = ve - vo
    # the contact when the gap has closed at dv: after gap / dv seconds
    n = k_entry + int(np.ceil(gap_at_entry / dv * HZ)) + 1
    xe = straight(0.0, ve, n)
    xo = [gap_at_entry + 5.0 + ve * k_entry / HZ + vo * (k - k_entry) / HZ for k in range(n)]
    xo[-1] = xe[-1] + 4.99  # touching
    yo = [min(4.0, 2.0 * k / HZ) if k <= 2 * k_entry else 4.0 for k in range(n)]
    lanes = [1] * n
    prev = [0 if k < 2 * k_entry else -1 for k in range(n)]
    return track(xe, xo, [4.0] * n, yo, lanes, prev, ve, vo)


def test_cut_in_outside_the_braking_distance_is_the_followers_fault() -> None:
    assert braking_distance(25.0, 22.0) == pytest.approx(3.0 + 0.9)
    f = judge(HIGHWAY, cut_in(12.0, 25.0, 22.0), HZ)
    assert f.fault == EGO and "outside the follower's braking distance" in f.rule, f


def test_cut_in_inside_the_braking_distance_is_the_cutters_fault() -> None:
    f = judge(HIGHWAY, cut_in(3.0, 25.0, 16.0), HZ)
    assert f.fault == OTHER and "inside the follower's braking distance" in f.rule, f


def test_the_egos_own_lane_change_into_another_is_its_fault() -> None:
    n = 20
    xe = straight(0.0, 25.0, n)
    xo = [x + 1.0 for x in xe]  # beside it in lane 2
    ye = [4.0 + 0.1 * k for k in range(n)]
    ye[-1] = 6.5  # touching the other (at y = 8)
    s = track(xe, xo, ye, [8.0] * n, [2] * n, [-1] * n, 25.0, 25.0, lane_e=2)
    for st in s:
        st["prev_lane"][0] = 1  # the ego is changing from lane 1 to 2
    assert judge(HIGHWAY, s, HZ).fault == EGO


def test_crossing_fault_is_the_later_entry() -> None:
    r = roads.intersection()
    n = 40
    s = []
    for k in range(n):  # ego northbound on lane 2, other eastbound on lane 0
        so = r.box_in - 6.0 + 10.0 * k / HZ  # enters the box first
        se = r.box_in - 16.0 + 10.0 * k / HZ  # 0.6 s later
        xo, yo = r.point(np.array(0), np.array(so))
        xe, ye = r.point(np.array(2), np.array(se))
        s.append(
            {
                "x": np.array([xe, xo]), "y": np.array([ye, yo]),
                "heading": np.array([-np.pi / 2, 0.0]), "speed": np.array([10.0, 10.0]),
                "lane": np.array([2, 0]), "prev_lane": np.array([-1, -1]),
                "crashed": np.array([k == n - 1, k == n - 1]),
            }
        )  # fmt: skip
    assert judge(r, s, HZ).fault == EGO


# ------------------------------------------------------------------ the score
def clean(progress: float, **kw: float) -> dict[str, float]:
    m = {"progress": progress, "min_ttc": 10.0, "off_road": 0.0, "comfortable_share": 1.0}
    return {**m, **kw}


def test_score_hand_made_cases() -> None:
    idm = 600.0
    full = clean(600.0)
    score_episode(full, "", idm)
    assert full["score"] == 1.0  # a clean drive at IDM's progress
    more = clean(700.0)
    score_episode(more, "", idm)
    assert more["score"] == 1.0  # or more
    stopped = clean(0.0)
    score_episode(stopped, "", idm)
    assert stopped["score"] <= 0.4  # a policy that stops scores low
    slower = clean(480.0)
    score_episode(slower, "", idm)
    assert stopped["score"] < slower["score"] < full["score"]
    hit = clean(600.0)
    score_episode(hit, "ego", idm)
    assert hit["score"] == 0.0 and hit["at_fault_collision"] == 1.0
    hit_by = clean(600.0)
    score_episode(hit_by, "other", idm)
    assert hit_by["score"] == 1.0 and hit_by["at_fault_collision"] == 0.0
    shared = clean(600.0)
    score_episode(shared, "shared", idm)
    assert shared["score"] == 0.5
    off = clean(600.0, off_road=1.0)
    score_episode(off, "", idm)
    assert off["score"] == 0.0
    close = clean(600.0, min_ttc=0.8)
    score_episode(close, "", idm)
    assert close["score"] < 1.0
    stuck = clean(1.0)
    score_episode(stuck, "", 2.0)  # IDM got nowhere either
    assert stuck["score_progress"] == 1.0


def test_a_stopped_ego_scores_low_from_its_features() -> None:
    t = 30
    f = {k: np.zeros(t) for k in ("speed", "acceleration", "jerk", "lane_change", "progress",
                                  "forced_braking", "collision", "off_road")}  # fmt: skip
    f["headway"] = np.full(t, 10.0)
    f["ttc_ahead"] = np.full(t, 10.0)
    m = episode_metrics(f, np.zeros(t), 1.0)
    score_episode(m, "", 650.0)
    assert m["score"] <= 0.4 and m["score_progress"] == 0.0


def test_constant_slower_scores_below_idm() -> None:
    suite = load_suite("smoke").with_episodes(4)
    idm = run_suite(parse_driver("idm"), suite)
    slow = run_suite(parse_driver("constant:SLOWER"), suite)
    hw = next(s.name for s in suite.scenarios)

    def mean(run, name):  # type: ignore[no-untyped-def]
        return np.mean([e.metrics["score"] for e in run.episodes if e.scenario == name])

    assert mean(slow, hw) < mean(idm, hw)
    assert np.mean([e.metrics["score"] for e in slow.episodes]) < np.mean(
        [e.metrics["score"] for e in idm.episodes]
    )
    assert all(e.metrics["score"] > 0.9 for e in idm.episodes if e.fault is None)


# ------------------------------------------------------------------ played episodes
def test_critical_cut_ins_get_their_fault_and_batched_equals_alone() -> None:
    suite = load_suite("critical").with_episodes(3)
    sc = {s.name: s for s in suite.scenarios}
    faster = parse_driver("constant:FASTER")
    far = run_scenario(faster, sc["cut_in_far"])
    assert [e.fault.fault for e in far.episodes if e.fault] and all(
        e.fault.fault == EGO for e in far.episodes if e.fault
    )
    close = run_scenario(faster, sc["cut_in_close"])
    assert any(e.fault is not None and e.fault.fault == OTHER for e in close.episodes)
    alone = run_scenario(faster, sc["cut_in_close"], n_envs=1)
    for a, b in zip(alone.episodes, close.episodes, strict=True):
        assert a.metrics == b.metrics or all(
            np.isclose(a.metrics[k], b.metrics[k], equal_nan=True) for k in a.metrics
        )
        assert a.fault == b.fault
    rows = list_collisions(run_suite(faster, suite.with_episodes(2), workers=1))
    assert rows and all(r.fault in (EGO, OTHER, SHARED) for r in rows)
    assert {r.scenario for r in rows} <= set(sc)
    assert all(r.episode_ref.metrics["collision"] == 1.0 for r in rows)


def test_suite_events_from_toml_and_their_errors() -> None:
    base = {"name": "t", "scenario": [{"name": "a", "env": "rlhf_sandbox/Highway-v0",
                                       "episodes": 1}]}  # fmt: skip
    ok = dict(base)
    ok["scenario"] = [{**base["scenario"][0], "event": [
        {"kind": "cut_in", "at": 2, "gap": [3.0, 6.0], "side": "left"}]}]  # fmt: skip
    s = parse_suite(ok, "t.toml")
    assert s.scenarios[0].config.events == ("cut_in at=2 gap=3.0:6.0 side=left",)
    bad = dict(base)
    bad["scenario"] = [{**base["scenario"][0], "event": [{"kind": "cut_in", "gapp": 3}]}]
    with pytest.raises(SuiteError, match=r"t.toml: scenario 'a': event 1: .*unknown parameter"):
        parse_suite(bad, "t.toml")
    bad["scenario"] = [{**base["scenario"][0], "event": [{"kind": "crossing"}]}]
    with pytest.raises(SuiteError, match="needs the intersection road"):
        parse_suite(bad, "t.toml")


# The smoke suite's episodes (observations, actions, rewards and the metrics that existed
# before fault and score) hashed at commit 4c07cce, before the event machinery: unchanged.
OLD_KEYS = (
    "collision", "off_road", "mean_speed", "progress", "short_headway", "min_ttc",
    "mean_abs_jerk", "hard_brakes_per_min", "lane_changes_per_km", "forced_brake_share",
    "max_forced_braking", "oracle_return", "env_return", "steps", "duration_s", "lane_changes",
)  # fmt: skip
PINNED_SMOKE = {"idm": "4114d7c96c751fea", "random": "5146dc9c426be4ef"}


@pytest.mark.parametrize("spec", list(PINNED_SMOKE))
def test_smoke_episodes_are_bit_identical_to_before_events(spec: str, smoke_runs) -> None:  # type: ignore[no-untyped-def]
    h = hashlib.sha256()
    for e in smoke_runs[spec].episodes:
        h.update(f"{e.scenario}|{e.index}|{e.seed}|{bool(e.terminated)}|".encode())
        for a in (e.obs, e.actions, e.rewards):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        for k in OLD_KEYS:
            h.update(k.encode() + struct.pack("<d", float(e.metrics[k])))
    assert h.hexdigest()[:16] == PINNED_SMOKE[spec]
