"""Shared fixtures: a small suite file, a tiny SB3 model and run folder, runs of the smoke suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf_sandbox.agents.harness import SuiteResult, load_suite, parse_driver, run_suite

TINY = """
name = "tiny"
[defaults]
episodes = 4
seed = 50
[[scenario]]
name = "highway"
env = "rlhf_sandbox/Highway-v0"
config = { lanes = 3, vehicles = 12, duration = 8.0 }
[[scenario]]
name = "intersection"
env = "rlhf_sandbox/Intersection-v0"
config = { duration = 6.0 }
"""


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("suites") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="session")
def sb3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO model trained for a few hundred steps, saved both ways: zip and run folder."""
    from rlhf_sandbox.agents.ppo import PPOSettings, save_policy, train_ppo

    d = tmp_path_factory.mktemp("model")
    s = PPOSettings(n_envs=2, n_steps=32, batch_size=32, n_epochs=1, net_arch=(16, 16))
    model = train_ppo("rlhf_sandbox/HighwayFast-v0", 64, s, progress=False)
    model.save(d / "model.zip")
    run = d / "run"
    save_policy(model, run / "policy.pt", s, env_id="rlhf_sandbox/HighwayFast-v0")
    return d


@pytest.fixture(scope="session")
def smoke_runs() -> dict[str, SuiteResult]:
    suite = load_suite("smoke")
    return {name: run_suite(parse_driver(name), suite) for name in ("idm", "random")}
