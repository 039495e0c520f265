"""Critical events: scripted actors that cut in, brake, stand in the lane, merge or cross
without yielding.

A world's ``params.events`` is a tuple of :class:`EventSpec`; each spec has a kind, a
trigger (``at``: seconds after the episode's start; ``within``: the ego's distance to the
actor, centre to centre [m]) and parameters, each a value or a ``(lo, hi)`` range. At reset
every copy draws its values from its episode seed (:func:`sample`), so an episode plays
the same alone or in a batch, on either backend.

Kinds (parameters in order, with defaults):

* ``cut_in`` (gap 10 m, relative_speed -3 m/s, lateral_speed 1.5 m/s, side 0): an actor
  appears in the lane beside the ego (side -1 left, +1 right, 0 left if there is one) at
  the ego's speed plus ``relative_speed``, just where, holding that speed while it moves
  sideways at ``lateral_speed`` (one lane: 4 m), it ends centred in the ego's lane ``gap``
  metres (bumper to bumper) ahead of an ego that holds its speed; it waits for a free
  place there (nobody 12 m behind to 24 m ahead). Then it holds its speed 1 s more and
  drives on as traffic.
* ``lead_brake`` (deceleration 6 m/s^2, duration 2 s): the ego's leader in its lane (within
  100 m) brakes at ``deceleration`` for ``duration`` seconds, then drives on.
* ``stopped`` (distance 120 m, lane 0): a stopped vehicle appears ``distance`` metres ahead of
  the ego in the lane ``lane`` lanes to the right of the ego's (0: its own); traffic in the
  100 m behind it is moved out of the way first.
* ``merge`` (gap 5 m, relative_speed 0 m/s, lateral_speed 1.5 m/s; merge road): as a
  cut-in, from the acceleration lane into the rightmost lane, without yielding, once the
  ego is far enough along for the start to lie on the acceleration lane.
* ``crossing`` (time_offset 0 s; intersection): the first vehicle of a crossing approach is
  given the speed at which it reaches the box ``time_offset`` seconds after the ego would
  at its present speed, and does not yield.

Scripted vehicles are drawn in their own colour: while an event holds one, its
``aggressiveness`` is raised by :data:`MARK` (a vehicle's aggressiveness is read only at
reset and by drawing), so clips and GIFs show it without a field of their own.

The script is compiled code shared by both backends, as recycling is: :func:`direct` runs
once per policy step (triggers, placing actors, phase changes); :func:`script_substep` and
:func:`no_yield` run inside every substep of the numba kernel and of the numpy path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.driving.kernel_geometry import jit, lane_offset, lane_station
from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.rng import uniform

# Kinds (integer codes for the kernels) and their parameters: (name, default, lo, hi).
CUT_IN, LEAD_BRAKE, STOPPED, MERGE_IN, CROSSING = range(5)
KIND_NAMES = ("cut_in", "lead_brake", "stopped", "merge", "crossing")
PARAMS: dict[str, tuple[tuple[str, float, float, float], ...]] = {
    "cut_in": (
        ("gap", 10.0, -5.0, 100.0),
        ("relative_speed", -3.0, -20.0, 20.0),
        ("lateral_speed", 1.5, 0.3, 5.0),
        ("side", 0.0, -1.0, 1.0),
    ),
    "lead_brake": (("deceleration", 6.0, 0.5, 9.0), ("duration", 2.0, 0.1, 60.0)),
    "stopped": (("distance", 120.0, 10.0, 1000.0), ("lane", 0.0, -7.0, 7.0)),
    "merge": (
        ("gap", 5.0, -5.0, 100.0),
        ("relative_speed", 0.0, -20.0, 20.0),
        ("lateral_speed", 1.5, 0.3, 5.0),
    ),
    "crossing": (("time_offset", 0.0, -10.0, 10.0),),
}
TRIGGERS = {"at": (0.0, 3600.0), "within": (1.0, 1000.0)}
WITHIN_KINDS = ("lead_brake", "crossing")  # kinds whose actor exists before the trigger
ROADS = {
    "cut_in": ("highway", "merge"),
    "lead_brake": ("highway", "merge"),
    "stopped": ("highway", "merge"),
    "merge": ("merge",),
    "crossing": ("intersection",),
}
SIDES = {"left": -1.0, "right": 1.0, "any": 0.0}
N_P = 5  # per event and copy: the trigger's value, then up to four parameters
N_AUX = 4  # per event and copy: what the script keeps (lanes, offsets, speeds)
# Phases
ARMED, ACT, HOLD, DONE = range(4)
MARK = 2.0  # added to a scripted vehicle's aggressiveness (drawn in the event colour)
LANE_W = 4.0  # [m] lane width: how far a cut-in actor moves sideways (road.LANE_WIDTH)
ROOM = 10.0  # [m] free lane needed behind where an actor enters (twice that ahead)
CLEAR_BEHIND = 100.0  # [m] traffic moved away behind a stopped vehicle
LEAD_RANGE = 100.0  # [m] how far ahead a leader may be to brake
HOLD_S = 1.0  # [s] a cut-in actor holds its speed this long in the new lane
NO_CHANGE = 1.0e6  # [s] cooldown of a scripted vehicle: MOBIL leaves it alone
COOLDOWN = 3.0  # [s] after an event releases its actor (as after a lane change)
STREAM = 41  # rng stream of the per-episode values


@dataclass(frozen=True)
class EventSpec:
    """One event of a scenario: its kind, trigger and parameter ranges ``(lo, hi)``."""

    kind: str
    trigger: str  # "at" or "within"
    when: tuple[float, float]
    params: tuple[tuple[float, float], ...]  # in the order of PARAMS[kind]

    @property
    def code(self) -> int:
        return KIND_NAMES.index(self.kind)

    def text(self) -> str:
        """The canonical spec string (what ``parse_event`` reads back)."""

        def fmt(r: tuple[float, float]) -> str:
            return f"{r[0]:g}" if r[0] == r[1] else f"{r[0]:g}:{r[1]:g}"

        names = [p[0] for p in PARAMS[self.kind]]
        parts = [self.kind, f"{self.trigger}={fmt(self.when)}"]
        parts += [f"{n}={fmt(r)}" for n, r in zip(names, self.params, strict=True)]
        return " ".join(parts)


def _range(key: str, text: str, lo: float, hi: float) -> tuple[float, float]:
    bits = text.split(":")
    try:
        vals = [float(SIDES[b]) if key == "side" and b in SIDES else float(b) for b in bits]
    except ValueError:
        raise ValueError(f"{key}: expected a number or lo:hi, got {text!r}") from None
    if len(vals) not in (1, 2) or not all(np.isfinite(vals)):
        raise ValueError(f"{key}: expected a number or lo:hi, got {text!r}")
    r = (vals[0], vals[-1])
    if r[0] > r[1]:
        raise ValueError(f"{key}: range must be low:high, got {text!r}")
    if r[0] < lo or r[1] > hi:
        raise ValueError(f"{key} must lie in [{lo:g}, {hi:g}], got {text!r}")
    return r


def parse_event(text: str) -> EventSpec:
    """An event from its spec string, e.g. ``"cut_in at=3 gap=5:12 relative_speed=-4"``:
    the kind, then ``key=value`` or ``key=lo:hi`` (``side=left|right|any``). Omitted
    parameters take their defaults; the trigger defaults to ``at=0``. ValueError names a bad
    key or value."""
    words = text.split()
    if not words or words[0] not in PARAMS:
        got = words[0] if words else ""
        raise ValueError(f"unknown event kind {got!r}; one of {', '.join(PARAMS)}")
    kind = words[0]
    table = {p[0]: p for p in PARAMS[kind]}
    values = {p[0]: (p[1], p[1]) for p in PARAMS[kind]}
    trigger, when = "at", (0.0, 0.0)
    seen: set[str] = set()
    for w in words[1:]:
        key, eq, val = w.partition("=")
        if not eq:
            raise ValueError(f"{kind}: expected key=value, got {w!r}")
        if key in seen or (key in TRIGGERS and seen & set(TRIGGERS)):
            raise ValueError(f"{kind}: {key} given twice (or both at and within)")
        seen.add(key)
        if key in TRIGGERS:
            if key == "within" and kind not in WITHIN_KINDS:
                raise ValueError(
                    f"{kind}: trigger 'within' needs an actor before the event; "
                    f"use at = seconds (within works for {', '.join(WITHIN_KINDS)})"
                )
            trigger, when = key, _range(key, val, *TRIGGERS[key])
        elif key in table:
            values[key] = _range(key, val, table[key][2], table[key][3])
        else:
            known = ", ".join([*TRIGGERS, *table])
            raise ValueError(f"{kind}: unknown parameter {key!r}; known: {known}")
    params = tuple(values[p[0]] for p in PARAMS[kind])
    return EventSpec(kind, trigger, when, params)


def check_road(spec: EventSpec, road: str) -> None:
    if road not in ROADS[spec.kind]:
        raise ValueError(f"event {spec.kind} needs the {' or '.join(ROADS[spec.kind])} road")


def sample(events: tuple[EventSpec, ...], seed: np.ndarray) -> np.ndarray:
    """Each copy's values ``[b, E, N_P]`` (trigger, parameters) drawn from its seed."""
    out = np.zeros((seed.shape[0], len(events), N_P))
    for e, spec in enumerate(events):
        for j, (lo, hi) in enumerate((spec.when, *spec.params)):
            u = uniform(seed, STREAM, e * N_P + j)
            out[:, e, j] = lo + (hi - lo) * u
    return out


