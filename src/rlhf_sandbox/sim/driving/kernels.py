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

from typing import Any

import numpy as np
from numba import njit, prange

from rlhf_sandbox.sim.driving.crossing import STOP_DECEL, V_MIN
from rlhf_sandbox.sim.driving.crossing import K as K_CROSS
from rlhf_sandbox.sim.driving.lanes import SPAN
from rlhf_sandbox.sim.driving.mobil import B_SAFE, COOLDOWN, KEEP_RIGHT, MUST_MERGE
from rlhf_sandbox.sim.driving.params import (
    LENGTH,
    MAX_ACCEL,
    MAX_BRAKE,
    TTC_CAP,
    WHEELBASE,
    WIDTH,
)
from rlhf_sandbox.sim.driving.road import INTERSECTION, MERGE
from rlhf_sandbox.sim.driving.traffic import FREE_GAP

HALF = SPAN / 2 - 1.0


def _jit(**options: Any) -> Any:
    """``numba.njit`` as every kernel here uses it: cached on disk, and divisions by the
    IEEE rules (no zero-divisor check and branch per division; every divisor is guarded).

    Helpers that take arrays but allocate none are compiled with ``_nrt=False`` (numba's
    flag for code without its reference-counted memory): otherwise every call increments
    and decrements each array argument's count with atomic instructions, which took a
    fifth of the kernel's time in the per-vehicle loops (perf, 2026-11-27).
    """
    return njit(cache=True, error_model="numpy", **options)


@_jit(inline="always")
def _idm(v, v_lead, gap, v0, tg, a_max, den, s0):
    """IDM's acceleration; ``den`` is 2 sqrt(a_max b_comf), worked out once per call."""
    dv = v - v_lead
    s_star = s0 + max(0.0, v * tg + v * dv / den)
    r = v / max(v0, 0.1)
    free = 1.0 - (r * r) * (r * r)
    q = s_star / max(gap, 0.05)
    inter = q * q
    a = a_max * (free - inter)
    return min(max(a, -MAX_BRAKE), a_max)


@_jit(_nrt=False)
def _lane_station(origin, direction, ln, x, y):
    return (x - origin[ln, 0]) * direction[ln, 0] + (y - origin[ln, 1]) * direction[ln, 1]


@_jit(_nrt=False)
def _lane_offset(origin, direction, ln, x, y):
    return -(x - origin[ln, 0]) * direction[ln, 1] + (y - origin[ln, 1]) * direction[ln, 0]


@_jit()
def _key(lane, s):
    return lane * SPAN + min(max(s, -HALF), HALF) + SPAN / 2


@_jit(_nrt=False)
def _ahead(keys, owner, lane, s, me):
    """First entry strictly ahead of (lane, s), skipping one entry owned by ``me``."""
    key = _key(lane, s)
    return _ahead_from(keys, owner, lane, np.searchsorted(keys, key, side="right"), me)


@_jit(_nrt=False)
def _ahead_of(keys, owner, lane, p, me):
    """:func:`_ahead` of the point of entry ``p`` itself (a sorted position, so no search:
    the first entry with a larger key lies just past ``p`` and any equal keys)."""
    n = keys.shape[0]
    key = keys[p]
    i = p + 1
    while i < n and keys[i] == key:
        i += 1
    return _ahead_from(keys, owner, lane, i, me)


@_jit(_nrt=False)
def _ahead_from(keys, owner, lane, i, me):
    n = keys.shape[0]
    for _ in range(2):
        if i >= n or keys[i] >= (lane + 1) * SPAN:  # past the lane's keys (see _key)
            return -1, 0.0
        if owner[i] != me:
            return owner[i], keys[i] - lane * SPAN - SPAN / 2
        i += 1
    return -1, 0.0


@_jit(_nrt=False)
def _behind(keys, owner, lane, s, me):
    key = _key(lane, s)
    return _behind_from(keys, owner, lane, np.searchsorted(keys, key, side="left") - 1, me)


