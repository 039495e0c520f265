"""Compiled helpers of the driving kernel: lane geometry, the sorted lane entries, overlap.

A copy's vehicles are kept as entries sorted by (lane, station) (``lane_key``), twice for a
vehicle changing lanes; neighbours are read off that order (``ahead_of``, ``behind_of``:
next to an entry's own position) or found by binary search (``ahead``, ``behind``).
``resort`` keeps the order from substep to substep. See ``kernels`` for the whole step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from rlhf_sandbox.sim.driving.params import HALF, LENGTH, SPAN, WIDTH


def jit(**options: Any) -> Any:
    """``numba.njit`` as every kernel here uses it: cached on disk, and divisions by the
    IEEE rules (no zero-divisor check and branch per division; every divisor is guarded).

    Helpers that take arrays but allocate none are compiled with ``_nrt=False`` (numba's
    flag for code without its reference-counted memory): otherwise every call increments
    and decrements each array argument's count with atomic instructions, which took a
    fifth of the kernel's time in the per-vehicle loops (perf, 2026-11-27).
    """
    return njit(cache=True, error_model="numpy", **options)


@jit(_nrt=False)
def lane_station(origin, direction, ln, x, y):
    return (x - origin[ln, 0]) * direction[ln, 0] + (y - origin[ln, 1]) * direction[ln, 1]


@jit(_nrt=False)
def lane_offset(origin, direction, ln, x, y):
    return -(x - origin[ln, 0]) * direction[ln, 1] + (y - origin[ln, 1]) * direction[ln, 0]


@jit(_nrt=False)
def on_road(origin, direction, length, width, x, y, margin):
    for ln in range(length.shape[0]):
        s = lane_station(origin, direction, ln, x, y)
        d = lane_offset(origin, direction, ln, x, y)
        if abs(d) <= width / 2 + margin and s >= -margin and s <= length[ln] + margin:
            return True
    return False


@jit()
def lane_key(lane, s):
    return lane * SPAN + min(max(s, -HALF), HALF) + SPAN / 2


@jit(_nrt=False)
def ahead(keys, owner, lane, s, me):
    """First entry strictly ahead of (lane, s), skipping one entry owned by ``me``."""
    key = lane_key(lane, s)
    return ahead_from(keys, owner, lane, np.searchsorted(keys, key, side="right"), me)


@jit(_nrt=False)
def ahead_of(keys, owner, lane, p, me):
    """:func:`_ahead` of the point of entry ``p`` itself (a sorted position, so no search:
    the first entry with a larger key lies just past ``p`` and any equal keys)."""
    n = keys.shape[0]
    key = keys[p]
    i = p + 1
    while i < n and keys[i] == key:
        i += 1
    return ahead_from(keys, owner, lane, i, me)


@jit(_nrt=False)
def ahead_from(keys, owner, lane, i, me):
    n = keys.shape[0]
    for _ in range(2):
        if i >= n or keys[i] >= (lane + 1) * SPAN:  # past the lane's keys (see _key)
            return -1, 0.0
        if owner[i] != me:
            return owner[i], keys[i] - lane * SPAN - SPAN / 2
        i += 1
    return -1, 0.0


@jit(_nrt=False)
def behind(keys, owner, lane, s, me):
    key = lane_key(lane, s)
    return behind_from(keys, owner, lane, np.searchsorted(keys, key, side="left") - 1, me)


@jit(_nrt=False)
def behind_of(keys, owner, lane, p, me):
    """:func:`_behind` of the point of entry ``p`` (see :func:`_ahead_of`)."""
    key = keys[p]
    i = p - 1
    while i >= 0 and keys[i] == key:
        i -= 1
    return behind_from(keys, owner, lane, i, me)


@jit(_nrt=False)
def behind_from(keys, owner, lane, i, me):
    for _ in range(2):
        if i < 0 or keys[i] < lane * SPAN:
            return -1, 0.0
        if owner[i] != me:
            return owner[i], keys[i] - lane * SPAN - SPAN / 2
        i -= 1
    return -1, 0.0


@jit(_nrt=False)
def resort(order, keys):
    """Insertion sort of the permutation ``order`` by (``keys[i]``, i): the order a stable
    sort of ``keys`` gives, found in O(n) when ``order`` is already nearly sorted."""
    for p in range(1, order.shape[0]):
        i = order[p]
        k = keys[i]
        q = p - 1
        while q >= 0 and (keys[order[q]] > k or (keys[order[q]] == k and order[q] > i)):
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = i


@jit(inline="always")
def overlap_cs(xa, ya, ca, sa, xb, yb, cb, sb):
    """:func:`_overlap` with the cosines and sines of both headings given."""
    hl, hw = LENGTH / 2, WIDTH / 2
    dx, dy = xb - xa, yb - ya
    for k in range(4):
        if k == 0:
            ax, ay = ca, sa
        elif k == 1:
            ax, ay = -sa, ca
        elif k == 2:
            ax, ay = cb, sb
        else:
            ax, ay = -sb, cb
        ra = hl * abs(ca * ax + sa * ay) + hw * abs(-sa * ax + ca * ay)
        rb = hl * abs(cb * ax + sb * ay) + hw * abs(-sb * ax + cb * ay)
        if abs(dx * ax + dy * ay) >= ra + rb:
            return False
    return True