# ------------------------------------------------------------------ compiled script
@jit(_nrt=False)
def _place(b, j, ln, s, x, y, heading, speed, accel, steer, lane, prev_lane, origin, direction):
    x[b, j] = origin[ln, 0] + s * direction[ln, 0]
    y[b, j] = origin[ln, 1] + s * direction[ln, 1]
    heading[b, j] = np.arctan2(direction[ln, 1], direction[ln, 0])
    speed[b, j] = max(speed[b, j], 0.0)
    accel[b, j] = 0.0
    steer[b, j] = 0.0
    lane[b, j] = ln
    prev_lane[b, j] = -1


@jit(_nrt=False)
def _take(b, j, cooldown, aggressiveness):
    cooldown[b, j] = NO_CHANGE
    aggressiveness[b, j] += MARK


@jit(_nrt=False)
def _release(b, e, ev_phase, ev_actor, cooldown, aggressiveness):
    j = ev_actor[b, e]
    ev_phase[b, e] = DONE
    if j >= 0 and aggressiveness[b, j] >= MARK:
        aggressiveness[b, j] -= MARK
        cooldown[b, j] = COOLDOWN


@jit(_nrt=False)
def _farthest(b, x, aggressiveness):
    """The NPC farthest from the ego along x that no event holds (lowest index on ties)."""
    best, best_d = -1, -1.0
    for i in range(1, x.shape[1]):
        d = abs(x[b, i] - x[b, 0])
        if aggressiveness[b, i] < MARK and d > best_d:
            best, best_d = i, d
    return best


