"""PEBBLE's unsupervised pre-training (Lee et al. 2021): a state-entropy reward for the first
steps of a run, before any feedback, so the first queries see varied behaviour.

The entropy of the visited states is estimated with k-nearest-neighbour particles (Singh et
al. 2003; APT, Liu & Abbeel 2021; PEBBLE): a state far from its k-th nearest neighbour among
the states seen recently lies where few have been. Its reward is

    r(s) = log(1 + ||s - s_k||) / std(r),

``s_k`` the k-th nearest of the last ``capacity`` states, distances taken in coordinates
scaled by those states' per-dimension standard deviations (so no dimension dominates by its
units), and ``std(r)`` a running standard deviation of the rewards given so far. PEBBLE
(and B-Pref's PrefPPO) reward the distance itself over its running standard deviation; the
logarithm (APT's) keeps a few far outliers from dominating. PEBBLE trains SAC off-policy on
the states of a replay buffer; our policy learner is on-policy PPO, so
:class:`StateEntropyReward` gives each vector step's new observations that reward as they
come, for the first ``steps`` env steps, then passes the wrapped env's reward through (as
PrefPPO's unsupervised phase, which rewards each step's state against every state so far).

In the RLHF loop as ``explore_steps`` (``train --explore-steps N``; off by default): PPO
learns from this reward for the first whole rollouts covering N steps, and the first
queries are cut from the explored policy's rollout. Where the teacher's reward is sparse
(Acrobot-v1's ``env`` teacher: every step -1 until the goal), segments of a random policy
are nearly all equal and the labels say nothing; the explored policy reaches the goal, so
its segments differ (docs/RLHF.md, "Exploration before the first queries"; figures in
docs/BENCHMARKS.md). On a dense reward it did not pay: ``bench/reward_ideas.py --pebble``
(8 seeds) labelled segments of a policy pre-trained 20k steps on this reward instead of a
random policy's; on Pendulum they covered more states and at 100 labels spared the random
policy's bad seeds (worst agreement 0.96 against 0.77) without moving the median, from 250
labels no difference; on the highway they did worse at 100 labels (-0.021, 6 seeds of 8
below). PEBBLE's other half, relabelling, the loop does anyway: each new reward model
relabels the rollout PPO is about to learn from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

K = 5  # PEBBLE's k (its topK)
CAPACITY = 4096  # states kept to measure novelty against
_MIN_STD = 1e-6


def knn_distance(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance ``[N]`` of each query ``[N, D]`` to its k-th nearest point of
    ``reference`` ``[M, D]`` (the farthest, when ``M < k``); ``inf`` when ``M == 0``."""
    q = np.asarray(queries, np.float64)
    ref = np.asarray(reference, np.float64)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ref.shape[0] == 0:
        return np.full(q.shape[0], np.inf)
    d2 = (q * q).sum(1)[:, None] - 2.0 * q @ ref.T + (ref * ref).sum(1)[None, :]
    kk = min(k, ref.shape[0])
    kth = np.partition(d2, kk - 1, axis=1)[:, kk - 1]
    return np.sqrt(np.maximum(kth, 0.0))


def entropy_reward(distance: np.ndarray) -> np.ndarray:
    """``log(1 + d)``: the particle estimate's per-state term, increasing in ``d``."""
    return np.log1p(np.asarray(distance, np.float64))


class StateEntropy:
    """The k-NN state-entropy reward of batches of states, against the last ``capacity``
    states it was given (a ring)."""

    def __init__(self, dim: int, k: int = K, capacity: int = CAPACITY) -> None:
        if k < 1 or capacity < k:
            raise ValueError(f"need 1 <= k <= capacity, got k={k}, capacity={capacity}")
        self.k = k
        self.buffer = np.zeros((capacity, dim), np.float64)
        self.size = 0
        self._next = 0
        self._n, self._mean, self._m2 = 0, 0.0, 0.0  # running moments of the raw rewards

    def __call__(self, states: np.ndarray) -> np.ndarray:
        """Rewards ``[N]`` of states ``[N, ...]`` (flattened), then remembers them. Zero
        until ``k`` states are remembered."""
        x = np.asarray(states, np.float64).reshape(len(states), -1)
        if self.size >= self.k:
            ref = self.buffer[: self.size]
            scale = np.maximum(ref.std(axis=0), _MIN_STD)
            raw = entropy_reward(knn_distance(x / scale, ref / scale, self.k))
            self._moments(raw)
            std = np.sqrt(self._m2 / self._n) if self._n > 1 else 1.0
            out = raw / max(std, _MIN_STD)
        else:
            out = np.zeros(len(x))
        self._remember(x)
        return out

    def _moments(self, raw: np.ndarray) -> None:
        for v in raw:  # Welford, per value
            self._n += 1
            d = float(v) - self._mean
            self._mean += d / self._n
            self._m2 += d * (float(v) - self._mean)

    def _remember(self, x: np.ndarray) -> None:
        cap = self.buffer.shape[0]
        for row in x[-cap:]:
            self.buffer[self._next] = row
            self._next = (self._next + 1) % cap
            self.size = min(self.size + 1, cap)


class StateEntropyReward(VecEnvWrapper):
    """For the first ``steps`` env steps (counted over all envs), the reward of each vector
    step is the :class:`StateEntropy` reward of the observations it led to (the terminal
    observation where an episode ended); after that, the wrapped env's reward. The
    replaced reward is kept in ``info["replaced_reward"]``."""

    def __init__(self, venv: VecEnv, steps: int, k: int = K, capacity: int = CAPACITY) -> None:
        super().__init__(venv)
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        shape = venv.observation_space.shape
        if shape is None:
            raise ValueError(f"unsupported observation space {venv.observation_space}")
        self.steps = steps
        self.steps_taken = 0
        """env steps so far (set it when resuming a run)"""
        self.entropy: StateEntropy | None = StateEntropy(int(np.prod(shape)), k, capacity)

    @property
    def exploring(self) -> bool:
        return self.steps_taken < self.steps

    def reset(self) -> np.ndarray:
        return np.asarray(self.venv.reset())

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        if self.exploring and self.entropy is not None:
            states = np.array(obs, dtype=np.float64, copy=True)
            for i, (done, info) in enumerate(zip(dones, infos, strict=True)):
                final: Any = info.get("terminal_observation")
                if done and final is not None:
                    states[i] = final
            for info, r in zip(infos, reward, strict=True):
                info["replaced_reward"] = float(r)
            reward = self.entropy(states).astype(np.float32)
        self.steps_taken += self.num_envs
        if not self.exploring:
            self.entropy = None  # its memory is no longer needed
        return obs, reward, dones, infos
