"""Observations and rewards of the driving envs, computed for a whole batch at once."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving.geometry import on_road
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
    """``[B, obs_size]`` float32 in [-1, 1]: the ego, its last action, its k nearest vehicles."""
    w, r = world, world.road
    b, v = w.x.shape
    lane = w.lane[:, 0]
    h = w.heading[:, 0]
    ch, sh = np.cos(h), np.sin(h)
    n_main = max(r.n_lanes - 1, 1)
    ego = np.stack(
        [
            w.speed[:, 0] / SPEED_SCALE,
            ch,
            sh,
            r.offset(lane, w.x[:, 0], w.y[:, 0]) / r.width,
            np.minimum(lane, r.n_lanes - 1) / n_main,
            w.accel[:, 0] / 5.0,
            w.target_speed / SPEED_SCALE,
            on_road(r, w.x[:, 0], w.y[:, 0]).astype(float),
        ],
        axis=1,
    )
    dx = w.x[:, 1:] - w.x[:, :1]
    dy = w.y[:, 1:] - w.y[:, :1]
    dist = np.hypot(dx, dy)
    kk = min(k, v - 1)
    near = np.argsort(dist, axis=1)[:, :kk] if kk > 0 else np.zeros((b, 0), dtype=np.int64)
    rows = np.arange(b)[:, None]
    dxn, dyn = dx[rows, near], dy[rows, near]
    vx = w.speed * np.cos(w.heading)
    vy = w.speed * np.sin(w.heading)
    dvx = vx[:, 1:][rows, near] - vx[:, :1]
    dvy = vy[:, 1:][rows, near] - vy[:, :1]
    c, s = ch[:, None], sh[:, None]
    dh = w.heading[:, 1:][rows, near] - h[:, None]
    others = np.stack(
        [
            np.ones_like(dxn),
            (dxn * c + dyn * s) / X_SCALE,
            (-dxn * s + dyn * c) / Y_SCALE,
            (dvx * c + dvy * s) / SPEED_SCALE,
            (-dvx * s + dvy * c) / SPEED_SCALE,
            np.cos(dh),
            np.sin(dh),
        ],
        axis=2,
    )
    if kk < k:
        others = np.concatenate([others, np.zeros((b, k - kk, VEHICLE_FEATURES))], axis=1)
    out = np.concatenate([ego, last_action, others.reshape(b, -1)], axis=1)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


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
