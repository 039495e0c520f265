"""The batched faces: slot i of a VectorEnv / SB3 VecEnv seeded s is a single env seeded s + i."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecEnv

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.envs import DRIVING_IDS
from rlhf_sandbox.envs.core import CoreVectorEnv
from rlhf_sandbox.envs.driving import DrivingCore, driving_config
from rlhf_sandbox.envs.sb3 import CoreVecEnv

N = 3
SEED = 40
# Short episodes, so that every run below crosses several ends of episodes.
SHORT = {"duration": 3.0}


def _name(env_id: str) -> str:
    return env_id.split("/")[1]


def _actions(env_id: str, n_steps: int, action: str) -> np.ndarray:
    """Fixed action sequences ``[n_steps, N, ...]``; mostly idle so episodes run long."""
    rng = np.random.default_rng(7)
    if action == "discrete":
        a = rng.integers(0, 5, (n_steps, N))
        return np.where(rng.random((n_steps, N)) < 0.6, 1, a)
    return rng.uniform(-0.2, 0.2, (n_steps, N, 2)).astype(np.float32)


def _singles(env_id: str, kwargs: dict) -> list[gym.Env]:
    return [gym.make(env_id, **kwargs) for _ in range(N)]


def _n_steps(env_id: str, kwargs: dict) -> int:
    cfg = driving_config(_name(env_id), None, kwargs)
    return 3 * round(cfg.duration * cfg.policy_hz) + 2


@pytest.mark.parametrize("action", ["discrete", "continuous"])
@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_vector_slot_equals_single_env(env_id: str, action: str, backend: dict) -> None:
    kwargs = {**SHORT, "action": action, **backend}
    vec = gym.make_vec(env_id, num_envs=N, **kwargs)
    assert isinstance(vec, CoreVectorEnv)
    singles = _singles(env_id, kwargs)
    obs, _ = vec.reset(seed=SEED)
    for i, env in enumerate(singles):
        o, _ = env.reset(seed=SEED + i)
        np.testing.assert_array_equal(obs[i], o)
    n_steps = _n_steps(env_id, kwargs)
    acts = _actions(env_id, n_steps, action)
    needs_reset = np.zeros(N, dtype=bool)
    ends = autoresets = 0
    for t in range(n_steps):
        obs, reward, term, trunc, info = vec.step(acts[t])
        assert obs.shape == (N, *vec.single_observation_space.shape)
        for i, env in enumerate(singles):
            if needs_reset[i]:
                # Next-step autoreset: the reset observation, reward 0, not done.
                o, _ = env.reset()
                r, te, tr = 0.0, False, False
                autoresets += 1
                assert not info["_features"][i]
            else:
                o, r, te, tr, inf = env.step(acts[t][i])
                assert info["_features"][i]
                for k, v in inf["features"].items():
                    assert info["features"][k][i] == pytest.approx(v, abs=1e-6), k
            np.testing.assert_allclose(obs[i], o, atol=1e-6, rtol=0)
            assert reward[i] == pytest.approx(r, abs=1e-6)
            assert (bool(term[i]), bool(trunc[i])) == (te, tr)
            needs_reset[i] = te or tr
            ends += te or tr
    assert ends >= N and autoresets >= N  # every slot crossed at least one autoreset
    vec.close()
    for env in singles:
        env.close()


@pytest.mark.parametrize("env_id", DRIVING_IDS)
def test_sb3_slot_equals_single_env(env_id: str, backend: dict) -> None:
    kwargs = {**SHORT, **backend}
    cfg = driving_config(_name(env_id), None, kwargs)
    venv = CoreVecEnv(DrivingCore(cfg, N))
    assert isinstance(venv, VecEnv)
    singles = _singles(env_id, kwargs)
    venv.seed(SEED)
    obs = venv.reset()
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset(seed=SEED + i)[0])
    n_steps = _n_steps(env_id, kwargs)
    acts = _actions(env_id, n_steps, "discrete")
    ends = 0
    for t in range(n_steps):
        obs, reward, done, infos = venv.step(acts[t])
        assert len(infos) == N
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step(acts[t][i])
            assert reward[i] == pytest.approx(r, abs=1e-6)
            assert bool(done[i]) == (te or tr)
            assert infos[i]["features"] == pytest.approx(inf["features"], abs=1e-6)
            if te or tr:
                # Same-step reset: the new episode's observation, the last one in info.
                np.testing.assert_allclose(infos[i]["terminal_observation"], o, atol=1e-6)
                assert infos[i]["TimeLimit.truncated"] == (tr and not te)
                o, _ = env.reset()
                ends += 1
            else:
                assert "terminal_observation" not in infos[i]
            np.testing.assert_allclose(obs[i], o, atol=1e-6, rtol=0)
    assert ends >= N
    # A reset without a seed continues each slot's seed chain, as a single env's reset() does.
    obs = venv.reset()
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset()[0])
    venv.close()
    for env in singles:
        env.close()


def test_vector_reset_with_seed_list_and_mask() -> None:
    vec = gym.make_vec("rlhf_sandbox/Highway-v0", num_envs=N)
    obs, _ = vec.reset(seed=[5, 9, 2])
    for i, s in enumerate([5, 9, 2]):
        env = gym.make("rlhf_sandbox/Highway-v0")
        np.testing.assert_array_equal(obs[i], env.reset(seed=s)[0])
        env.close()
    before = obs.copy()
    obs, _info = vec.reset(seed=[None, 100, None], options={"reset_mask": [False, True, False]})
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])  # untouched slots
    env = gym.make("rlhf_sandbox/Highway-v0")
    np.testing.assert_array_equal(obs[1], env.reset(seed=100)[0])
    env.close()
    vec.close()


def test_unseeded_resets_differ_between_instances() -> None:
    a = gym.make_vec("rlhf_sandbox/Highway-v0", num_envs=2)
    b = gym.make_vec("rlhf_sandbox/Highway-v0", num_envs=2)
    assert not np.array_equal(a.reset()[0], b.reset()[0])
    a.close()
    b.close()


def test_vector_reset_without_seed_continues_the_chain() -> None:
    vec = gym.make_vec("rlhf_sandbox/Highway-v0", num_envs=N, **SHORT)
    singles = _singles("rlhf_sandbox/Highway-v0", SHORT)
    vec.reset(seed=SEED)
    for i, env in enumerate(singles):
        env.reset(seed=SEED + i)
    obs, _ = vec.reset()
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset()[0])
    vec.close()
    for env in singles:
        env.close()


def test_vector_render_frames() -> None:
    vec = gym.make_vec("rlhf_sandbox/Merge-v0", num_envs=2, render_mode="rgb_array")
    vec.reset(seed=0)
    frames = vec.render()
    assert frames is not None and len(frames) == 2
    for f in frames:
        assert f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] == 3 and f.std() > 10.0
    assert not np.array_equal(frames[0], frames[1])
    vec.close()
