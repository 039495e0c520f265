"""Settings of an RLHF run (typed, frozen, JSON round-trip), the one way to build them
(:func:`build_settings`, for the command line, settings files and sweeps alike), and the
label schedule."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhf_sandbox.agents.feedback.queries import METHODS as QUERY_METHODS
from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.teachers.plugin import source_hash
from rlhf_sandbox.agents.teachers.raters import rater_config
from rlhf_sandbox.agents.teachers.teacher import Teacher
from rlhf_sandbox.config import ConfigError, reject_unknown, setting, validate
from rlhf_sandbox.envs.ids import check_train_env_id

# Budgets that fit this machine's memory: the label schedule holds one entry per rollout.
MAX_TIMESTEPS = 10**10
MAX_LABELS = 10**7
DEFAULT_LABELS = 500
MAX_ROLLOUTS = 10**7


@dataclass(frozen=True)
class RLHFSettings:
    """One run: env, teacher, label and step budgets, and the learners' settings.

    Each field is declared once, with its default, range or choices and its doc (which is
    the help of its command-line flag); the settings validate themselves on construction,
    the teacher with the env included (:class:`~rlhf_sandbox.agents.teachers.teacher.Teacher`).
    Build them from a settings file and flags with :func:`build_settings`."""

    env_id: str = setting(
        doc="Gymnasium id to train on (ours, or any id with a Box observation and a Box or"
        " Discrete action; arena_v0 for the PettingZoo arena), or your own PettingZoo game as"
        " MODULE[:FACTORY] (code you run: see docs/ARENA.md)"
    )
    env_kwargs: dict[str, Any] = setting(
        factory=dict, doc="keyword arguments of the env (ours: fields of its config dataclass)"
    )
    # teacher and rater: Teacher checks the names (its message lists the known ones)
    teacher: str = setting(
        "courteous",
        doc="oracle: a built-in name (courteous, highway, merge, crossing, companion, guard,"
        " env), your own as MODULE:ATTR, or human",
    )
    teacher_source: str = setting(
        "",
        doc="sha256 of a MODULE:ATTR teacher's module source when the run began (set by"
        " itself; --resume warns when the source has changed)",
    )
    rater: str = setting("perfect", doc="B-Pref rater preset of a synthetic teacher")
    rater_overrides: dict[str, float] = setting(
        factory=dict,
        doc="rater parameters that replace the preset's (beta, gamma, eps_mistake, skip, equal)",
    )
    labels: int = setting(
        DEFAULT_LABELS, lo=0, hi=MAX_LABELS,
        doc="labels to ask for in all (several roles: a total split evenly, or ROLE=N,...)",
    )  # fmt: skip
    timesteps: int = setting(
        100_000,
        lo=1,
        hi=MAX_TIMESTEPS,
        doc="env steps in all (every env copy counted; query clips come from these)",
    )
    clip_seconds: float = setting(2.0, lo=0.0, doc="length of a query clip [s] (> 0)")
    explore_steps: int = setting(
        0, lo=0, hi=MAX_TIMESTEPS,
        doc="env steps at the start that PPO spends on a state-entropy reward (PEBBLE's"
        " exploration) instead of the learned one, rounded up to whole rollouts; the first"
        " queries come after them (0: none)",
    )  # fmt: skip
    initial_label_share: float = setting(
        0.25, lo=0.0, hi=1.0,
        doc="share of the labels asked about the initial (random) policy's first rollout",
    )  # fmt: skip
    label_decay: float = setting(
        4.0, lo=0.0, doc="later labels per rollout fall as 1 / (1 + label_decay * progress)"
    )
    query_every: int = setting(
        1, lo=1, doc="rollouts between rounds of asking (and, for synthetic teachers, refits)"
    )
    refit_growth: float = setting(
        0.0, lo=0.0, hi=10.0,
        doc="refit the reward model once the feedback has grown by this share since the last"
        " fit, and on any new feedback once every label has been asked (0: whenever any"
        " arrived)",
    )  # fmt: skip
    query_method: str = setting(
        "disagreement", choices=QUERY_METHODS, doc="query selection: random, disagreement, entropy"
    )
    oversample: int = setting(
        4, lo=1, doc="candidate pairs scored per query chosen (disagreement, entropy)"
    )
    raters_per_query: int = setting(1, lo=1, doc="how many raters each query wants (human)")
    human_wait_s: float = setting(
        30.0, lo=0.0, doc="human teacher: longest wait per rollout for new labels [s]"
    )
    human_min_labels: int = setting(
        10, lo=1, doc="human teacher: new labels that end the wait early"
    )
    test_share: float = setting(
        0.1, lo=0.0, hi=0.5,
        doc="share of the queries whose labels no fit sees (by query id): the report's"
        " unbiased held-out agreement",
    )  # fmt: skip
    reward_model: RewardModelConfig = setting(factory=RewardModelConfig, doc="the reward ensemble")
    ppo: PPOSettings = setting(
        factory=PPOSettings, doc="the policy learner (PPO, or TRPO with ppo.algo = trpo)"
    )
    seed: int = setting(
        0, lo=0,
        doc="seed of query selection and the synthetic rater (the learners take theirs from ppo)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self)  # labels = "5" in a config file: one line naming the field
        if self.clip_seconds <= 0:
            raise ConfigError(f"RLHFSettings.clip_seconds must be > 0, got {self.clip_seconds}")
        if self.iterations > MAX_ROLLOUTS:
            raise ConfigError(
                f"RLHFSettings.timesteps: {self.timesteps:,} steps are {self.iterations:,}"
                f" rollouts of ppo.n_envs x ppo.n_steps = {self.rollout}; at most"
                f" {MAX_ROLLOUTS:,}: fewer steps, or longer rollouts"
            )
        if self.explore_steps and self.explore_rollouts >= self.iterations:
            raise ConfigError(
                f"RLHFSettings.explore_steps: {self.explore_steps:,} steps of exploration"
                f" ({self.explore_rollouts} rollouts of {self.rollout}) leave none of the"
                f" {self.timesteps:,} to learn from feedback: fewer, or more timesteps"
            )
        check_train_env_id(self.env_id)
        teacher = self.teacher_value
        teacher.check(self.env_id)
        if teacher.plugin and not self.teacher_source:
            object.__setattr__(self, "teacher_source", source_hash(self.teacher))
        if not teacher.human:
            rater_config(self.rater, **self.rater_overrides)  # a bad override fails here
        resolved = teacher.env_kwargs(self.env_id, self.env_kwargs)
        if resolved != self.env_kwargs:
            object.__setattr__(self, "env_kwargs", resolved)

    @property
    def teacher_value(self) -> Teacher:
        """The teacher (oracle and rater) as one value; ``.spec`` is its canonical name."""
        return Teacher(self.teacher, self.rater)

    @property
    def rollout(self) -> int:
        """Env steps per rollout (all copies)."""
        return self.ppo.n_envs * self.ppo.n_steps

    @property
    def iterations(self) -> int:
        """Rollouts in the budget (SB3 finishes the rollout that crosses it)."""
        return max(1, math.ceil(self.timesteps / self.rollout))

    @property
    def explore_rollouts(self) -> int:
        """Rollouts spent exploring before any query (``explore_steps``, rounded up)."""
        return explore_rollouts(self)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["reward_model"] = dataclasses.asdict(self.reward_model)
        d["reward_model"]["hidden"] = list(self.reward_model.hidden)
        d["ppo"] = self.ppo.to_json()
        return d

    @classmethod
    def saved(cls, d: dict[str, Any]) -> RLHFSettings:
        """The settings a run folder saved: as :meth:`from_json`, but a run from before
        ``test_share`` existed kept no test queries, and keeps none."""
        return cls.from_json({"test_share": 0.0, **d})

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RLHFSettings:
        reject_unknown(cls, d)
        kw = dict(d)
        rm = dict(kw.get("reward_model", {}))
        if "hidden" in rm:
            if not isinstance(rm["hidden"], list | tuple):
                raise ConfigError(
                    f"RewardModelConfig.hidden must be a list of ints, got {rm['hidden']!r}"
                )
            rm["hidden"] = tuple(rm["hidden"])
        kw["reward_model"] = RewardModelConfig(**rm)
        kw["ppo"] = PPOSettings.from_json(kw.get("ppo", {}))
        return cls(**kw)


def clip_steps(s: RLHFSettings, policy_hz: float) -> int:
    """Decisions in a query clip of the env deciding ``policy_hz`` times a second; a clip
    must fit in one env's share of a rollout (a ValueError saying what to change)."""
    t = max(1, round(s.clip_seconds * policy_hz))
    if s.ppo.n_steps < t:
        raise ValueError(
            f"clips of {t} steps ({s.clip_seconds} s at {policy_hz:g} Hz) do not fit a rollout"
            f" of n_steps={s.ppo.n_steps} per env: lower --clip-seconds or raise --n-steps"
        )
    return t


