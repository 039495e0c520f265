"""Compiled observation and meta-action kernels of the driving envs (see ``driving_obs``)."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.sim.driving.kernel_geometry import (
    jit,
    lane_offset,
    on_road,
)


@jit()
def observe(
    x, y, heading, speed, accel, lane, target_speed, last_action,
    origin, direction, length, width, n_main, k, speed_scale, x_scale, y_scale, out,
):  # fmt: skip
    """Fill ``out`` [B, 8 + A + 7 k] with the ego's observation (see ``driving_obs``)."""
    nb = x.shape[0]
    na = last_action.shape[1]
    near = np.empty(k, np.int64)  # the k nearest other vehicles of a copy, nearest first
    near_d = np.empty(k)
    for b in range(nb):
        ln = lane[b, 0]
        h = heading[b, 0]
        ch, sh = np.cos(h), np.sin(h)
        o = out[b]
        o[0] = speed[b, 0] / speed_scale
        o[1] = ch
        o[2] = sh
        o[3] = lane_offset(origin, direction, ln, x[b, 0], y[b, 0]) / width
        o[4] = min(ln, n_main - 1) / max(n_main - 1, 1)
        o[5] = accel[b, 0] / 5.0
        o[6] = target_speed[b] / speed_scale
        o[7] = 1.0 if on_road(origin, direction, length, width, x[b, 0], y[b, 0], 0.0) else 0.0
        for j in range(na):
            o[8 + j] = last_action[b, j]
        base = 8 + na
        m = nearest(x, y, b, near, near_d)
        vx0, vy0 = speed[b, 0] * ch, speed[b, 0] * sh
        for r in range(k):
            row = base + 7 * r
            if r >= m:
                for c in range(7):
                    o[row + c] = 0.0
                continue
            j = near[r]
            dx, dy = x[b, j] - x[b, 0], y[b, j] - y[b, 0]
            hj = heading[b, j]
            dvx = speed[b, j] * np.cos(hj) - vx0
            dvy = speed[b, j] * np.sin(hj) - vy0
            o[row] = 1.0
            o[row + 1] = (dx * ch + dy * sh) / x_scale
            o[row + 2] = (-dx * sh + dy * ch) / y_scale
            o[row + 3] = (dvx * ch + dvy * sh) / speed_scale
            o[row + 4] = (-dvx * sh + dvy * ch) / speed_scale
            o[row + 5] = np.cos(hj - h)
            o[row + 6] = np.sin(hj - h)
        for c in range(o.shape[0]):
            o[c] = min(max(o[c], -1.0), 1.0)


@jit(_nrt=False)
def nearest(x, y, b, near, near_d):
    """The ``near.shape[0]`` vehicles of copy b nearest to its ego (vehicle 0), nearest
    first and, at equal distance, lower index first (a stable sort's order, without
    sorting them all); returns how many there are."""
    k = near.shape[0]
    m = 0
    for j in range(1, x.shape[1]):
        d = np.hypot(x[b, j] - x[b, 0], y[b, j] - y[b, 0])
        if m == k and not d < near_d[k - 1]:
            continue
        p = min(m, k - 1)
        while p > 0 and near_d[p - 1] > d:
            near[p], near_d[p] = near[p - 1], near_d[p - 1]
            p -= 1
        near[p], near_d[p] = j, d
        m = min(m + 1, k)
    return m


@jit()
def apply_meta(meta, lane, prev_lane, target_speed, left, right, speeds):
    """Discrete meta-actions: 0 lane left, 1 idle, 2 lane right, 3 faster, 4 slower."""
    for b in range(meta.shape[0]):
        m = meta[b]
        if m < 0:
            continue
        ln = lane[b, 0]
        new = ln
        if m == 0 and left[ln] >= 0:
            new = left[ln]
        elif m == 2 and right[ln] >= 0:
            new = right[ln]
        if new != ln:
            prev_lane[b, 0] = ln
            lane[b, 0] = new
        k = 0
        for q in range(speeds.shape[0]):
            if abs(speeds[q] - target_speed[b]) < abs(speeds[k] - target_speed[b]):
                k = q
        if m == 3:
            k = min(k + 1, speeds.shape[0] - 1)
        elif m == 4:
            k = max(k - 1, 0)
        target_speed[b] = speeds[k]
