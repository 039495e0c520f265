"""The reward model's computed inputs (``input_features``): the arena's distance to the
player, read from the observation's layout, and what it is for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.agents.reward.absorbing import reward_space
from rlhf_sandbox.agents.reward.batches import PreferenceBatch
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
from rlhf_sandbox.agents.reward.inputs import ARENA_DISTANCE_CAP, extra_inputs, resolve
from rlhf_sandbox.sim.arena.params import SIZE

torch.set_num_threads(1)

COMPANION = "rlhf_sandbox/ArenaCompanion-v0"
STEPS = 600


def test_auto_resolves_by_the_env() -> None:
    assert resolve("auto", COMPANION) == "arena"
    assert resolve("auto", "rlhf_sandbox/ArenaGuard-v0") == "arena"
    assert resolve("auto", "arena_v0") == "arena"
    assert resolve("auto", "rlhf_sandbox/Highway-v0") == "none"
    assert resolve("auto", "mpe2:simple_push_v3") == "none"
    assert resolve("auto", None) == "none"
    assert resolve("none", COMPANION) == "none"  # the user's choice stands
    assert resolve("arena", None) == "arena"
    with pytest.raises(ValueError, match="'lidar' unknown"):
        resolve("lidar", COMPANION)
    with pytest.raises(ValueError, match=r"RewardModelConfig\.input_features"):
        RewardModelConfig(input_features="lidar")  # type: ignore[arg-type]


def test_the_arena_distance_is_the_worlds_own() -> None:
    """From a real companion's observations, the distance the env reports (capped)."""
    env = gym.make(COMPANION)
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    got, want = [], []
    for _ in range(STEPS):
        obs, _, term, trunc, info = env.step(int(rng.integers(0, env.action_space.n)))
        flat = torch.from_numpy(np.append(obs, 0.0).astype(np.float32))[None]  # flag after it
        got.append(float(extra_inputs("arena", flat)[0, 0]))
        want.append(float(info["features"]["distance"]))
        if term or trunc:
            obs, _ = env.reset()
    env.close()
    np.testing.assert_allclose(got, np.minimum(want, ARENA_DISTANCE_CAP), atol=1e-4)
    assert min(want) < ARENA_DISTANCE_CAP < max(want)  # both sides of the cap were seen


def _ring_pairs(rng: np.random.Generator, n: int, t: int = 8) -> PreferenceBatch:
    """Pairs of segments of observations like the arena's (the player's offset / SIZE at
    entries 4 and 5, noise elsewhere) labelled by a reward that pays 1 per step between 1 m
    and 3 m from the player: the personal space is the fine structure to learn."""

    def side() -> tuple[np.ndarray, np.ndarray]:
        obs = rng.uniform(-1, 1, (n, t, 12)).astype(np.float32)
        d = rng.uniform(0.0, 5.0, (n, 1)) + rng.normal(0, 0.3, (n, t))
        angle = rng.uniform(0, 2 * np.pi, (n, t))
        obs[..., 4], obs[..., 5] = d * np.cos(angle) / SIZE, d * np.sin(angle) / SIZE
        obs[..., -1] = 0.0  # the absorbing flag
        return obs, rng.integers(0, 3, (n, t))

    (ol, al), (o_r, a_r) = side(), side()

    def ret(o: np.ndarray) -> np.ndarray:
        d = np.hypot(o[..., 4], o[..., 5]) * SIZE
        return ((d > 1.0) & (d < 3.0)).sum(1)

    target = np.where(ret(ol) == ret(o_r), 0.5, (ret(ol) > ret(o_r)).astype(np.float32))
    return PreferenceBatch(ol, al, o_r, a_r, target.astype(np.float32))


def test_the_distance_input_learns_the_personal_space_from_few_labels() -> None:
    rng = np.random.default_rng(7)
    train, fresh = _ring_pairs(rng, 400), _ring_pairs(rng, 1000)
    space = gym.spaces.Box(-1, 1, (12,), np.float32)
    decisive = fresh.target != 0.5

    def accuracy(features: Any) -> float:
        config = RewardModelConfig(input_features=features)
        model = RewardEnsemble(space, gym.spaces.Discrete(3), config)
        model.fit(train)
        left = model.segment_returns(fresh.obs_left, fresh.act_left).mean(0)
        right = model.segment_returns(fresh.obs_right, fresh.act_right).mean(0)
        return float(np.mean((left > right)[decisive] == (fresh.target > 0.5)[decisive]))

    with_distance, without = accuracy("arena"), accuracy("none")
    assert with_distance >= 0.85
    assert with_distance >= without + 0.1


def test_saved_models_keep_their_inputs(tmp_path: Path) -> None:
    space = reward_space(gym.spaces.Box(-1, 1, (32,), np.float32))
    act = gym.spaces.Discrete(9)
    model = RewardEnsemble(space, act, env_id=COMPANION)
    assert model.config.input_features == "arena"
    assert RewardEnsemble(space, act).config.input_features == "none"  # no env: none
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (50, 33)).astype(np.float32)
    a = rng.integers(0, 9, 50)
    model.save(tmp_path / "r.pt")
    again = RewardEnsemble.load(tmp_path / "r.pt")
    assert again.config.input_features == "arena"
    np.testing.assert_array_equal(again.predict(obs, a), model.predict(obs, a))
    # a model saved before the setting existed was fitted on the observation alone
    old = RewardEnsemble(space, act)
    old.save(tmp_path / "old.pt")
    meta = json.loads((tmp_path / "old.json").read_text())
    del meta["config"]["input_features"]
    (tmp_path / "old.json").write_text(json.dumps(meta))
    loaded = RewardEnsemble.load(tmp_path / "old.pt")
    assert loaded.config.input_features == "none"
    np.testing.assert_array_equal(loaded.predict(obs, a), old.predict(obs, a))
