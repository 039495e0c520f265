"""Keeping traffic alive: vehicles that leave the window re-enter where traffic comes from.

Highway and merge: a window of ``params.window = (behind, ahead)`` metres around the anchor
(the ego, or the merge point). A vehicle that falls behind re-enters at the front edge; one
that runs ahead re-enters at the back edge (on the merge, a share of them at the start of
the ramp). Intersection: a vehicle that reaches the end of its lane re-enters at the start
of a random lane. At most one vehicle per copy moves per policy step, and only into a gap
where neither it nor the vehicle behind it has to brake hard; otherwise it tries again on
the next step. Compiled with numba: it runs once per policy step for every copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from rlhf_sandbox.sim.driving.events import MARK
from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.driving.road import INTERSECTION, MERGE

if TYPE_CHECKING:
    from rlhf_sandbox.sim.driving.world import DrivingWorld

_STREAM = 31
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(seed, stream, t, j):
    """``rlhf_sandbox.sim.rng.uniform(seed, stream, t, j)`` for scalars."""
    h = np.uint64(0x1234567)
    for k in (np.uint64(seed), np.uint64(stream), np.uint64(t), np.uint64(j)):
        h = _mix(k + h * _GOLDEN + _GOLDEN)
    return np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def recycle(w: DrivingWorld) -> None:
    p, r = w.params, w.road
    ego_fixed = p.ego_driver == "agent" or (p.anchor == "ego" and r.kind != "intersection")
    ramp = r.ramp_lanes[0] if r.ramp_lanes else -1
    _recycle(
        w.x, w.y, w.heading, w.speed, w.accel, w.steer, w.lane, w.prev_lane, w.cooldown,
        w.crashed, w.v0, w.seed, w.t, w.anchor, r.origin, r.direction, r.length, r.n_lanes,
        r.width, r.code, ramp, p.window[0], p.window[1], p.ramp_share, ego_fixed,
        w.aggressiveness,
    )  # fmt: skip


@njit(cache=True)
def _recycle(
    x, y, heading, speed, accel, steer, lane, prev_lane, cooldown, crashed, v0, seed, t,
    anchor, origin, direction, length, n_main, width, kind, ramp, behind, ahead, ramp_share,
    ego_fixed, aggressiveness,
):  # fmt: skip
    nb, nv = x.shape
    first = 1 if ego_fixed else 0
    for b in range(nb):
        pick, went_behind = -1, False
        for i in range(first, nv):
            if aggressiveness[b, i] >= MARK:  # an event's actor: the event lets it go
                continue
            ln = lane[b, i]
            if kind == INTERSECTION:
                s = (x[b, i] - origin[ln, 0]) * direction[ln, 0] + (
                    y[b, i] - origin[ln, 1]
                ) * direction[ln, 1]
                if s > length[ln] - 1.0:
                    pick = i
                    break
            else:
                rel = x[b, i] - anchor[b]
                if rel < -behind:
                    pick, went_behind = i, True
                    break
                if rel > ahead or (ln >= n_main and crashed[b, i]):
                    pick = i
                    break
        if pick < 0:
            continue
        u0 = _uniform(seed[b], _STREAM, t[b], 0)
        u1 = _uniform(seed[b], _STREAM, t[b], 1)
        u2 = _uniform(seed[b], _STREAM, t[b], 2)
        if kind == INTERSECTION:
            n = length.shape[0]
            tl = min(int(u0 * n), n - 1)
            s_new = 1.0
        else:
            if went_behind:
                x_new = anchor[b] + ahead - 5.0 - 25.0 * u1
            else:
                x_new = anchor[b] - behind + 5.0 + 25.0 * u1
            tl = min(int(u0 * n_main), n_main - 1)
            s_new = (x_new - origin[tl, 0]) * direction[tl, 0] + (
                tl * width - origin[tl, 1]
            ) * direction[tl, 1]
            if (
                kind == MERGE
                and u2 < ramp_share
                and origin[ramp, 0] > anchor[b] - behind
                and not went_behind
            ):
                tl = ramp
                s_new = 1.0
        # The gap on the target lane that the vehicle would enter.
        ahead_d, behind_d = np.inf, np.inf
        v_lead, v_fol = np.inf, 0.0
        for j in range(nv):
            if j == pick or (lane[b, j] != tl and prev_lane[b, j] != tl):
                continue
            st = (x[b, j] - origin[tl, 0]) * direction[tl, 0] + (
                y[b, j] - origin[tl, 1]
            ) * direction[tl, 1]
            ds = st - s_new
            if ds >= 0:
                if ds < ahead_d:
                    ahead_d, v_lead = ds, speed[b, j]
            elif -ds < behind_d:
                behind_d, v_fol = -ds, speed[b, j]
        v_new = min(v0[b, pick], v_lead)
        need_ahead = LENGTH + 10.0 + 1.5 * v_new
        if np.isfinite(v_lead):
            need_ahead += 2.0 * max(v_new - v_lead, 0.0)
        need_behind = LENGTH + 10.0 + 1.5 * v_fol + 2.0 * max(v_fol - v_new, 0.0)
        if not (ahead_d > need_ahead and behind_d > need_behind):
            continue
        x[b, pick] = origin[tl, 0] + s_new * direction[tl, 0]
        y[b, pick] = origin[tl, 1] + s_new * direction[tl, 1]
        heading[b, pick] = np.arctan2(direction[tl, 1], direction[tl, 0])
        speed[b, pick] = v_new
        lane[b, pick] = tl
        prev_lane[b, pick] = -1
        accel[b, pick] = 0.0
        steer[b, pick] = 0.0
        cooldown[b, pick] = 1.0
        crashed[b, pick] = False
