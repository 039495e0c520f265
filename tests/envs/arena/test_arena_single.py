"""The single-NPC Gymnasium ids: env checker, vector form, seeding contract, options."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlhf_sandbox.envs  # noqa: F401  (registers the ids)
from rlhf_sandbox.config import ConfigError
from rlhf_sandbox.envs.core import CoreVectorEnv

IDS = ["rlhf_sandbox/ArenaCompanion-v0", "rlhf_sandbox/ArenaGuard-v0"]


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize(
    "kwargs", [{}, {"continuous": True, "layout": "procedural"}, {"backend": "numpy"}]
)
def test_check_env(env_id: str, kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings are failures here
        check_env(gym.make(env_id, **kwargs).unwrapped)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("env_id", IDS)
def test_vector_slot_i_is_single_env_seeded_s_plus_i(env_id: str, backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    vec = gym.make_vec(env_id, num_envs=3, max_steps=25, backend=backend)
    assert isinstance(vec, CoreVectorEnv)
    single = gym.make(env_id, max_steps=25, backend=backend)
    vobs, _ = vec.reset(seed=100)
    sobs, _ = single.reset(seed=102)
    np.testing.assert_array_equal(vobs[2], sobs)
    rng = np.random.default_rng(0)
    single_done = False
    for _ in range(60):  # crosses episode ends: next-step autoreset vs reset()
        a = rng.integers(0, 9, 3)
        vobs, vr, _, _, _ = vec.step(a)
        if single_done:
            sobs, _ = single.reset()
            single_done = False
            continue
        sobs, sr, sterm, strunc, info = single.step(int(a[2]))
        single_done = sterm or strunc
        np.testing.assert_array_equal(vobs[2], sobs)
        assert vr[2] == pytest.approx(sr)
        assert set(info) >= {"rewards", "features"}


def test_rewards_by_role() -> None:
    comp = gym.make(IDS[0])
    comp.reset(seed=1)
    _, r, _, _, info = comp.step(0)
    assert r == pytest.approx(-info["features"]["distance"], rel=1e-5)
    guard = gym.make(IDS[1], layout="open")
    guard.reset(seed=1)
    total, caught = 0.0, 0.0
    for _ in range(300):
        _, r, term, trunc, info = guard.step(0)
        total += float(r)
        caught += info["features"]["caught"]
        if term or trunc:
            break
    assert total == caught


def test_bad_settings_and_actions() -> None:
    with pytest.raises(ConfigError, match="roles\\[0\\] must be 'companion'"):
        gym.make(IDS[0], roles=("guard",))
    with pytest.raises(ConfigError, match="unknown setting"):
        gym.make(IDS[1], speed=3.0)
    env = gym.make(IDS[0])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside Discrete"):
        env.step(9)
