"""The end-of-run report: numbers people check, plots they look at, a GIF of the policy.

``write_report(out)`` reads a finished run folder and writes ``out/report/`` (it trains
nothing itself: the baseline comes from the caller, see :mod:`~rlhf_sandbox.agents.rlhf.run`):
``report.md``, ``report.json``, ``reward_model.png`` (held-out accuracy per version),
``correlation.png`` (learned vs oracle reward on held-out steps), ``returns.png`` (mean
oracle and env returns of the policy, a random policy and PPO trained directly on the
oracle), ``labels.png`` (label counts) and ``policy.gif``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.rollouts import (
    PolicyFn,
    evaluate,
    random_policy,
    record_gif,
    sb3_policy,
)
from rlhf_sandbox.agents.evaluation.vectorized import evaluate_vec, vec_gif
from rlhf_sandbox.agents.policy.ppo import (
    load_policy,
)
from rlhf_sandbox.agents.reward.absorbing import flagged
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.agents.teachers.teacher import HUMAN
from rlhf_sandbox.envs.ids import ARENA_V0
from rlhf_sandbox.envs.vector import action_array, make_vec_env
from rlhf_sandbox.files import atomic_path
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder


@dataclass
class PolicyScore:
    """Mean returns of one policy over the evaluation episodes."""

    env_return: float
    oracle_return: float | None
    episodes: int
    crashes: int  # episodes ended by termination
    learned: list[float] = field(default_factory=list, repr=False)  # per step, held out
    oracle: list[float] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "env_return": self.env_return,
            "oracle_return": self.oracle_return,
            "episodes": self.episodes,
            "terminated": self.crashes,
        }


def score_policy(
    policy: PolicyFn,
    s: RLHFSettings,
    oracle: Oracle | None,
    model: RewardEnsemble | None,
    episodes: int,
    seed: int = 10_000,
) -> PolicyScore:
    """Evaluate on fresh seeds: env return, oracle return, and per-step rewards of both."""
    oracle_ret = np.zeros(episodes)
    steps_learned: list[float] = []
    steps_oracle: list[float] = []
    space = _action_space(s)

    def observer(
        obs: np.ndarray,
        actions: np.ndarray,
        reward: np.ndarray,
        info: dict[str, Any],
        episode: np.ndarray,
    ) -> None:
        ep = episode
        live = ep >= 0
        if oracle is None:
            return
        feats = info.get("features", {})
        f = {k: np.asarray(feats[k], dtype=np.float64) for k in oracle.features}
        r = np.asarray(oracle(f, np.asarray(reward, np.float64)))
        np.add.at(oracle_ret, ep[live], r[live])
        if model is not None:
            learned = model.predict(flagged(np.asarray(obs)), action_array(space, actions))
            steps_learned.extend(learned[live].tolist())
            steps_oracle.extend(r[live].tolist())

    if s.env_id == ARENA_V0:  # no Gymnasium id: the role's SB3 VecEnv
        venv = make_vec_env(s.env_id, s.ppo.n_envs, seed, **s.env_kwargs)
        res = evaluate_vec(policy, venv, episodes, observer)
        venv.close()
    else:
        res = evaluate(
            policy, s.env_id, episodes, seed, n_envs=min(16, episodes), observer=observer,
            **s.env_kwargs,
        )  # fmt: skip
    return PolicyScore(
        env_return=res.mean,
        oracle_return=float(oracle_ret.mean()) if oracle is not None else None,
        episodes=episodes,
        crashes=int(res.terminated.sum()),
        learned=steps_learned,
        oracle=steps_oracle,
    )


def _action_space(s: RLHFSettings) -> Any:
    venv = make_vec_env(s.env_id, 1 if s.env_id != ARENA_V0 else s.ppo.n_envs, 0, **s.env_kwargs)
    space = venv.action_space
    venv.close()
    return space


BaselineTrainer = Callable[[RLHFSettings, Oracle], PolicyFn]
"""Trains the report's baseline (PPO on the oracle's own reward) for a run's settings."""


@dataclass(frozen=True)
class RunReport:
    """What :func:`write_report` wrote: ``data`` is ``report.json``'s content."""

    path: Path  # report.md
    data: dict[str, Any]


