"""Axis-aligned boxes and discs: ray casts, line of sight and sliding collisions, batched.

Every wall and obstacle is an axis-aligned box ``(x0, y0, x1, y1)`` [m]. Functions take
arrays with leading batch axes and broadcast them; none loops over worlds or agents.
Rays and segments use the slab method; a disc is pushed out of a box along the line from
the box's closest point to the disc's centre, which keeps the tangential motion (slide).
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-12


def safe_inverse(d: np.ndarray) -> np.ndarray:
    """1/d with zeros replaced by a huge finite number of the same sign (no NaN in slabs)."""
    d = np.where(np.abs(d) < _TINY, np.where(d < 0, -_TINY, _TINY), d)
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


def cast_rays(
    pos: np.ndarray, dirs: np.ndarray, boxes: np.ndarray, max_range: float
) -> np.ndarray:
    """Distances [m] from ``pos [B, M, 2]`` along ``dirs [R, 2]`` to the first box of
    ``boxes [B, K, 4]``, capped at ``max_range``; shape ``[B, M, R]``. Inside a box: 0."""
    inv = safe_inverse(dirs)
    ox = pos[:, :, None, None, 0]
    oy = pos[:, :, None, None, 1]
    b = boxes[:, None, None, :, :]
    tnear, tfar = _slabs(ox, oy, inv[None, None, :, None, 0], inv[None, None, :, None, 1], b)
    hit = (tnear <= tfar) & (tfar >= 0.0)
    t = np.where(hit, np.maximum(tnear, 0.0), max_range)
    return np.minimum(t.min(axis=-1), max_range)


def segment_blocked(p: np.ndarray, q: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether the segment ``p -> q`` (``[..., 2]``) crosses a box of ``boxes [..., K, 4]``.

    The leading axes of ``p``/``q`` and ``boxes[..., 0, 0]`` must broadcast. Shape: ``[...]``.
    """
    d = q - p
    inv = safe_inverse(d)
    tnear, tfar = _slabs(
        p[..., 0, None], p[..., 1, None], inv[..., 0, None], inv[..., 1, None], boxes
    )
    return np.any((tnear <= tfar) & (tfar >= 0.0) & (tnear <= 1.0), axis=-1)


def line_of_sight(p: np.ndarray, q: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``True`` where no box occludes the segment between ``p`` and ``q``."""
    return ~segment_blocked(p, q, boxes)


def push_out_of_boxes(
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
    scale = np.where(pen > 0.0, pen / np.maximum(dist, _TINY), 0.0)
    px, py = dx * scale, dy * scale
    inside = dist <= _TINY
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
    dist = np.sqrt((diff * diff).sum(axis=-1))
    eye = np.eye(a, dtype=bool)
    overlap = np.where(eye, 0.0, 2.0 * radius - dist)  # [m]
    hit = overlap > 1e-9
    same = hit & (dist < _TINY)
    if same.any():
        order = np.sign(np.arange(a)[:, None] - np.arange(a)[None, :]).astype(float)
        diff = np.where(same[..., None], np.stack([order, np.zeros_like(order)], -1), diff)
        dist = np.where(same, 1.0, dist)
    scale = np.where(hit, 0.5 * overlap / np.maximum(dist, _TINY), 0.0)
    push = (diff * scale[..., None]).sum(axis=2)
    norm = np.sqrt((push * push).sum(axis=-1, keepdims=True))
    push *= np.minimum(1.0, max_push / np.maximum(norm, _TINY))
    return pos + push, hit.any(axis=-1)
