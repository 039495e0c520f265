"""Keeping traffic alive: vehicles that leave the window re-enter where traffic comes from.

Highway and merge: a window of ``params.window = (behind, ahead)`` metres around the anchor
(the ego, or the merge point). A vehicle that falls behind re-enters at the front edge; one
that runs ahead re-enters at the back edge (on the merge, part of them at the start of the
ramp). Intersection: a vehicle that reaches the end of its lane re-enters at the start of
a lane. At most one vehicle per copy moves per policy step, and only into a gap where
neither it nor the vehicle behind it has to brake hard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.rng import uniform

if TYPE_CHECKING:
    from rlhf_sandbox.sim.driving.world import DrivingWorld

_STREAM = 31


def recycle(w: DrivingWorld) -> None:
    p, r = w.params, w.road
    b, v = w.x.shape
    movable = ~np.zeros((b, v), dtype=bool)
    ego_fixed = p.ego_driver == "agent" or (p.anchor == "ego" and r.kind != "intersection")
    if ego_fixed:
        movable[:, 0] = False
    u = uniform(w.seed[:, None], _STREAM, w.t[:, None], np.arange(4)[None, :])  # [B, 4]
    if r.kind == "intersection":
        s = r.station(w.lane, w.x, w.y)
        out = movable & (s > r.length[w.lane] - 1.0)
        tl = np.minimum((u[:, 0] * r.n).astype(np.int64), r.n - 1)
        s_new = np.full(b, 1.0)
    else:
        rel = w.x - w.anchor[:, None]
        behind, ahead = p.window
        out_b = movable & (rel < -behind)
        out_a = movable & (rel > ahead) | (movable & (w.lane >= r.n_lanes) & w.crashed)
        out = out_b | out_a
        pick = out.argmax(1)
        went_behind = out_b[np.arange(b), pick]
        x_new = np.where(
            went_behind,
            w.anchor + ahead - 5.0 - 25.0 * u[:, 1],
            w.anchor - behind + 5.0 + 25.0 * u[:, 1],
        )
        tl = np.minimum((u[:, 0] * r.n_lanes).astype(np.int64), r.n_lanes - 1)
        s_new = r.station(tl, x_new, tl * r.width)
        if r.kind == "merge":
            ramp = r.ramp_lanes[0]
            ramp_start_x = r.origin[ramp, 0]
            to_ramp = (u[:, 2] < p.ramp_share) & (ramp_start_x > w.anchor - behind) & ~went_behind
            tl = np.where(to_ramp, ramp, tl)
            s_new = np.where(to_ramp, 1.0, s_new)
    has = out.any(1)
    if not has.any():
        return
    pick = out.argmax(1)
    rows = np.arange(b)
    # Stations of everyone on the target lane, to find the gap we would enter.
    in_tl = ((w.lane == tl[:, None]) | (w.prev_lane == tl[:, None])) & ~(np.arange(v)[None, :] == pick[:, None])
    st = r.station(tl[:, None], w.x, w.y)
    ds = np.where(in_tl, st - s_new[:, None], np.nan)
    ahead_d = np.where(ds >= 0, ds, np.inf).min(1)
    behind_d = np.where(ds < 0, -ds, np.inf).min(1)
    lead = np.where(in_tl & (ds >= 0), ds, np.inf).argmin(1)
    foll = np.where(in_tl & (ds < 0), -ds, np.inf).argmin(1)
    v_lead = np.where(np.isfinite(ahead_d), w.speed[rows, lead], np.inf)
    v_fol = np.where(np.isfinite(behind_d), w.speed[rows, foll], 0.0)
    v_new = np.minimum(w.v0[rows, pick], v_lead)
    v_new = np.where(np.isfinite(v_new), v_new, w.v0[rows, pick])
    need_ahead = LENGTH + 10.0 + 1.5 * v_new + 2.0 * np.maximum(v_new - np.where(np.isfinite(v_lead), v_lead, v_new), 0.0)
    need_behind = LENGTH + 10.0 + 1.5 * v_fol + 2.0 * np.maximum(v_fol - v_new, 0.0)
    go = has & (ahead_d > need_ahead) & (behind_d > need_behind)
    if not go.any():
        return
    g = np.flatnonzero(go)
    j = pick[g]
    x, y = r.point(tl[g], s_new[g])
    w.x[g, j], w.y[g, j] = x, y
    w.heading[g, j] = r.heading(tl[g])
    w.speed[g, j] = v_new[g]
    w.lane[g, j] = tl[g]
    w.prev_lane[g, j] = -1
    w.accel[g, j] = 0.0
    w.steer[g, j] = 0.0
    w.cooldown[g, j] = 1.0
    w.crashed[g, j] = False
