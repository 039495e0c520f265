"""Rooms of the arena: fixed layouts, a seeded procedural one, and spawning in free space.

A layout is a set of axis-aligned boxes (walls and obstacles) ``[K, 4]`` as
``(x0, y0, x1, y1)`` [m] inside a square of side :data:`SIZE`, and waypoints ``[P, 2]``
[m] with a graph of which waypoints a disc can walk between in a straight line. Layouts of
one kind are padded to one ``K`` and ``P`` so that a batch of worlds stacks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.arena.geometry import segment_blocked
from rlhf_sandbox.sim.arena.params import RADIUS, SIZE

LAYOUTS = ("open", "rooms", "corridors", "procedural")
WALL = 0.3  # [m] thickness of the outer walls
_FAR = 1e4  # [m] where padding boxes and waypoints live
_CELL = 4.0  # [m] procedural grid cell
_DOOR = 1.6  # [m] doorway width
K_PROCEDURAL = 4 + 24 + 9  # outer walls, up to 2 pieces per interior edge, an obstacle per cell
P_PROCEDURAL = 9 + 12  # cell centres and interior edges


@dataclass(frozen=True)
class Layout:
    """Boxes ``[K, 4]`` [m], waypoints ``[P, 2]`` [m], ``valid [P]``, ``graph [P, P]`` and
    ``paths [P, P]`` [m], the shortest walk between waypoints along the graph."""

    boxes: np.ndarray
    waypoints: np.ndarray
    valid: np.ndarray
    graph: np.ndarray
    paths: np.ndarray


def _outer() -> list[tuple[float, float, float, float]]:
    s, w = SIZE, WALL
    return [(0, 0, s, w), (0, s - w, s, s), (0, 0, w, s), (s - w, 0, s, s)]


def _square(cx: float, cy: float, half: float) -> tuple[float, float, float, float]:
    return (cx - half, cy - half, cx + half, cy + half)


def walkable_graph(boxes: np.ndarray, waypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[P, P]``: a disc can go straight from waypoint i to j (centre line and both edges)."""
    p = waypoints[:, None, :] * np.ones((1, len(waypoints), 1))
    q = waypoints[None, :, :] * np.ones((len(waypoints), 1, 1))
    d = q - p
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    ok = np.ones(p.shape[:2], dtype=bool)
    for off in (-RADIUS, 0.0, RADIUS):
        ok &= ~segment_blocked(p + off * n, q + off * n, boxes[None, None])
    ok &= valid[:, None] & valid[None, :]
    np.fill_diagonal(ok, False)
    return ok


def _make(boxes: list, waypoints: list, k: int | None = None, p: int | None = None) -> Layout:
    k = k or len(boxes)
    p = p or len(waypoints)
    b = np.full((k, 4), _FAR)
    b[: len(boxes)] = np.asarray(boxes, dtype=float)
    w = np.full((p, 2), _FAR)
    w[: len(waypoints)] = np.asarray(waypoints, dtype=float)
    valid = np.arange(p) < len(waypoints)
    graph = walkable_graph(b, w, valid)
    return Layout(b, w, valid, graph, shortest_paths(w, graph))


def shortest_paths(waypoints: np.ndarray, graph: np.ndarray) -> np.ndarray:
    """``[P, P]`` [m] shortest walks along the graph (Floyd-Warshall; 1e9 if unreachable)."""
    n = len(waypoints)
    d = np.linalg.norm(waypoints[:, None] - waypoints[None], axis=-1)
    paths = np.where(graph, d, 1e9)
    np.fill_diagonal(paths, 0.0)
    for k in range(n):
        paths = np.minimum(paths, paths[:, k, None] + paths[None, k, :])
    return np.minimum(paths, 1e9)


def open_layout() -> Layout:
    """One room with four pillars."""
    pillars = [_square(x, y, 0.5) for x in (3.0, 9.0) for y in (3.0, 9.0)]
    wps = [(6, 1.5), (10.5, 6), (6, 10.5), (1.5, 6), (1.5, 1.5), (10.5, 1.5)]
    wps += [(10.5, 10.5), (1.5, 10.5), (6, 6)]
    return _make(_outer() + pillars, wps)


def rooms_layout() -> Layout:
    """Four rooms joined by four doorways, a crate in each room's corner."""
    m, h, lo, hi = SIZE / 2, 0.15, WALL, SIZE - WALL
    d0, d1 = 3.0 - _DOOR / 2, 3.0 + _DOOR / 2  # doorway around 3 m and 9 m
    vertical = [(m - h, lo, m + h, d0), (m - h, d1, m + h, 9 - _DOOR / 2)]
    vertical += [(m - h, 9 + _DOOR / 2, m + h, hi)]
    horizontal = [(lo, m - h, d0, m + h), (d1, m - h, m - h, m + h)]
    horizontal += [(m + h, m - h, 9 - _DOOR / 2, m + h), (9 + _DOOR / 2, m - h, hi, m + h)]
    crates = [_square(1.5, 1.5, 0.4), _square(10.5, 1.5, 0.4)]
    crates += [_square(1.5, 10.5, 0.4), _square(10.5, 10.5, 0.4)]
    wps = [(3, 3), (9, 3), (3, 9), (9, 9), (6, 3), (6, 9), (3, 6), (9, 6)]
    return _make(_outer() + vertical + horizontal + crates, wps)