@jit(_nrt=False)
def _free(b, me, ln, s, room, x, y, lane, prev_lane, origin, direction):
    """Whether lane ``ln`` holds nobody but ``me`` from ``room`` behind station ``s`` to
    twice that ahead of it."""
    for i in range(x.shape[1]):
        if i != me and (lane[b, i] == ln or prev_lane[b, i] == ln):
            ds = lane_station(origin, direction, ln, x[b, i], y[b, i]) - s
            if -room < ds < 2.0 * room:
                return False
    return True


@jit(_nrt=False)
def _leader(b, x, y, lane, prev_lane, crashed, aggressiveness, origin, direction):
    """The ego's leader in its lane within LEAD_RANGE (a vehicle no event holds), or -1."""
    ln = lane[b, 0]
    s0 = lane_station(origin, direction, ln, x[b, 0], y[b, 0])
    best, best_s = -1, LEAD_RANGE + LENGTH
    for i in range(1, x.shape[1]):
        if (lane[b, i] == ln or prev_lane[b, i] == ln) and not crashed[b, i]:
            ds = lane_station(origin, direction, ln, x[b, i], y[b, i]) - s0
            if 0.0 < ds < best_s and aggressiveness[b, i] < MARK:
                best, best_s = i, ds
    return best


@jit(_nrt=False)
def _crosser(b, x, y, speed, lane, crashed, aggressiveness, origin, direction, crosses, box_in):
    """The first vehicle before the box on an approach crossing the ego's whose arrival at
    the box is nearest the ego's; -1 if none (or the ego is in the box already)."""
    le = lane[b, 0]
    fe = lane_station(origin, direction, le, x[b, 0], y[b, 0]) + LENGTH / 2
    if fe >= box_in:
        return -1, 0.0
    te = (box_in - fe) / max(speed[b, 0], 2.0)
    best, best_dt = -1, np.inf
    for ln in range(crosses.shape[0]):
        if not crosses[le, ln]:
            continue
        first, first_f = -1, -np.inf
        for i in range(1, x.shape[1]):
            if lane[b, i] != ln or crashed[b, i] or aggressiveness[b, i] >= MARK:
                continue
            f = lane_station(origin, direction, ln, x[b, i], y[b, i]) + LENGTH / 2
            if f < box_in - 2.0 and f > first_f and f > 0.0:
                first, first_f = i, f
        if first >= 0:
            ti = (box_in - first_f) / max(speed[b, first], 1.0)
            if abs(ti - te) < best_dt:
                best, best_dt = first, abs(ti - te)
    return best, te


