"""The highway's ``observation="lanes"``: gaps and relative speeds per lane, on placed cars."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlhf_sandbox.envs  # noqa: F401  (registers the ids)
from rlhf_sandbox.config import ConfigError, build_config
from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.envs.driving_obs import (
    ACTION_SLOTS,
    EGO_FEATURES,
    GAP_SCALE,
    LANE_FEATURES,
    SPEED_SCALE,
    obs_size,
)
from rlhf_sandbox.sim.driving.params import LENGTH

LANES = EGO_FEATURES + ACTION_SLOTS  # where the lane block starts


def lane_block(obs: np.ndarray, k: int) -> np.ndarray:
    """The five numbers of lane k: 0 the ego's left, 1 its own, 2 its right."""
    return obs[LANES + k * LANE_FEATURES : LANES + (k + 1) * LANE_FEATURES]


def placed(ego_lane: int) -> tuple[gym.Env, np.ndarray]:
    """A 3-lane highway, the ego in ``ego_lane`` at 25 m/s, three NPCs put by hand: one
    30 m ahead in the ego's lane at 29 m/s, one 20 m behind in lane ego_lane + 1 (or - 1)
    at 20 m/s, changing out of the ego's lane (prev_lane), and one 1 km away."""
    env = gym.make("rlhf_sandbox/Highway-v0", lanes=3, vehicles=3, observation="lanes")
    env.reset(seed=3)
    w = env.unwrapped.world
    w.x[0, 0], w.speed[0, 0], w.lane[0, 0], w.prev_lane[0, 0] = 100.0, 25.0, ego_lane, -1
    w.y[0, 0] = w.road.point(np.array([ego_lane]), np.array([100.0]))[1][0]
    side = ego_lane + 1 if ego_lane < 2 else ego_lane - 1

    def put(j: int, lane: int, x: float, speed: float, prev: int = -1) -> None:
        w.x[0, j], w.speed[0, j], w.lane[0, j], w.prev_lane[0, j] = x, speed, lane, prev
        w.y[0, j] = w.road.point(np.array([lane]), np.array([x]))[1][0]
        w.heading[0, j] = w.heading[0, 0]

    put(1, ego_lane, 130.0, 29.0)
    put(2, side, 80.0, 20.0, prev=ego_lane)  # leaving the ego's lane: still counts there
    put(3, ego_lane, 1100.0, 25.0)
    return env, np.asarray(env.unwrapped.core.observe()[0])


def test_size_and_range() -> None:
    config = build_config(DrivingConfig, observation="lanes")
    env, obs = placed(1)
    assert obs.shape == (obs_size(config),) == env.observation_space.shape
    assert obs.dtype == np.float32 and np.all(np.abs(obs) <= 1.0)
    assert env.observation_space.contains(obs)
    env.close()


def test_gaps_and_speeds_of_placed_cars() -> None:
    env, obs = placed(1)
    left, own, right = (lane_block(obs, k) for k in range(3))
    gap_ahead = (30.0 - LENGTH) / GAP_SCALE
    assert own[0] == 1.0
    assert own[1] == pytest.approx(gap_ahead, abs=1e-4)
    assert own[2] == pytest.approx((29.0 - 25.0) / SPEED_SCALE, abs=1e-4)
    # The car changing out of the ego's lane into its right still counts in both.
    assert own[3] == pytest.approx((20.0 - LENGTH) / GAP_SCALE, abs=1e-4)
    assert own[4] == pytest.approx((20.0 - 25.0) / SPEED_SCALE, abs=1e-4)
    assert right[0] == 1.0 and right[1] == 1.0 and right[2] == 0.0
    assert right[3] == pytest.approx((20.0 - LENGTH) / GAP_SCALE, abs=1e-4)
    # The left lane is empty: free both ways (the car 1 km off is beyond 100 m).
    assert list(left) == [1.0, 1.0, 0.0, 1.0, 0.0]
    env.close()


def test_a_missing_lane_reads_zeros() -> None:
    env, obs = placed(0)  # the leftmost lane: no lane to its left
    assert list(lane_block(obs, 0)) == [0.0] * LANE_FEATURES
    assert lane_block(obs, 1)[0] == 1.0 and lane_block(obs, 2)[0] == 1.0
    env.close()
    env, obs = placed(2)  # the rightmost
    assert list(lane_block(obs, 2)) == [0.0] * LANE_FEATURES
    env.close()


def test_steps_and_batches_agree_with_one_env() -> None:
    env = gym.make("rlhf_sandbox/Highway-v0", observation="lanes", vehicles=20)
    obs, _ = env.reset(seed=7)
    for _ in range(15):
        obs, *_ = env.step(3)  # faster: the gaps close
        assert env.observation_space.contains(obs)
    assert obs[LANES + LANE_FEATURES + 1] < 1.0  # by now someone is ahead within 100 m
    env.close()


def test_lanes_is_for_the_highway_only() -> None:
    with pytest.raises(ConfigError, match="highway road only"):
        build_config(DrivingConfig, road="merge", observation="lanes")
