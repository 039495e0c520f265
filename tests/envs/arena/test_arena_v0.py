"""arena_v0 under PettingZoo's own tests, in several configurations, plus bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test, render_test

from rlhf_sandbox.config import ConfigError
from rlhf_sandbox.envs import arena_v0

CONFIGS = [
    {},
    {"layout": "procedural", "roles": ("guard", "guard", "villager")},
    {"layout": "corridors", "continuous": True, "n_rays": 12, "n_neighbours": 3},
    {"layout": "open", "roles": ("companion",), "player_policy": "evasive"},
    {"roles": ("companion", "guard", "villager"), "scripted_roles": ("villager",)},
    {"backend": "numpy", "layout": "procedural"},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_parallel_api(kwargs: dict) -> None:
    parallel_api_test(arena_v0.parallel_env(**kwargs), num_cycles=200)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_parallel_seed(kwargs: dict) -> None:
    parallel_seed_test(lambda: arena_v0.parallel_env(**kwargs), num_cycles=100)


@pytest.mark.parametrize("kwargs", CONFIGS[:3])
def test_render(kwargs: dict) -> None:
    render_test(lambda render_mode=None: arena_v0.env(render_mode=render_mode, **kwargs))


def test_agents_rewards_and_info() -> None:
    env = arena_v0.parallel_env(roles=("companion", "guard", "villager"), max_steps=20)
    assert env.possible_agents == ["companion_0", "guard_0", "villager_0"]
    env.reset(seed=3)
    steps = 0
    while env.agents:
        _, rew, term, _, info = env.step(dict.fromkeys(env.agents, 0))
        steps += 1
        comp = info["companion_0"]
        assert rew["companion_0"] == pytest.approx(-comp["features"]["distance"], rel=1e-5)
        assert set(comp["rewards"]) == {"distance", "catch", "blocking"}
        assert rew["guard_0"] == pytest.approx(info["guard_0"]["features"]["caught"])
    assert steps == 20 or any(term.values())


def test_a_catch_terminates_everyone() -> None:
    env = arena_v0.parallel_env(roles=("guard", "guard", "guard"), layout="open")
    caught = 0
    for seed in range(4):
        env.reset(seed=seed)
        while env.agents:
            _, rew, term, _, info = env.step(dict.fromkeys(env.agents, 0))
        if all(term.values()):
            caught += 1
            assert sum(i["features"]["caught"] for i in info.values()) >= 1
            assert sum(rew.values()) >= 1
    assert caught >= 1  # agents standing still; scripted pursuit is not needed to catch


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'rols'"):
        arena_v0.parallel_env(rols=("guard",))
    with pytest.raises(ConfigError, match="roles"):
        arena_v0.parallel_env(roles=("guard", "boss"))
    with pytest.raises(ConfigError, match="n_rays"):
        arena_v0.parallel_env(n_rays=1000)
    env = arena_v0.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="companion_0"):
        env.step({a: (9 if a == "companion_0" else 0) for a in env.agents})
    with pytest.raises(ValueError, match="no action"):
        env.step({"companion_0": 0})


def test_batch_slot_equals_parallel_env() -> None:
    batch = arena_v0.ArenaBatch(arena_v0.ArenaConfig(), 3)
    batch.reset(np.ones(3, dtype=bool), np.array([10, 11, 12]))
    env = arena_v0.parallel_env()
    obs, _ = env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(50):
        acts = rng.integers(0, 9, (3, 4))
        batch.step(acts)
        obs, *_ = env.step(dict(zip(env.possible_agents, acts[1].tolist(), strict=True)))
    np.testing.assert_array_equal(batch.observe()[1], np.stack(list(obs.values())))


def test_max_cycles_is_an_alias_of_max_steps() -> None:
    from pettingzoo.test import max_cycles_test

    from rlhf_sandbox.envs import arena_v0 as module

    max_cycles_test(module)  # PettingZoo's own check: truncation after max_cycles steps
    assert module.parallel_env(max_cycles=7).config.max_steps == 7
    assert module.parallel_env(max_cycles=7, max_steps=7).config.max_steps == 7
    with pytest.raises(ValueError, match="the same setting"):
        module.parallel_env(max_cycles=7, max_steps=8)