@_jit(_nrt=False)
def _behind_of(keys, owner, lane, p, me):
    """:func:`_behind` of the point of entry ``p`` (see :func:`_ahead_of`)."""
    key = keys[p]
    i = p - 1
    while i >= 0 and keys[i] == key:
        i -= 1
    return _behind_from(keys, owner, lane, i, me)


@_jit(_nrt=False)
def _behind_from(keys, owner, lane, i, me):
    for _ in range(2):
        if i < 0 or keys[i] < lane * SPAN:
            return -1, 0.0
        if owner[i] != me:
            return owner[i], keys[i] - lane * SPAN - SPAN / 2
        i -= 1
    return -1, 0.0


@_jit()
def _overlap(xa, ya, ha, xb, yb, hb):
    """Separating-axis test of two LENGTH x WIDTH rectangles (see ``geometry``)."""
    return _overlap_cs(xa, ya, np.cos(ha), np.sin(ha), xb, yb, np.cos(hb), np.sin(hb))


@_jit(inline="always")
def _overlap_cs(xa, ya, ca, sa, xb, yb, cb, sb):
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


@_jit(_nrt=False)
def _on_road(origin, direction, length, width, x, y, margin):
    for ln in range(length.shape[0]):
        s = _lane_station(origin, direction, ln, x, y)
        d = _lane_offset(origin, direction, ln, x, y)
        if abs(d) <= width / 2 + margin and s >= -margin and s <= length[ln] + margin:
            return True
    return False


@_jit()
def _must_yield(lane, s, speed, gap_accept, crosses, box_in, box_out, n_lanes, out):
    """Gap acceptance at the crossing for one copy (see ``crossing.py``)."""
    v = lane.shape[0]
    k = min(K_CROSS, v)
    c = n_lanes * k
    cand = np.full(c, -1, np.int64)
    for ln in range(n_lanes):
        for slot in range(k):
            best, best_s = -1, -np.inf
            for j in range(v):
                if lane[j] != ln or s[j] - LENGTH / 2 >= box_out:
                    continue
                taken = False
                for q in range(slot):
                    if cand[ln * k + q] == j:
                        taken = True
                if not taken and s[j] > best_s:
                    best, best_s = j, s[j]
            cand[ln * k + slot] = best
    committed = np.zeros(c, np.bool_)
    t_in = np.zeros(c)
    t_clear = np.zeros(c)
    for a in range(c):
        j = cand[a]
        if j < 0:
            continue
        d_in = box_in - (s[j] + LENGTH / 2)
        d_clear = box_out - (s[j] - LENGTH / 2)
        vj = speed[j]
        in_box = d_in <= 0 and d_clear > 0
        cant_stop = d_in > 0 and vj * vj / (2 * STOP_DECEL) > d_in - 0.5
        committed[a] = in_box or cant_stop
        t_in[a] = d_in / max(vj, V_MIN) if d_in > 0 else 0.0
        t_clear[a] = max(d_clear, 0.0) / max(vj, V_MIN)
    for a in range(c):
        i = cand[a]
        if i < 0 or committed[a]:
            continue
        g = gap_accept[i]
        for bq in range(c):
            j = cand[bq]
            if j < 0 or not crosses[lane[i], lane[j]]:
                continue
            earlier = t_in[bq] < t_in[a] or (t_in[bq] == t_in[a] and j < i)
            higher = committed[bq] or earlier
            if higher and t_in[a] < t_clear[bq] + g and t_in[bq] < t_clear[a] + g:
                out[i] = True
                break


@_jit()
def substeps(active, *args):
    """Run all substeps of a policy step for every copy b with ``active[b]``; state is
    updated in place (other copies are left as they are).

    ``args`` are those of :func:`_world` after the copy index ``b``.
    """
    for b in range(args[0].shape[0]):
        if active[b]:
            _world(b, *args)


@_jit(parallel=True)
def substeps_parallel(active, *args):
    """:func:`substeps` with copies spread over numba's threads (copies are independent).

    Only the active copies are spread (in equal shares): idle slots cluster where
    episodes ended, and would leave one thread with most of the work.
    """
    idx = np.flatnonzero(active)
    for k in prange(idx.shape[0]):
        _world(idx[k], *args)


