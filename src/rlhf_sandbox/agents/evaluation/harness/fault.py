"""Who caused each of the ego's collisions: the ego, the other vehicle, or both.

The rules (``docs/HARNESS.md``, "Fault") read the last :data:`WINDOW_S` seconds before the
contact at the simulation rate. The collision episodes of a scenario are replayed together
in one batched world from their start states (the world is deterministic, so the replay
is the episode), and only the window's substeps are kept. At the first substep in which
the ego overlaps another vehicle (the *other*: the vehicle newly crashed that overlaps the
ego, else the nearest crashed one):

1. **Crossing paths** (their lanes cross at the intersection): the one whose front entered
   the crossing box later is at fault (a vehicle in the box has the way); entries less
   than :data:`TIE_S` apart: shared.
2. **Same direction, same lane, neither moved into it** in the window: a rear-end; the
   follower (the one behind along the lane) is at fault, wherever the leader was going or
   stopped. Less than half a length apart along the lane: shared.
3. **Same direction, one moved into the other's lane** in the window (its lane changed to
   the lane of the contact, or it was still changing lanes): when the mover is ahead, a
   cut-in: at the moment its centre crossed into the lane, the follower's braking distance
   ``v_rel * REACTION + v_rel^2 / (2 * BRAKE)`` (v_rel: the follower's closing speed, 0 if
   not closing) is compared with the gap (bumper to bumper): a gap inside it puts the
   fault on the cutter, outside it on the follower. A mover behind or beside the other
   vehicle is at fault (it moved into someone).
4. **Both moved**, or one changing lanes away from the other's: shared, unless only one of
   them was changing lanes at the contact (that one).
5. **Anything else** (opposite or other headings): the one whose centre was more than half
   a lane off its lane's centre line is at fault; both or neither: shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.sim.driving.geometry import rectangles_overlap
from rlhf_sandbox.sim.driving.params import LENGTH, WIDTH
from rlhf_sandbox.sim.driving.road import Road
from rlhf_sandbox.sim.driving.world import road_of

if TYPE_CHECKING:
    from rlhf_sandbox.envs.driving_config import DrivingConfig

EGO, OTHER, SHARED = "ego", "other", "shared"
FAULTS = (EGO, OTHER, SHARED)
WINDOW_S = 4.0  # [s] of history before the contact that the rules read
REACTION = 1.0  # [s] before the follower brakes (one decision of a 1 Hz policy)
BRAKE = 5.0  # [m/s^2] the follower's braking (the ego's control range)
TIE_S = 0.5  # [s] box entries closer than this: shared fault at the crossing
SAME_DIRECTION = np.pi / 3  # [rad] headings closer than this go the same way
_KEYS = ("x", "y", "heading", "speed", "lane", "prev_lane", "crashed")


@dataclass(frozen=True)
class Fault:
    """The judgement of one collision."""

    fault: str  # EGO, OTHER or SHARED
    rule: str  # which rule decided, in words
    other: int  # the other vehicle's index in the world
    time_s: float  # seconds from the episode's start to the contact

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.fault, "rule": self.rule, "other": self.other, "time_s": self.time_s}


def braking_distance(v_follower: float, v_leader: float) -> float:
    """The distance [m] a follower closing on a leader needs to stop closing."""
    v_rel = max(v_follower - v_leader, 0.0)
    return v_rel * REACTION + v_rel * v_rel / (2.0 * BRAKE)


def judge_episodes(
    config: DrivingConfig,
    starts: list[dict[str, np.ndarray]],
    actions: list[np.ndarray],
) -> list[Fault]:
    """The fault of each collision episode (start state, actions [T, ...]; the last step
    is the collision's), replayed together in one batched world."""
    if not starts:
        return []
    windows = replay_windows(config, starts, actions)
    road = road_of(config.world_params())
    hz = float(config.sim_hz)
    return [judge(road, states, hz, first / float(config.policy_hz)) for first, states in windows]


def replay_windows(
    config: DrivingConfig,
    starts: list[dict[str, np.ndarray]],
    actions: list[np.ndarray],
) -> list[tuple[int, list[dict[str, np.ndarray]]]]:
    """Per episode, the policy step where its window starts and its states at the
    simulation rate from then on (the last WINDOW_S seconds and the state before them),
    ``{field: [V]}`` each."""
    n = len(starts)
    core = DrivingCore(config, n)
    w = core.world
    w.set_state({k: np.stack([s[k] for s in starts]) for k in starts[0]})
    lengths = np.array([len(a) for a in actions])
    first = np.maximum(lengths - round(WINDOW_S * config.policy_hz), 0)
    out: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]
    for t in range(int(lengths.max())):
        live = t < lengths
        window = live & (t >= first)
        for i in np.flatnonzero(live & (t == first)):
            out[i].append(_copy(w, int(i)))
        acts = np.stack([a[min(t, len(a) - 1)] for a in actions])
        w.active = live
        w.record_substeps = bool(window.any())
        w.step(core.command(core.check_actions(acts)))
        for i in np.flatnonzero(window):
            out[i] += [{k: s[k][i] for k in _KEYS} for s in w.substep_states]
            out[i].append(_copy(w, int(i)))
    return [(int(f), o) for f, o in zip(first, out, strict=True)]


