"""Where vehicles start, and where traffic that leaves the window re-enters.

All randomness comes from :func:`rlhf_sandbox.sim.rng.uniform` keyed by each copy's
episode seed, so a copy's start state depends on its seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.driving.params import LENGTH, WorldParams
from rlhf_sandbox.sim.driving.road import LANE_WIDTH, Road
from rlhf_sandbox.sim.rng import uniform

# Stream ids keep the draws of different purposes independent.
_LANE, _GAP, _AGGR, _JITTER, _EGO, _PHASE, _RAMP = range(7)


@dataclass(frozen=True)
class Placement:
    """Start state of the copies being reset, arrays ``[b, V]`` (b = copies reset)."""

    lane: np.ndarray
    station: np.ndarray  # [m] on ``lane``
    speed: np.ndarray  # [m/s]
    aggressiveness: np.ndarray  # [0, 1]
    jitter: np.ndarray  # [0, 1) individual variation


def _draw(seed: np.ndarray, stream: int, n: int) -> np.ndarray:
    return uniform(seed[:, None], stream, np.arange(n)[None, :])


def place(params: WorldParams, road: Road, seed: np.ndarray) -> Placement:
    """Initial traffic for copies with episode seeds ``seed`` ``[b]``; vehicle 0 is the ego."""
    v = params.n_vehicles
    lo, hi = params.aggressiveness
    aggr = lo + (hi - lo) * _draw(seed, _AGGR, v)
    jitter = _draw(seed, _JITTER, v)
    if road.kind == "intersection":
        lane, station = _place_intersection(params, road, seed)
    else:
        lane, station = _place_highway(params, road, seed)
    speed = _start_speed(params, aggr, jitter)
    speed[:, 0] = params.ego_speed
    return Placement(lane, station, speed, aggr, jitter)


def _start_speed(params: WorldParams, aggr: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    lo, hi = params.speed_range
    return np.maximum(lo + aggr * (hi - lo) + (jitter - 0.5) * 3.0, 0.0)


def _place_highway(
    params: WorldParams, road: Road, seed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Chains of vehicles per lane spread over the traffic window.

    Each lane's chain covers most of the window (``density`` > 1 packs it tighter around
    the ego); gaps vary from 0.55 to 1.45 times the mean. The ego starts at x = 0; no NPC
    starts within 30 m behind or 20 m ahead of it in its own lane.
    """
    b = seed.shape[0]
    n_lanes = road.n_lanes
    v = params.n_vehicles
    ramp_n = 0
    if road.kind == "merge":
        ramp_n = max(1, params.vehicles // 6)
    hw_n = params.vehicles - ramp_n
    per_lane = -(-hw_n // n_lanes) + 1
    mean_speed = float(np.mean(params.speed_range))
    behind, ahead = params.window
    spacing = (0.8 * behind + 0.9 * ahead) / per_lane / params.density
    gaps = spacing * (0.55 + 0.9 * _draw(seed, _GAP, n_lanes * per_lane))
    gaps = np.maximum(gaps, 12.0 + 0.6 * mean_speed).reshape(b, n_lanes, per_lane)
    ego_lane = np.minimum((uniform(seed, _EGO, 0) * n_lanes).astype(np.int64), n_lanes - 1)
    if road.kind == "merge":
        ego_lane[:] = n_lanes - 1
    lane_phase = uniform(seed[:, None], _EGO, 1 + np.arange(n_lanes))
    start = -0.8 * behind + gaps[:, :, 0] * lane_phase
    xs = start[:, :, None] + np.cumsum(gaps, axis=2) - gaps[:, :, :1]
    # In the ego's lane, shift the chain from 30 m behind the ego onwards 50 m forward, so
    # that nothing starts between 30 m behind and 20 m ahead of it.
    is_ego_lane = np.arange(n_lanes)[None, :, None] == ego_lane[:, None, None]
    xs = np.where(is_ego_lane & (xs > -30.0), xs + 50.0, xs)
    # Vehicles take slots lane by lane, interleaved, starting from a random lane.
    rot = (uniform(seed, _EGO, 99) * n_lanes).astype(np.int64)
    j = np.arange(hw_n)
    lane_of = (j[None, :] + rot[:, None]) % n_lanes
    slot_of = np.broadcast_to(j // n_lanes, (b, hw_n))
    x_npc = xs[np.arange(b)[:, None], lane_of, slot_of]
    lane = np.zeros((b, v), dtype=np.int64)
    station = np.zeros((b, v))
    lane[:, 0] = ego_lane
    lane[:, 1 : 1 + hw_n] = lane_of
    station[:, 0] = road.station(ego_lane, np.zeros(b), ego_lane * LANE_WIDTH)
    station[:, 1 : 1 + hw_n] = road.station(lane_of, x_npc, lane_of * LANE_WIDTH)
    if ramp_n:
        ramp, _ = road.ramp_lanes
        k = np.arange(ramp_n)
        offs = 10.0 + k * 35.0 + 15.0 * _draw(seed, _RAMP, ramp_n)
        lane[:, 1 + hw_n :] = ramp
        station[:, 1 + hw_n :] = offs
    return lane, station


def _place_intersection(
    params: WorldParams, road: Road, seed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ego approaches from the south (lane 2); NPCs in chains on all four lanes."""
    b = seed.shape[0]
    v = params.n_vehicles
    n = params.vehicles
    per_lane = -(-n // 4) + 1
    gaps = 22.0 + 18.0 * _draw(seed, _GAP, 4 * per_lane).reshape(b, 4, per_lane)
    start = 5.0 + 20.0 * uniform(seed[:, None], _EGO, 1 + np.arange(4))
    u = start[:, :, None] + np.cumsum(gaps, axis=2) - gaps[:, :, :1]
    # Positions are laid out on the lane with two stretches left out: the 35 m before the
    # box and the box itself (nobody starts committed to crossing), and in the ego's lane
    # 15 m behind to 25 m ahead of the ego. Past the lane's end, vehicles queue up before
    # its start, entering the map as it clears.
    ego_s = 25.0
    holes = [(road.box_in - 35.0, road.box_out + LENGTH)]
    st = u.copy()
    ego_hole = (ego_s - 15.0, ego_s + 25.0)
    for lo, hi in sorted([*holes, ego_hole]):
        applies = np.ones_like(st, dtype=bool)
        if (lo, hi) == ego_hole:
            applies = np.broadcast_to(np.arange(4)[None, :, None] == 2, st.shape)
        st = np.where(applies & (st >= lo), st + (hi - lo), st)
    rot = (uniform(seed, _EGO, 99) * 4).astype(np.int64)
    j = np.arange(n)
    lane_of = (j[None, :] + rot[:, None]) % 4
    slot_of = np.broadcast_to(j // 4, (b, n))
    lane = np.zeros((b, v), dtype=np.int64)
    station = np.zeros((b, v))
    lane[:, 0] = 2
    station[:, 0] = ego_s
    lane[:, 1:] = lane_of
    station[:, 1:] = st[np.arange(b)[:, None], lane_of, slot_of]
    # Anything pushed past the far end waits at the start of its lane instead, spread out.
    over = station > road.length[lane] - 10.0
    station = np.where(over, -30.0 - 25.0 * np.cumsum(over, axis=1), station)
    return lane, station
