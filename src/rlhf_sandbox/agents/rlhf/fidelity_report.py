"""How far to trust a run's learned reward: the fidelity section of its report.

The report plays each policy it scores (the trained one, a random one and, when trained,
PPO on the oracle) on fresh seeds and keeps every step (:class:`StepRecorder` ->
:class:`StepLog`). None of those steps trained the reward model. On them it measures, with
:mod:`~rlhf_sandbox.agents.evaluation.fidelity`:

* agreement with the teacher on a fixed pool of clip pairs cut from those episodes (the
  same pool for every reward-model version, so its curve over versions shows what more
  labels did, not how hard later queries were);
* agreement on the labels of the run's test queries, which no fit saw
  (:func:`~rlhf_sandbox.agents.feedback.pairs.queries_held_out`);
* a shaping-free distance between learned and oracle per-step reward, the correlation of
  segment returns, and a table of behaviour features;
* for people as teachers, their agreement with each other beside the model's with them;
* warnings, each with what to try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation import fidelity as fm
from rlhf_sandbox.agents.feedback.pairs import labels_of_test_queries
from rlhf_sandbox.agents.feedback.rater_stats import agreement, answers
from rlhf_sandbox.agents.reward.absorbing import absorbing_obs, clip_inputs, flagged
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.envs.vector import action_array
from rlhf_sandbox.store.clips import ClipStore

POOL_PAIRS = 2000  # pairs in the fixed pool (all of them when fewer exist)
POOL_SEED = 0
CURVE_VERSIONS = 12  # reward-model versions measured for the curve, at most (the last always)
MAX_OBS_FEATURES = 32  # observation dimensions tabled for an env without behaviour features


@dataclass
class StepLog:
    """One policy's evaluation episodes, every step in episode order: episode ``e`` is
    steps ``bounds[e]:bounds[e + 1]``."""

    name: str
    obs: np.ndarray  # [S, ...] as the env gave them
    actions: np.ndarray  # [S, ...] as the env saw them
    env_reward: np.ndarray  # float64 [S]
    oracle: np.ndarray | None  # float64 [S]: the teacher's per-step reward (None: people)
    features: dict[str, np.ndarray]  # float64 [S] each: info["features"]
    bounds: np.ndarray  # int64 [E + 1]
    terminated: np.ndarray  # bool [E]: the episode ended by termination

    def episodes(self, per_step: np.ndarray) -> list[np.ndarray]:
        return [per_step[a:b] for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(obs, next_obs, next_valid, keep)``, flattened: an episode's last step has no
        next state, which is absorbing (``next_valid`` False) when the episode terminated
        and unknown (``keep`` False) when it was cut by time."""
        s = self.obs.reshape(len(self.obs), -1).astype(np.float64)
        nxt = np.zeros_like(s)
        nxt[:-1] = s[1:]
        valid = np.ones(len(s), bool)
        keep = np.ones(len(s), bool)
        last = self.bounds[1:] - 1
        valid[last] = False
        keep[last] = self.terminated
        return s, nxt, valid, keep


class StepRecorder:
    """An evaluation observer (see :func:`~rlhf_sandbox.agents.evaluation.rollouts.evaluate`)
    that keeps every live step; :meth:`log` sorts them into episodes."""

    def __init__(self, action_space: Any) -> None:
        self.space = action_space
        self.rows: list[tuple[np.ndarray, ...]] = []
        self.feats: dict[str, list[np.ndarray]] = {}

    def __call__(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        reward: np.ndarray,
        info: dict[str, Any],
        episode: np.ndarray,
    ) -> None:
        live = episode >= 0
        act = action_array(self.space, actions)
        self.rows.append(
            (episode[live], np.asarray(obs)[live], act[live], np.asarray(reward)[live])
        )
        for k, v in info.get("features", {}).items():
            if k.startswith("_"):  # a Gymnasium vector env's "which slots have it" mask
                continue
            self.feats.setdefault(k, []).append(np.asarray(v, dtype=np.float64)[live])

    def log(self, name: str, oracle: Oracle | None, terminated: np.ndarray) -> StepLog:
        ep, obs, act, rew = (np.concatenate(c) for c in zip(*self.rows, strict=True))
        order = np.argsort(ep, kind="stable")  # an episode's steps stay in time order
        feats = {k: np.concatenate(v)[order] for k, v in self.feats.items()}
        reward = rew[order].astype(np.float64)
        counts = np.bincount(ep, minlength=len(terminated))
        return StepLog(
            name=name,
            obs=obs[order],
            actions=act[order],
            env_reward=reward,
            oracle=None if oracle is None else np.asarray(oracle(feats, reward), np.float64),
            features=feats,
            bounds=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            terminated=np.asarray(terminated, bool),
        )