def _station(road: Road, lane: int, x: Any, y: Any) -> float:
    return float(road.station(np.asarray(lane), x, y))


def _offset(road: Road, lane: int, x: Any, y: Any) -> float:
    return float(road.offset(np.asarray(lane), x, y))


def _copy(w: Any, i: int) -> dict[str, np.ndarray]:
    return {k: getattr(w, k)[i].copy() for k in _KEYS}


def _lane_of(road: Road, st: dict[str, np.ndarray], v: int) -> tuple[float, float]:
    """(station, offset) of vehicle v on its own lane."""
    ln = int(st["lane"][v])
    return float(_station(road, ln, st["x"][v], st["y"][v])), float(
        _offset(road, ln, st["x"][v], st["y"][v])
    )


def _other(states: list[dict[str, np.ndarray]], c: int) -> int:
    st = states[c]
    before = states[c - 1] if c > 0 else st
    crashed = np.flatnonzero(st["crashed"])
    crashed = crashed[crashed != 0]
    if crashed.size == 0:
        return -1
    x, y, h = st["x"], st["y"], st["heading"]
    hit = rectangles_overlap(x[0], y[0], h[0], x[crashed], y[crashed], h[crashed], LENGTH, WIDTH)
    new = ~before["crashed"][crashed]
    for pick in (hit & new, hit, np.ones_like(hit)):
        if pick.any():
            cand = crashed[pick]
            d = np.hypot(x[cand] - x[0], y[cand] - y[0])
            return int(cand[np.argmin(d)])
    return -1


def judge(road: Road, states: list[dict[str, np.ndarray]], hz: float, t0: float = 0.0) -> Fault:
    """The fault of the ego's first collision in ``states``: a window of ``hz`` states per
    second, ``{field: [V]}`` each; ``t0``: the episode's time at the first state [s]."""
    crashed = [bool(s["crashed"][0]) for s in states]
    if True not in crashed:
        return Fault(SHARED, "no contact found in the replay", -1, t0)
    c = crashed.index(True)
    when = t0 + c / hz
    o = _other(states, c)
    if o < 0:
        return Fault(SHARED, "the other vehicle was not found", -1, when)
    fault, rule = _rules(road, states, hz, c, o)
    return Fault(fault, rule, o, round(when, 3))


