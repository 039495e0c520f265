"""Observations and rewards of the driving envs, computed for a whole batch at once."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving import kernels
from rlhf_sandbox.sim.driving.world import DrivingWorld

EGO_FEATURES = 8  # speed, cos h, sin h, lane offset, lane, acceleration, target speed, on road
ACTION_SLOTS = 5  # last action: one-hot of 5 meta-actions, or (accel, steer) padded
VEHICLE_FEATURES = 7  # presence, dx, dy, dvx, dvy, cos dh, sin dh (ego frame)
SPEED_SCALE = 40.0  # [m/s]
X_SCALE = 100.0  # [m]
Y_SCALE = 20.0  # [m]


def obs_size(config: DrivingConfig) -> int:
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
