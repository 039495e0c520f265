"""Top-down drawing of one copy's state with pygame, camera on the ego.

pygame is imported inside :func:`render` only, so a headless training run never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rlhf_sandbox.sim.driving.events import MARK
from rlhf_sandbox.sim.driving.geometry import corners
from rlhf_sandbox.sim.driving.params import LENGTH, WIDTH
from rlhf_sandbox.sim.driving.road import Road

GRASS = (96, 140, 84)
ASPHALT = (92, 92, 96)
MARKING = (235, 235, 235)
EGO = (50, 200, 80)
CRASHED = (230, 40, 40)
TIMID = np.array([120, 170, 240])  # light blue
AGGRESSIVE = np.array([240, 150, 40])  # orange
EVENT = (200, 40, 200)  # magenta: a vehicle a critical event scripts (events.py)


def npc_colour(aggressiveness: float) -> tuple[int, int, int]:
    if aggressiveness >= MARK:  # an event's actor (its aggressiveness raised by MARK)
        return EVENT
    c = TIMID + (AGGRESSIVE - TIMID) * float(np.clip(aggressiveness, 0.0, 1.0))
    return int(c[0]), int(c[1]), int(c[2])


def render(
    road: Road,
    state: Mapping[str, np.ndarray],
    width: int,
    height: int,
    scaling: float,
    centre: tuple[float, float] | None = None,
) -> np.ndarray:
    """An RGB frame ``[height, width, 3]`` of one copy.

    ``state`` holds that copy's per-vehicle arrays ``[V]`` (``x``, ``y``, ``heading``,
    ``crashed``, ``aggressiveness``). The camera follows vehicle 0 (the ego) on roads and
    shows the whole crossing at the intersection, unless ``centre`` is given.
    """
    import pygame

    surf = pygame.Surface((width, height))
    surf.fill(GRASS)
    x, y = np.asarray(state["x"], float), np.asarray(state["y"], float)
    if centre is not None:
        cx, cy = centre
    elif road.kind == "intersection":
        cx, cy = 0.0, 0.0  # the whole crossing, fixed
    else:
        cx, cy = float(x[0]) + 0.15 * width / scaling, float(y[0])  # a little ahead of the ego

    def to_px(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        return np.stack([(px - cx) * scaling + width / 2, (py - cy) * scaling + height / 2], -1)

    half_w = width / 2 / scaling + 10.0
    for lane in range(road.n):
        o, u, length = road.origin[lane], road.direction[lane], road.length[lane]
        s_cam = (cx - o[0]) * u[0] + (cy - o[1]) * u[1]
        s0 = max(0.0, s_cam - half_w - height / scaling)
        s1 = min(float(length), s_cam + half_w + height / scaling)
        if s1 <= s0:
            continue
        lanes = np.array([lane, lane])
        ss = np.array([s0, s1])
        hw = road.width / 2
        a = road.point(lanes, ss, -hw)
        b = road.point(lanes, ss, hw)
        quad = to_px(
            np.array([a[0][0], a[0][1], b[0][1], b[0][0]]),
            np.array([a[1][0], a[1][1], b[1][1], b[1][0]]),
        )
        pygame.draw.polygon(surf, ASPHALT, quad.tolist())
    for lane in range(road.n):
        _lane_markings(pygame, surf, road, lane, to_px, cx, cy, half_w + height / scaling)
    heading = np.asarray(state["heading"], float)
    crashed = np.asarray(state["crashed"], bool)
    aggr = np.asarray(state["aggressiveness"], float)
    c = corners(x, y, heading, LENGTH, WIDTH)
    px = to_px(c[..., 0], c[..., 1])
    visible = (np.abs(x - cx) < half_w) & (np.abs(y - cy) < height / 2 / scaling + 10.0)
    for i in np.flatnonzero(visible)[::-1]:  # ego (index 0) drawn last, on top
        colour = CRASHED if crashed[i] else EGO if i == 0 else npc_colour(aggr[i])
        pygame.draw.polygon(surf, colour, px[i].tolist())
        pygame.draw.polygon(surf, (20, 20, 20), px[i].tolist(), 1)
        nose = to_px(
            x[i] + np.cos(heading[i]) * LENGTH * 0.35, y[i] + np.sin(heading[i]) * LENGTH * 0.35
        )
        pygame.draw.circle(surf, (30, 30, 30), nose.tolist(), max(1.0, 0.4 * scaling))
    return np.ascontiguousarray(pygame.surfarray.array3d(surf).swapaxes(0, 1))


def _lane_markings(
    pygame, surf, road: Road, lane: int, to_px, cx: float, cy: float, reach: float
) -> None:
    """Solid outer edges, dashed lines between neighbouring lanes."""
    o, u, length = road.origin[lane], road.direction[lane], float(road.length[lane])
    s_cam = (cx - o[0]) * u[0] + (cy - o[1]) * u[1]
    s0, s1 = max(0.0, s_cam - reach), min(length, s_cam + reach)
    if s1 <= s0:
        return
    lanes = np.array([lane, lane])
    hw = road.width / 2
    for side, neighbour in ((-hw, road.left[lane]), (hw, road.right[lane])):
        if road.kind == "intersection":
            if side < 0 and lane in (0, 2):  # the centre lines between the two directions
                _dashed(
                    pygame, surf, road, lane, to_px, s0, s1, side, skip=(road.box_in, road.box_out)
                )
            continue
        if neighbour >= 0:
            if side > 0:
                continue  # drawn once, from the right-hand lane's left side
            _dashed(pygame, surf, road, lane, to_px, s0, s1, side)
        else:
            a = road.point(lanes, np.array([s0, s1]), side)
            pygame.draw.line(
                surf, MARKING, to_px(a[0][:1], a[1][:1])[0], to_px(a[0][1:], a[1][1:])[0], 2
            )


def _dashed(
    pygame, surf, road: Road, lane: int, to_px, s0: float, s1: float, side: float, skip=None
) -> None:
    start = np.floor(s0 / 6.0) * 6.0
    for s in np.arange(start, s1, 6.0):
        if skip is not None and skip[0] - 3 < s < skip[1]:
            continue
        ends = road.point(np.array([lane, lane]), np.array([s, min(s + 3.0, s1)]), side)
        p = to_px(ends[0], ends[1])
        pygame.draw.line(surf, MARKING, p[0].tolist(), p[1].tolist(), 1)