def _rules(
    road: Road, states: list[dict[str, np.ndarray]], hz: float, c: int, o: int
) -> tuple[str, str]:
    st = states[c]
    le, lo = int(st["lane"][0]), int(st["lane"][o])
    dh = abs(float(np.angle(np.exp(1j * (st["heading"][0] - st["heading"][o])))))
    if road.crosses.size and road.crosses[le, lo]:
        te, to = _box_entry(road, states, 0, c), _box_entry(road, states, o, c)
        if abs(te - to) < TIE_S * hz:
            return SHARED, "crossing: both entered the box at once"
        if te > to:
            return EGO, "crossing: the ego entered the box after the other"
        return OTHER, "crossing: the other entered the box after the ego"
    if dh > SAME_DIRECTION:
        off_e = abs(_lane_of(road, st, 0)[1]) > road.width / 2
        off_o = abs(_lane_of(road, st, o)[1]) > road.width / 2
        if off_e != off_o:
            return (EGO if off_e else OTHER), "off its lane into another's path"
        return SHARED, "paths met at an angle, neither off its lane"
    moved_e = _moved_into(states, 0, lo, c)
    moved_o = _moved_into(states, o, le, c)
    if le != lo or (moved_e and moved_o):
        ch_e, ch_o = st["prev_lane"][0] >= 0, st["prev_lane"][o] >= 0
        if ch_e != ch_o:
            return (EGO if ch_e else OTHER), "side contact while changing lanes"
        return SHARED, "both moved across lanes"
    s_e = float(_station(road, le, st["x"][0], st["y"][0]))
    s_o = float(_station(road, le, st["x"][o], st["y"][o]))
    if not moved_e and not moved_o:
        if abs(s_e - s_o) < LENGTH / 2:
            return SHARED, "rear-end: side by side in one lane"
        if s_e < s_o:
            return EGO, "rear-end: the ego ran into the vehicle ahead"
        return OTHER, "rear-end: the vehicle behind ran into the ego"
    mover, stayer = (0, o) if moved_e else (o, 0)
    s_m, s_s = (s_e, s_o) if moved_e else (s_o, s_e)
    who, flip = (EGO, OTHER) if mover == 0 else (OTHER, EGO)
    if s_m <= s_s + LENGTH / 2:
        return who, "moved into a lane and hit the vehicle ahead or beside"
    k = _entry(road, states, mover, le, c)
    ent = states[k]
    gap = float(
        _station(road, le, ent["x"][mover], ent["y"][mover])
        - _station(road, le, ent["x"][stayer], ent["y"][stayer])
        - LENGTH
    )
    need = braking_distance(float(ent["speed"][stayer]), float(ent["speed"][mover]))
    tail = f"(gap {gap:.1f} m, braking distance {need:.1f} m)"
    if gap < need:
        return who, f"cut-in inside the follower's braking distance {tail}"
    return flip, f"cut-in outside the follower's braking distance {tail}"


def _moved_into(states: list[dict[str, np.ndarray]], v: int, lane: int, c: int) -> bool:
    """Whether vehicle v moved into ``lane`` in the window: it is in that lane at the
    contact, and in the window it was in another lane or changing into this one (a lane
    change sets the lane to the target at its start, the one left in ``prev_lane``)."""
    if states[c]["lane"][v] != lane:
        return False
    return any(int(s["lane"][v]) != lane or s["prev_lane"][v] >= 0 for s in states[: c + 1])


def _entry(road: Road, states: list[dict[str, np.ndarray]], v: int, lane: int, c: int) -> int:
    """The state at which v's centre came within half a lane of ``lane``'s centre line
    (the last time, after being outside); the contact itself if it never did."""
    inside = [
        abs(float(_offset(road, lane, s["x"][v], s["y"][v]))) <= road.width / 2
        for s in states[: c + 1]
    ]
    if not inside[c]:
        return c
    k = c
    while k > 0 and inside[k - 1]:
        k -= 1
    return k


def _box_entry(road: Road, states: list[dict[str, np.ndarray]], v: int, c: int) -> float:
    """The state index at which v's front entered the box (-1: before the window; inf:
    never)."""
    for k, s in enumerate(states[: c + 1]):
        ln = int(s["lane"][v])
        front = float(_station(road, ln, s["x"][v], s["y"][v])) + LENGTH / 2
        if front > road.box_in:
            return -1.0 if k == 0 else float(k)
    return float(np.inf)
