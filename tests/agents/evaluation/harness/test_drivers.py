"""Driver specs: built-ins, SB3 zips and run folders; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness import load_suite, run_scenario
from rlhf_sandbox.agents.evaluation.harness.drivers import (
    DriverError,
    check_driver_config,
    parse_driver,
    random_actions,
)

OBS = gym.spaces.Box(-1.0, 1.0, (48,), np.float32)
DISCRETE = gym.spaces.Discrete(5)


def test_built_in_drivers() -> None:
    assert parse_driver("idm").overrides == {"ego_driver": "idm"}
    obs = np.zeros((3, 48), np.float32)
    seeds, t = np.array([1, 2, 3]), np.zeros(3, np.int64)
    assert parse_driver("constant").bind(OBS, DISCRETE)(obs, seeds, t).tolist() == [1, 1, 1]
    fast = parse_driver("constant:FASTER").bind(OBS, DISCRETE)
    assert fast(obs, seeds, t).tolist() == [3, 3, 3]
    assert parse_driver("constant:4").bind(OBS, DISCRETE)(obs, seeds, t).tolist() == [4, 4, 4]
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    a = parse_driver("constant:0.5,-0.25").bind(OBS, box)(obs, seeds, t)
    assert a.shape == (3, 2) and a[0].tolist() == [0.5, -0.25]


def test_random_actions_depend_on_seed_and_step_only() -> None:
    seeds = np.arange(100, 400)
    steps = np.arange(300) % 7
    a = random_actions(DISCRETE, seeds, steps)
    one = [random_actions(DISCRETE, seeds[i : i + 1], steps[i : i + 1])[0] for i in range(300)]
    assert a.tolist() == one
    counts = np.bincount(a, minlength=5)
    assert counts.min() > 30  # roughly uniform over the 5 actions
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    c = random_actions(box, seeds, steps)
    assert c.shape == (300, 2) and np.all(np.abs(c) <= 1.0) and c.std() > 0.4


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("foo", "unknown policy 'foo'"),
        ("constant:JUMP", "unknown action"),
        ("idm:3", "unknown policy"),
        ("/nowhere/model.zip", "policy file not found"),
        ("/nowhere/run.pt", "no policy.pt"),
    ],
)
def test_bad_specs(spec: str, fragment: str) -> None:
    with pytest.raises(DriverError, match=fragment):
        parse_driver(spec)


def test_sb3_zip_and_run_folder_act_alike(sb3_model: Path) -> None:
    zipped = parse_driver(str(sb3_model / "model.zip"))
    run = parse_driver(str(sb3_model / "run"))
    assert (zipped.kind, run.kind) == ("sb3", "run")
    obs = np.random.default_rng(0).uniform(-1, 1, (64, 48)).astype(np.float32)
    z = np.zeros(64, np.int64)
    a = zipped.bind(OBS, DISCRETE)(obs, z, z)
    b = run.bind(OBS, DISCRETE)(obs, z, z)
    assert a.tolist() == b.tolist()
    with pytest.raises(DriverError, match="differ from the scenario"):
        run.bind(gym.spaces.Box(-1.0, 1.0, (20,), np.float32), DISCRETE)


def test_run_folder_settings_that_define_the_policy_apply(sb3_model: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sb3_model / "run", run)
    settings = {"env_kwargs": {"policy_hz": 5, "lanes": 2, "vehicles": 3}}
    (run / "settings.json").write_text(json.dumps(settings))
    d = parse_driver(str(run))
    assert d.overrides == {"policy_hz": 5}  # lanes and vehicles are the scenario's
    scenario = load_suite("smoke").scenarios[0]
    res = run_scenario(d, scenario)
    assert res.config.policy_hz == 5 and res.config.lanes == scenario.config.lanes
    assert all(e.metrics["steps"] <= 5 * 15 for e in res.episodes)


def test_a_run_that_observes_lanes_is_refused_off_the_highway(
    sb3_model: Path, tmp_path: Path
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sb3_model / "run", run)
    (run / "settings.json").write_text(json.dumps({"env_kwargs": {"observation": "lanes"}}))
    d = parse_driver(str(run))
    assert d.overrides == {"observation": "lanes"}
    merge = next(s for s in load_suite("smoke").scenarios if s.config.road != "highway")
    with pytest.raises(DriverError, match="highway road only"):
        check_driver_config(d, merge.config)


def test_not_an_sb3_zip(tmp_path: Path) -> None:
    p = tmp_path / "junk.zip"
    p.write_bytes(b"not a zip")
    d = parse_driver(str(p))
    with pytest.raises(DriverError, match="not a stable-baselines3 model") as e:
        d.bind(OBS, DISCRETE)
    assert "Error" not in str(e.value)  # SB3's own "Error: " is not nested in ours
