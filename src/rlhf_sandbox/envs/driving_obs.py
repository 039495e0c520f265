"""Observations and rewards of the driving envs, computed for a whole batch at once."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving import kernels
from rlhf_sandbox.sim.driving.params import LENGTH
from rlhf_sandbox.sim.driving.world import DrivingWorld

EGO_FEATURES = 8  # speed, cos h, sin h, lane offset, lane, acceleration, target speed, on road
ACTION_SLOTS = 5  # last action: one-hot of 5 meta-actions, or (accel, steer) padded
VEHICLE_FEATURES = 7  # presence, dx, dy, dvx, dvy, cos dh, sin dh (ego frame)
SPEED_SCALE = 40.0  # [m/s]
X_SCALE = 100.0  # [m]
Y_SCALE = 20.0  # [m]


LANE_FEATURES = 5  # lane exists, gap ahead, leader's relative speed, gap behind, follower's
LANES_SEEN = 3  # the ego's left lane, its own, its right lane
GAP_SCALE = 100.0  # [m] a gap this long or longer (or none) reads 1


def obs_size(config: DrivingConfig) -> int:
    if config.observation == "lanes":
        return EGO_FEATURES + ACTION_SLOTS + LANES_SEEN * LANE_FEATURES
    return EGO_FEATURES + ACTION_SLOTS + config.observe_vehicles * VEHICLE_FEATURES


def observe(world: DrivingWorld, last_action: np.ndarray, k: int) -> np.ndarray:
    """``[B, obs_size]`` float32 in [-1, 1]: the ego, its last action, its k nearest vehicles.

    The ego: speed, cos and sin of heading, offset from its lane centre (in lane widths),
    lane, acceleration, target speed, on road. The others, nearest first, in the ego's
    frame: presence, dx, dy, dvx, dvy, cos and sin of relative heading.
    """
    w, r = world, world.road
    out = np.empty((w.n, EGO_FEATURES + last_action.shape[1] + k * VEHICLE_FEATURES))
    kernels.observe(
        w.x, w.y, w.heading, w.speed, w.accel, w.lane, w.target_speed, last_action,
        r.origin, r.direction, r.length, r.width, r.n_lanes, k, SPEED_SCALE, X_SCALE, Y_SCALE,
        out,
    )  # fmt: skip
    return out.astype(np.float32)


def observe_lanes(world: DrivingWorld, last_action: np.ndarray) -> np.ndarray:
    """``[B, 8 + A + 15]`` float32 in [-1, 1]: the ego and its last action as in
    :func:`observe`, then per lane (the ego's left, its own, its right): whether it exists,
    the bumper-to-bumper gap to the nearest vehicle ahead in it and that vehicle's speed
    relative to the ego, the gap to the nearest vehicle behind and its relative speed (gaps
    / 100 m, 1 when none is within 100 m; speeds / 40 m/s). A vehicle counts in the lane it
    is in or changing into. Stations along the ego's lane: for straight parallel lanes (the
    highway); other roads take ``observation="kinematics"``."""
    w, r = world, world.road
    base = observe(world, last_action, 1)[:, : EGO_FEATURES + last_action.shape[1]]
    b = np.arange(w.n)
    ego_lane = w.lane[:, 0]
    d = r.direction[ego_lane]  # [B, 2]
    station = (w.x - w.x[:, :1]) * d[:, :1] + (w.y - w.y[:, :1]) * d[:, 1:]  # [B, N]
    rel_speed = (w.speed - w.speed[:, :1]) / SPEED_SCALE
    out = np.zeros((w.n, LANES_SEEN * LANE_FEATURES))
    others = np.arange(w.x.shape[1]) > 0
    for k, side in enumerate((r.left, None, r.right)):
        lane = ego_lane if side is None else side[ego_lane]
        exists = lane >= 0
        in_lane = (w.lane == lane[:, None]) | (w.prev_lane == lane[:, None])
        mine = in_lane & others[None, :] & exists[:, None]
        ahead = np.where(mine & (station >= 0), station, np.inf)
        behind = np.where(mine & (station < 0), -station, np.inf)
        lead, follow = ahead.argmin(axis=1), behind.argmin(axis=1)
        gap_a = np.clip((ahead[b, lead] - LENGTH) / GAP_SCALE, 0.0, 1.0)
        gap_b = np.clip((behind[b, follow] - LENGTH) / GAP_SCALE, 0.0, 1.0)
        has_a, has_b = np.isfinite(ahead[b, lead]), np.isfinite(behind[b, follow])
        o = out[:, k * LANE_FEATURES : (k + 1) * LANE_FEATURES]
        o[:, 0] = exists
        o[:, 1] = np.where(has_a, gap_a, 1.0)
        o[:, 2] = np.where(has_a & (gap_a < 1.0), rel_speed[b, lead], 0.0)
        o[:, 3] = np.where(has_b, gap_b, 1.0)
        o[:, 4] = np.where(has_b & (gap_b < 1.0), rel_speed[b, follow], 0.0)
        o[~exists] = 0.0
    full = np.concatenate([base, np.clip(out, -1.0, 1.0)], axis=1)
    return full.astype(np.float32)


def rewards(
    world: DrivingWorld, features: dict[str, np.ndarray], config: DrivingConfig
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """highway-env's reward: collision, right lane and high speed, scaled to [0, 1], times
    being on the road. Returns (reward [B], parts by name)."""
    w, r = world, world.road
    forward = w.speed[:, 0] * np.cos(w.heading[:, 0] - r.heading(w.lane[:, 0]))
    lo, hi = config.reward_speed_range
    high_speed = np.clip((forward - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    right_lane = np.minimum(w.lane[:, 0], r.n_lanes - 1) / max(r.n_lanes - 1, 1)
    collision = features["collision"]
    on_road_part = 1.0 - features["off_road"]
    raw = (
        config.collision_reward * collision
        + config.right_lane_reward * right_lane
        + config.high_speed_reward * high_speed
    )
    if config.normalize_reward:
        top = config.high_speed_reward + config.right_lane_reward
        raw = (raw - config.collision_reward) / max(top - config.collision_reward, 1e-6)
    reward = raw * on_road_part
    parts = {
        "collision_reward": collision,
        "right_lane_reward": right_lane,
        "high_speed_reward": high_speed,
        "on_road_reward": on_road_part,
    }
    return reward.astype(np.float32), parts