def learned_steps(model: RewardEnsemble, log: StepLog) -> np.ndarray:
    """The model's per-step reward of every step of ``log``, float64 ``[S]``."""
    out = [
        model.predict(flagged(log.obs[i : i + 8192]), log.actions[i : i + 8192])
        for i in range(0, len(log.obs), 8192)
    ]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def absorbing_reward(model: RewardEnsemble, log: StepLog) -> float:
    """The model's reward of the absorbing state (after a termination)."""
    if len(log.obs) == 0:
        return 0.0
    x = absorbing_obs(flagged(log.obs[:1]).shape[-1])[None]
    return float(model.predict(x, np.zeros_like(log.actions[:1]))[0])


@dataclass
class Measures:
    """One reward model against the oracle on the fixed pool."""

    pool: fm.PoolAgreement
    distance: fm.RewardDistance
    return_correlation: float | None
    n_segments: int
    learned: list[np.ndarray] = field(repr=False)  # per step, per log

    def to_json(self) -> dict[str, Any]:
        return {
            "pool": self.pool.to_json(),
            "distance": self.distance.to_json(),
            "segment_return_correlation": self.return_correlation,
            "segments": self.n_segments,
        }


def measure(
    model: RewardEnsemble, logs: list[StepLog], length: int, gamma: float
) -> Measures | None:
    """``model`` against the oracle on the pool cut from ``logs`` into ``length``-step
    clips (None without an oracle)."""
    if not logs or any(log.oracle is None for log in logs):
        return None
    learned = [learned_steps(model, log) for log in logs]
    eps_l = [e for log, lr in zip(logs, learned, strict=True) for e in log.episodes(lr)]
    eps_o = [e for log in logs for e in log.episodes(log.oracle)]  # type: ignore[arg-type]
    names = [log.name for log in logs for _ in range(len(log.terminated))]
    ended = [bool(t) for log in logs for t in log.terminated]
    seg = fm.cut_segments(
        eps_l, eps_o, names, length, terminated=ended, absorbing=absorbing_reward(model, logs[0])
    )
    left, right = fm.pool_pairs(len(seg.learned), POOL_PAIRS, POOL_SEED)
    parts = zip(*(g.transitions() for g in logs), strict=True)
    obs, nxt, valid, keep = (np.concatenate(c) for c in parts)
    dist = fm.shaping_free_distance(
        np.concatenate(learned), np.concatenate(eps_o) if eps_o else np.zeros(0),
        obs, nxt, valid, gamma, keep=keep,
    )  # fmt: skip
    return Measures(
        pool=fm.pool_agreement(seg.learned, seg.oracle, left, right),
        distance=dist,
        return_correlation=fm.pearson(seg.learned, seg.oracle),
        n_segments=len(seg.learned),
        learned=learned,
    )


def feature_rows(logs: list[StepLog], learned: list[np.ndarray]) -> list[fm.FeatureRow]:
    """Each behaviour feature's correlation with the learned and the oracle's per-step
    reward (observation dimensions, ``obs[i]``, for an env without features)."""
    if not logs or any(log.oracle is None for log in logs):
        return []
    oracle = np.concatenate([log.oracle for log in logs if log.oracle is not None])
    if logs[0].features:
        names = list(logs[0].features)
        feats = {k: np.concatenate([log.features[k] for log in logs]) for k in names}
    else:
        obs = np.concatenate([log.obs.reshape(len(log.obs), -1) for log in logs])
        feats = {f"obs[{i}]": obs[:, i] for i in range(min(obs.shape[1], MAX_OBS_FEATURES))}
    return fm.feature_table(feats, np.concatenate(learned), oracle)


