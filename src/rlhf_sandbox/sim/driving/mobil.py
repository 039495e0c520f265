"""MOBIL lane changes for every NPC of every copy at once.

A vehicle changes lane when the change is safe (its new follower need not brake harder
than ``B_SAFE``, nor need it) and worth it: its own gain in acceleration plus
``politeness`` times the gains of its old and new followers exceeds its threshold. Copies
alternate: left changes are decided on one evaluation, right changes on the next, so two
vehicles never move into the same gap from both sides at once; a vehicle that is already
changing lanes shows in both lanes to everyone else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlhf_sandbox.sim.driving.lanes import LaneIndex
from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.driving.traffic import FREE_GAP, idm

if TYPE_CHECKING:
    from rlhf_sandbox.sim.driving.world import DrivingWorld

B_SAFE = 4.0  # [m/s^2] the hardest braking a lane change may impose
KEEP_RIGHT = 0.1  # [m/s^2] bias towards changing right
MUST_MERGE = 3.0  # [m/s^2] bias to leave a lane that ends
COOLDOWN = 3.0  # [s] between two lane changes of one vehicle


def decide_lane_changes(
    w: DrivingWorld,
    index: LaneIndex,
    s: np.ndarray,
    a_now: np.ndarray,
    gap_own: np.ndarray,
    v_lead_own: np.ndarray,
    parity: np.ndarray,
) -> None:
    """Start the lane changes MOBIL accepts (``parity`` [B]: 0 left, 1 right)."""
    r = w.road
    lane = w.lane
    eligible = (w.prev_lane < 0) & (w.cooldown <= 0.0) & ~w.crashed
    if w.params.ego_driver == "agent":
        eligible[:, 0] = False
    go_left = (parity == 0)[:, None]
    target = np.where(go_left, r.left[lane], r.right[lane])
    ok = eligible & (target >= 0) & (s >= r.change_from[lane])
    if not ok.any():
        return
    bb = w._bb
    flat_v = w.speed.ravel()
    v = w.speed
    d = w.driver()

    def params(o: np.ndarray) -> tuple[np.ndarray, ...]:
        oc = np.maximum(o, 0)
        return tuple(getattr(d, k).ravel()[oc] for k in ("v0", "time_gap", "a_max", "b_comf", "s0"))

    tl = np.maximum(target, 0)
    s_t = r.station(tl, w.x, w.y)
    nl, nl_s = index.ahead(bb, tl, s_t)
    nf, nf_s = index.behind(bb, tl, s_t)
    has_nl, has_nf = nl >= 0, nf >= 0
    gap_f = np.where(has_nl, nl_s - s_t - LENGTH, FREE_GAP)
    gap_b = np.where(has_nf, s_t - nf_s - LENGTH, FREE_GAP)
    v_nl = np.where(has_nl, flat_v[np.maximum(nl, 0)], 0.0)
    v_nf = np.where(has_nf, flat_v[np.maximum(nf, 0)], 0.0)
    a_self = idm(v, v_nl, gap_f, d.v0, d.time_gap, d.a_max, d.b_comf, d.s0)
    p_nf = params(nf)
    gap_nf_now = np.where(has_nl, nl_s - nf_s - LENGTH, FREE_GAP)
    a_nf_now = idm(v_nf, v_nl, gap_nf_now, *p_nf)
    a_nf_new = idm(v_nf, v, gap_b, *p_nf)
    safe = (gap_f > 1.0) & (gap_b > 1.0) & (a_self > -B_SAFE)
    safe &= ~has_nf | (a_nf_new > -B_SAFE)
    of, of_s = index.behind(bb, lane, s, exclude=w._me)
    has_of = of >= 0
    v_of = np.where(has_of, flat_v[np.maximum(of, 0)], 0.0)
    p_of = params(of)
    a_of_now = idm(v_of, v, s - of_s - LENGTH, *p_of)
    a_of_new = idm(v_of, v_lead_own, (s - of_s) + gap_own, *p_of)
    gain_nf = np.where(has_nf, a_nf_new - a_nf_now, 0.0)
    gain_of = np.where(has_of, a_of_new - a_of_now, 0.0)
    incentive = a_self - a_now + d.politeness * (gain_nf + gain_of)
    incentive += np.where(go_left, -KEEP_RIGHT, KEEP_RIGHT)
    if r.kind == "merge":
        incentive += np.where(lane == r.ramp_lanes[1], MUST_MERGE, 0.0)
    change = ok & safe & (incentive > d.threshold)
    if change.any():
        w.prev_lane = np.where(change, lane, w.prev_lane)
        w.lane = np.where(change, target, lane)
        w.cooldown = np.where(change, COOLDOWN, w.cooldown)
