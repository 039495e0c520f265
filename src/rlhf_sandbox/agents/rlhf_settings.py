"""Settings of an RLHF run (typed, frozen, JSON round-trip) and its label schedule."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlhf_sandbox.agents.ppo import PPOSettings
from rlhf_sandbox.agents.queries import check_method
from rlhf_sandbox.agents.reward_model import RewardModelConfig
from rlhf_sandbox.config import check_types, reject_unknown


@dataclass(frozen=True)
class RLHFSettings:
    """One run: env, teacher, label and step budgets, and the learners' settings."""

    env_id: str
    """Gymnasium id (ours, or any id with a Box observation and a Box or Discrete action)"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of the env (ours: fields of its config dataclass)"""
    teacher: str = "courteous"
    """oracle name (courteous, companion, guard, env) or human"""
    rater: str = "perfect"
    """B-Pref rater preset of a synthetic teacher"""
    rater_overrides: dict[str, float] = field(default_factory=dict)
    """rater parameters that replace the preset's (beta, gamma, eps_mistake, skip, equal)"""
    labels: int = 500
    """labels to ask for in all"""
    timesteps: int = 100_000
    """env steps in all (every env copy counted; query clips come from these)"""
    clip_seconds: float = 2.0
    """length of a query clip [s]"""
    initial_label_share: float = 0.25
    """share of the labels asked about the initial (random) policy's first rollout"""
    label_decay: float = 4.0
    """later labels per rollout fall as 1 / (1 + label_decay * progress)"""
    query_every: int = 1
    """rollouts between rounds of asking (and, for synthetic teachers, of refitting)"""
    query_method: str = "disagreement"
    """random, disagreement or entropy"""
    oversample: int = 4
    """candidate pairs scored per query chosen (disagreement, entropy)"""
    raters_per_query: int = 1
    """how many raters each query wants (human teacher)"""
    human_wait_s: float = 30.0
    """human teacher: longest wait per rollout for new labels [s]"""
    human_min_labels: int = 10
    """human teacher: new labels that end the wait early"""
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)
    """the reward ensemble"""
    ppo: PPOSettings = field(default_factory=PPOSettings)
    """the policy learner (PPO, or TRPO with ppo.algo = trpo)"""
    seed: int = 0
    """seed of query selection and the synthetic rater (the learners take theirs from ppo)"""

    def __post_init__(self) -> None:
        check_types(self)  # labels = "5" in a config file: one line naming the field
        check_method(self.query_method)
        for name in ("labels", "timesteps", "oversample", "raters_per_query", "query_every"):
            if getattr(self, name) < (0 if name == "labels" else 1):
                raise ValueError(f"RLHFSettings.{name} out of range: {getattr(self, name)}")
        if not 0.0 <= self.initial_label_share <= 1.0:
            raise ValueError("RLHFSettings.initial_label_share must be in [0, 1]")
        if self.clip_seconds <= 0 or self.label_decay < 0 or self.human_wait_s < 0:
            raise ValueError("RLHFSettings: clip_seconds > 0, label_decay and human_wait_s >= 0")
        if self.human_min_labels < 1:
            raise ValueError("RLHFSettings.human_min_labels must be >= 1")

    @property
    def rollout(self) -> int:
        """Env steps per rollout (all copies)."""
        return self.ppo.n_envs * self.ppo.n_steps

    @property
    def iterations(self) -> int:
        """Rollouts in the budget (SB3 finishes the rollout that crosses it)."""
        return max(1, math.ceil(self.timesteps / self.rollout))

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["reward_model"] = dataclasses.asdict(self.reward_model)
        d["reward_model"]["hidden"] = list(self.reward_model.hidden)
        d["ppo"] = self.ppo.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RLHFSettings:
        reject_unknown(cls, d)
        kw = dict(d)
        rm = dict(kw.get("reward_model", {}))
        if "hidden" in rm:
            rm["hidden"] = tuple(rm["hidden"])
        kw["reward_model"] = RewardModelConfig(**rm)
        kw["ppo"] = PPOSettings.from_json(kw.get("ppo", {}))
        return cls(**kw)


def label_schedule(s: RLHFSettings, rollout: int | None = None) -> np.ndarray:
    """Labels to ask for at the end of each rollout, int ``[iterations]``, summing to
    ``s.labels``: a share on the first (random-policy) rollout, then a decaying rate, in
    rounds every ``query_every`` rollouts. ``rollout``: env steps per rollout, when the env
    makes another number of slots than ``ppo.n_envs`` (arena_v0 rounds it to whole worlds)."""
    iterations = max(1, math.ceil(s.timesteps / (rollout or s.rollout)))
    rounds = label_rounds(s.labels, -(-iterations // s.query_every), s)
    out = np.zeros(iterations, dtype=np.int64)
    out[:: s.query_every] = rounds
    return out


def label_rounds(labels: int, n: int, s: RLHFSettings) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    first = round(labels * s.initial_label_share) if n > 1 else labels
    out[0] = first
    rest = labels - first
    if n > 1 and rest > 0:
        progress = np.arange(n - 1) / max(n - 1, 1)
        w = 1.0 / (1.0 + s.label_decay * progress)
        cum = np.round(np.cumsum(w) / w.sum() * rest).astype(np.int64)
        out[1:] = np.diff(np.concatenate([[0], cum]))
    return out