SEED = "seed"
"""The shorthand key that sets both ``seed`` and ``ppo.seed`` (as ``train --seed`` does)."""
DEVICE = "device"
"""The shorthand key that sets both ``ppo.device`` and ``reward_model.device``."""
TEACHER = "teacher"
"""The key whose value is a teacher spec, ``SPEC[:RATER]`` (SPEC a built-in oracle or
``MODULE:ATTR``) or ``human``."""
_TABLES = ("ppo", "reward_model", "env_kwargs", "rater_overrides")


def build_settings(
    file: Mapping[str, Any] | None = None, values: Mapping[str, Any] | None = None
) -> RLHFSettings:
    """The one way settings are built: a settings file's tables (top-level fields of
    :class:`RLHFSettings`, ``[ppo]``, ``[reward_model]``, ``env_kwargs``,
    ``rater_overrides``), overridden by ``values``, whose keys are setting paths:
    ``labels``, ``ppo.n_steps``, ``reward_model.lr``, ``env_kwargs.vehicles``,
    ``rater_overrides.beta``, and the shorthands :data:`SEED`, :data:`DEVICE` and
    :data:`TEACHER` (a spec). A value of None is not given. Every problem is a ValueError
    naming the setting."""
    d: dict[str, Any] = copy.deepcopy(dict(file or {}))
    d.pop("teacher_source", None)  # a new run hashes its own plug-in's source
    for table in _TABLES:
        if not isinstance(d.setdefault(table, {}), dict):
            raise ValueError(f"{table} must be a table")
    for key, v in (values or {}).items():
        if v is None:
            continue
        v = tuple(v) if isinstance(v, list) else v
        head, _, rest = key.partition(".")
        if key == SEED:
            d["seed"] = d["ppo"]["seed"] = v
        elif key == DEVICE:
            d["ppo"]["device"] = d["reward_model"]["device"] = v
        elif key == TEACHER:
            if not isinstance(v, str):
                raise ValueError(f"teacher must be SPEC[:RATER] or human, got {v!r}")
            t = Teacher.parse(v)
            d["teacher"], d["rater"] = t.oracle, t.rater
        elif rest:
            if head not in _TABLES:
                raise ValueError(f"unknown setting {key!r}: {head} is not a table")
            d[head][rest] = v
        else:
            d[key] = v
    if "env_id" not in d:
        raise ValueError("no env: give --env ID (or env_id in the settings file)")
    d["env_kwargs"] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in d["env_kwargs"].items()
    }
    return RLHFSettings.from_json(d)


def explore_rollouts(s: RLHFSettings, rollout: int | None = None) -> int:
    """Rollouts of ``rollout`` env steps (default ``s.rollout``) that cover
    ``s.explore_steps``."""
    return math.ceil(s.explore_steps / (rollout or s.rollout))


def label_schedule(s: RLHFSettings, rollout: int | None = None) -> np.ndarray:
    """Labels to ask for at the end of each rollout, int ``[iterations]``, summing to
    ``s.labels``: none while exploring (``explore_steps``), then a share on the first
    rollout after (the initial or the explored policy's), then a decaying rate, in rounds
    every ``query_every`` rollouts. ``rollout``: env steps per rollout, when the env makes
    another number of slots than ``ppo.n_envs`` (arena_v0 rounds it to whole worlds)."""
    iterations = max(1, math.ceil(s.timesteps / (rollout or s.rollout)))
    first = min(explore_rollouts(s, rollout), iterations - 1)
    rounds = label_rounds(s.labels, -(-(iterations - first) // s.query_every), s)
    out = np.zeros(iterations, dtype=np.int64)
    out[first :: s.query_every] = rounds
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
