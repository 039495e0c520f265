"""Collision geometry: the separating-axis test, the broad phase, on-road, and the world's
collision bookkeeping on hand-placed overlaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving import road as roads
from rlhf_sandbox.sim.driving.geometry import (
    corners,
    on_road,
    overlapping_pairs,
    rectangles_overlap,
)
from rlhf_sandbox.sim.driving.params import LENGTH, WIDTH
from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand

HALF_PI = math.pi / 2


# ----------------------------------------------------------------- an independent reference
def _clip(poly: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Sutherland-Hodgman: the part of ``poly`` left of the directed edge a -> b."""

    def side(p: np.ndarray) -> float:
        return float((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))

    out: list[np.ndarray] = []
    for k in range(len(poly)):
        p, q = poly[k], poly[(k + 1) % len(poly)]
        sp, sq = side(p), side(q)
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            out.append(p + (q - p) * (sp / (sp - sq)))
    return out


def _area(poly: list[np.ndarray]) -> float:
    if len(poly) < 3:
        return 0.0
    pts = np.array(poly)
    return 0.5 * abs(
        float(np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1)))
    )


def reference_overlap(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Area of the intersection polygon (clipping, no separating axes) above 1e-6 m^2."""
    ca = corners(np.array(a[0]), np.array(a[1]), np.array(a[2]), LENGTH, WIDTH)
    cb = corners(np.array(b[0]), np.array(b[1]), np.array(b[2]), LENGTH, WIDTH)
    if _cross2(cb) < 0:
        cb = cb[::-1]
    poly = list(ca)
    for k in range(4):
        poly = _clip(poly, cb[k], cb[(k + 1) % 4])
        if not poly:
            return False
    return _area(poly) > 1e-6


def _cross2(c: np.ndarray) -> float:
    """Orientation of a corner list: > 0 counter-clockwise."""
    return float(
        (c[1, 0] - c[0, 0]) * (c[2, 1] - c[0, 1]) - (c[1, 1] - c[0, 1]) * (c[2, 0] - c[0, 0])
    )


def _sat(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    return bool(rectangles_overlap(*map(np.array, a), *map(np.array, b), LENGTH, WIDTH))


# ----------------------------------------------------------------- SAT on hand-made cases
CASES = [
    # (a, b, overlap?)  a and b are (x, y, heading); cars are 5 m x 2 m
    ((0, 0, 0), (0, 0, 0), True),  # the same place
    ((0, 0, 0), (4.9, 0, 0), True),  # nose into tail by 0.1 m
    ((0, 0, 0), (5.1, 0, 0), False),  # 0.1 m apart, one behind the other
    ((0, 0, 0), (0, 1.9, 0), True),  # side by side, 0.1 m overlap
    ((0, 0, 0), (0, 2.1, 0), False),  # side by side, 0.1 m apart
    ((0, 0, 0), (3.0, 2.1, 0), False),  # diagonal neighbours in the next lane
    # Perpendicular at a crossing: corners overlapping by 0.3 m x 0.3 m ...
    ((-1.2, 2.0, 0), (2.0, 5.2, -HALF_PI), True),
    # ... and 0.3 m apart along x (overlapping in y): a near miss.
    ((-1.8, 2.0, 0), (2.0, 5.2, -HALF_PI), False),
    ((-1.2, 2.0, 0), (2.0, 5.8, -HALF_PI), False),  # 0.3 m apart along y
    # At 45 degrees: the bounding boxes overlap, the cars do not (0.11 m apart) ...
    ((0, 0, 0), (4.9, 2.3, math.pi / 4), False),
    # ... and 0.1 m closer along the diagonal, they do.
    ((0, 0, 0), (4.8, 2.2, math.pi / 4), True),
    ((0, 0, 0.3), (0.5, 0.4, -2.0), True),  # crossed on top of each other
    ((10, -3, 1.0), (10, -3, 1.0 + math.pi), True),  # head to head
]


@pytest.mark.parametrize(("a", "b", "expected"), CASES)
def test_sat_hand_cases(a, b, expected) -> None:  # type: ignore[no-untyped-def]
    assert reference_overlap(a, b) == expected  # the case is what it says it is
    assert _sat(a, b) == expected
    assert _sat(b, a) == expected  # symmetric


def test_sat_matches_reference_on_random_pairs() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    a = np.stack([np.zeros(n), np.zeros(n), rng.uniform(-np.pi, np.pi, n)], 1)
    b = np.stack([rng.uniform(-7, 7, n), rng.uniform(-7, 7, n), rng.uniform(-np.pi, np.pi, n)], 1)
    got = rectangles_overlap(a[:, 0], a[:, 1], a[:, 2], b[:, 0], b[:, 1], b[:, 2], LENGTH, WIDTH)
    want = np.array([reference_overlap(tuple(a[i]), tuple(b[i])) for i in range(n)])
    assert 0.2 < want.mean() < 0.8  # both outcomes well represented
    np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------- broad phase
def _brute_pairs(x: np.ndarray, y: np.ndarray, h: np.ndarray) -> set[tuple[int, int, int]]:
    b, v = x.shape
    ii, jj = np.triu_indices(v, 1)
    out = set()
    for c in range(b):
        hit = rectangles_overlap(
            x[c, ii], y[c, ii], h[c, ii], x[c, jj], y[c, jj], h[c, jj], LENGTH, WIDTH
        )
        out |= {(c, int(i), int(j)) for i, j in zip(ii[hit], jj[hit], strict=True)}
    return out


def _pairs(x: np.ndarray, y: np.ndarray, h: np.ndarray) -> set[tuple[int, int, int]]:
    bi, i, j = overlapping_pairs(x, y, h, LENGTH, WIDTH)
    got = [(int(c), int(min(p, q)), int(max(p, q))) for c, p, q in zip(bi, i, j, strict=True)]
    assert len(got) == len(set(got))  # each pair once
    return set(got)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlapping_pairs_finds_every_pair_in_a_dense_jam(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, v = 4, 120
    x = rng.uniform(0, 80, (b, v))
    y = rng.uniform(0, 16, (b, v))
    h = rng.normal(0.0, 0.4, (b, v)) + np.where(rng.random((b, v)) < 0.2, HALF_PI, 0.0)
    want = _brute_pairs(x, y, h)
    assert len(want) > 100
    assert _pairs(x, y, h) == want


def test_overlapping_pairs_column_denser_than_k() -> None:
    # 40 cars in a column across the road, all at nearly the same x: the broad phase
    # must widen its x-neighbourhood beyond k = 8 to see the overlaps in y.
    rng = np.random.default_rng(3)
    v = 40
    x = rng.uniform(0, 0.5, (2, v))
    y = np.tile(np.arange(v) * 1.5, (2, 1))
    h = np.full((2, v), HALF_PI)
    want = _brute_pairs(x, y, h)
    assert len(want) >= 2 * 3 * (v - 3)  # each car overlaps its 3 neighbours on either side
    assert _pairs(x, y, h) == want
    # And nothing when they are spread out.
    assert _pairs(x, y * 4.0, h) == set()


def test_overlapping_pairs_small_inputs() -> None:
    one = np.zeros((3, 1))
    bi, i, j = overlapping_pairs(one, one, one, LENGTH, WIDTH)
    assert bi.size == i.size == j.size == 0
    x = np.array([[0.0, 4.0], [0.0, 6.0]])
    assert _pairs(x, np.zeros((2, 2)), np.zeros((2, 2))) == {(0, 0, 1)}


# ----------------------------------------------------------------- on road
def test_on_road_highway_and_intersection() -> None:
    hw = roads.highway(3)  # lane centres at y = 0, 4, 8; paved y in [-2, 10]
    x = np.array([0.0, 500.0, -300.0, 0.0, 0.0, 0.0])
    y = np.array([0.0, 4.0, 8.0, 9.9, -2.5, 12.0])
    np.testing.assert_array_equal(on_road(hw, x, y), [True, True, True, True, False, False])
    inter = roads.intersection()  # roads along the axes, 8 m wide, 180 m long
    x = np.array([0.0, 30.0, -2.0, 20.0, -20.0, 120.0])
    y = np.array([0.0, 2.0, -60.0, 20.0, 15.0, 2.0])
    np.testing.assert_array_equal(on_road(inter, x, y), [True, True, True, False, False, False])


# ----------------------------------------------------------------- in the world
def _world(road: str, backend: dict, **kw: object) -> DrivingWorld:
    defaults = {"highway": {}, "intersection": {"lanes": 1, "vehicles": 12}}[road]
    cfg = DrivingConfig(road=road, **{**defaults, **kw}, **backend)  # type: ignore[arg-type]
    w = DrivingWorld(cfg.world_params(), 3)
    w.reset(np.ones(3, dtype=bool), np.arange(3) + 1)
    return w


def _idle(n: int) -> EgoCommand:
    return EgoCommand(np.ones(n, dtype=np.int64), np.zeros(n), np.zeros(n))


def _place(w: DrivingWorld, c: int, i: int, lane: int, x: float, y: float, h: float) -> None:
    w.lane[c, i], w.prev_lane[c, i] = lane, -1
    w.x[c, i], w.y[c, i], w.heading[c, i] = x, y, h
    w.speed[c, i], w.accel[c, i], w.steer[c, i] = 0.0, 0.0, 0.0


def test_world_counts_a_hand_placed_npc_npc_overlap(backend: dict) -> None:
    w = _world("highway", backend, vehicles=3)
    assert not w.crashed.any()
    # Copy 1: NPC 2 put 2 m behind NPC 1 in its lane; both stopped, 300 m ahead of the
    # ego; NPC 3 another 100 m ahead of them, out of the way.
    far = w.x[1, 0] + 300.0
    _place(w, 1, 1, 0, far, 0.0, 0.0)
    _place(w, 1, 2, 0, far - 2.0, 0.0, 0.0)
    _place(w, 1, 3, 0, far + 100.0, 0.0, 0.0)
    feats = w.step(_idle(3))
    assert w.crashed[1, 1] and w.crashed[1, 2]
    assert w.npc_collisions.tolist() == [0, 1, 0]
    assert not w.crashed[[0, 2]].any()
    assert feats["collision"].tolist() == [0.0, 0.0, 0.0]  # not the ego's collision
    assert w.speed[1, 1] == 0.0 and w.speed[1, 2] == 0.0  # wrecks stand still
    w.step(_idle(3))
    assert w.npc_collisions.tolist() == [0, 1, 0]  # the same wreck is counted once


@pytest.mark.parametrize(
    ("npc1_x", "npc2_y", "hit"),
    [(-1.2, 5.2, True), (-1.8, 5.2, False), (-1.2, 5.8, False)],
)
def test_world_perpendicular_corner_overlap_at_the_crossing(
    npc1_x: float, npc2_y: float, hit: bool, backend: dict
) -> None:
    # One substep per step (1/15 s), so that nothing moves by more than a few millimetres.
    w = _world("intersection", backend, policy_hz=15)
    for c in range(3):  # everyone stopped at the start of a lane, 6 m apart, far from the box
        for i in range(w.v):
            lane = i % 4
            x, y = w.road.point(np.array(lane), np.array(2.0 + 6.0 * i), 0.0)
            _place(w, c, i, lane, float(x), float(y), float(w.road.heading(np.array(lane))))
    assert not w.crashed.any()
    # Copy 0: NPC 1 westbound-to-east (lane 0) and NPC 2 northbound (lane 2, heading -y),
    # stopped in the box with their corners touching (or 0.3 m apart).
    _place(w, 0, 1, 0, npc1_x, 2.0, 0.0)
    _place(w, 0, 2, 2, 2.0, npc2_y, -HALF_PI)
    w.step(_idle(3))
    assert bool(w.crashed[0, 1]) == hit and bool(w.crashed[0, 2]) == hit
    assert w.npc_collisions[0] == int(hit)
    assert w.npc_collisions[1:].tolist() == [0, 0]