def corridors_layout() -> Layout:
    """Three corridors joined in an S."""
    h = 0.15
    walls = [(WALL, 4 - h, 9.0, 4 + h), (3.0, 8 - h, SIZE - WALL, 8 + h)]
    wps = [(1.5, 2), (6, 2), (10.5, 2), (10.5, 6), (6, 6), (1.5, 6), (1.5, 10), (6, 10)]
    wps += [(10.5, 10)]
    return _make(_outer() + walls, wps)


def procedural_layout(rng: np.random.Generator) -> Layout:
    """A 3 x 3 grid of rooms: a random spanning tree of doorways, some extra doors and
    open edges, and crates in room corners (clear of the lines from centres to doors)."""
    n, h = 3, 0.15
    edges = [((i, j), (i + 1, j)) for i in range(n - 1) for j in range(n)]
    edges += [((i, j), (i, j + 1)) for i in range(n) for j in range(n - 1)]
    parent = list(range(n * n))

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    in_tree = np.zeros(len(edges), dtype=bool)
    for e in rng.permutation(len(edges)):
        (a, b) = edges[e]
        ra, rb = root(a[0] * n + a[1]), root(b[0] * n + b[1])
        if ra != rb:
            parent[ra] = rb
            in_tree[e] = True
    boxes = _outer()
    wps = [(_CELL * (i + 0.5), _CELL * (j + 0.5)) for i in range(n) for j in range(n)]
    for e, ((i, j), (i2, _j2)) in enumerate(edges):
        kind = rng.random()
        closed = not in_tree[e] and kind < 0.5
        open_edge = not closed and kind > 0.75
        vertical = i2 != i  # the wall between cells (i, j) and (i+1, j) is vertical
        s0, s1 = (_CELL * j, _CELL * (j + 1)) if vertical else (_CELL * i, _CELL * (i + 1))
        at = _CELL * (i + 1) if vertical else _CELL * (j + 1)
        mid = (s0 + s1) / 2
        if closed:
            spans = [(s0, s1)]
        elif open_edge:
            spans = []
        else:
            spans = [(s0, mid - _DOOR / 2), (mid + _DOOR / 2, s1)]
        for a0, a1 in spans:
            boxes.append((at - h, a0, at + h, a1) if vertical else (a0, at - h, a1, at + h))
        if not closed:
            wps.append((at, mid) if vertical else (mid, at))
    for c in range(n * n):
        if rng.random() < 0.5:
            cx, cy = wps[c]
            sx, sy = rng.choice([-1.0, 1.0], size=2)
            boxes.append(_square(cx + sx * 1.3, cy + sy * 1.3, float(rng.uniform(0.2, 0.45))))
    return _make(boxes, wps, K_PROCEDURAL, P_PROCEDURAL)


_FIXED: dict[str, Layout] = {}


def get_layout(name: str, rng: np.random.Generator | None = None) -> Layout:
    """A layout by name; ``"procedural"`` draws from ``rng``, the others are cached."""
    if name == "procedural":
        if rng is None:
            raise ValueError("the procedural layout needs an rng")
        return procedural_layout(rng)
    if name not in _FIXED:
        makers = {"open": open_layout, "rooms": rooms_layout, "corridors": corridors_layout}
        if name not in makers:
            raise ValueError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
        _FIXED[name] = makers[name]()
    return _FIXED[name]


def spawn(
    rng: np.random.Generator, boxes: np.ndarray, n: int, clearance: float = 0.2, gap: float = 1.0
) -> np.ndarray:
    """``n`` disc centres ``[n, 2]`` [m] at least ``clearance`` from every box and ``gap``
    apart (edge to edge), drawn from ``rng`` by rejection."""
    out: list[np.ndarray] = []
    lo, hi = WALL + RADIUS + clearance, SIZE - WALL - RADIUS - clearance
    while len(out) < n:
        cand = rng.uniform(lo, hi, size=(64, 2))
        dx = cand[:, None, 0] - np.clip(cand[:, None, 0], boxes[None, :, 0], boxes[None, :, 2])
        dy = cand[:, None, 1] - np.clip(cand[:, None, 1], boxes[None, :, 1], boxes[None, :, 3])
        free = np.sqrt(dx * dx + dy * dy).min(axis=1) > RADIUS + clearance
        for c in cand[free]:
            if all(np.hypot(*(c - o)) > 2 * RADIUS + gap for o in out):
                out.append(c)
                if len(out) == n:
                    break
    return np.stack(out)
