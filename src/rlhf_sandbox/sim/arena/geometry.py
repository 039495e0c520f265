"""Axis-aligned boxes and discs: ray casts, line of sight and sliding collisions, batched.

Every wall and obstacle is an axis-aligned box ``(x0, y0, x1, y1)`` [m]. Functions take
arrays with leading batch axes and broadcast them; none loops over worlds or agents.
Rays and segments use the slab method; a disc is pushed out of a box along the line from
the box's closest point to the disc's centre, which keeps the tangential motion (slide).
"""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.sim.arena.params import TINY


def norm(v: np.ndarray) -> np.ndarray:
    """Length of 2-vectors ``[..., 2]`` (faster than a reduction over a length-2 axis)."""
    return np.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1])


def safe_inverse(d: np.ndarray) -> np.ndarray:
    """1/d with zeros replaced by a huge finite number of the same sign (no NaN in slabs)."""
    d = np.where(np.abs(d) < TINY, np.where(d < 0, -TINY, TINY), d)
    return 1.0 / d


def _slabs(
    ox: np.ndarray, oy: np.ndarray, ix: np.ndarray, iy: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit parameters ``t`` of the lines ``o + t d`` through every box.

    ``ox, oy, ix, iy`` (origin and 1/direction) broadcast against ``boxes[..., 0]``.
    """
    tx0 = (boxes[..., 0] - ox) * ix
    tx1 = (boxes[..., 2] - ox) * ix
    ty0 = (boxes[..., 1] - oy) * iy
    ty1 = (boxes[..., 3] - oy) * iy
    tnear = np.maximum(np.minimum(tx0, tx1), np.minimum(ty0, ty1))
    tfar = np.minimum(np.maximum(tx0, tx1), np.maximum(ty0, ty1))
    return tnear, tfar


def ray_directions(n_rays: int) -> np.ndarray:
    """``[R, 2]`` unit vectors, evenly spread, the first along +x (world frame)."""
    a = np.arange(n_rays) * (2.0 * np.pi / n_rays)
    return np.stack([np.cos(a), np.sin(a)], axis=-1)


def cast_rays(pos: np.ndarray, dirs: np.ndarray, boxes: np.ndarray, max_range: float) -> np.ndarray:
    """Distances [m] from ``pos [B, M, 2]`` along ``dirs [R, 2]`` to the first box of
    ``boxes [B, K, 4]``, capped at ``max_range``; shape ``[B, M, R]``. Inside a box: 0.

    Float32. Each ray's direction signs pick its near and far box sides up front. Small
    batches work on one ``[B, M, R, K]`` block; large ones loop over the rays with
    cache-sized ``[B, M, K]`` blocks. Both do the same arithmetic, so give equal bits.
    """
    inv = safe_inverse(dirs).astype(np.float32)  # [R, 2]
    p = pos.astype(np.float32)
    bx = boxes.astype(np.float32)[:, None]  # [B, 1, K, 4]
    ox, oy = p[..., 0, None], p[..., 1, None]  # [B, M, 1]
    # [B, M, K] offsets to the four sides (left, bottom, right, top)
    sides = (bx[..., 0] - ox, bx[..., 1] - oy, bx[..., 2] - ox, bx[..., 3] - oy)
    near_x = np.where(inv[:, 0] >= 0, 0, 2)  # [R] which side each ray enters by
    near_y = np.where(inv[:, 1] >= 0, 1, 3)
    cap = np.float32(max_range)
    if p.shape[0] * p.shape[1] < 64:
        s = np.stack(sides)  # [4, B, M, K]
        ix, iy = inv[:, 0, None, None, None], inv[:, 1, None, None, None]  # [R, 1, 1, 1]
        tn = np.maximum(s[near_x] * ix, s[near_y] * iy)  # [R, B, M, K]
        tf = np.minimum(s[2 - near_x] * ix, s[4 - near_y] * iy)
        np.maximum(tn, 0.0, out=tn)
        out = np.moveaxis(np.where(tn <= tf, tn, cap).min(axis=-1), 0, -1)
    else:
        out = np.empty((*p.shape[:2], len(dirs)), dtype=np.float32)
        for r in range(len(dirs)):
            ix, iy = inv[r]
            tn = np.maximum(sides[near_x[r]] * ix, sides[near_y[r]] * iy)
            tf = np.minimum(sides[2 - near_x[r]] * ix, sides[4 - near_y[r]] * iy)
            np.maximum(tn, 0.0, out=tn)
            tn[tn > tf] = cap
            out[..., r] = tn.min(axis=-1)
    return np.minimum(out, max_range).astype(np.float64)


def segment_blocked(p: np.ndarray, q: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether the segment ``p -> q`` (``[..., 2]``) crosses a box of ``boxes [..., K, 4]``.

    The leading axes of ``p``/``q`` and ``boxes[..., 0, 0]`` must broadcast. Shape: ``[...]``.
    """
    d = q - p
    inv = safe_inverse(d)
    if p[..., 0].size < 64:
        tnear, tfar = _slabs(
            p[..., 0, None], p[..., 1, None], inv[..., 0, None], inv[..., 1, None], boxes
        )
        return np.any((tnear <= tfar) & (tfar >= 0.0) & (tnear <= 1.0), axis=-1)
    blocked = np.zeros(np.broadcast_shapes(p.shape[:-1], boxes.shape[:-2]), dtype=bool)
    for k in range(boxes.shape[-2]):  # large inputs: cache-sized arrays, same arithmetic
        tnear, tfar = _slabs(p[..., 0], p[..., 1], inv[..., 0], inv[..., 1], boxes[..., k, :])
        blocked |= (tnear <= tfar) & (tfar >= 0.0) & (tnear <= 1.0)
    return blocked


def disc_path_clear(p: np.ndarray, q: np.ndarray, boxes: np.ndarray, radius: float) -> np.ndarray:
    """Whether a disc can move straight from ``p`` to ``q``: its centre line and both edge
    lines miss every box. Shapes as :func:`segment_blocked`."""
    d = q - p
    m = np.maximum(norm(d), 1e-9)
    nx, ny = -d[..., 1] / m, d[..., 0] / m
    clear = np.ones(np.broadcast_shapes(p.shape[:-1], q.shape[:-1], boxes.shape[:-2]), bool)
    for off in (-radius, 0.0, radius):
        o = np.stack([off * nx, off * ny], axis=-1)
        clear &= ~segment_blocked(p + o, q + o, boxes)
    return clear


def line_of_sight(p: np.ndarray, q: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``True`` where no box occludes the segment between ``p`` and ``q``."""
    return ~segment_blocked(p, q, boxes)


def push_out_of_boxes(
    pos: np.ndarray, boxes: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Discs ``pos [B, A, 2]`` pushed out of ``boxes [B, K, 4]``; returns (pos, touched [B, A]).

    Large batches loop over the K boxes with ``[B, A]`` arrays (cache-sized), small ones
    work on one ``[B, A, K]`` block; the arithmetic is the same, so are the bits.
    """
    if pos.shape[0] * pos.shape[1] < 64:
        return _push_out_block(pos, boxes, radius)
    cx, cy = pos[..., 0], pos[..., 1]
    zero = np.zeros(pos.shape[:2])
    pos_x, neg_x, pos_y, neg_y = zero, zero, zero, zero
    touched = np.zeros(pos.shape[:2], dtype=bool)
    for k in range(boxes.shape[1]):
        x0, y0 = boxes[:, k, 0, None], boxes[:, k, 1, None]
        x1, y1 = boxes[:, k, 2, None], boxes[:, k, 3, None]
        dx = cx - np.minimum(np.maximum(cx, x0), x1)
        dy = cy - np.minimum(np.maximum(cy, y0), y1)
        dist = np.sqrt(dx * dx + dy * dy)
        pen = radius - dist
        hit = pen > 0.0
        if not hit.any():
            continue
        if (dist <= TINY).any():
            return _push_out_block(pos, boxes, radius)
        scale = np.where(hit, pen / np.maximum(dist, TINY), 0.0)
        px, py = dx * scale, dy * scale
        pos_x, neg_x = np.maximum(pos_x, px), np.minimum(neg_x, px)
        pos_y, neg_y = np.maximum(pos_y, py), np.minimum(neg_y, py)
        touched |= pen > 1e-9
    return pos + np.stack([pos_x + neg_x, pos_y + neg_y], axis=-1), touched


def _push_out_block(
    pos: np.ndarray, boxes: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Discs ``pos [B, A, 2]`` pushed out of ``boxes [B, K, 4]``; returns (pos, touched [B, A]).

    Each box pushes along (centre - closest point), so motion along a wall is kept (the
    disc slides). Pushes from several boxes combine per axis by the largest each way, so
    two collinear boxes do not double a push. A centre inside a box (never reached at
    legal speeds, see ``ArenaParams.substeps``) leaves by the nearest side.
    """
    cx = pos[:, :, None, 0]
    cy = pos[:, :, None, 1]
    x0, y0 = boxes[:, None, :, 0], boxes[:, None, :, 1]
    x1, y1 = boxes[:, None, :, 2], boxes[:, None, :, 3]
    dx = cx - np.minimum(np.maximum(cx, x0), x1)
    dy = cy - np.minimum(np.maximum(cy, y0), y1)
    dist = np.sqrt(dx * dx + dy * dy)
    pen = radius - dist  # [m] > 0 where the disc overlaps the box
    scale = np.where(pen > 0.0, pen / np.maximum(dist, TINY), 0.0)
    px, py = dx * scale, dy * scale
    inside = dist <= TINY
    if inside.any():  # rare: leave by the nearest side
        gaps = np.stack([cx - x0, x1 - cx, cy - y0, y1 - cy], axis=-1) + radius
        side = gaps.argmin(axis=-1)
        g = np.take_along_axis(gaps, side[..., None], axis=-1)[..., 0]
        px = np.where(inside, np.where(side == 0, -g, np.where(side == 1, g, 0.0)), px)
        py = np.where(inside, np.where(side == 2, -g, np.where(side == 3, g, 0.0)), py)
    push_x = np.maximum(px, 0.0).max(axis=-1) + np.minimum(px, 0.0).min(axis=-1)
    push_y = np.maximum(py, 0.0).max(axis=-1) + np.minimum(py, 0.0).min(axis=-1)
    touched = np.any((pen > 1e-9) | inside, axis=-1)
    return pos + np.stack([push_x, push_y], axis=-1), touched


def separate_discs(
    pos: np.ndarray, radius: float, max_push: float
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping discs ``pos [B, A, 2]`` pushed apart, each by at most ``max_push`` [m].

    Returns (pos, touched [B, A]). Discs with the same centre part along +-x by index.
    """
    a = pos.shape[1]
    diff = pos[:, :, None, :] - pos[:, None, :, :]  # [B, A, A, 2] from j to i
    dist = norm(diff)
    eye = np.eye(a, dtype=bool)
    overlap = np.where(eye, 0.0, 2.0 * radius - dist)  # [m]
    hit = overlap > 1e-9
    same = hit & (dist < TINY)
    if same.any():
        order = np.sign(np.arange(a)[:, None] - np.arange(a)[None, :]).astype(float)
        diff = np.where(same[..., None], np.stack([order, np.zeros_like(order)], -1), diff)
        dist = np.where(same, 1.0, dist)
    scale = np.where(hit, 0.5 * overlap / np.maximum(dist, TINY), 0.0)
    push = (diff * scale[..., None]).sum(axis=2)
    length = norm(push)[..., None]
    push *= np.minimum(1.0, max_push / np.maximum(length, TINY))
    return pos + push, np.asarray(hit.any(axis=-1))