@_jit()
def _world(
    b, x, y, heading, speed, accel, steer, lane, prev_lane, cooldown, crashed,
    v0, tg, a_max, b_comf, s0, polite, thresh, gap_acc,
    origin, direction, length, left, right, nxt, change_from, crosses,
    kind, acc_lane, box_in, box_out, n_main, width,
    meta, cmd_accel, cmd_steer, target_speed, t, agent, n_sub, sub_from, sub_to, dt,
    f_collision, f_off_road, f_headway, f_ttc_a, f_ttc_b, f_forced, npc_collisions,
    lane_order, x_order,
):  # fmt: skip
    """Substeps ``sub_from`` to ``sub_to - 1`` (of ``n_sub`` per policy step) of copy ``b``."""
    nv = x.shape[1]
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
        for sub in range(sub_from, sub_to):
            last = sub == sub_to - 1
            # -- lane entries, sorted
            for i in range(nv):
                ln = lane[b, i]
                s[i] = _lane_station(origin, direction, ln, x[b, i], y[b, i])
                pl = prev_lane[b, i]
                keys[i] = _key(ln, s[i])
                if pl >= 0:  # changing lanes: also an entry in the lane it leaves
                    s_prev[i] = _lane_station(origin, direction, pl, x[b, i], y[b, i])
                    keys[nv + i] = _key(pl, s_prev[i])
                else:
                    keys[nv + i] = _key(n_lanes, 0.0)
            _resort(order, keys)
            for e in range(2 * nv):
                ks[e] = keys[order[e]]
                ow[e] = order[e] - nv if order[e] >= nv else order[e]
                pos[order[e]] = e
            if kind == INTERSECTION:
                yield_[:] = False
                _must_yield(
                    lane[b], s, speed[b], gap_acc[b], crosses, box_in, box_out, n_lanes, yield_
                )
            # -- leaders and IDM
            for i in range(nv):
                g, vlead = _lead(ks, ow, lane[b, i], s[i], pos[i], i, speed, b, nxt, length)
                if prev_lane[b, i] >= 0:
                    g2, vl2 = _lead(
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
                a[i] = _idm(
                    speed[b, i], vlead, g, v0[b, i], tg[b, i], a_max[b, i], den[i], s0[b, i]
                )
            # -- MOBIL
            if sub == 0 or sub == m_sub:
                parity = (t[b] + (1 if sub > 0 else 0)) % 2
                _mobil(b, parity, x, y, speed, lane, prev_lane, cooldown, crashed, v0, tg, a_max,
                       den, s0, polite, thresh, origin, direction, left, right, change_from,
                       kind, acc_lane, agent, s, a, gap, vl, ks, ow, pos, new_lane)  # fmt: skip
            # -- steering, ego control
            for i in range(nv):
                ln = lane[b, i]
                off = _lane_offset(origin, direction, ln, x[b, i], y[b, i])
                sb[i] = _slip(heading[b, i], speed[b, i], lane_h[ln], off, dt)
                if last:  # the steering angle is state only: kept as of the last substep
                    st[i] = _steer_of_slip(sb[i])
            if agent:
                if meta[b] < 0:
                    a[0] = cmd_accel[b]
                    st[0] = cmd_steer[b]
                    sb[0] = np.sin(np.arctan(0.5 * np.tan(st[0])))
                else:
                    a[0] = min(max((target_speed[b] - speed[b, 0]) / 0.6, -MAX_ACCEL), MAX_ACCEL)
            for i in range(nv):
                if crashed[b, i]:
                    a[i] = -9.0
            # -- the ego's follower and gaps (for features)
            fo, fs = _behind_of(ks, ow, lane[b, 0], pos[0], 0)
            v_e = speed[b, 0]
            if fo >= 0:
                gb = s[0] - fs - LENGTH
                af = _idm(
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
                si = _lane_station(origin, direction, ln, x[b, i], y[b, i])
                moved_on = nxt[ln] >= 0 and si > length[ln]
                if moved_on:
                    lane[b, i] = nxt[ln]
                    ln = nxt[ln]
                off = abs(_lane_offset(origin, direction, ln, x[b, i], y[b, i]))
                if moved_on or (prev_lane[b, i] >= 0 and off < 0.4):
                    prev_lane[b, i] = -1
            if agent and meta[b] < 0:
                _ego_lane(b, x, y, heading, lane, prev_lane, origin, direction, length)
            # -- collisions: sweep and prune along x
            _resort(xo, x[b])
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
                    if _overlap_cs(
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
            if not _on_road(origin, direction, length, width, x[b, 0], y[b, 0], 0.0):
                f_off_road[b] = True


@_jit(_nrt=False)
def _resort(order, keys):
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


@_jit(_nrt=False)
def _lead(ks, ow, ln, si, p, me, speed, b, nxt, length):
    """Gap to and speed of the leader of entry ``p`` (at station ``si`` of lane ``ln``)."""
    o, so = _ahead_of(ks, ow, ln, p, me)
    if o >= 0:
        return so - si - LENGTH, speed[b, o]
    if nxt[ln] >= 0:
        o2, s2 = _ahead(ks, ow, nxt[ln], -HALF, -1)
        if o2 >= 0:
            return length[ln] - si + s2 - LENGTH, speed[b, o2]
    return FREE_GAP, 0.0


@_jit(inline="always")
def _slip(heading, speed, lane_heading, offset, dt):
    """Sine of the slip angle that :func:`traffic.steer_to_lane` steers for.

    The numpy path computes the steering angle and the bicycle model turns it back into
    the slip angle; here the identities that undo each other are skipped: the heading error
    is wrapped into [-pi, pi] directly (``np.angle(np.exp(1j d))`` is that wrap), and the
    slip's sine goes straight to :func:`_world`'s integration. Equal to rounding.
    """
    v = max(speed, 1.0)
    look = max(10.0, 0.9 * v)
    err = lane_heading + np.arctan2(-offset, look) - heading
    if err > np.pi or err < -np.pi:
        err -= 2.0 * np.pi * np.floor((err + np.pi) / (2.0 * np.pi))
    tau = max(0.5, 2.5 * dt)
    return min(max(err / tau * (WHEELBASE / 2) / v, -0.35), 0.35)


@_jit(inline="always")
def _steer_of_slip(sin_beta):
    """The steering angle whose slip angle has sine ``sin_beta``: atan(2 tan(beta)).

    |sin_beta| <= 0.35 keeps it below 0.65 rad, inside MAX_STEER, so no clip is needed.
    """
    return np.arctan(2.0 * sin_beta / np.sqrt(1.0 - sin_beta * sin_beta))


@_jit(_nrt=False)
def _mobil(b, parity, x, y, speed, lane, prev_lane, cooldown, crashed, v0, tg, a_max, den, s0,
           polite, thresh, origin, direction, left, right, change_from, kind, acc_lane, agent,
           s, a_now, gap_own, vl_own, ks, ow, pos, new_lane):  # fmt: skip
    nv = x.shape[1]
    any_change = False
    for i in range(nv):
        ln = lane[b, i]
        new_lane[i] = -1
        if prev_lane[b, i] >= 0 or cooldown[b, i] > 0.0 or crashed[b, i] or (agent and i == 0):
            continue
        tl = left[ln] if parity == 0 else right[ln]
        if tl < 0 or s[i] < change_from[ln]:
            continue
        st = _lane_station(origin, direction, tl, x[b, i], y[b, i])
        nl, nl_s = _ahead(ks, ow, tl, st, -1)
        nf, nf_s = _behind(ks, ow, tl, st, -1)
        v = speed[b, i]
        gap_f = nl_s - st - LENGTH if nl >= 0 else FREE_GAP
        gap_b = st - nf_s - LENGTH if nf >= 0 else FREE_GAP
        v_nl = speed[b, nl] if nl >= 0 else 0.0
        a_self = _idm(v, v_nl, gap_f, v0[b, i], tg[b, i], a_max[b, i], den[i], s0[b, i])
        if not (gap_f > 1.0 and gap_b > 1.0 and a_self > -B_SAFE):
            continue
        gain_nf = 0.0
        if nf >= 0:
            v_nf = speed[b, nf]
            g_now = nl_s - nf_s - LENGTH if nl >= 0 else FREE_GAP
            a_nf_now = _idm(
                v_nf, v_nl, g_now, v0[b, nf], tg[b, nf], a_max[b, nf], den[nf], s0[b, nf]
            )
            a_nf_new = _idm(v_nf, v, gap_b, v0[b, nf], tg[b, nf], a_max[b, nf], den[nf], s0[b, nf])
            if not a_nf_new > -B_SAFE:
                continue
            gain_nf = a_nf_new - a_nf_now
        gain_of = 0.0
        of, of_s = _behind_of(ks, ow, ln, pos[i], i)
        if of >= 0:
            v_of = speed[b, of]
            a_of_now = _idm(
                v_of,
                v,
                s[i] - of_s - LENGTH,
                v0[b, of],
                tg[b, of],
                a_max[b, of],
                den[of],
                s0[b, of],
            )
            a_of_new = _idm(
                v_of,
                vl_own[i],
                (s[i] - of_s) + gap_own[i],
                v0[b, of],
                tg[b, of],
                a_max[b, of],
                den[of],
                s0[b, of],
            )
            gain_of = a_of_new - a_of_now
        incentive = a_self - a_now[i] + polite[b, i] * (gain_nf + gain_of)
        incentive += -KEEP_RIGHT if parity == 0 else KEEP_RIGHT
        if kind == MERGE and ln == acc_lane:
            incentive += MUST_MERGE
        if incentive > thresh[b, i]:
            new_lane[i] = tl
            any_change = True
    if any_change:
        for i in range(nv):
            if new_lane[i] >= 0:
                prev_lane[b, i] = lane[b, i]
                lane[b, i] = new_lane[i]
                cooldown[b, i] = COOLDOWN


@_jit(_nrt=False)
def _ego_lane(b, x, y, heading, lane, prev_lane, origin, direction, length):
    """Continuous control: the ego's lane is the nearest aligned lane it is on."""
    n = length.shape[0]
    best, second = -1, -1
    d_best, d_second = np.inf, np.inf
    ch, sh = np.cos(heading[b, 0]), np.sin(heading[b, 0])
    for ln in range(n):
        st = _lane_station(origin, direction, ln, x[b, 0], y[b, 0])
        off = abs(_lane_offset(origin, direction, ln, x[b, 0], y[b, 0]))
        aligned = direction[ln, 0] * ch + direction[ln, 1] * sh
        if st < 0 or st > length[ln] or aligned <= 0.0:
            continue
        if off < d_best:
            second, d_second = best, d_best
            best, d_best = ln, off
        elif off < d_second:
            second, d_second = ln, off
    if best >= 0:
        lane[b, 0] = best
    prev_lane[b, 0] = second if (second >= 0 and d_best > 1.0) else -1


@_jit()
def observe(
    x, y, heading, speed, accel, lane, target_speed, last_action,
    origin, direction, length, width, n_main, k, speed_scale, x_scale, y_scale, out,
):  # fmt: skip
    """Fill ``out`` [B, 8 + A + 7 k] with the ego's observation (see ``driving_obs``)."""
    nb = x.shape[0]
    na = last_action.shape[1]
    near = np.empty(k, np.int64)  # the k nearest other vehicles of a copy, nearest first
    near_d = np.empty(k)
    for b in range(nb):
        ln = lane[b, 0]
        h = heading[b, 0]
        ch, sh = np.cos(h), np.sin(h)
        o = out[b]
        o[0] = speed[b, 0] / speed_scale
        o[1] = ch
        o[2] = sh
        o[3] = _lane_offset(origin, direction, ln, x[b, 0], y[b, 0]) / width
        o[4] = min(ln, n_main - 1) / max(n_main - 1, 1)
        o[5] = accel[b, 0] / 5.0
        o[6] = target_speed[b] / speed_scale
        o[7] = 1.0 if _on_road(origin, direction, length, width, x[b, 0], y[b, 0], 0.0) else 0.0
        for j in range(na):
            o[8 + j] = last_action[b, j]
        base = 8 + na
        m = _nearest(x, y, b, near, near_d)
        vx0, vy0 = speed[b, 0] * ch, speed[b, 0] * sh
        for r in range(k):
            row = base + 7 * r
            if r >= m:
                for c in range(7):
                    o[row + c] = 0.0
                continue
            j = near[r]
            dx, dy = x[b, j] - x[b, 0], y[b, j] - y[b, 0]
            hj = heading[b, j]
            dvx = speed[b, j] * np.cos(hj) - vx0
            dvy = speed[b, j] * np.sin(hj) - vy0
            o[row] = 1.0
            o[row + 1] = (dx * ch + dy * sh) / x_scale
            o[row + 2] = (-dx * sh + dy * ch) / y_scale
            o[row + 3] = (dvx * ch + dvy * sh) / speed_scale
            o[row + 4] = (-dvx * sh + dvy * ch) / speed_scale
            o[row + 5] = np.cos(hj - h)
            o[row + 6] = np.sin(hj - h)
        for c in range(o.shape[0]):
            o[c] = min(max(o[c], -1.0), 1.0)


@_jit(_nrt=False)
def _nearest(x, y, b, near, near_d):
    """The ``near.shape[0]`` vehicles of copy b nearest to its ego (vehicle 0), nearest
    first and, at equal distance, lower index first (a stable sort's order, without
    sorting them all); returns how many there are."""
    k = near.shape[0]
    m = 0
    for j in range(1, x.shape[1]):
        d = np.hypot(x[b, j] - x[b, 0], y[b, j] - y[b, 0])
        if m == k and not d < near_d[k - 1]:
            continue
        p = min(m, k - 1)
        while p > 0 and near_d[p - 1] > d:
            near[p], near_d[p] = near[p - 1], near_d[p - 1]
            p -= 1
        near[p], near_d[p] = j, d
        m = min(m + 1, k)
    return m


@_jit()
def apply_meta(meta, lane, prev_lane, target_speed, left, right, speeds):
    """Discrete meta-actions: 0 lane left, 1 idle, 2 lane right, 3 faster, 4 slower."""
    for b in range(meta.shape[0]):
        m = meta[b]
        if m < 0:
            continue
        ln = lane[b, 0]
        new = ln
        if m == 0 and left[ln] >= 0:
            new = left[ln]
        elif m == 2 and right[ln] >= 0:
            new = right[ln]
        if new != ln:
            prev_lane[b, 0] = ln
            lane[b, 0] = new
        k = 0
        for q in range(speeds.shape[0]):
            if abs(speeds[q] - target_speed[b]) < abs(speeds[k] - target_speed[b]):
                k = q
        if m == 3:
            k = min(k + 1, speeds.shape[0] - 1)
        elif m == 4:
            k = max(k - 1, 0)
        target_speed[b] = speeds[k]


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel once, for all three roads.

    ``make`` runs this after installing, so the first env step later does not wait.
    """
    from rlhf_sandbox.sim.driving.params import WorldParams
    from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand

    for road in ("highway", "merge", "intersection"):
        for n in (1, 2):  # two copies: the first steps run serial, then threaded
            w = DrivingWorld(WorldParams(road=road, vehicles=6, lanes=2), n)
            w.reset(np.ones(n, dtype=bool), np.arange(n))
            w.step(EgoCommand(np.ones(n, dtype=np.int64), np.zeros(n), np.zeros(n)))
            w.step(EgoCommand(np.full(n, -1), np.zeros(n), np.zeros(n)))
            out = np.empty((n, 8 + 5 + 7))
            observe(
                w.x, w.y, w.heading, w.speed, w.accel, w.lane, w.target_speed, np.zeros((n, 5)),
                w.road.origin, w.road.direction, w.road.length, w.road.width, w.road.n_lanes, 1,
                40.0, 100.0, 20.0, out,
            )  # fmt: skip