@jit(_nrt=False)
def direct(
    active, t, policy_hz, ev_kind, ev_trig, ev_phase, ev_actor, ev_clock, ev_p, ev_aux,
    x, y, heading, speed, accel, steer, lane, prev_lane, cooldown, crashed, aggressiveness, v0,
    anchor, origin, direction, length, left, right, crosses, n_main, ramp, acc_lane, box_in,
    box_out, behind,
):  # fmt: skip
    """Once per policy step, before the substeps: triggers, actors placed, phases moved on."""
    n_ev = ev_kind.shape[0]
    step_s = 1.0 / policy_hz
    for b in range(x.shape[0]):
        if not active[b]:
            continue
        now = t[b] * step_s
        for e in range(n_ev):
            ph = ev_phase[b, e]
            if ph == DONE:
                continue
            k = ev_kind[e]
            p = ev_p[b, e]
            j = ev_actor[b, e]
            if ph == ARMED:
                if ev_trig[e] == 0 and now + 1e-9 < p[0]:
                    continue
                if k in (LEAD_BRAKE, CROSSING):
                    te = 0.0
                    if k == LEAD_BRAKE:
                        c = _leader(b, x, y, lane, prev_lane, crashed, aggressiveness, origin,
                                    direction)  # fmt: skip
                    else:
                        c, te = _crosser(b, x, y, speed, lane, crashed, aggressiveness, origin,
                                         direction, crosses, box_in)  # fmt: skip
                        if c < 0 and te == 0.0:  # the ego is in the box already: too late
                            ev_phase[b, e] = DONE
                            continue
                    if c < 0:
                        continue
                    if ev_trig[e] == 1 and np.hypot(x[b, c] - x[b, 0], y[b, c] - y[b, 0]) > p[0]:
                        continue
                    ev_actor[b, e] = c
                    _take(b, c, cooldown, aggressiveness)
                    ev_phase[b, e] = ACT
                    ev_clock[b, e] = 0.0
                    if k == CROSSING:
                        lc = lane[b, c]
                        d = box_in - lane_station(origin, direction, lc, x[b, c], y[b, c])
                        va = min(max((d - LENGTH / 2) / max(te + p[1], 0.5), 3.0), 16.0)
                        speed[b, c] = va
                        v0[b, c] = va
                        ev_aux[b, e, 0] = va
                elif k == STOPPED:
                    le = lane[b, 0]
                    if le >= n_main:  # on the ramp: wait until the ego is on the main road
                        continue
                    ln = min(max(le + int(np.round(p[2])), 0), n_main - 1)
                    s = lane_station(origin, direction, ln, x[b, 0], y[b, 0]) + p[1]
                    c = _farthest(b, x, aggressiveness)
                    if c < 0:
                        ev_phase[b, e] = DONE
                        continue
                    moved = 0
                    for i in range(1, x.shape[1]):  # clear the lane behind it
                        if i == c or aggressiveness[b, i] >= MARK:
                            continue
                        if lane[b, i] != ln and prev_lane[b, i] != ln:
                            continue
                        si = lane_station(origin, direction, ln, x[b, i], y[b, i])
                        if s - CLEAR_BEHIND < si < s + LENGTH + 3.0:
                            xs = anchor[b] - behind - 2.0 - 8.0 * moved  # out of the window
                            _place(b, i, ln, xs - origin[ln, 0], x, y, heading, speed, accel,
                                   steer, lane, prev_lane, origin, direction)  # fmt: skip
                            moved += 1
                    speed[b, c] = 0.0
                    _place(b, c, ln, s, x, y, heading, speed, accel, steer, lane, prev_lane,
                           origin, direction)  # fmt: skip
                    crashed[b, c] = False
                    _take(b, c, cooldown, aggressiveness)
                    ev_actor[b, e] = c
                    ev_phase[b, e] = ACT
                else:  # CUT_IN, MERGE_IN: enter beside the ego, then move over
                    le = lane[b, 0]
                    lat = p[3]
                    # Start offset (centre to centre) from which the cut-in ends at the gap.
                    off = LENGTH + p[1] - p[2] * LANE_W / lat
                    v_cut = max(speed[b, 0] + p[2], 0.0)
                    c = _farthest(b, x, aggressiveness)
                    if c < 0:
                        ev_phase[b, e] = DONE
                        continue
                    if k == CUT_IN:
                        if le >= n_main or prev_lane[b, 0] >= 0:
                            continue  # wait until the ego is in a main lane, not changing
                        first = left[le] if p[4] <= 0.0 else right[le]
                        other = right[le] if p[4] <= 0.0 else left[le]
                        if first < 0 and (other < 0 or p[4] != 0.0):
                            ev_phase[b, e] = DONE  # no such lane beside the ego
                            continue
                        src, tgt, s = -1, le, 0.0
                        for cand in (first, other):  # the other side only for side=0
                            if cand < 0 or cand >= n_main or (cand == other and p[4] != 0.0):
                                continue
                            s = lane_station(origin, direction, cand, x[b, 0] + off, y[b, 0])
                            if _free(b, c, cand, s, ROOM, x, y, lane, prev_lane, origin,
                                     direction):  # fmt: skip
                                src = cand
                                break
                        if src < 0:
                            continue  # no room yet: try again at the next step
                    else:
                        src, tgt = acc_lane, n_main - 1
                        s = lane_station(origin, direction, src, x[b, 0] + off, y[b, 0])
                        room = length[src] - s - v_cut * LANE_W / lat - LENGTH
                        if room < 0.0 and s > 0.0:
                            ev_phase[b, e] = DONE  # the ego is past the on-ramp
                            continue
                        if s < 5.0 or not _free(b, c, src, s, ROOM, x, y, lane, prev_lane,
                                                origin, direction):  # fmt: skip
                            continue  # not beside the acceleration lane yet, or no room
                    speed[b, c] = v_cut
                    _place(b, c, src, s, x, y, heading, speed, accel, steer, lane, prev_lane,
                           origin, direction)  # fmt: skip
                    crashed[b, c] = False
                    _take(b, c, cooldown, aggressiveness)
                    lane[b, c] = tgt
                    prev_lane[b, c] = src
                    ev_actor[b, e] = c
                    ev_phase[b, e] = ACT
                    ev_clock[b, e] = 0.0
                    ev_aux[b, e, 0] = tgt
                    ev_aux[b, e, 1] = off
                    ev_aux[b, e, 2] = v_cut
                    ev_aux[b, e, 3] = lat
            elif k == STOPPED:
                if x[b, 0] - x[b, j] > 30.0:  # the ego is past it
                    _release(b, e, ev_phase, ev_actor, cooldown, aggressiveness)
            elif k == CROSSING:
                st = lane_station(origin, direction, lane[b, j], x[b, j], y[b, j])
                if st - LENGTH / 2 > box_out:
                    _release(b, e, ev_phase, ev_actor, cooldown, aggressiveness)


