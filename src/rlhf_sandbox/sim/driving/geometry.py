"""Collisions between oriented rectangles, and whether a vehicle is on the road."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.sim.driving.road import Road


def corners(
    x: np.ndarray, y: np.ndarray, heading: np.ndarray, length: float, width: float
) -> np.ndarray:
    """Corners ``[..., 4, 2]`` of rectangles centred at (x, y)."""
    c, s = np.cos(heading), np.sin(heading)
    hl, hw = length / 2, width / 2
    lx = np.array([hl, hl, -hl, -hl])
    ly = np.array([hw, -hw, -hw, hw])
    cx = x[..., None] + lx * c[..., None] - ly * s[..., None]
    cy = y[..., None] + lx * s[..., None] + ly * c[..., None]
    return np.stack([cx, cy], axis=-1)


def rectangles_overlap(
    xa: np.ndarray,
    ya: np.ndarray,
    ha: np.ndarray,
    xb: np.ndarray,
    yb: np.ndarray,
    hb: np.ndarray,
    length: float,
    width: float,
) -> np.ndarray:
    """Separating-axis test for pairs of equal rectangles (broadcast shapes).

    On each of the four edge normals, the rectangles are apart when the distance between
    their centres exceeds the sum of their projected half-extents.
    """
    hl, hw = length / 2, width / 2
    dx, dy = xb - xa, yb - ya
    ca, sa, cb, sb = np.cos(ha), np.sin(ha), np.cos(hb), np.sin(hb)
    overlap = np.ones(np.broadcast(xa, xb).shape, dtype=bool)
    for ax, ay in ((ca, sa), (-sa, ca), (cb, sb), (-sb, cb)):
        ra = hl * np.abs(ca * ax + sa * ay) + hw * np.abs(-sa * ax + ca * ay)
        rb = hl * np.abs(cb * ax + sb * ay) + hw * np.abs(-sb * ax + cb * ay)
        overlap &= np.abs(dx * ax + dy * ay) < ra + rb
    return overlap


def overlapping_pairs(
    x: np.ndarray, y: np.ndarray, heading: np.ndarray, length: float, width: float, k: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every overlapping pair of vehicles ``[B, V]``, as (copy, i, j) index arrays.

    Broad phase: sort each copy by x. Two rectangles can only overlap when their centres
    are closer than a diagonal in x, so each vehicle is tested against the next ``k`` in x
    order; when the k-th next is still within a diagonal somewhere (a jam denser than k
    cars across), k is doubled until it is not, so no real overlap is ever missed. Narrow
    phase: the separating-axis test.
    """
    bsz, v = x.shape
    if v < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    diag = float(np.hypot(length, width))
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, 1)
    k = min(k, v - 1)
    while k < v - 1 and (xs[:, k:] - xs[:, : v - k] < diag).any():
        k = min(2 * k, v - 1)
    first = np.arange(v)[:, None]
    second = first + np.arange(1, k + 1)[None, :]  # [V, k] positions in x order
    valid = second < v
    second = np.minimum(second, v - 1)
    ii = np.broadcast_to(order[:, :, None], (bsz, v, k))
    jj = order[:, second]  # [B, V, k]
    close = valid & (np.abs(xs[:, second] - xs[:, :, None]) < diag)
    bidx = np.broadcast_to(np.arange(bsz)[:, None, None], (bsz, v, k))
    bi, i, j = bidx[close], ii[close], jj[close]
    close_y = np.abs(y[bi, i] - y[bi, j]) < diag
    bi, i, j = bi[close_y], i[close_y], j[close_y]
    hit = rectangles_overlap(
        x[bi, i], y[bi, i], heading[bi, i], x[bi, j], y[bi, j], heading[bi, j], length, width
    )
    return bi[hit], i[hit], j[hit]


def on_road(road: Road, x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Whether each centre lies on some lane's paved strip (widened by ``margin``) [..]."""
    lanes = np.arange(road.n)
    xe, ye = x[..., None], y[..., None]
    s = road.station(lanes, xe, ye)
    d = road.offset(lanes, xe, ye)
    inside = (np.abs(d) <= road.width / 2 + margin) & (s >= -margin) & (s <= road.length + margin)
    return inside.any(-1)
