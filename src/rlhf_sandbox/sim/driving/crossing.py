"""Gap acceptance at the unsignalised crossing.

Only the last few vehicles of each lane that have not yet cleared the box can reach it
soon, so each copy considers ``K`` candidates per lane (``[B, 4 K]``, never ``[B, V, V]``).
Candidates are put in one priority order: vehicles in the box or too close to stop
(committed) first, then by time to reach the box, ties by vehicle index. A vehicle yields
(stops at its stop line) when a vehicle of higher priority on a crossing lane occupies the
box within the vehicle's accepted time gap of its own passage. Because the order is total,
of any two conflicting vehicles exactly one yields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlhf_sandbox.sim.driving.params import LENGTH

if TYPE_CHECKING:
    from rlhf_sandbox.sim.driving.world import DrivingWorld

K = 3  # candidates per lane
STOP_DECEL = 5.0  # [m/s^2] braking that decides whether a vehicle can still stop
V_MIN = 2.5  # [m/s] speed assumed for a vehicle that is about to move off


def must_yield(w: DrivingWorld, s: np.ndarray) -> np.ndarray:
    """``[B, V]``: which vehicles must stop at their stop line this substep."""
    r = w.road
    b, v = s.shape
    n_lanes = r.n
    rear = s - LENGTH / 2
    front = s + LENGTH / 2
    relevant = rear < r.box_out  # not yet cleared the box
    # The K candidates per lane: the relevant vehicles furthest along it.
    in_lane = w.lane[:, None, :] == np.arange(n_lanes)[None, :, None]  # [B, L, V]
    key = np.where(relevant[:, None, :] & in_lane, s[:, None, :], -np.inf)
    k = min(K, v)
    top = np.argpartition(-key, k - 1, axis=2)[:, :, :k].reshape(b, n_lanes * k)  # [B, C]
    valid = np.isfinite(
        np.take_along_axis(key.reshape(b, -1), (np.arange(n_lanes).repeat(k)[None, :] * v + top), 1)
    )
    bi = np.arange(b)[:, None]
    c_lane = np.arange(n_lanes).repeat(k)[None, :].repeat(b, 0)
    c_v = w.speed[bi, top]
    d_in = r.box_in - front[bi, top]
    d_clear = r.box_out - rear[bi, top]
    in_box = (d_in <= 0) & (d_clear > 0)
    cant_stop = (d_in > 0) & (c_v**2 / (2 * STOP_DECEL) > d_in - 0.5)
    committed = valid & (in_box | cant_stop)
    t_in = np.where(d_in > 0, d_in / np.maximum(c_v, V_MIN), 0.0)
    t_clear = np.maximum(d_clear, 0.0) / np.maximum(c_v, V_MIN)
    gap = w.gap_accept[bi, top]
    # higher[c, c']: c' goes before c
    ci, cj = committed[:, :, None], committed[:, None, :]
    ti, tj = t_in[:, :, None], t_in[:, None, :]
    idx_i, idx_j = top[:, :, None], top[:, None, :]
    earlier = (tj < ti) | ((tj == ti) & (idx_j < idx_i))
    higher = (cj & ~ci) | ((cj == ci) & earlier)
    crossing = r.crosses[c_lane[:, :, None], c_lane[:, None, :]]
    overlap = (ti < t_clear[:, None, :] + gap[:, :, None]) & (
        tj < t_clear[:, :, None] + gap[:, :, None]
    )
    conflict = crossing & higher & overlap & valid[:, :, None] & valid[:, None, :]
    yield_c = valid & ~committed & conflict.any(2)
    out = np.zeros((b, v), dtype=bool)
    np.logical_or.at(out, (np.broadcast_to(bi, top.shape), top), yield_c)
    return out
