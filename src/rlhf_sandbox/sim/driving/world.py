"""The batched driving world: B copies of V vehicles, one array call per step.

Vehicle 0 of every copy is the ego; the rest are NPCs driven by IDM and MOBIL (and gap
acceptance at the crossing). State is a struct of arrays with a leading batch axis
(:data:`STATE_FIELDS`); :meth:`DrivingWorld.get_state` and :meth:`set_state` read and
write all of it, which is what clips store and what drawing reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.driving import events as ev
from rlhf_sandbox.sim.driving import geometry, kernels
from rlhf_sandbox.sim.driving import road as roads
from rlhf_sandbox.sim.driving.crossing import must_yield
from rlhf_sandbox.sim.driving.lanes import LaneIndex, build_index
from rlhf_sandbox.sim.driving.mobil import decide_lane_changes
from rlhf_sandbox.sim.driving.params import LENGTH, MAX_ACCEL, TTC_CAP, WIDTH, WorldParams
from rlhf_sandbox.sim.driving.recycle import recycle
from rlhf_sandbox.sim.driving.spawn import place
from rlhf_sandbox.sim.driving.traffic import FREE_GAP, Driver, bicycle, idm, steer_to_lane
from rlhf_sandbox.sim.rng import uniform
from rlhf_sandbox.sim.threads import SERIAL, THREADED, ThreadChoice, threads_usable

# Per-vehicle state [B, V]
VEHICLE_FIELDS = (
    "x", "y", "heading", "speed", "accel", "steer", "lane", "prev_lane", "cooldown",
    "crashed", "aggressiveness", "v0", "time_gap", "a_max", "b_comf", "s0", "politeness",
    "threshold", "gap_accept",
)  # fmt: skip
# Per-copy state [B]
COPY_FIELDS = ("t", "seed", "target_speed", "ego_prev_accel", "anchor")
STATE_FIELDS = VEHICLE_FIELDS + COPY_FIELDS
# Per copy and event, only in worlds with events ([B, E] and [B, E, k]): phase, actor,
# clock [s], drawn values (trigger, parameters) and the script's own.
EVENT_FIELDS = ("ev_phase", "ev_actor", "ev_clock", "ev_p", "ev_aux")
_INT_FIELDS = {"lane", "prev_lane", "t", "seed", "ev_phase", "ev_actor"}
_BOOL_FIELDS = {"crashed"}

# Serial or on numba's threads: measured as the world runs (see ``sim/threads.py``), one
# choice per road and batch size, shared by the worlds of a process. A fixed threshold was
# wrong one way or the other: on the shared 2-core machine with other jobs running (load
# average 4 to 6) 20 threaded copies cost 1.5x to 4.6x the serial time, idle they took half.
_CHOICES: dict[tuple[str, int], ThreadChoice] = {}
_RECYCLE = 17  # rng stream


def road_of(params: WorldParams) -> roads.Road:
    """The road a world with these parameters drives on."""
    if params.road == "highway":
        return roads.highway(params.lanes)
    if params.road == "merge":
        return roads.merge(params.lanes)
    if params.road == "intersection":
        return roads.intersection()
    raise ValueError(f"unknown road {params.road!r}")


@dataclass(frozen=True)
class EgoCommand:
    """What the ego does this policy step; shapes ``[B]``.

    ``meta``: discrete meta-action (0 lane left, 1 idle, 2 lane right, 3 faster,
    4 slower), or -1 for continuous control with ``accel`` [m/s^2] and ``steer`` [rad].
    """

    meta: np.ndarray
    accel: np.ndarray
    steer: np.ndarray


class DrivingWorld:
    """B copies of one road with ``params.n_vehicles`` vehicles each."""

    # Per vehicle [B, V]
    x: np.ndarray  # [m]
    y: np.ndarray  # [m] (down the screen: lane 0 is the leftmost)
    heading: np.ndarray  # [rad]
    speed: np.ndarray  # [m/s]
    accel: np.ndarray  # [m/s^2] last applied
    steer: np.ndarray  # [rad] last applied
    lane: np.ndarray  # lane driven in (or changed to)
    prev_lane: np.ndarray  # lane being left during a lane change, else -1
    cooldown: np.ndarray  # [s] until the next lane change may start
    crashed: np.ndarray  # bool
    aggressiveness: np.ndarray  # [0, 1]
    v0: np.ndarray  # [m/s] IDM desired speed, and the other driver parameters below
    time_gap: np.ndarray
    a_max: np.ndarray
    b_comf: np.ndarray
    s0: np.ndarray
    politeness: np.ndarray
    threshold: np.ndarray
    gap_accept: np.ndarray
    # Per copy [B]
    t: np.ndarray  # policy steps since reset
    seed: np.ndarray  # episode seed
    target_speed: np.ndarray  # [m/s] the ego's, under meta-actions
    ego_prev_accel: np.ndarray  # [m/s^2] for jerk
    anchor: np.ndarray  # [m] x around which traffic is kept
    # Per copy and event [B, E] (see ``events.py``)
    ev_phase: np.ndarray
    ev_actor: np.ndarray
    ev_clock: np.ndarray
    ev_p: np.ndarray  # [B, E, events.N_P]
    ev_aux: np.ndarray  # [B, E, events.N_AUX]

    def __init__(self, params: WorldParams, n_copies: int) -> None:
        if params.sim_hz % params.policy_hz:
            raise ValueError("sim_hz must be a multiple of policy_hz")
        self.params = params
        self.road = road_of(params)
        self.n = n_copies
        self.v = params.n_vehicles
        self.dt = 1.0 / params.sim_hz
        b, v = self.n, self.v
        for name in VEHICLE_FIELDS:
            dtype = np.int64 if name in _INT_FIELDS else bool if name in _BOOL_FIELDS else float
            setattr(self, name, np.zeros((b, v), dtype=dtype))
        for name in COPY_FIELDS:
            setattr(self, name, np.zeros(b, dtype=np.int64 if name in _INT_FIELDS else float))
        self.prev_lane[:] = -1
        self._all = np.ones(b, dtype=bool)
        self._bb = np.broadcast_to(np.arange(b)[:, None], (b, v))
        self._me = (np.arange(b)[:, None] * v + np.arange(v)[None, :]).astype(np.int64)
        self.npc_collisions = np.zeros(b, dtype=np.int64)  # NPC-NPC overlaps seen (counter)
        # The compiled substeps' sort orders of each copy (lane entries; x), kept between
        # calls so each starts nearly sorted. Not state: any permutation gives the same result.
        self._lane_order = np.tile(np.arange(2 * v, dtype=np.int64), (b, 1))
        self._x_order = np.tile(np.arange(v, dtype=np.int64), (b, 1))
        # With record_substeps, step() keeps the states between its substeps (not the last,
        # which is the state after the step): clips and GIFs at the simulation rate.
        self.record_substeps = False
        self.substep_states: list[dict[str, np.ndarray]] = []
        # Copies whose results nobody reads (a batch's idle slots) may be set False here:
        # the compiled substeps then leave them as they are (copies are independent, so the
        # others are unchanged). None: every copy is simulated.
        self.active: np.ndarray | None = None
        # Events: their kinds and triggers (the same in every copy), and per-copy state.
        # A world without events keeps the state fields it always had.
        self.events = params.events
        n_ev = len(self.events)
        self._ev_kind = np.array([e.code for e in self.events], dtype=np.int64)
        self._ev_trig = np.array([e.trigger == "within" for e in self.events], dtype=np.int64)
        self.ev_phase = np.full((b, n_ev), ev.ARMED, dtype=np.int64)
        self.ev_actor = np.full((b, n_ev), -1, dtype=np.int64)
        self.ev_clock = np.zeros((b, n_ev))
        self.ev_p = np.zeros((b, n_ev, ev.N_P))
        self.ev_aux = np.zeros((b, n_ev, ev.N_AUX))
        self.state_fields = STATE_FIELDS + (EVENT_FIELDS if n_ev else ())

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of the whole state: ``{field: array}`` with leading axis B."""
        return {k: getattr(self, k).copy() for k in self.state_fields}

    def set_state(self, state: dict[str, np.ndarray], mask: np.ndarray | None = None) -> None:
        """Write a state (all copies, or the copies in ``mask`` from a state of as many).

        A state without the event fields (one of a world without events) starts this
        world's events afresh from the state's seeds."""
        missing = set(STATE_FIELDS) - set(state)
        if missing:
            raise ValueError(f"state lacks fields {sorted(missing)}")
        fields = self.state_fields
        if self.events and not set(EVENT_FIELDS) <= set(state):
            fields = STATE_FIELDS
            seeds = np.asarray(state["seed"], dtype=np.int64)
            idx = np.arange(self.n) if mask is None else np.flatnonzero(mask)
            self._reset_events(idx, seeds)
        for k in fields:
            cur = getattr(self, k)
            new = np.asarray(state[k]).astype(cur.dtype)
            if new.shape[1:] != cur.shape[1:]:
                raise ValueError(f"state field {k!r} has shape {new.shape}, expected {cur.shape}")
            if mask is None:
                if new.shape != cur.shape:
                    raise ValueError(f"state field {k!r} has shape {new.shape}")
                cur[...] = new
            else:
                cur[mask] = new

    def driver(self) -> Driver:
        return Driver(
            self.v0, self.time_gap, self.a_max, self.b_comf, self.s0, self.politeness,
            self.threshold, self.gap_accept,
        )  # fmt: skip

    # ------------------------------------------------------------------ reset
    def reset(self, mask: np.ndarray, seeds: np.ndarray) -> None:
        """Start new episodes in the masked copies from their seeds ``[B]``."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        p = self.params
        seed = seeds[idx]
        pl = place(p, self.road, seed)
        lane = pl.lane
        x, y = self.road.point(lane, pl.station)
        d = Driver.from_aggressiveness(pl.aggressiveness, p.speed_range, p.crossing_gap, pl.jitter)
        values = {
            "x": x, "y": y, "heading": self.road.heading(lane), "speed": pl.speed,
            "accel": 0.0, "steer": 0.0, "lane": lane, "prev_lane": -1,
            "cooldown": 2.0 * uniform(seed[:, None], 5, np.arange(self.v)[None, :]),
            "crashed": False, "aggressiveness": pl.aggressiveness, **d.fields(),
        }  # fmt: skip
        for k, val in values.items():
            getattr(self, k)[idx] = val
        self.t[idx] = 0
        self.seed[idx] = seed
        self.target_speed[idx] = p.ego_speed
        self.ego_prev_accel[idx] = 0.0
        self.anchor[idx] = self._anchor_point()[idx]
        self.npc_collisions[idx] = 0
        if self.events:
            self._reset_events(idx, seed)

    def _reset_events(self, idx: np.ndarray, seed: np.ndarray) -> None:
        """Events armed afresh in copies ``idx``, their values drawn from ``seed``."""
        self.ev_phase[idx] = ev.ARMED
        self.ev_actor[idx] = -1
        self.ev_clock[idx] = 0.0
        self.ev_p[idx] = ev.sample(self.events, np.asarray(seed, dtype=np.int64))
        self.ev_aux[idx] = 0.0

    def _anchor_point(self) -> np.ndarray:
        """The station along the main road around which traffic is kept [m]."""
        if self.params.anchor == "ego" and self.road.kind != "intersection":
            return self.x[:, 0].copy()
        if self.road.kind == "merge":
            return np.full(self.n, self.road.merge_x)
        return np.zeros(self.n)

    # ------------------------------------------------------------------ step
    def step(self, cmd: EgoCommand) -> dict[str, np.ndarray]:
        """Advance every copy by one policy step; returns the ego's behaviour features."""
        p = self.params
        acc = _Accumulator(self.n)
        if self.events:
            self._direct()
        x0, y0 = self.x[:, 0].copy(), self.y[:, 0].copy()
        v_start, lane_start = self.speed[:, 0].copy(), self.lane[:, 0].copy()
        self._apply_meta(cmd)
        n_sub = p.substeps
        self.substep_states = []
        if p.backend == "numba" and not self.record_substeps:
            self._substeps_compiled(cmd, acc, 0, n_sub)
        else:
            mobil_at = {0, n_sub // 2}
            for sub in range(n_sub):
                if p.backend == "numba":
                    self._substeps_compiled(cmd, acc, sub, sub + 1)
                else:
                    parity = (self.t + (sub > 0)) % 2
                    self._substep(cmd, acc, mobil=sub in mobil_at, parity=parity)
                if self.record_substeps and sub < n_sub - 1:
                    self.substep_states.append(self.get_state())
        recycle(self)
        self.t += 1
        self.anchor = self._anchor_point()
        dtp = 1.0 / p.policy_hz
        a_mean = (self.speed[:, 0] - v_start) / dtp
        feats = acc.features()
        u = self.road.direction[self.lane[:, 0]]
        feats.update(
            speed=self.speed[:, 0].copy(),
            acceleration=a_mean.copy(),
            jerk=(a_mean - self.ego_prev_accel) / dtp,
            lane=self.lane[:, 0].astype(float),
            lane_change=(self.lane[:, 0] != lane_start).astype(float),
            progress=(self.x[:, 0] - x0) * u[:, 0] + (self.y[:, 0] - y0) * u[:, 1],
        )
        self.ego_prev_accel = a_mean
        return feats

    def _direct(self) -> None:
        """The events' triggers and phase changes, once per policy step (both backends)."""
        r, p = self.road, self.params
        ramp, acc_lane = r.ramp_lanes if r.ramp_lanes else (-1, -1)
        crosses = r.crosses if r.crosses.size else np.zeros((r.n, r.n), dtype=bool)
        active = self._all if self.active is None else np.asarray(self.active, dtype=bool)
        ev.direct(
            active, self.t, float(p.policy_hz), self._ev_kind, self._ev_trig, self.ev_phase,
            self.ev_actor, self.ev_clock, self.ev_p, self.ev_aux, self.x, self.y, self.heading,
            self.speed, self.accel, self.steer, self.lane, self.prev_lane, self.cooldown,
            self.crashed, self.aggressiveness, self.v0, self.anchor, r.origin, r.direction,
            r.length, r.left, r.right, crosses, r.n_lanes, ramp, acc_lane, r.box_in, r.box_out,
            float(p.window[0]),
        )  # fmt: skip

    def _apply_meta(self, cmd: EgoCommand) -> None:
        """Discrete meta-actions change the ego's target lane and target speed."""
        if self.params.ego_driver != "agent":
            return
        kernels.apply_meta(
            np.asarray(cmd.meta, dtype=np.int64),
            self.lane,
            self.prev_lane,
            self.target_speed,
            self.road.left,
            self.road.right,
            np.asarray(self.params.target_speeds, dtype=float),
        )

    def _substeps_compiled(
        self, cmd: EgoCommand, acc: _Accumulator, sub_from: int, sub_to: int
    ) -> None:
        """All substeps of a policy step in the numba kernel (same model as ``_substep``)."""
        r, p = self.road, self.params
        acc_lane = r.ramp_lanes[1] if r.ramp_lanes else -1
        crosses = r.crosses if r.crosses.size else np.zeros((r.n, r.n), dtype=bool)
        active = self._all if self.active is None else np.asarray(self.active, dtype=bool)
        choice = self._thread_choice()
        way = choice.pick() if choice is not None else SERIAL
        run = kernels.substeps_parallel if way == THREADED else kernels.substeps
        t0 = time.perf_counter()
        run(
            active,
            self.x, self.y, self.heading, self.speed, self.accel, self.steer, self.lane,
            self.prev_lane, self.cooldown, self.crashed, self.v0, self.time_gap, self.a_max,
            self.b_comf, self.s0, self.politeness, self.threshold, self.gap_accept,
            r.origin, r.direction, r.length, r.left, r.right, r.next, r.change_from, crosses,
            r.code, acc_lane, r.box_in, r.box_out, r.n_lanes, r.width,
            np.asarray(cmd.meta, dtype=np.int64), np.asarray(cmd.accel, dtype=float),
            np.asarray(cmd.steer, dtype=float), self.target_speed, self.t,
            p.ego_driver == "agent", p.substeps, sub_from, sub_to, self.dt,
            acc.collision, acc.off_road, acc.headway, acc.ttc_ahead, acc.ttc_behind,
            acc.forced_braking, self.npc_collisions, self._lane_order, self._x_order,
            self._ev_kind, self.ev_phase, self.ev_actor, self.ev_clock, self.ev_p, self.ev_aux,
            self.aggressiveness,
        )  # fmt: skip
        if choice is not None:
            work = max(int(np.count_nonzero(active)), 1) * self.v * (sub_to - sub_from)
            choice.record(way, (time.perf_counter() - t0) / work)

    def _thread_choice(self) -> ThreadChoice | None:
        """The serial/threaded choice for this world's kind of batch; None: serial only
        (one copy, numba limited to one thread, or a child forked from a process whose
        threads had started)."""
        if self.n < 2 or not threads_usable():
            return None
        return _CHOICES.setdefault((self.params.road, self.n), ThreadChoice())

    def _substep(self, cmd: EgoCommand, acc: _Accumulator, mobil: bool, parity: np.ndarray) -> None:
        """One substep of the numpy reference path."""
        r, dt = self.road, self.dt
        lane, prev = self.lane, self.prev_lane
        s = r.station(lane, self.x, self.y)
        changing = prev >= 0
        s_prev = r.station(np.maximum(prev, 0), self.x, self.y)
        index = build_index(lane, s, prev, np.where(changing, s_prev, 0.0), r.n)
        bb, me = self._bb, self._me
        flat_speed = self.speed.ravel()

        def lead(lanes: np.ndarray, st: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            o, so = index.ahead(bb, np.maximum(lanes, 0), st, exclude=me)
            gap = np.where(o >= 0, so - st - LENGTH, FREE_GAP)
            vl = np.where(o >= 0, flat_speed[np.maximum(o, 0)], 0.0)
            # Continue onto the next lane (the ramp becoming the acceleration lane).
            nxt = r.next[np.maximum(lanes, 0)]
            cont = (o < 0) & (nxt >= 0) & (lanes >= 0)
            if cont.any():
                o2, s2 = index.first(bb, np.maximum(nxt, 0))
                g2 = r.length[np.maximum(lanes, 0)] - st + s2 - LENGTH
                use = cont & (o2 >= 0)
                gap = np.where(use, g2, gap)
                vl = np.where(use, flat_speed[np.maximum(o2, 0)], vl)
                o = np.where(use, o2, o)
            return o, gap, vl

        _, gap, v_lead = lead(lane, s)
        if changing.any():
            _, gap_p, vl_p = lead(np.where(changing, prev, 0), s_prev)
            closer = changing & (gap_p < gap)
            gap = np.where(closer, gap_p, gap)
            v_lead = np.where(closer, vl_p, v_lead)
        gap, v_lead = self._obstacles(s, gap, v_lead, index)
        d = self.driver()
        a = idm(self.speed, v_lead, gap, d.v0, d.time_gap, d.a_max, d.b_comf, d.s0)
        if mobil:
            decide_lane_changes(self, index, s, a, gap, v_lead, parity)
            lane = self.lane
        lane_h = r.heading(lane)
        steer = steer_to_lane(self.heading, self.speed, lane_h, r.offset(lane, self.x, self.y), dt)
        self._ego_control(cmd, a, steer, gap, v_lead)
        if self.events:
            self._script(a, steer)
        a = np.where(self.crashed, -9.0, a)
        # The follower of the ego, for the braking it is forced into.
        fo, fs = index.behind(bb[:, 0], lane[:, 0], s[:, 0], exclude=me[:, 0])
        f_ok = fo >= 0
        fo = np.maximum(fo, 0)
        a_f = idm(
            flat_speed[fo], self.speed[:, 0], s[:, 0] - fs - LENGTH, d.v0.ravel()[fo],
            d.time_gap.ravel()[fo], d.a_max.ravel()[fo], d.b_comf.ravel()[fo], d.s0.ravel()[fo],
        )  # fmt: skip
        acc.forced(np.where(f_ok, np.maximum(-a_f, 0.0), 0.0))
        acc.gaps(
            gap[:, 0], self.speed[:, 0], v_lead[:, 0], f_ok, s[:, 0] - fs - LENGTH, flat_speed[fo]
        )
        self.x, self.y, self.heading, self.speed = bicycle(
            self.x, self.y, self.heading, self.speed, a, steer, dt
        )
        self.accel, self.steer = a, steer
        self.cooldown = np.maximum(self.cooldown - dt, 0.0)
        self._lane_bookkeeping(cmd)
        self._collide(acc)

    def _script(self, a: np.ndarray, steer: np.ndarray) -> None:
        """The events' actors in this substep: their accelerations, and the heading of one
        moving sideways (which then does not steer)."""
        steered = np.zeros(self.v, dtype=bool)
        for b in range(self.n):  # the numpy path moves every copy
            steered[:] = False
            ev.script_substep(
                b, self.dt, self._ev_kind, self.ev_phase, self.ev_actor, self.ev_clock,
                self.ev_p, self.ev_aux, self.x, self.y, self.heading, self.speed, self.lane,
                self.prev_lane, self.crashed, self.cooldown, self.aggressiveness,
                self.road.origin, self.road.direction, a[b], steered,
            )  # fmt: skip
            steer[b, steered] = 0.0

    def _obstacles(
        self, s: np.ndarray, gap: np.ndarray, v_lead: np.ndarray, index: LaneIndex
    ) -> tuple[np.ndarray, np.ndarray]:
        """Standing obstacles: the end of the acceleration lane; stop lines when yielding."""
        r = self.road
        if r.kind == "merge":
            acc_lane = r.ramp_lanes[1]
            end_gap = r.length[acc_lane] - s - LENGTH / 2
            use = (self.lane == acc_lane) & (end_gap < gap)
            gap = np.where(use, end_gap, gap)
            v_lead = np.where(use, 0.0, v_lead)
        elif r.kind == "intersection":
            yield_ = must_yield(self, s)
            if self.events:
                for b in range(self.n):
                    ev.no_yield(b, self._ev_kind, self.ev_phase, self.ev_actor, yield_[b])
            stop_gap = r.box_in - 1.0 - (s + LENGTH / 2)
            use = yield_ & (stop_gap < gap)
            gap = np.where(use, np.maximum(stop_gap, 0.0), gap)
            v_lead = np.where(use, 0.0, v_lead)
        return gap, v_lead

    def _ego_control(
        self, cmd: EgoCommand, a: np.ndarray, steer: np.ndarray, gap: np.ndarray, v_lead: np.ndarray
    ) -> None:
        """Overwrite column 0 (the ego) of the NPC accelerations and steering."""
        if self.params.ego_driver != "agent":
            return
        cont = cmd.meta < 0
        a_meta = np.clip((self.target_speed - self.speed[:, 0]) / 0.6, -MAX_ACCEL, MAX_ACCEL)
        a[:, 0] = np.where(cont, cmd.accel, a_meta)
        steer[:, 0] = np.where(cont, cmd.steer, steer[:, 0])

    def _lane_bookkeeping(self, cmd: EgoCommand) -> None:
        r = self.road
        lane = self.lane
        s = r.station(lane, self.x, self.y)
        nxt = r.next[lane]
        moved_on = (nxt >= 0) & (s > r.length[lane])
        self.lane = np.where(moved_on, nxt, lane)
        off = np.abs(r.offset(self.lane, self.x, self.y))
        done = (self.prev_lane >= 0) & (off < 0.4)
        self.prev_lane = np.where(done | moved_on, -1, self.prev_lane)
        if self.params.ego_driver == "agent" and np.any(cmd.meta < 0):
            self._ego_lane_from_position(cmd.meta < 0)

    def _ego_lane_from_position(self, cont: np.ndarray) -> None:
        """Under continuous control the ego's lane is where it is, not where it aims."""
        r = self.road
        cand = np.arange(r.n)
        x, y = self.x[:, 0:1], self.y[:, 0:1]
        st = r.station(cand, x, y)
        off = np.abs(r.offset(cand, x, y))
        aligned = (r.direction[cand] @ np.array([1.0, 0.0]))[None, :] * np.cos(self.heading[:, 0:1])
        aligned += (r.direction[cand] @ np.array([0.0, 1.0]))[None, :] * np.sin(
            self.heading[:, 0:1]
        )
        ok = (st >= 0) & (st <= r.length[cand]) & (aligned > 0.0)
        off = np.where(ok, off, np.inf)
        order = np.argsort(off, axis=1)
        best, second = order[:, 0], order[:, 1] if r.n > 1 else order[:, 0]
        has = np.isfinite(off[np.arange(self.n), best])
        straddle = np.isfinite(off[np.arange(self.n), second]) & (
            off[np.arange(self.n), best] > 1.0
        )
        self.lane[:, 0] = np.where(cont & has, best, self.lane[:, 0])
        self.prev_lane[:, 0] = np.where(cont, np.where(straddle, second, -1), self.prev_lane[:, 0])

    def _collide(self, acc: _Accumulator) -> None:
        bi, i, j = geometry.overlapping_pairs(self.x, self.y, self.heading, LENGTH, WIDTH)
        if bi.size:
            was = self.crashed.copy()
            self.crashed[bi, i] = True
            self.crashed[bi, j] = True
            ego = (i == 0) | (j == 0)
            acc.collision[bi[ego]] = True
            new_npc = ~ego & ~(was[bi, i] & was[bi, j])
            np.add.at(self.npc_collisions, bi[new_npc], 1)
        self.speed = np.where(self.crashed, 0.0, self.speed)
        on = geometry.on_road(self.road, self.x[:, 0], self.y[:, 0])
        acc.off_road |= ~on


class _Accumulator:
    """Per-step ego features accumulated over the substeps of one policy step."""

    def __init__(self, n: int) -> None:
        self.collision = np.zeros(n, dtype=bool)
        self.off_road = np.zeros(n, dtype=bool)
        self.headway = np.full(n, TTC_CAP)
        self.ttc_ahead = np.full(n, TTC_CAP)
        self.ttc_behind = np.full(n, TTC_CAP)
        self.forced_braking = np.zeros(n)

    def forced(self, decel: np.ndarray) -> None:
        self.forced_braking = np.maximum(self.forced_braking, decel)

    def gaps(
        self,
        gap: np.ndarray,
        v: np.ndarray,
        v_lead: np.ndarray,
        has_follower: np.ndarray,
        gap_back: np.ndarray,
        v_follow: np.ndarray,
    ) -> None:
        gap = np.maximum(gap, 0.0)
        hw = np.where(gap < FREE_GAP / 2, gap / np.maximum(v, 0.1), TTC_CAP)
        self.headway = np.minimum(self.headway, np.minimum(hw, TTC_CAP))
        closing = v - v_lead
        ttc = np.where(
            (closing > 0) & (gap < FREE_GAP / 2), gap / np.maximum(closing, 1e-6), TTC_CAP
        )
        self.ttc_ahead = np.minimum(self.ttc_ahead, np.minimum(ttc, TTC_CAP))
        closing_b = v_follow - v
        ttc_b = np.where(
            has_follower & (closing_b > 0),
            np.maximum(gap_back, 0.0) / np.maximum(closing_b, 1e-6),
            TTC_CAP,
        )
        self.ttc_behind = np.minimum(self.ttc_behind, np.minimum(ttc_b, TTC_CAP))

    def features(self) -> dict[str, np.ndarray]:
        return {
            "headway": self.headway,
            "ttc_ahead": self.ttc_ahead,
            "ttc_behind": self.ttc_behind,
            "collision": self.collision.astype(float),
            "off_road": self.off_road.astype(float),
            "forced_braking": self.forced_braking,
        }
