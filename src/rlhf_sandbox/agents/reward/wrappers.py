"""VecEnv wrappers that replace the env's reward: ``LearnedReward`` and ``OracleReward``.

Both keep the env's own reward in ``info["env_reward"]`` so evaluation and episode
statistics can still read it. ``LearnedReward`` calls the reward model once per vector
step on the whole batch (one forward for every env and every ensemble member, plus one row
for the absorbing state: see :mod:`rlhf_sandbox.agents.reward.absorbing`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from rlhf_sandbox.agents.reward.absorbing import absorbing_obs, flagged, tail_factor
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.envs.vector import action_array


class RewardFn(Protocol):
    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Per-step rewards ``[N]`` of observations ``[N, ...]`` and actions ``[N, ...]``."""
        ...


class _ReplaceReward(VecEnvWrapper):
    """Keeps the observation each action is taken from; subclasses say what the reward is."""

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        obs = np.asarray(self.venv.reset())
        self._obs = obs.astype(np.float32)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = action_array(self.action_space, actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_reward, dones, infos = self.venv.step_wait()
        assert self._obs is not None and self._actions is not None, "reset() first"
        truncated = np.array([bool(i.get("TimeLimit.truncated", False)) for i in infos])
        terminated = np.asarray(dones, dtype=bool) & ~truncated
        reward = self.reward(self._obs, self._actions, env_reward, terminated, infos)
        for info, r in zip(infos, env_reward, strict=True):
            info["env_reward"] = float(r)
        self._obs = np.asarray(obs, dtype=np.float32)
        return obs, reward.astype(np.float32), dones, infos

    def reward(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        env_reward: np.ndarray,
        terminated: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> np.ndarray:
        raise NotImplementedError


def learned_rewards(
    model: RewardFn, obs: np.ndarray, actions: np.ndarray, terminated: np.ndarray, tail: float
) -> np.ndarray:
    """Rewards ``[N]`` of steps ``obs [N, ...]``: the model's, plus the absorbing tail
    ``tail * r_absorbing`` on terminating steps. One model call."""
    x = flagged(obs)
    x = np.concatenate([x, absorbing_obs(x.shape[-1])[None]])
    a = np.concatenate([actions, np.zeros_like(actions[:1])])
    r = np.asarray(model.predict(x, a), dtype=np.float32)
    return r[:-1] + np.asarray(terminated, np.float32) * np.float32(tail * r[-1])


class LearnedReward(_ReplaceReward):
    """The reward model's normalised reward; zero until a model is set (``model = ...``).

    ``gamma`` is the policy learner's discount: a terminating step also earns the
    discounted absorbing tail, ``gamma / (1 - gamma)`` times the absorbing reward.
    """

    def __init__(self, venv: VecEnv, model: RewardFn | None = None, gamma: float = 0.99) -> None:
        super().__init__(venv)
        self.model = model
        self.tail = tail_factor(gamma)

    def reward(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        env_reward: np.ndarray,
        terminated: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> np.ndarray:
        if self.model is None:
            return np.zeros(self.num_envs, dtype=np.float32)
        return learned_rewards(self.model, obs, actions, terminated, self.tail)


class OracleReward(_ReplaceReward):
    """An oracle's reward over ``info["features"]`` (PPO trained directly on the oracle)."""

    def __init__(self, venv: VecEnv, oracle: Oracle) -> None:
        super().__init__(venv)
        self.oracle = oracle

    def reward(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        env_reward: np.ndarray,
        terminated: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> np.ndarray:
        feats = {
            k: np.array([info["features"][k] for info in infos], dtype=np.float64)
            for k in self.oracle.features
        }
        return np.asarray(self.oracle(feats, np.asarray(env_reward, np.float64)), np.float32)
