"""Roads as tables of straight lanes, shared by every copy of a batch.

A lane is a straight strip 4 m wide (by default) with an origin, a unit direction and a
length. A vehicle's *station* on a lane is ``(p - origin) . direction`` [m]; its lateral
offset is ``(p - origin) x direction`` [m] (positive to the lane's right, with y pointing
down the screen as in highway-env). Lanes know their left and right neighbours (where a
lane change is allowed) and the lane that continues them.

Three layouts:

* :func:`highway`: ``n_lanes`` parallel lanes along +x, lane 0 leftmost, unbounded length.
* :func:`merge`: a highway plus an on-ramp: an angled entry lane that becomes an
  acceleration lane beside the rightmost lane and ends; ramp traffic must merge.
* :func:`intersection`: two two-way roads crossing at the origin, one lane each way;
  all four lanes are straight through the crossing box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANE_WIDTH = 4.0  # [m]
HIGHWAY, MERGE, INTERSECTION = 0, 1, 2  # integer codes of ``Road.kind`` (compiled kernels)
KIND_CODE = {"highway": HIGHWAY, "merge": MERGE, "intersection": INTERSECTION}
UNBOUNDED = 1.0e5  # [m] length of a highway lane: longer than any episode drives


@dataclass(frozen=True)
class Road:
    """A table of lanes; every array has shape ``[L]``."""

    kind: str  # "highway" | "merge" | "intersection"
    origin: np.ndarray  # [L, 2] [m]
    direction: np.ndarray  # [L, 2] unit vectors
    length: np.ndarray  # [L] [m]
    left: np.ndarray  # [L] int, -1 where no lane change to the left is allowed
    right: np.ndarray  # [L] int, -1 where none to the right
    next: np.ndarray  # [L] int, the lane that continues this one, or -1
    change_from: np.ndarray  # [L] [m] station after which lane changes out are allowed
    n_lanes: int  # lanes of the main carriageway (highway, merge)
    width: float = LANE_WIDTH
    # Intersection: lanes that cross each other, and the stations of the crossing box.
    crosses: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    box_in: float = 0.0  # [m] station where a lane enters the box (intersection)
    box_out: float = 0.0  # [m] station where it leaves
    ramp_lanes: tuple[int, ...] = ()  # merge: the entry lane and the acceleration lane
    merge_x: float = 0.0  # [m] merge: x where the acceleration lane starts
    merge_end_x: float = 0.0  # [m] merge: x where it ends

    @property
    def code(self) -> int:
        """``kind`` as the integer the compiled kernels take."""
        return KIND_CODE[self.kind]

    @property
    def n(self) -> int:
        return int(self.length.shape[0])

    def station(self, lane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Station of points (x, y) on lanes ``lane`` (any broadcastable shapes) [m]."""
        o = self.origin[lane]
        d = self.direction[lane]
        return (x - o[..., 0]) * d[..., 0] + (y - o[..., 1]) * d[..., 1]

    def offset(self, lane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lateral offset of points from the centre line of ``lane`` (+ = right) [m]."""
        o = self.origin[lane]
        d = self.direction[lane]
        return -(x - o[..., 0]) * d[..., 1] + (y - o[..., 1]) * d[..., 0]

    def heading(self, lane: np.ndarray) -> np.ndarray:
        d = self.direction[lane]
        return np.arctan2(d[..., 1], d[..., 0])

    def point(self, lane: np.ndarray, s: np.ndarray, d: np.ndarray | float = 0.0):
        """World position of station ``s`` and lateral offset ``d`` on ``lane``."""
        o = self.origin[lane]
        u = self.direction[lane]
        x = o[..., 0] + s * u[..., 0] - d * u[..., 1]
        y = o[..., 1] + s * u[..., 1] + d * u[..., 0]
        return x, y


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def highway(n_lanes: int) -> Road:
    """``n_lanes`` lanes along +x; lane i has its centre at y = 4 i."""
    idx = np.arange(n_lanes)
    origin = np.stack([np.full(n_lanes, -UNBOUNDED / 2), idx * LANE_WIDTH], axis=1)
    direction = np.tile([1.0, 0.0], (n_lanes, 1))
    return Road(
        kind="highway",
        origin=origin,
        direction=direction,
        length=np.full(n_lanes, UNBOUNDED),
        left=np.where(idx > 0, idx - 1, -1),
        right=np.where(idx < n_lanes - 1, idx + 1, -1),
        next=np.full(n_lanes, -1),
        change_from=np.zeros(n_lanes),
        n_lanes=n_lanes,
    )


def merge(
    n_lanes: int, merge_x: float = 230.0, accel_length: float = 100.0, ramp_length: float = 120.0
) -> Road:
    """A highway whose rightmost lane is joined by an on-ramp at ``merge_x`` [m].

    The ramp's entry lane comes in at an angle (rising 3 lane widths over ``ramp_length``)
    and continues as an acceleration lane of ``accel_length`` beside the rightmost lane;
    from there its traffic may change left, and the lane ends at ``merge_x + accel_length``.
    """
    h = highway(n_lanes)
    y_acc = n_lanes * LANE_WIDTH
    rise = 3 * LANE_WIDTH
    run = float(np.sqrt(ramp_length**2 - rise**2))
    entry_o = np.array([merge_x - run, y_acc + rise])
    entry_d = np.array([run, -rise]) / ramp_length
    origin = np.vstack([h.origin, entry_o, [merge_x, y_acc]])
    direction = np.vstack([h.direction, entry_d, [1.0, 0.0]])
    ramp, acc = n_lanes, n_lanes + 1
    return Road(
        kind="merge",
        origin=origin,
        direction=direction,
        length=np.concatenate([h.length, [ramp_length, accel_length]]),
        left=np.concatenate([h.left, [-1, n_lanes - 1]]),
        right=np.concatenate([h.right, [-1, -1]]),
        next=np.concatenate([h.next, [acc, -1]]),
        change_from=np.concatenate([h.change_from, [0.0, 5.0]]),
        n_lanes=n_lanes,
        ramp_lanes=(ramp, acc),
        merge_x=merge_x,
        merge_end_x=merge_x + accel_length,
    )


def intersection(approach: float = 90.0) -> Road:
    """Two two-way roads crossing at the origin; right-hand traffic, straight through.

    Lanes: 0 west to east, 1 east to west, 2 south to north (towards -y), 3 north to south.
    Each is ``2 * approach`` long and enters the 8 m box at station ``approach - 4``.
    """
    h = LANE_WIDTH / 2
    a = approach
    origin = np.array([[-a, h], [a, -h], [h, a], [-h, -a]])
    direction = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    horizontal = np.array([True, True, False, False])
    crosses = horizontal[:, None] != horizontal[None, :]
    none = _ints([-1, -1, -1, -1])
    return Road(
        kind="intersection",
        origin=origin,
        direction=direction,
        length=np.full(4, 2 * a),
        left=none,
        right=none.copy(),
        next=none.copy(),
        change_from=np.zeros(4),
        n_lanes=1,
        crosses=crosses,
        box_in=a - LANE_WIDTH,
        box_out=a + LANE_WIDTH,
    )
