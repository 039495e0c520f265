"""Settings: unknown ids, unknown names and bad values are errors that name what is wrong."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.config import (
    ConfigError,
    build_config,
    config_from_mapping,
    config_to_dict,
    load_toml,
)
from rlhf_sandbox.envs import DRIVING_IDS
from rlhf_sandbox.envs.driving_config import DrivingConfig


def test_unknown_id_is_a_gymnasium_error_naming_it() -> None:
    with pytest.raises(gym.error.Error, match="Nope"):
        gym.make("rlhf_sandbox/Nope-v0")
    with pytest.raises(gym.error.Error, match="Nope"):
        gym.make_vec("rlhf_sandbox/Nope-v0", num_envs=2)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"lanez": 3}, ["lanez"]),  # unknown name (a typo)
        ({"lanes": 0}, ["lanes", ">= 1"]),  # below the range
        ({"lanes": 9}, ["lanes", "<= 8"]),  # above it
        ({"density": -1.0}, ["density"]),
        ({"lanes": "4"}, ["lanes", "int"]),  # wrong type
        ({"lanes": 3.5}, ["lanes"]),  # a float where an int is declared
        ({"lanes": True}, ["lanes"]),  # a bool is not an int here
        ({"road": "ring"}, ["road", "'highway'"]),  # not one of the choices
        ({"action": "joystick"}, ["action"]),
        ({"speed_range": (30.0,)}, ["speed_range"]),  # wrong tuple length
        ({"speed_range": (30.0, 20.0)}, ["speed_range"]),  # reversed range
        ({"duration": float("inf")}, ["duration"]),
        ({"sim_hz": 15, "policy_hz": 4}, ["sim_hz", "policy_hz"]),  # not a multiple
        ({"target_speeds": ()}, ["target_speeds"]),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(
    kwargs: dict[str, object], names: list[str]
) -> None:
    for make in (
        lambda: gym.make("rlhf_sandbox/Highway-v0", **kwargs),
        lambda: gym.make_vec("rlhf_sandbox/Highway-v0", num_envs=2, **kwargs),
        lambda: build_config(DrivingConfig, None, **kwargs),
    ):
        with pytest.raises(ConfigError) as err:
            make()
        for name in names:
            assert name in str(err.value), (name, str(err.value))


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ValueError, match="lanes"):
        DrivingConfig(lanes=0)


def test_config_instance_and_kwargs_combine() -> None:
    base = DrivingConfig(lanes=2, vehicles=10)
    env = gym.make("rlhf_sandbox/Highway-v0", config=base, duration=7.0)
    cfg = env.unwrapped.config
    assert (cfg.lanes, cfg.vehicles, cfg.duration) == (2, 10, 7.0)
    assert env.unwrapped.world.v == 11  # 10 NPCs and the ego
    env.close()
    with pytest.raises(ConfigError, match="config"):
        gym.make("rlhf_sandbox/Highway-v0", config={"lanes": 2})


def test_id_defaults_apply() -> None:
    expected = {
        "rlhf_sandbox/Highway-v0": ("highway", 4, 50),
        "rlhf_sandbox/HighwayFast-v0": ("highway", 3, 20),
        "rlhf_sandbox/Merge-v0": ("merge", 2, 14),
        "rlhf_sandbox/Intersection-v0": ("intersection", 1, 12),
    }
    assert set(expected) == set(DRIVING_IDS)
    for env_id, (road, lanes, vehicles) in expected.items():
        env = gym.make(env_id)
        cfg = env.unwrapped.config
        assert (cfg.road, cfg.lanes, cfg.vehicles) == (road, lanes, vehicles)
        env.close()


def test_frozen_and_coerced() -> None:
    cfg = build_config(DrivingConfig, None, density=2, speed_range=[20, 25])
    assert isinstance(cfg.density, float) and cfg.density == 2.0
    assert cfg.speed_range == (20.0, 25.0) and isinstance(cfg.speed_range, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lanes = 3  # type: ignore[misc]


def test_dict_and_toml_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = DrivingConfig(lanes=3, speed_range=(18.0, 24.0), action="continuous")
    assert config_from_mapping(DrivingConfig, config_to_dict(cfg)) == cfg
    good = tmp_path / "good.toml"
    good.write_text('lanes = 2\nroad = "merge"\nspeed_range = [20, 26]\n')
    loaded = load_toml(DrivingConfig, good)
    assert (loaded.lanes, loaded.road, loaded.speed_range) == (2, "merge", (20.0, 26.0))
    typo = tmp_path / "typo.toml"
    typo.write_text("lanse = 2\n")
    with pytest.raises(ConfigError, match="lanse"):
        load_toml(DrivingConfig, typo)
    bad = tmp_path / "bad.toml"
    bad.write_text("lanes = = 2\n")
    with pytest.raises(ConfigError, match="malformed"):
        load_toml(DrivingConfig, bad)
    with pytest.raises(ConfigError, match="not found"):
        load_toml(DrivingConfig, tmp_path / "missing.toml")


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_actions_outside_the_space_raise(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    for bad in (5, -1, 1.5):
        with pytest.raises(ValueError):
            env.step(bad)
    env.close()
    env = gym.make(env_id, action="continuous")
    env.reset(seed=0)
    for bad in ([1.5, 0.0], [0.0, -1.2], [np.nan, 0.0]):
        with pytest.raises(ValueError):
            env.step(np.array(bad, dtype=np.float32))
    env.close()
    vec = gym.make_vec(env_id, num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(ValueError):
        vec.step(np.array([1, 7]))
    vec.close()
