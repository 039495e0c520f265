"""Episode ends the reward model can judge: an absorbing state after termination.

Preferences between segments of equal length say nothing about the level of a per-step
reward: adding a constant to every step changes no comparison. Where episodes can
terminate (a crash), that level decides whether ending early pays, and a learned reward
that happens to be negative on ordinary steps teaches the policy to crash. We fix the level
the way DAC (Kostrikov et al., 2019) does for imitation: after a termination the episode
stays in an *absorbing* state whose reward is learned like any other.

* The reward model sees the observation with one more entry, 1 on absorbing steps (whose
  observation and action are zeros) and 0 on real ones.
* Segments that end in a termination are also cut short and padded with absorbing steps,
  so comparisons pin the absorbing reward against real steps (a synthetic teacher's oracle
  gives absorbing steps 0: nothing happens after the end).
* For the policy, the terminating step's reward gains the absorbing tail,
  ``gamma / (1 - gamma) * r_absorbing`` (the state is never left).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def reward_space(obs_space: gym.Space[Any]) -> gym.spaces.Box:
    """The reward model's observation space: ``obs_space`` flattened plus the flag."""
    if not isinstance(obs_space, gym.spaces.Box):
        raise ValueError(f"unsupported observation space {obs_space} (Box only)")
    lo = np.append(obs_space.low.reshape(-1), 0.0).astype(np.float32)
    hi = np.append(obs_space.high.reshape(-1), 1.0).astype(np.float32)
    return gym.spaces.Box(lo, hi, dtype=np.float32)


def flagged(obs: np.ndarray, n_lead: int = 1) -> np.ndarray:
    """Real observations ``[*lead, *obs_shape]`` as model inputs ``[*lead, D + 1]``."""
    lead = obs.shape[:n_lead]
    flat = obs.reshape(*lead, -1).astype(np.float32)
    return np.concatenate([flat, np.zeros((*lead, 1), np.float32)], axis=-1)


def absorbing_obs(dim: int) -> np.ndarray:
    """The absorbing step's model input ``[dim]`` (``dim`` counts the flag)."""
    out = np.zeros(dim, np.float32)
    out[-1] = 1.0
    return out


def pad(obs: np.ndarray, actions: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A terminated segment's model inputs ``[k, D + 1]`` padded to ``length`` steps."""
    k = len(obs)
    if k > length:
        raise ValueError(f"segment of {k} steps is longer than {length}")
    if k == length:
        return obs, actions
    tail = np.broadcast_to(absorbing_obs(obs.shape[-1]), (length - k, obs.shape[-1]))
    act_tail = np.zeros((length - k, *actions.shape[1:]), actions.dtype)
    return np.concatenate([obs, tail]), np.concatenate([actions, act_tail])


def clip_inputs(
    obs: np.ndarray, actions: np.ndarray, ended: bool, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """A stored clip's model inputs: flagged, and padded to ``length`` when it is shorter
    because its episode ended by termination (a clip cut short otherwise stays short)."""
    x = flagged(obs)
    if len(x) < length and ended:
        return pad(x, actions, length)
    return x, actions


def tail_factor(gamma: float) -> float:
    """Discounted weight of the absorbing steps after a termination: gamma / (1 - gamma)."""
    return gamma / (1.0 - gamma) if gamma < 1.0 else 0.0
