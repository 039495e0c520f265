"""Critical events (issue 21): each happens as configured, on both backends, the same
batched as alone, and deterministic per seed."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.config import ConfigError, build_config
from rlhf_sandbox.envs.driving_config import ID_DEFAULTS, DrivingConfig
from rlhf_sandbox.sim.driving import events as ev
from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand

BACKENDS = ("numba", "numpy")


def world(env: str, events: tuple[str, ...], backend: str, n: int, seed: int = 7, **kw):
    cfg = {**ID_DEFAULTS[env], "policy_hz": 5, "backend": backend, "events": events, **kw}
    w = DrivingWorld(build_config(DrivingConfig, None, **cfg).world_params(), n)
    w.reset(np.ones(n, dtype=bool), np.arange(n) + seed)
    return w


def idle(n: int) -> EgoCommand:
    """The agent ego keeps its target speed (it does not follow anyone)."""
    return EgoCommand(np.ones(n, dtype=np.int64), np.zeros(n), np.zeros(n))


def substeps(w: DrivingWorld, steps: int):
    """Every state at the simulation rate (the world records its substeps)."""
    w.record_substeps = True
    for _ in range(steps):
        w.step(idle(w.n))
        yield from w.substep_states
        yield w.get_state()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("gap", "dv", "lat"), [(10.0, -3.0, 1.5), (4.0, -6.0, 2.5), (20.0, 2.0, 1.0)]
)
def test_cut_in_ends_in_the_egos_lane_at_the_set_gap(
    backend: str, gap: float, dv: float, lat: float
) -> None:
    spec = f"cut_in at=1 gap={gap} relative_speed={dv} lateral_speed={lat}"
    w = world("Highway-v0", (spec,), backend, 3, lanes=3, vehicles=5, speed_range=(27.0, 27.0))
    seen = np.zeros(3, dtype=bool)
    started = np.full(3, -1)
    for k, st in enumerate(substeps(w, 60)):
        for b in range(3):
            j = st["ev_actor"][b, 0]
            if st["ev_phase"][b, 0] == ev.ACT and started[b] < 0:
                started[b] = k
                # it enters beside the ego, one lane over, at the ego's speed + dv
                assert abs(abs(st["y"][b, j] - st["y"][b, 0]) - 4.0) < 0.5
                v_fwd = st["speed"][b, j] * np.cos(st["heading"][b, j])
                assert v_fwd == pytest.approx(25.0 + dv, abs=1e-9)
            if st["ev_phase"][b, 0] == ev.HOLD and not seen[b]:
                seen[b] = True
                assert st["lane"][b, j] == st["lane"][b, 0]  # in the ego's lane
                assert st["prev_lane"][b, j] == -1
                assert st["y"][b, j] == pytest.approx(st["y"][b, 0], abs=1e-9)  # centred
                got = st["x"][b, j] - st["x"][b, 0] - LENGTH
                assert got == pytest.approx(gap, abs=0.5), (b, got)
                # sideways at the set speed: 4 m in 4 / lat seconds (to a substep)
                assert (k - started[b]) / 15 == pytest.approx(4.0 / lat, abs=0.15)
                assert st["aggressiveness"][b, j] >= ev.MARK  # drawn as an event actor
    assert seen.all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_lead_brakes_at_the_set_rate_for_the_set_time(backend: str) -> None:
    w = world("Highway-v0", ("lead_brake at=2 deceleration=5.5 duration=1.5",), backend, 3,
              lanes=3, vehicles=20, speed_range=(27.0, 27.0))  # fmt: skip
    states = list(substeps(w, 25))
    for b in range(3):
        phases = np.array([s["ev_phase"][b, 0] for s in states])
        act = np.flatnonzero(phases == ev.ACT)
        assert act.size > 0, b
        j = states[act[0]]["ev_actor"][b, 0]
        assert states[act[0]]["lane"][b, j] == states[act[0]]["lane"][b, 0]  # the leader
        v = np.array([s["speed"][b, j] for s in states])
        dv = np.diff(v[act[0] - 1 : act[-1] + 1]) * 15.0
        np.testing.assert_allclose(dv[v[act[0] - 1 : act[-1]] > 0.5], -5.5, atol=1e-9)
        assert (act.size + 1) / 15.0 == pytest.approx(1.5, abs=1.5 / 15)
        assert phases[act[-1] + 1] == ev.DONE
        assert states[-1]["aggressiveness"][b, j] < ev.MARK  # released: traffic again


@pytest.mark.parametrize("backend", BACKENDS)
def test_within_trigger_waits_for_the_distance(backend: str) -> None:
    w = world(
        "Highway-v0",
        ("lead_brake within=30",),
        backend,
        3,
        lanes=3,
        vehicles=20,
        speed_range=(27.0, 27.0),
    )
    for _ in range(40):
        before = w.ev_phase[:, 0].copy()
        w.step(idle(3))
        for b in np.flatnonzero((before == ev.ARMED) & (w.ev_phase[:, 0] != ev.ARMED)):
            j = w.ev_actor[b, 0]
            # checked at the start of the step: within 30 m then, 25 m/s closing at most
            assert np.hypot(w.x[b, j] - w.x[b, 0], w.y[b, j] - w.y[b, 0]) < 30.0 + 25.0 * 0.2


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopped_vehicle_stands_ahead_in_the_set_lane(backend: str) -> None:
    w = world("Highway-v0", ("stopped at=1 distance=150 lane=1",), backend, 3, lanes=3,
              vehicles=20)  # fmt: skip
    ego_lane = None
    for _ in range(6):
        ego_lane = w.lane[:, 0].copy()
        w.step(idle(3))
    for b in range(3):
        j = w.ev_actor[b, 0]
        assert w.ev_phase[b, 0] == ev.ACT
        assert w.lane[b, j] == min(ego_lane[b] + 1, 2)
        assert w.speed[b, j] == 0.0
        # appeared 150 m ahead at t = 1 s; the ego drove 25 m/s since
        assert w.x[b, j] - w.x[b, 0] == pytest.approx(150.0 - 25.0 * 0.2, abs=0.5)
        ahead = (w.lane[b] == w.lane[b, j]) & (w.x[b] < w.x[b, j]) & (w.x[b] > w.x[b, j] - 95)
        ahead[0] = False
        assert not ahead.any()  # the lane behind it was cleared


@pytest.mark.parametrize("backend", BACKENDS)
def test_merging_vehicle_merges_without_yielding(backend: str) -> None:
    w = world("Merge-v0", ("merge at=0 gap=3 relative_speed=0 lateral_speed=2",), backend, 2)
    done = np.zeros(2, dtype=bool)
    for st in substeps(w, 80):
        for b in range(2):
            j = st["ev_actor"][b, 0]
            if st["ev_phase"][b, 0] == ev.HOLD and not done[b]:
                done[b] = True
                assert st["lane"][b, j] == w.road.n_lanes - 1  # the rightmost main lane
                assert st["x"][b, j] - st["x"][b, 0] - LENGTH == pytest.approx(3.0, abs=0.5)
    assert done.all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_crossing_vehicle_takes_priority(backend: str) -> None:
    w = world("Intersection-v0", ("crossing at=1 time_offset=0",), backend, 3)
    r = w.road
    entered = np.zeros(3, dtype=bool)
    for st in substeps(w, 60):
        for b in range(3):
            j = st["ev_actor"][b, 0]
            if j < 0 or st["ev_phase"][b, 0] != ev.ACT:
                continue
            assert r.crosses[st["lane"][b, 0], st["lane"][b, j]]
            s = r.station(st["lane"][b, j], st["x"][b, j], st["y"][b, j])
            entered[b] |= s + LENGTH / 2 > r.box_in
            assert st["speed"][b, j] > 1.0 or st["crashed"][b, j]  # it never stops to yield
    assert entered.any()


@pytest.mark.parametrize(
    "spec",
    [
        "cut_in at=1 gap=5:12 relative_speed=-6:-2 lateral_speed=1:2.5",
        "lead_brake within=20:40 deceleration=4:8 duration=1:3",
        "stopped at=0:2 distance=80:160 lane=-1:1",
    ],
)
def test_batched_equals_alone_and_both_backends_agree(spec: str) -> None:
    """Copy i of a batch plays exactly what a lone world seeded alike plays; the numpy
    path plays the same to rounding; drawn values differ between seeds."""
    n, steps = 4, 40
    rng = np.random.default_rng(1)
    metas = rng.integers(0, 5, (steps, n))

    def play(backend: str, copies: list[int]) -> list[dict[str, np.ndarray]]:
        w = world(
            "Highway-v0",
            (spec,),
            backend,
            len(copies),
            lanes=3,
            vehicles=20,
            speed_range=(27.0, 27.0),
        )
        w.reset(np.ones(len(copies), dtype=bool), np.array(copies) + 7)
        out = []
        for t in range(steps):
            f = w.step(EgoCommand(metas[t, copies], np.zeros(len(copies)), np.zeros(len(copies))))
            out.append({**w.get_state(), **{"f_" + k: v.copy() for k, v in f.items()}})
        return out

    batch = play("numba", list(range(n)))
    assert len({tuple(batch[0]["ev_p"][b, 0]) for b in range(n)}) == n  # per-seed values
    assert (np.array([s["ev_phase"][:, 0] for s in batch]) != ev.ARMED).any()
    for i in (0, 3):
        alone = play("numba", [i])
        for a, s in zip(alone, batch, strict=True):
            for k in a:
                np.testing.assert_array_equal(a[k][0], s[k][i], err_msg=k)
    ref = play("numpy", list(range(n)))
    for a, s in zip(ref, batch, strict=True):
        for k in a:
            np.testing.assert_allclose(a[k], s[k], atol=1e-6, rtol=0, err_msg=k)


def test_state_round_trip_with_events() -> None:
    w = world(
        "Highway-v0",
        ("cut_in at=0.5 gap=6",),
        "numba",
        2,
        lanes=3,
        vehicles=20,
        speed_range=(27.0, 27.0),
    )
    for _ in range(2):
        w.step(idle(2))
    saved = w.get_state()
    assert set(ev_field for ev_field in saved if ev_field.startswith("ev_")) == {
        "ev_phase", "ev_actor", "ev_clock", "ev_p", "ev_aux",
    }  # fmt: skip
    first = [w.step(idle(2)) and w.get_state() for _ in range(20)]
    w.set_state(saved)
    second = [w.step(idle(2)) and w.get_state() for _ in range(20)]
    for x, y in zip(first, second, strict=True):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_worlds_without_events_keep_their_old_state_fields() -> None:
    w = world("Highway-v0", (), "numba", 1)
    assert not any(k.startswith("ev_") for k in w.get_state())


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        (("jump at=1",), "unknown event kind 'jump'"),
        (("cut_in gap=-9",), "gap must lie in"),
        (("cut_in speed=3",), "unknown parameter 'speed'"),
        (("cut_in within=20",), "trigger 'within' needs an actor"),
        (("lead_brake duration=3:1",), "range must be low:high"),
        (("crossing",), "needs the intersection road"),
    ],
)
def test_bad_events_are_config_errors(events: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"DrivingConfig\.events") as e:
        build_config(DrivingConfig, None, **{**ID_DEFAULTS["Highway-v0"], "events": events})
    assert fragment in str(e.value)


def test_spec_text_round_trip() -> None:
    spec = ev.parse_event("cut_in at=2:3 gap=5:12 side=right")
    assert ev.parse_event(spec.text()) == spec
    assert spec.params[3] == (1.0, 1.0) and spec.when == (2.0, 3.0)
