"""Line of sight, rays and sliding collisions on hand-made cases; no tunnelling at top speed."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.sim.arena.geometry import (
    cast_rays,
    line_of_sight,
    push_out_of_boxes,
    ray_directions,
    separate_discs,
)
from rlhf_sandbox.sim.arena.params import COMPANION, GUARD, RADIUS, ArenaParams
from rlhf_sandbox.sim.arena.world import ArenaWorld

WALL = np.array([[4.0, 0.0, 5.0, 10.0]])  # one box: x in [4, 5], y in [0, 10]


@pytest.mark.parametrize(
    ("p", "q", "visible"),
    [
        ((0, 5), (10, 5), False),  # straight through the wall
        ((0, 5), (3.9, 5), True),  # stops short of it
        ((0, 11), (10, 11), True),  # passes above it
        ((0, 9), (10, 11), False),  # clips its top corner region
        ((3, 10.5), (6, 10.5), True),  # just above the top edge
        ((3.9, 0), (3.9, 10), True),  # vertical, beside it (direction has a zero)
        ((4.5, -1), (4.5, 11), False),  # vertical, through it
        ((0, 5), (4.5, 5), False),  # ends inside the box
        ((2, 2), (2, 2), True),  # a point outside
        ((10, 5), (0, 5), False),  # direction does not matter
    ],
)
def test_line_of_sight_hand_made(p: tuple, q: tuple, visible: bool) -> None:
    got = line_of_sight(np.array(p, float), np.array(q, float), WALL)
    assert bool(got) is visible


def test_line_of_sight_batched_matches_single_calls() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.uniform(-1, 11, (50, 2)), rng.uniform(-1, 11, (50, 2))
    batched = line_of_sight(p, q, WALL[None])
    single = [bool(line_of_sight(p[i], q[i], WALL)) for i in range(50)]
    assert batched.tolist() == single
    assert 5 < batched.sum() < 45  # both outcomes occur


def test_rays_hit_the_nearest_wall_and_cap_at_range() -> None:
    dirs = ray_directions(4)  # E, N, W, S
    boxes = np.array([[[4.0, 0.0, 5.0, 10.0], [0.0, 8.0, 3.0, 9.0]]])
    d = cast_rays(np.array([[[1.0, 5.0]]]), dirs, boxes, 6.0)[0, 0]
    np.testing.assert_allclose(d, [3.0, 3.0, 6.0, 6.0], atol=1e-5)
    inside = cast_rays(np.array([[[4.5, 5.0]]]), dirs, boxes, 6.0)[0, 0]
    np.testing.assert_allclose(inside, 0.0)


def test_push_out_slides_along_a_wall() -> None:
    pos = np.array([[[3.8, 5.0]]])  # overlapping the wall's left face by 0.1 m
    out, hit = push_out_of_boxes(pos, WALL[None], RADIUS)
    np.testing.assert_allclose(out[0, 0], [4.0 - RADIUS, 5.0])  # only x changes
    assert hit[0, 0]
    free, hit = push_out_of_boxes(np.array([[[2.0, 5.0]]]), WALL[None], RADIUS)
    np.testing.assert_allclose(free[0, 0], [2.0, 5.0])
    assert not hit[0, 0]


def test_discs_are_separated() -> None:
    pos = np.array([[[1.0, 1.0], [1.3, 1.0], [5.0, 5.0]]])
    out, hit = separate_discs(pos, RADIUS, max_push=1.0)
    assert np.linalg.norm(out[0, 0] - out[0, 1]) == pytest.approx(2 * RADIUS)
    assert hit[0].tolist() == [True, True, False]


def _thin_world(speed: float, dt: float, n: int, backend: str) -> ArenaWorld:
    params = ArenaParams(
        roles=(COMPANION, GUARD),
        npc_speed=speed,
        player_speed=speed,
        dt=dt,
        max_accel=100.0,
        backend=backend,
    )
    w = ArenaWorld(params, n)
    w.reset(np.ones(n, dtype=bool), np.arange(n))
    state = w.get_state()
    boxes = np.full_like(state["boxes"], 1e4)
    boxes[:, 0] = [6.0, 0.0, 6.02, 12.0]  # a 2 cm wall across the whole arena at x = 6
    boxes[:, 1] = [0.0, -1.0, 12.0, 0.0]  # floor and ceiling keep discs in
    boxes[:, 2] = [0.0, 12.0, 12.0, 13.0]
    boxes[:, 3] = [-1.0, -1.0, 0.0, 13.0]  # and the two ends
    boxes[:, 4] = [12.0, -1.0, 13.0, 13.0]
    state["boxes"] = boxes
    w.set_state(state)
    return w


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(("speed", "dt"), [(2.0, 0.1), (6.0, 0.1), (6.0, 0.5)])
def test_no_tunnelling_through_a_thin_wall_at_top_speed(
    speed: float, dt: float, backend: str
) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    n = 64
    w = _thin_world(speed, dt, n, backend)
    rng = np.random.default_rng(1)
    state = w.get_state()
    state["pos"][:, :, 0] = rng.uniform(1.0, 5.0, (n, 3))  # everyone left of the wall
    state["pos"][:, :, 1] = rng.uniform(1.0, 11.0, (n, 3))
    w.set_state(state)
    ang = rng.uniform(-1.2, 1.2, (n, 2))  # heading roughly east, into the wall
    push = np.stack([np.cos(ang), np.sin(ang)], axis=-1) * speed
    for _ in range(60):
        w.step(push, np.array([0, 1]))
        assert w.pos[:, :, 0].max() < 6.0, "a disc crossed the wall"
    assert w.pos[:, 1:, 0].max() > 6.0 - RADIUS - 0.01  # they did reach it
    assert w.features["wall_collision"].sum() > 0
