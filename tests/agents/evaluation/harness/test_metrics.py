"""Metrics on hand-made trajectories match hand computations."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness.metrics import TTC_CAP, episode_metrics, events
from rlhf_sandbox.agents.teachers.oracles import get_oracle
from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving import params


def _features(**over: list[float]) -> dict[str, np.ndarray]:
    t = 5
    base = {
        "speed": [20.0] * t, "acceleration": [0.0] * t, "jerk": [0.0] * t,
        "headway": [10.0] * t, "ttc_ahead": [10.0] * t, "lane_change": [0.0] * t,
        "progress": [20.0] * t, "forced_braking": [0.0] * t, "collision": [0.0] * t,
        "off_road": [0.0] * t,
    }  # fmt: skip
    base.update(over)
    return {k: np.asarray(v, dtype=np.float32) for k, v in base.items()}


def test_events_count_runs_not_steps() -> None:
    assert events(np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == 3
    assert events(np.array([1, 1], bool)) == 1
    assert events(np.zeros(0, bool)) == 0


def test_hand_made_trajectory() -> None:
    # 5 policy steps at 2 Hz (2.5 s): speeds and accelerations chosen by hand.
    f = _features(
        speed=[20.0, 22.0, 18.0, 14.0, 14.0],
        acceleration=[0.0, 4.0, -8.0, -8.0, 0.0],
        jerk=[0.0, 8.0, -24.0, 0.0, 16.0],
        headway=[2.0, 0.9, 0.5, 1.0, 3.0],
        ttc_ahead=[10.0, 4.0, 1.25, 2.0, 10.0],
        lane_change=[0.0, 1.0, 0.0, 0.0, 1.0],
        progress=[10.0, 11.0, 9.0, 7.0, 13.0],
        forced_braking=[0.0, 2.5, 0.5, 3.0, 0.0],
    )
    r = np.array([0.5, 0.4, 0.3, 0.2, 0.1], np.float32)
    m = episode_metrics(f, r, policy_hz=2.0)
    assert m["steps"] == 5 and m["duration_s"] == 2.5
    assert m["mean_speed"] == pytest.approx(88.0 / 5)
    assert m["progress"] == pytest.approx(50.0)
    assert m["short_headway"] == pytest.approx(2 / 5)  # 0.9 and 0.5; 1.0 is not < 1
    assert m["min_ttc"] == pytest.approx(1.25)
    assert m["mean_abs_jerk"] == pytest.approx(48.0 / 5)
    # one hard-braking event (two steps at -8 m/s^2) in 2.5 s = 24 per minute
    assert m["hard_brakes_per_min"] == pytest.approx(1 / (2.5 / 60))
    assert m["lane_changes_per_km"] == pytest.approx(2 / 0.05)
    assert m["forced_brake_share"] == pytest.approx(2 / 5)
    assert m["max_forced_braking"] == pytest.approx(3.0)
    assert m["collision"] == 0.0 and m["off_road"] == 0.0
    assert m["env_return"] == pytest.approx(1.5)
    courteous = get_oracle("courteous")
    f64 = {k: v.astype(np.float64) for k, v in f.items()}
    assert m["oracle_return"] == pytest.approx(courteous(f64, r.astype(np.float64)).sum())


def test_collision_and_short_episodes() -> None:
    f = _features(collision=[0, 0, 0, 0, 1.0], progress=[1.0] * 5)
    m = episode_metrics(f, np.zeros(5), policy_hz=1.0)
    assert m["collision"] == 1.0
    assert np.isnan(m["lane_changes_per_km"])  # 5 m of progress: no meaningful per-km rate
    with pytest.raises(ValueError, match="lack"):
        episode_metrics({"speed": np.zeros(5)}, np.zeros(5), 1.0)


def test_the_crash_step_is_not_counted_as_discomfort() -> None:
    """A crash stops the ego within its step: that step's braking, jerk and the follower's
    braking are the collision's, not the driving's (4 calm steps, then the crash)."""
    f = _features(
        acceleration=[0.0, -4.0, 0.0, 0.0, -9.0],
        jerk=[0.0, -8.0, 8.0, 0.0, -30.0],
        forced_braking=[0.0, 2.5, 0.0, 0.0, 9.0],
        collision=[0.0, 0.0, 0.0, 0.0, 1.0],
    )
    m = episode_metrics(f, np.zeros(5), policy_hz=1.0)
    assert m["collision"] == 1.0
    assert m["mean_abs_jerk"] == pytest.approx(16.0 / 5)  # the -30 left out, T stays 5
    assert m["hard_brakes_per_min"] == pytest.approx(1 / (5 / 60))  # the -4 only
    assert m["forced_brake_share"] == pytest.approx(1 / 5)
    assert m["max_forced_braking"] == pytest.approx(2.5)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_world_ttc_and_headway_match_hand_computation(backend: Literal["numba", "numpy"]) -> None:
    """Ego at 25 m/s, 45 m (bumper to bumper) behind a lead at 20 m/s, one lane.

    The world takes the least gap over a policy step's 15 substeps, measured before each
    move: after 14 substeps of 1/15 s the gap is 45 - 14 * 5 / 15 m.
    """
    core = DrivingCore(DrivingConfig(lanes=1, vehicles=1, backend=backend), 1)
    core.reset_slots(np.ones(1, bool), np.array([3]))
    st = core.world.get_state()
    for k in ("y", "heading", "lane"):
        st[k][0, 1] = st[k][0, 0]
    st["x"][0, 1] = st["x"][0, 0] + 45.0 + params.LENGTH
    st["speed"][0] = (25.0, 20.0)
    st["v0"][0, 1] = 20.0  # the lead keeps its speed (nothing ahead of it)
    st["target_speed"][0] = 25.0  # IDLE keeps the ego's speed
    st["prev_lane"][0] = -1
    core.world.set_state(st)
    f = core.step(np.array([1])).info["features"]
    gap = 45.0 - 14 * 5.0 / 15
    assert f["ttc_ahead"][0] == pytest.approx(gap / 5.0, abs=1e-3)
    assert f["headway"][0] == pytest.approx(gap / 25.0, abs=1e-3)
    assert f["jerk"][0] == pytest.approx(0.0, abs=1e-6) and f["speed"][0] == 25.0
    feats = {k: np.asarray(v, np.float64) for k, v in f.items()}
    m = episode_metrics(feats, np.zeros(1), policy_hz=1.0)
    assert m["min_ttc"] == pytest.approx(gap / 5.0, abs=1e-3)
    assert m["short_headway"] == 0.0 and m["progress"] == pytest.approx(25.0)


def test_ttc_cap_is_the_worlds() -> None:
    assert TTC_CAP == params.TTC_CAP


def test_world_acceleration_and_jerk_follow_the_documented_formulas() -> None:
    """docs/HARNESS.md: a_t = (v_t - v_{t-1}) / dt, j_t = (a_t - a_{t-1}) / dt, a_{-1} = 0,
    checked on a played episode against its own speeds (v_{-1}: the start state's)."""
    from rlhf_sandbox.agents.evaluation.harness import parse_driver, run_scenario
    from rlhf_sandbox.agents.evaluation.harness.suites import Scenario

    sc = Scenario("h", "rlhf_sandbox/Highway-v0", DrivingConfig(vehicles=8, duration=8.0), (5,))
    res = run_scenario(parse_driver("random"), sc)
    (ep,) = res.episodes
    dt = 1.0 / res.config.policy_hz
    v = np.concatenate([[ep.start_state["speed"][0]], ep.features["speed"].astype(np.float64)])
    a = np.diff(v) / dt
    j = np.diff(np.concatenate([[0.0], a])) / dt
    assert np.allclose(ep.features["acceleration"], a, atol=1e-3)
    assert np.allclose(ep.features["jerk"], j, atol=1e-2)
    assert ep.metrics["mean_abs_jerk"] == pytest.approx(np.abs(j).mean(), abs=1e-3)
