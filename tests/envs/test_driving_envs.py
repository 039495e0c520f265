"""The single driving envs: API conformance, determinism, features, collisions, drawing."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.envs import DRIVING_IDS
from rlhf_sandbox.sim.driving.draw import EGO, npc_colour

FEATURES = {
    "speed",
    "acceleration",
    "jerk",
    "headway",
    "ttc_ahead",
    "ttc_behind",
    "lane",
    "lane_change",
    "collision",
    "off_road",
    "progress",
    "forced_braking",
}
REWARD_PARTS = {"collision_reward", "right_lane_reward", "high_speed_reward", "on_road_reward"}
IDLE, LANE_LEFT, LANE_RIGHT = 1, 0, 2


@pytest.mark.parametrize("render_mode", [None, "rgb_array", "human"])
@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_check_env(env_id: str, render_mode: str | None) -> None:
    env = gym.make(env_id, render_mode=render_mode)
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_check_env_continuous(env_id: str, backend: dict[str, str]) -> None:
    env = gym.make(env_id, action="continuous", **backend)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    check_env(env.unwrapped)
    env.close()


def _rollout(env: gym.Env, seed: int, episodes: int, action_seed: int) -> list:
    """Obs, rewards, flags and infos of a few episodes: seeded first, then reset()."""
    rng = np.random.default_rng(action_seed)
    out: list = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed if ep == 0 else None)
        out.append(("reset", obs.copy(), info))
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(rng_action(env, rng))
            out.append(("step", obs.copy(), reward, term, trunc, info))
            done = term or trunc
    return out


def rng_action(env: gym.Env, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.integers(space.n))
    return rng.uniform(-0.3, 0.3, space.shape).astype(np.float32)


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


@pytest.mark.parametrize("action", ["discrete", "continuous"])
@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_same_seed_same_trajectory(env_id: str, action: str, backend: dict[str, str]) -> None:
    def run(seed: int) -> list:
        env = gym.make(env_id, duration=4.0, action=action, **backend)
        traj = _rollout(env, seed, episodes=3, action_seed=1)
        env.close()
        return traj

    a, b, c = run(11), run(11), run(12)
    assert len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    # The episodes after the seeded one differ from it (the seed chain moves on).
    resets = [x[1] for x in a if x[0] == "reset"]
    assert len(resets) == 3
    assert not np.array_equal(resets[0], resets[1])
    assert not np.array_equal(resets[1], resets[2])
    # Another seed, other traffic.
    assert not np.array_equal(a[0][1], c[0][1])


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_features_and_reward_parts(env_id: str, backend: dict[str, str]) -> None:
    env = gym.make(env_id, **backend)
    cfg = env.unwrapped.config
    dt = 1.0 / cfg.policy_hz
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    speed_prev = env.unwrapped.world.speed[0, 0]
    for t in range(15):
        action = IDLE if t < 5 else int(rng.integers(5))
        obs, reward, term, trunc, info = env.step(action)
        f, parts = info["features"], info["rewards"]
        assert set(f) == FEATURES
        assert set(parts) == REWARD_PARTS
        assert all(math.isfinite(v) for v in f.values()), f
        assert f["speed"] >= 0.0
        assert 0.0 <= f["headway"] <= 10.0 and 0.0 <= f["ttc_ahead"] <= 10.0
        assert 0.0 <= f["ttc_behind"] <= 10.0 and f["forced_braking"] >= 0.0
        assert f["lane_change"] in (0.0, 1.0) and f["collision"] in (0.0, 1.0)
        assert f["off_road"] in (0.0, 1.0)
        assert f["lane"] == env.unwrapped.world.lane[0, 0]
        assert f["speed"] == pytest.approx(env.unwrapped.world.speed[0, 0])
        assert f["acceleration"] == pytest.approx((f["speed"] - speed_prev) / dt, abs=1e-6)
        if t < 5:  # an idle ego drives straight along its lane: progress ~ mean speed x dt
            assert f["lane_change"] == 0.0
            mean_speed = 0.5 * (speed_prev + f["speed"])
            assert f["progress"] == pytest.approx(mean_speed * dt, rel=0.05, abs=0.2)
        assert all(0.0 <= v <= 1.0 for v in parts.values()), parts
        assert parts["collision_reward"] == f["collision"]
        assert parts["on_road_reward"] == 1.0 - f["off_road"]
        # highway-env's reward, normalised to [0, 1], times being on the road.
        raw = (
            cfg.collision_reward * parts["collision_reward"]
            + cfg.right_lane_reward * parts["right_lane_reward"]
            + cfg.high_speed_reward * parts["high_speed_reward"]
        )
        top = cfg.right_lane_reward + cfg.high_speed_reward
        expected = (raw - cfg.collision_reward) / (top - cfg.collision_reward)
        assert reward == pytest.approx(expected * parts["on_road_reward"], abs=1e-6)
        assert obs.dtype == np.float32 and np.all(np.abs(obs) <= 1.0)
        speed_prev = f["speed"]
        if term or trunc:
            break
    env.close()


def test_lane_change_feature() -> None:
    env = gym.make("rlhf_sandbox/Highway-v0", vehicles=0)
    env.reset(seed=0)
    w = env.unwrapped.world
    lane0 = int(w.lane[0, 0])
    action = LANE_LEFT if lane0 > 0 else LANE_RIGHT
    *_, info = env.step(action)
    assert info["features"]["lane_change"] == 1.0
    assert info["features"]["lane"] == lane0 + (-1 if action == LANE_LEFT else 1)
    env.close()
    env = gym.make("rlhf_sandbox/Highway-v0", vehicles=0)
    env.reset(seed=0)
    *_, info = env.step(IDLE)
    assert info["features"]["lane_change"] == 0.0
    env.close()


@pytest.mark.parametrize("action", [LANE_LEFT, LANE_RIGHT])
def test_lane_change_stays_on_road(action: int, backend: dict[str, str]) -> None:
    env = gym.make("rlhf_sandbox/Highway-v0", vehicles=0, lanes=4, **backend)
    env.reset(seed=0)
    w = env.unwrapped.world
    w.lane[0, 0], w.y[0, 0] = 1, 4.0  # lane 1 of 4: both neighbours exist
    lanes = []
    for a in (action, IDLE, IDLE):
        _, _, term, _, info = env.step(a)
        assert info["features"]["off_road"] == 0.0
        assert not term
        lanes.append(info["features"]["lane"])
    assert lanes == [1 + (action - 1)] * 3
    env.close()


def test_idle_ego_on_empty_road_keeps_speed_and_progress() -> None:
    env = gym.make("rlhf_sandbox/Highway-v0", vehicles=0, ego_speed=25.0)
    env.reset(seed=0)
    for _ in range(5):
        *_, info = env.step(IDLE)
        f = info["features"]
        assert f["speed"] == pytest.approx(25.0, abs=1e-6)
        assert f["progress"] == pytest.approx(25.0, abs=1e-6)  # 25 m/s for 1 s
        assert f["acceleration"] == pytest.approx(0.0, abs=1e-6)
        assert f["ttc_ahead"] == 10.0 and f["off_road"] == 0.0 and f["collision"] == 0.0
    env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_ego_npc_overlap_terminates_with_collision(env_id: str, backend: dict[str, str]) -> None:
    env = gym.make(env_id, **backend)
    env.reset(seed=5)
    w = env.unwrapped.world
    # NPC 1 put 2 m ahead of the ego in its lane, standing still: an overlap.
    u = w.road.direction[w.lane[0, 0]]
    w.x[0, 1], w.y[0, 1] = w.x[0, 0] + 2.0 * u[0], w.y[0, 0] + 2.0 * u[1]
    w.heading[0, 1], w.lane[0, 1], w.prev_lane[0, 1] = w.heading[0, 0], w.lane[0, 0], -1
    w.speed[0, 1] = 0.0
    _, _, term, trunc, info = env.step(IDLE)
    assert term and not trunc
    assert info["features"]["collision"] == 1.0
    assert info["rewards"]["collision_reward"] == 1.0
    assert w.crashed[0, 0] and w.crashed[0, 1]
    assert w.npc_collisions[0] == 0  # the ego's crash is not an NPC-NPC collision
    env.close()


@pytest.mark.parametrize(
    ("env_id", "where"),
    [
        ("rlhf_sandbox/Highway-v0", (0.0, -25.0)),  # beside the leftmost lane
        ("rlhf_sandbox/Highway-v0", (0.0, 40.0)),  # beyond the rightmost lane
        ("rlhf_sandbox/Merge-v0", (100.0, 40.0)),  # in the field beside the ramp
        ("rlhf_sandbox/Intersection-v0", (20.0, 20.0)),  # a corner plot of the crossing
    ],
)
def test_off_road_terminates(env_id: str, where: tuple[float, float], backend: dict) -> None:
    env = gym.make(env_id, **backend)
    env.reset(seed=2)
    w = env.unwrapped.world
    w.x[0, 1:] += 1000.0  # traffic out of the way: this is about the road alone
    w.x[0, 0], w.y[0, 0] = where
    _, reward, term, _, info = env.step(IDLE)
    assert term
    assert info["features"]["off_road"] == 1.0
    assert info["features"]["collision"] == 0.0
    assert info["rewards"]["on_road_reward"] == 0.0 and reward == 0.0
    env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_on_road_does_not_terminate(env_id: str, backend: dict[str, str]) -> None:
    env = gym.make(env_id, vehicles=1, **backend)
    env.reset(seed=2)
    for _ in range(3):
        _, _, term, trunc, info = env.step(IDLE)
        assert not term and not trunc
        assert info["features"]["off_road"] == 0.0
        assert info["rewards"]["on_road_reward"] == 1.0
    env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_rendered_frames_show_road_and_vehicles(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=4)
    env.step(IDLE)
    frame = env.render()
    cfg = env.unwrapped.config
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.shape == (cfg.screen_height, cfg.screen_width, 3)
    assert frame.std() > 10.0
    colours = np.unique(frame.reshape(-1, 3), axis=0)
    assert len(colours) >= 6
    ego_px = np.all(frame == np.array(EGO, np.uint8), axis=-1).sum()
    assert ego_px >= 50  # a 5 x 2 m car at >= 4 px/m, less outline and nose
    w = env.unwrapped.world
    npc_px = sum(
        np.all(frame == np.array(npc_colour(a), np.uint8), axis=-1).sum()
        for a in w.aggressiveness[0, 1:]
    )
    assert npc_px >= 50
    env.close()


def test_human_render_under_dummy_driver() -> None:
    env = gym.make("rlhf_sandbox/Highway-v0", render_mode="human")
    env.reset(seed=0)
    assert env.render() is None
    env.step(IDLE)
    env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_state_round_trip(env_id: str, backend: dict[str, str]) -> None:
    env = gym.make(env_id, **backend)
    env.reset(seed=8)
    core = env.unwrapped.core
    w = env.unwrapped.world
    for _ in range(2):
        env.step(IDLE)
    saved = w.get_state()
    actions = [3, 1, 0, 4, 2, 1]

    def play() -> list:
        out = []
        for a in actions:
            obs, r, term, trunc, info = env.step(a)
            out.append((obs.copy(), r, term, trunc, info, w.get_state()))
            if term or trunc:
                break
        return out

    first = play()
    assert not all(np.array_equal(saved[k], first[-1][5][k]) for k in saved)  # it moved
    w.set_state(saved)
    env.unwrapped._needs_reset = False  # the episode may have ended above: go on from here
    second = play()
    assert len(first) == len(second)
    for x, y in zip(first, second, strict=True):
        assert _same(x[:5], y[:5])
        assert all(np.array_equal(x[5][k], y[5][k]) for k in x[5])
    assert core is env.unwrapped.core
    env.close()
