"""The driving world's substeps as one numba-compiled kernel.

Same model as the numpy reference path in ``world.py`` (``backend="numpy"``), but each
copy is processed in compiled loops: the copy's lane entries kept sorted (an insertion
sort from the last order), leaders read off the sorted positions and binary searches for
the other neighbours (never all pairs), IDM, MOBIL, gap acceptance, the bicycle model and
a sweep-and-prune collision check. No Python runs per copy or per vehicle; numpy's
per-call overhead, which dominates small batches, is gone. Where the numpy path computes
a value and then undoes it (the steering angle, turned back into the slip angle by the
bicycle model), the kernel skips the round trip, so the two agree to rounding; tests
check that they give the same trajectories. Every constant is imported from the numpy
modules, so the two paths share them (numba freezes them at compile time).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from rlhf_sandbox.sim.driving.events import no_yield, script_substep
from rlhf_sandbox.sim.driving.kernel_geometry import (
    ahead_of,
    behind_of,
    jit,
    lane_key,
    lane_offset,
    lane_station,
    on_road,
    overlap_cs,
    resort,
)
from rlhf_sandbox.sim.driving.kernel_obs import apply_meta, observe
from rlhf_sandbox.sim.driving.kernel_traffic import (
    ego_lane,
    idm,
    lead,
    lead_beyond,
    mobil,
    must_yield,
    slip,
    steer_of_slip,
)
from rlhf_sandbox.sim.driving.params import (
    LENGTH,
    MAX_ACCEL,
    TTC_CAP,
    WHEELBASE,
    WIDTH,
)
from rlhf_sandbox.sim.driving.road import INTERSECTION, MERGE
from rlhf_sandbox.sim.driving.traffic import FREE_GAP

__all__ = ["apply_meta", "observe", "substeps", "substeps_parallel", "warm_up"]


@jit(nogil=True)
def substeps(active, *args):
    """Run all substeps of a policy step for every copy b with ``active[b]``; state is
    updated in place (other copies are left as they are).

    ``args`` are those of :func:`_world` after the copy index ``b``.
    """
    for b in range(args[0].shape[0]):
        if active[b]:
            _world(b, *args)


@jit(parallel=True, nogil=True)
def substeps_parallel(active, *args):
    """:func:`substeps` with copies spread over numba's threads (copies are independent).

    Only the active copies are spread (in equal shares): idle slots cluster where
    episodes ended, and would leave one thread with most of the work.
    """
    idx = np.flatnonzero(active)
    for k in prange(idx.shape[0]):
        _world(idx[k], *args)


@jit()
def _world(
    b, x, y, heading, speed, accel, steer, lane, prev_lane, cooldown, crashed,
    v0, tg, a_max, b_comf, s0, polite, thresh, gap_acc,
    origin, direction, length, left, right, nxt, change_from, crosses,
    kind, acc_lane, box_in, box_out, n_main, width,
    meta, cmd_accel, cmd_steer, target_speed, t, agent, n_sub, sub_from, sub_to, dt,
    f_collision, f_off_road, f_headway, f_ttc_a, f_ttc_b, f_forced, npc_collisions,
    lane_order, x_order, ev_kind, ev_phase, ev_actor, ev_clock, ev_p, ev_aux, aggressiveness,
):  # fmt: skip
    """Substeps ``sub_from`` to ``sub_to - 1`` (of ``n_sub`` per policy step) of copy ``b``."""
    nv = x.shape[1]
    n_ev = ev_kind.shape[0]  # scripted events (events.py); none: the code below skips them
    n_lanes = length.shape[0]
    m_sub = n_sub // 2
    diag = np.hypot(LENGTH, WIDTH)
    # Per-lane headings, once per call (the same arctan2 as per vehicle, so the same bits).
    lane_h = np.empty(n_lanes)
    den = np.empty(nv)  # IDM's 2 sqrt(a_max b_comf) of each vehicle
    for i in range(nv):
        den[i] = 2.0 * np.sqrt(a_max[b, i] * b_comf[b, i])
    for ln in range(n_lanes):
        lane_h[ln] = np.arctan2(direction[ln, 1], direction[ln, 0])
    if True:
        st = np.empty(nv)
        sb = np.empty(nv)  # sine of each vehicle's slip angle
        was = np.empty(nv, np.bool_)
        cos_h = np.empty(nv)  # cos and sin of the current headings
        sin_h = np.empty(nv)
        for i in range(nv):
            cos_h[i], sin_h[i] = np.cos(heading[b, i]), np.sin(heading[b, i])
        s = np.empty(nv)
        s_prev = np.empty(nv)
        keys = np.empty(2 * nv)
        ks = np.empty(2 * nv)
        ow = np.empty(2 * nv, np.int64)
        pos = np.empty(2 * nv, np.int64)  # where each entry went in the sorted order
        # Each copy's sorted orders persist from call to call (any permutation is a valid
        # start): each substep re-sorts them from the last, nearly sorted already.
        order = lane_order[b]
        xo = x_order[b]
        a = np.empty(nv)
        gap = np.empty(nv)
        vl = np.empty(nv)
        new_lane = np.empty(nv, np.int64)
        yield_ = np.zeros(nv, np.bool_)
        steered = np.zeros(nv, np.bool_)
        for sub in range(sub_from, sub_to):
            last = sub == sub_to - 1
            # -- lane entries, sorted
            for i in range(nv):
                ln = lane[b, i]
                s[i] = lane_station(origin, direction, ln, x[b, i], y[b, i])
                pl = prev_lane[b, i]
                keys[i] = lane_key(ln, s[i])
                if pl >= 0:  # changing lanes: also an entry in the lane it leaves
                    s_prev[i] = lane_station(origin, direction, pl, x[b, i], y[b, i])
                    keys[nv + i] = lane_key(pl, s_prev[i])
                else:
                    keys[nv + i] = lane_key(n_lanes, 0.0)
            resort(order, keys)
            for e in range(2 * nv):
                ks[e] = keys[order[e]]
                ow[e] = order[e] - nv if order[e] >= nv else order[e]
                pos[order[e]] = e
            if kind == INTERSECTION:
                yield_[:] = False
                must_yield(
                    lane[b], s, speed[b], gap_acc[b], crosses, box_in, box_out, n_lanes, yield_
                )
                if n_ev > 0:
                    no_yield(b, ev_kind, ev_phase, ev_actor, yield_)
            # -- leaders and IDM
            for i in range(nv):
                # The common case, a leader in the same lane, is read here: a call of
                # ``lead`` per vehicle (numba passes each array as 7 to 9 scalars, 42 in
                # all) took a fifth of the kernel's time; LLVM inlines ``ahead_of``.
                o, so = ahead_of(ks, ow, lane[b, i], pos[i], i)
                if o >= 0:
                    g, vlead = so - s[i] - LENGTH, speed[b, o]
                else:  # none ahead in the lane: the lane it runs into, or free road
                    g, vlead = lead_beyond(ks, ow, lane[b, i], s[i], speed, b, nxt, length)
                if prev_lane[b, i] >= 0:
                    g2, vl2 = lead(
                        ks, ow, prev_lane[b, i], s_prev[i], pos[nv + i], i, speed, b, nxt, length
                    )
                    if g2 < g:
                        g, vlead = g2, vl2
                if kind == MERGE and lane[b, i] == acc_lane:
                    end_gap = length[acc_lane] - s[i] - LENGTH / 2
                    if end_gap < g:
                        g, vlead = end_gap, 0.0
                elif kind == INTERSECTION and yield_[i]:
                    stop_gap = box_in - 1.0 - (s[i] + LENGTH / 2)
                    if stop_gap < g:
                        g, vlead = max(stop_gap, 0.0), 0.0
                gap[i] = g
                vl[i] = vlead
            for i in range(nv):  # a loop of its own, free of the lookups' branches: 5% faster
                a[i] = idm(
                    speed[b, i], vl[i], gap[i], v0[b, i], tg[b, i], a_max[b, i], den[i], s0[b, i]
                )
            # -- MOBIL
            if sub == 0 or sub == m_sub:
                parity = (t[b] + (1 if sub > 0 else 0)) % 2
                mobil(b, parity, x, y, speed, lane, prev_lane, cooldown, crashed, v0, tg, a_max,
                       den, s0, polite, thresh, origin, direction, left, right, change_from,
                       kind, acc_lane, agent, s, a, gap, vl, ks, ow, pos, new_lane)  # fmt: skip
            # -- steering, ego control
            for i in range(nv):
                ln = lane[b, i]
                off = lane_offset(origin, direction, ln, x[b, i], y[b, i])
                sb[i] = slip(heading[b, i], speed[b, i], lane_h[ln], off, dt)
                if last:  # the steering angle is state only: kept as of the last substep
                    st[i] = steer_of_slip(sb[i])
            if agent:
                if meta[b] < 0:
                    a[0] = cmd_accel[b]
                    st[0] = cmd_steer[b]
                    sb[0] = np.sin(np.arctan(0.5 * np.tan(st[0])))
                else:
                    a[0] = min(max((target_speed[b] - speed[b, 0]) / 0.6, -MAX_ACCEL), MAX_ACCEL)
            if n_ev > 0:  # the events' actors (a shared compiled script, see events.py)
                steered[:] = False
                script_substep(b, dt, ev_kind, ev_phase, ev_actor, ev_clock, ev_p, ev_aux, x, y,
                               heading, speed, lane, prev_lane, crashed, cooldown,
                               aggressiveness, origin, direction, a, steered)  # fmt: skip
                for i in range(nv):
                    if steered[i]:  # moved sideways by its heading: no steering of its own
                        sb[i] = 0.0
                        st[i] = 0.0
                        cos_h[i], sin_h[i] = np.cos(heading[b, i]), np.sin(heading[b, i])
            for i in range(nv):
                if crashed[b, i]:
                    a[i] = -9.0
            # -- the ego's follower and gaps (for features)
            fo, fs = behind_of(ks, ow, lane[b, 0], pos[0], 0)
            v_e = speed[b, 0]
            if fo >= 0:
                gb = s[0] - fs - LENGTH
                af = idm(
                    speed[b, fo],
                    v_e,
                    gb,
                    v0[b, fo],
                    tg[b, fo],
                    a_max[b, fo],
                    den[fo],
                    s0[b, fo],
                )
                f_forced[b] = max(f_forced[b], max(-af, 0.0))
                cb = speed[b, fo] - v_e
                if cb > 0:
                    f_ttc_b[b] = min(f_ttc_b[b], min(max(gb, 0.0) / max(cb, 1e-6), TTC_CAP))
            g0 = max(gap[0], 0.0)
            if g0 < FREE_GAP / 2:
                f_headway[b] = min(f_headway[b], min(g0 / max(v_e, 0.1), TTC_CAP))
                ca = v_e - vl[0]
                if ca > 0:
                    f_ttc_a[b] = min(f_ttc_a[b], min(g0 / max(ca, 1e-6), TTC_CAP))
            # -- integrate
            for i in range(nv):
                # cos and sin of heading + slip angle, by the angle-sum rule (|slip| < pi/2)
                v, h, sbi = speed[b, i], heading[b, i], sb[i]
                cbi = np.sqrt(1.0 - sbi * sbi)
                ch, sh = cos_h[i], sin_h[i]
                x[b, i] += v * (ch * cbi - sh * sbi) * dt
                y[b, i] += v * (sh * cbi + ch * sbi) * dt
                h += v * sbi / (WHEELBASE / 2) * dt
                heading[b, i] = h
                cos_h[i], sin_h[i] = np.cos(h), np.sin(h)
                speed[b, i] = max(v + a[i] * dt, 0.0)
                accel[b, i] = a[i]
                if last:
                    steer[b, i] = st[i]
                cooldown[b, i] = max(cooldown[b, i] - dt, 0.0)
            # -- lane bookkeeping
            for i in range(nv):
                ln = lane[b, i]
                si = lane_station(origin, direction, ln, x[b, i], y[b, i])
                moved_on = nxt[ln] >= 0 and si > length[ln]
                if moved_on:
                    lane[b, i] = nxt[ln]
                    ln = nxt[ln]
                off = abs(lane_offset(origin, direction, ln, x[b, i], y[b, i]))
                if moved_on or (prev_lane[b, i] >= 0 and off < 0.4):
                    prev_lane[b, i] = -1
            if agent and meta[b] < 0:
                ego_lane(b, x, y, heading, lane, prev_lane, origin, direction, length)
            # -- collisions: sweep and prune along x
            resort(xo, x[b])
            for i in range(nv):
                was[i] = crashed[b, i]
            for p in range(nv):
                i = xo[p]
                for q in range(p + 1, nv):
                    j = xo[q]
                    if x[b, j] - x[b, i] >= diag:
                        break
                    dx, dy = x[b, j] - x[b, i], y[b, j] - y[b, i]
                    if dx * dx + dy * dy >= diag * diag:  # apart: each fits in a circle
                        continue
                    if overlap_cs(
                        x[b, i], y[b, i], cos_h[i], sin_h[i], x[b, j], y[b, j], cos_h[j], sin_h[j]
                    ):
                        if i == 0 or j == 0:
                            f_collision[b] = True
                        elif not (was[i] and was[j]):
                            npc_collisions[b] += 1
                        crashed[b, i] = True
                        crashed[b, j] = True
            for i in range(nv):
                if crashed[b, i]:
                    speed[b, i] = 0.0
            if not on_road(origin, direction, length, width, x[b, 0], y[b, 0], 0.0):
                f_off_road[b] = True


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel once, for all three roads.

    ``make`` runs this after installing, so the first env step later does not wait.
    """
    from rlhf_sandbox.sim.driving.events import parse_event
    from rlhf_sandbox.sim.driving.params import WorldParams
    from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand

    scripts = {  # critical events (events.py): their script is compiled code too
        "highway": ("cut_in", "lead_brake", "stopped"),
        "merge": ("merge",),
        "intersection": ("crossing",),
    }
    for road in ("highway", "merge", "intersection"):
        for n, events in ((1, ()), (2, ()), (2, scripts[road])):  # serial, then threaded
            specs = tuple(parse_event(e) for e in events)
            w = DrivingWorld(WorldParams(road=road, vehicles=6, lanes=2, events=specs), n)
            w.reset(np.ones(n, dtype=bool), np.arange(n))
            w.step(EgoCommand(np.ones(n, dtype=np.int64), np.zeros(n), np.zeros(n)))
            w.step(EgoCommand(np.full(n, -1), np.zeros(n), np.zeros(n)))
            out = np.empty((n, 8 + 5 + 7))
            observe(
                w.x, w.y, w.heading, w.speed, w.accel, w.lane, w.target_speed, np.zeros((n, 5)),
                w.road.origin, w.road.direction, w.road.length, w.road.width, w.road.n_lanes, 1,
                40.0, 100.0, 20.0, out,
            )  # fmt: skip
