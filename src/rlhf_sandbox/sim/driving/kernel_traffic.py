"""Compiled helpers of the driving kernel: how vehicles drive.

IDM (``idm``, with the leader from ``lead``), lane changes by MOBIL (``mobil``), gap
acceptance at the crossing (``must_yield``), the steering towards the lane centre as a
slip angle (``slip``, ``steer_of_slip``) and the continuous-control ego's lane
(``ego_lane``). Same model as the numpy modules ``traffic``, ``mobil`` and ``crossing``.
"""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.sim.driving.crossing import STOP_DECEL, V_MIN
from rlhf_sandbox.sim.driving.crossing import K as K_CROSS
from rlhf_sandbox.sim.driving.kernel_geometry import (
    HALF,
    ahead,
    ahead_of,
    behind,
    behind_of,
    jit,
    lane_offset,
    lane_station,
)
from rlhf_sandbox.sim.driving.mobil import B_SAFE, COOLDOWN, KEEP_RIGHT, MUST_MERGE
from rlhf_sandbox.sim.driving.params import (
    LENGTH,
    MAX_BRAKE,
    WHEELBASE,
)
from rlhf_sandbox.sim.driving.road import MERGE
from rlhf_sandbox.sim.driving.traffic import FREE_GAP


@jit(inline="always")
def idm(v, v_lead, gap, v0, tg, a_max, den, s0):
    """IDM's acceleration; ``den`` is 2 sqrt(a_max b_comf), worked out once per call."""
    dv = v - v_lead
    s_star = s0 + max(0.0, v * tg + v * dv / den)
    r = v / max(v0, 0.1)
    free = 1.0 - (r * r) * (r * r)
    q = s_star / max(gap, 0.05)
    inter = q * q
    a = a_max * (free - inter)
    return min(max(a, -MAX_BRAKE), a_max)


@jit(inline="always")
def slip(heading, speed, lane_heading, offset, dt):
    """Sine of the slip angle that :func:`traffic.steer_to_lane` steers for.

    The numpy path computes the steering angle and the bicycle model turns it back into
    the slip angle; here the identities that undo each other are skipped: the heading error
    is wrapped into [-pi, pi] directly (``np.angle(np.exp(1j d))`` is that wrap), and the
    slip's sine goes straight to :func:`_world`'s integration. Equal to rounding.
    """
    v = max(speed, 1.0)
    look = max(10.0, 0.9 * v)
    # On the lane's centre line (most vehicles, most of the time: a straight lane keeps
    # them there exactly) the angle is -offset itself, signed zero included: no atan2 call.
    err = lane_heading + (np.arctan2(-offset, look) if offset != 0.0 else -offset) - heading
    if err > np.pi or err < -np.pi:
        err -= 2.0 * np.pi * np.floor((err + np.pi) / (2.0 * np.pi))
    tau = max(0.5, 2.5 * dt)
    return min(max(err / tau * (WHEELBASE / 2) / v, -0.35), 0.35)


@jit(inline="always")
def steer_of_slip(sin_beta):
    """The steering angle whose slip angle has sine ``sin_beta``: atan(2 tan(beta)).

    |sin_beta| <= 0.35 keeps it below 0.65 rad, inside MAX_STEER, so no clip is needed.
    """
    return np.arctan(2.0 * sin_beta / np.sqrt(1.0 - sin_beta * sin_beta))


@jit(_nrt=False)
def lead(ks, ow, ln, si, p, me, speed, b, nxt, length):
    """Gap to and speed of the leader of entry ``p`` (at station ``si`` of lane ``ln``)."""
    o, so = ahead_of(ks, ow, ln, p, me)
    if o >= 0:
        return so - si - LENGTH, speed[b, o]
    return lead_beyond(ks, ow, ln, si, speed, b, nxt, length)


@jit(_nrt=False)
def lead_beyond(ks, ow, ln, si, speed, b, nxt, length):
    """:func:`lead` where lane ``ln`` has no one ahead: the first vehicle in the lane it
    runs into (the ramp into the acceleration lane), or free road."""
    if nxt[ln] >= 0:
        o2, s2 = ahead(ks, ow, nxt[ln], -HALF, -1)
        if o2 >= 0:
            return length[ln] - si + s2 - LENGTH, speed[b, o2]
    return FREE_GAP, 0.0


@jit(_nrt=False)
def mobil(b, parity, x, y, speed, lane, prev_lane, cooldown, crashed, v0, tg, a_max, den, s0,
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
        st = lane_station(origin, direction, tl, x[b, i], y[b, i])
        nl, nl_s = ahead(ks, ow, tl, st, -1)
        nf, nf_s = behind(ks, ow, tl, st, -1)
        v = speed[b, i]
        gap_f = nl_s - st - LENGTH if nl >= 0 else FREE_GAP
        gap_b = st - nf_s - LENGTH if nf >= 0 else FREE_GAP
        v_nl = speed[b, nl] if nl >= 0 else 0.0
        a_self = idm(v, v_nl, gap_f, v0[b, i], tg[b, i], a_max[b, i], den[i], s0[b, i])
        if not (gap_f > 1.0 and gap_b > 1.0 and a_self > -B_SAFE):
            continue
        gain_nf = 0.0
        if nf >= 0:
            v_nf = speed[b, nf]
            g_now = nl_s - nf_s - LENGTH if nl >= 0 else FREE_GAP
            a_nf_now = idm(
                v_nf, v_nl, g_now, v0[b, nf], tg[b, nf], a_max[b, nf], den[nf], s0[b, nf]
            )
            a_nf_new = idm(v_nf, v, gap_b, v0[b, nf], tg[b, nf], a_max[b, nf], den[nf], s0[b, nf])
            if not a_nf_new > -B_SAFE:
                continue
            gain_nf = a_nf_new - a_nf_now
        gain_of = 0.0
        of, of_s = behind_of(ks, ow, ln, pos[i], i)
        if of >= 0:
            v_of = speed[b, of]
            a_of_now = idm(
                v_of,
                v,
                s[i] - of_s - LENGTH,
                v0[b, of],
                tg[b, of],
                a_max[b, of],
                den[of],
                s0[b, of],
            )
            a_of_new = idm(
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


@jit()
def must_yield(lane, s, speed, gap_accept, crosses, box_in, box_out, n_lanes, out):
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


@jit(_nrt=False)
def ego_lane(b, x, y, heading, lane, prev_lane, origin, direction, length):
    """Continuous control: the ego's lane is the nearest aligned lane it is on."""
    n = length.shape[0]
    best, second = -1, -1
    d_best, d_second = np.inf, np.inf
    ch, sh = np.cos(heading[b, 0]), np.sin(heading[b, 0])
    for ln in range(n):
        st = lane_station(origin, direction, ln, x[b, 0], y[b, 0])
        off = abs(lane_offset(origin, direction, ln, x[b, 0], y[b, 0]))
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
