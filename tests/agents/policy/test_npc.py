"""Shared-policy route to SB3 and companion training (short, seeded)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rlhf_sandbox.agents.policy.npc import (
    PPOSettings,
    evaluate,
    make_model,
    role_vec_env,
    train_companions,
)
from rlhf_sandbox.config import ConfigError
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import COMPANION_DEFAULTS, ArenaSingleCore
from rlhf_sandbox.envs.sb3 import CoreVecEnv

warnings.filterwarnings("ignore", message=".*render_mode.*")


def test_role_vec_env_has_a_slot_per_npc_of_the_role() -> None:
    cfg = ArenaConfig(roles=("companion", "guard", "companion"), max_steps=10)
    env = role_vec_env("companion", 3, cfg)
    assert env.num_envs == 6
    env.seed(5)
    obs = np.asarray(env.reset())
    assert obs.shape == (6, cfg.n_rays + 5 * cfg.n_neighbours + 14)
    assert obs[:, -3:].tolist() == [[1.0, 0.0, 0.0]] * 6  # every slot is a companion
    for _ in range(10):
        _, rew, done, infos = env.step(np.zeros(6, dtype=np.int64))
    assert done.all() and "terminal_observation" in infos[0]
    assert rew[0] == pytest.approx(-infos[0]["features"]["distance"], rel=1e-5)
    with pytest.raises(ConfigError, match="villager"):
        role_vec_env("villager", 2, cfg)


def test_train_companions_writes_policy_settings_and_gif(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = ArenaConfig(roles=("companion", "villager"), max_steps=50)
    ppo = PPOSettings(n_steps=32, batch_size=64, n_epochs=1)
    r = train_companions(tmp_path, timesteps=256, seed=0, n_worlds=2, config=cfg, ppo=ppo)
    state = torch.load(r.policy_path, weights_only=True)
    assert any(k.startswith("mlp_extractor") for k in state)
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["env"]["roles"] == ["companion", "villager"]
    assert (tmp_path / "companions.gif").stat().st_size > 1000
    assert np.isfinite(r.mean_reward_trained) and r.mean_reward_random < 0


@pytest.mark.slow
def test_ppo_beats_random_on_arena_companion() -> None:
    """10 to 30 s: 48k steps of PPO on ArenaCompanion-v0 (16 worlds), greedy vs random.

    Measured: -2.3 vs -4.85 per step (seed 0): the assertion asks for about half the gap."""
    torch.set_num_threads(1)
    env = CoreVecEnv(ArenaSingleCore(COMPANION_DEFAULTS, 16))
    env.seed(0)
    model = make_model(env, 0, PPOSettings())
    model.learn(48_000)
    trained, _ = evaluate(
        lambda o: model.predict(o, deterministic=True)[0], COMPANION_DEFAULTS, 1234, n_worlds=16
    )
    random, _ = evaluate(None, COMPANION_DEFAULTS, 1234, n_worlds=16)
    assert trained > random + 1.5, (trained, random)  # 1.5 m closer on average