@jit(_nrt=False)
def no_yield(b, ev_kind, ev_phase, ev_actor, yield_row):
    """A crossing actor never stops for others."""
    for e in range(ev_kind.shape[0]):
        if ev_kind[e] == CROSSING and ev_phase[b, e] == ACT and ev_actor[b, e] >= 0:
            yield_row[ev_actor[b, e]] = False


@jit(_nrt=False)
def script_substep(
    b, dt, ev_kind, ev_phase, ev_actor, ev_clock, ev_p, ev_aux, x, y, heading, speed, lane,
    prev_lane, crashed, cooldown, aggressiveness, origin, direction, a_row, steered,
):  # fmt: skip
    """The actors' accelerations ``a_row[j]`` (copy b's, after IDM and MOBIL) and, for an
    actor moving sideways, its heading (``steered[j]`` True: no steering of its own this
    substep). Phases that end within a substep end here."""
    for e in range(ev_kind.shape[0]):
        ph = ev_phase[b, e]
        j = ev_actor[b, e]
        if ph in (ARMED, DONE) or j < 0 or crashed[b, j]:
            continue
        k = ev_kind[e]
        if k == LEAD_BRAKE:
            a_row[j] = -ev_p[b, e, 1]
            ev_clock[b, e] += dt
            if ev_clock[b, e] >= ev_p[b, e, 2] - 1e-9:
                _release(b, e, ev_phase, ev_actor, cooldown, aggressiveness)
        elif k == STOPPED:
            a_row[j] = 0.0
        elif k in (CUT_IN, MERGE_IN):
            if ph == ACT:
                a_row[j] = 0.0
                ln = lane[b, j]
                h_lane = np.arctan2(direction[ln, 1], direction[ln, 0])
                d = lane_offset(origin, direction, ln, x[b, j], y[b, j])
                lat = ev_aux[b, e, 3]
                if abs(d) <= lat * dt:  # arrived: onto the centre line
                    s = lane_station(origin, direction, ln, x[b, j], y[b, j])
                    x[b, j] = origin[ln, 0] + s * direction[ln, 0]
                    y[b, j] = origin[ln, 1] + s * direction[ln, 1]
                    heading[b, j] = h_lane
                    prev_lane[b, j] = -1
                    ev_phase[b, e] = HOLD
                    ev_clock[b, e] = 0.0
                    speed[b, j] = ev_aux[b, e, 2]
                else:  # sideways at ``lat``, forwards at the cut-in speed
                    v_fwd = ev_aux[b, e, 2]
                    phi = np.arctan2(lat, v_fwd)
                    heading[b, j] = h_lane - phi if d > 0.0 else h_lane + phi
                    speed[b, j] = np.hypot(v_fwd, lat)
                steered[j] = True
            else:  # HOLD
                a_row[j] = 0.0
                ev_clock[b, e] += dt
                if ev_clock[b, e] >= HOLD_S - 1e-9:
                    _release(b, e, ev_phase, ev_actor, cooldown, aggressiveness)