def write_report(
    out: str | Path,
    *,
    episodes: int = 20,
    baseline: BaselineTrainer | None = None,
    gif: bool = True,
    store: str | None = None,
) -> RunReport:
    """Evaluate a finished run folder and write its report (``out/report/``).

    ``baseline``: trains PPO on the oracle's reward for comparison (see
    :func:`~rlhf_sandbox.agents.rlhf.run.train_oracle_ppo`); none for a human teacher.
    ``store``: the URL of the shared store the run wrote to, when the one its folder
    saved (``store.json``) had a password."""
    folder = RunFolder(out)
    s = RLHFSettings.from_json(folder.read_settings())
    where = folder.saved_store(store)  # before the long evaluation: a bad URL fails now
    rep = folder.report
    rep.mkdir(parents=True, exist_ok=True)
    oracle = s.teacher_value.resolve()
    model = RewardEnsemble.load(folder.reward_model) if folder.reward_model.exists() else None
    policy = sb3_policy(load_policy(folder.policy))
    space = _action_space(s)
    scores = {
        "rlhf": score_policy(policy, s, oracle, model, episodes),
        "random": score_policy(random_policy(space, s.seed), s, oracle, model, episodes),
    }
    if baseline is not None and oracle is not None:
        scores["oracle_ppo"] = score_policy(baseline(s, oracle), s, oracle, model, episodes)
    learned = np.concatenate([scores[k].learned for k in scores]) if model else np.zeros(0)
    truth = np.concatenate([scores[k].oracle for k in scores]) if model else np.zeros(0)
    corr = None
    if learned.size > 2 and truth.std() > 0 and learned.std() > 0:
        corr = float(np.corrcoef(learned, truth)[0, 1])
    with PreferenceDB.open(where.url) as db:
        labels = db.labels(where.run if where.shared else None)  # a shared store: others' too
        versions = [dict(v.metrics, version=v.version) for v in db.reward_models(where.run)]
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab.choice] = counts.get(lab.choice, 0) + 1
    data = {
        "settings": s.to_json(),
        "scores": {k: v.to_json() for k, v in scores.items()},
        "learned_oracle_correlation": corr,
        "reward_model_versions": versions,
        "labels": counts,
    }
    _plots(rep, scores, learned, truth, corr, versions, counts)
    if gif:
        if s.env_id == ARENA_V0:
            vec_gif(policy, make_vec_env(s.env_id, 1, 10_000, **s.env_kwargs), rep / "policy.gif")
        else:
            gif_path = rep / "policy.gif"
            record_gif(policy, s.env_id, gif_path, seed=10_000, max_steps=300, **s.env_kwargs)
    text = json.dumps(data, indent=2, default=float) + "\n"
    with atomic_path(rep / "report.json") as tmp:
        tmp.write_text(text)
    md = _markdown(s, data, gif)
    with atomic_path(rep / "report.md") as tmp:
        tmp.write_text(md)
    return RunReport(rep / "report.md", json.loads(text))


def _plots(
    rep: Path,
    scores: dict[str, PolicyScore],
    learned: np.ndarray,
    truth: np.ndarray,
    corr: float | None,
    versions: list[dict[str, Any]],
    counts: dict[str, int],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        with atomic_path(rep / name) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    if versions:
        x = [v.get("n_pairs", i + 1) for i, v in enumerate(versions)]
        for key, style in (("heldout_accuracy", "o-"), ("train_accuracy", ".--")):
            y = [float(v.get(key) or np.nan) for v in versions]
            ax.plot(x, y, style, label=key.removesuffix("_accuracy"))
        ax.legend()
    ax.set(xlabel="labelled pairs", ylabel="accuracy", title="Reward model", ylim=(0.4, 1.02))
    save(fig, "reward_model.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    if learned.size:
        ax.scatter(truth, learned, s=4, alpha=0.3)
    title = "Learned vs oracle reward (held-out steps)"
    ax.set(xlabel="oracle reward", ylabel="learned reward (normalised)")
    ax.set_title(title + (f"\nPearson r = {corr:.2f}" if corr is not None else ""), fontsize=9)
    save(fig, "correlation.png")

    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    names = list(scores)
    for ax, key, label in zip(
        axes, ("oracle_return", "env_return"), ("oracle", "env"), strict=True
    ):
        vals = [getattr(scores[k], key) or 0.0 for k in names]
        ax.bar(names, vals, color=["tab:blue", "tab:gray", "tab:green"][: len(names)])
        ax.set_title(f"mean {label} return")
    save(fig, "returns.png")

    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(list(counts), list(counts.values()))
    ax.set_title("labels")
    save(fig, "labels.png")


def _markdown(s: RLHFSettings, data: dict[str, Any], gif: bool) -> str:
    sc = data["scores"]

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lines = [
        f"# RLHF run: {s.env_id}, teacher {s.teacher}"
        + (f":{s.rater}" if s.teacher != HUMAN else ""),
        "",
        f"{s.timesteps} env steps, {s.labels} labels asked, clips of {s.clip_seconds} s,"
        f" queries by {s.query_method}, {s.ppo.algo.upper()} with {s.ppo.n_envs} envs.",
        "",
        "## Policy returns (mean over evaluation episodes, fresh seeds)",
        "",
        "| policy | oracle return | env return | episodes ended early |",
        "|---|---|---|---|",
    ]
    for k, v in sc.items():
        lines.append(
            f"| {k} | {num(v['oracle_return'])} | {num(v['env_return'])}"
            f" | {v['terminated']}/{v['episodes']} |"
        )
    versions = data["reward_model_versions"]
    last = versions[-1] if versions else {}
    lines += [
        "",
        "![returns](returns.png)",
        "",
        "## Reward model",
        "",
        f"{len(versions)} versions; last: held-out accuracy"
        f" {num(last.get('heldout_accuracy'))} on {last.get('n_heldout', 0)} pairs,"
        f" train accuracy {num(last.get('train_accuracy'))}.",
        f"Learned vs oracle reward on held-out steps: Pearson r ="
        f" {num(data['learned_oracle_correlation'])}.",
        "",
        "![reward model](reward_model.png) ![correlation](correlation.png)",
        "",
        "## Labels",
        "",
        ", ".join(f"{k}: {v}" for k, v in data["labels"].items()) or "none",
        "",
        "![labels](labels.png)",
        "",
    ]
    if gif:
        lines += ["## The policy", "", "![policy](policy.gif)", ""]
    return "\n".join(lines)