def heldout_labels(
    model: RewardEnsemble, clips: ClipStore, run: str, share: float, seed: int, length: int
) -> fm.LabelAgreement:
    """The model's agreement with the labels of the test queries, which no fit saw."""
    rows = labels_of_test_queries(clips.db, run, share, seed)
    left, right, choices = [], [], []
    for a, b, choice in rows:
        try:
            ca, cb = clips.get(a), clips.get(b)
        except (KeyError, ValueError):  # an unreadable clip: the pair is left out
            continue
        xa = clip_inputs(ca.obs, ca.actions, _ended(ca.features), length)
        xb = clip_inputs(cb.obs, cb.actions, _ended(cb.features), length)
        if len(xa[0]) != length or len(xb[0]) != length:
            continue
        left.append(xa)
        right.append(xb)
        choices.append(choice)
    if not choices:
        return fm.label_agreement([], [], [])

    def returns(side: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        obs = np.stack([o for o, _ in side])
        act = np.stack([a for _, a in side])
        return model.segment_returns(obs, act).mean(axis=0)

    return fm.label_agreement(returns(left), returns(right), choices)


def _ended(features: dict[str, np.ndarray]) -> bool:
    t = features.get("terminated")
    return t is not None and len(t) > 0 and bool(t[-1] > 0)


def raters_agreement(clips: ClipStore, run: str) -> dict[str, Any]:
    """People's agreement with each other on the queries two or more of them answered: the
    share of shared answers that match, pooled over pairs of raters, and how many."""
    db = clips.db
    pairs, _, _ = agreement(answers(db.queries(run), db.labels(run)))
    shared = sum(p.items for p in pairs)
    if not shared:
        return {"agreement": None, "shared_answers": 0, "rater_pairs": 0}
    agreed = sum(p.agreement * p.items for p in pairs)
    return {
        "agreement": fm.Agreement.of(agreed, shared).to_json(),
        "shared_answers": shared,
        "rater_pairs": len(pairs),
    }


def curve_versions(versions: list[int]) -> list[int]:
    """At most :data:`CURVE_VERSIONS` versions, evenly spread, the last always among them."""
    if len(versions) <= CURVE_VERSIONS:
        return versions
    idx = np.unique(np.round(np.linspace(0, len(versions) - 1, CURVE_VERSIONS)).astype(int))
    return [versions[i] for i in idx]


def plot_curve(path: Path, points: list[dict[str, Any]]) -> None:
    """Pool agreement (with its Wilson interval), shaping-free distance and segment-return
    correlation over the reward-model versions, against labelled pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlhf_sandbox.files import atomic_path

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.5, 3.2))
    x = [p["pairs"] for p in points]
    agree = [_get(p, "pool", "counted", "value") for p in points]
    lo = [_get(p, "pool", "counted", "lo") for p in points]
    hi = [_get(p, "pool", "counted", "hi") for p in points]
    ax.plot(x, agree, "o-", label="agreement, fixed pool")
    ax.fill_between(x, lo, hi, alpha=0.2, label="95% Wilson")
    ax.set(xlabel="labelled pairs", ylabel="agreement", ylim=(0.0, 1.02), title="Agreement")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=7)
    bx.plot(x, [_get(p, "distance", "distance") for p in points], "s-", label="distance")
    corr = [p.get("segment_return_correlation") for p in points]
    bx.plot(x, [math.nan if c is None else c for c in corr], "^-", label="return corr.")
    bx.set(xlabel="labelled pairs", ylim=(-1.02, 1.02), title="Distance and correlation")
    bx.axhline(0.0, color="grey", lw=0.8, ls=":")
    bx.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _get(d: dict[str, Any], *keys: str) -> float:
    for k in keys:
        d = d.get(k) or {}
    return math.nan if d in ({}, None) else float(d)  # type: ignore[arg-type]
