"""The end-of-run report: numbers people check, plots they look at, a GIF of the policy.

``write_report(out)`` reads a finished run folder and writes ``out/report/`` (it trains
nothing itself: the baseline comes from the caller, see :mod:`~rlhf_sandbox.agents.rlhf.run`):
``report.md``, ``report.json``, ``reward_model.png`` (held-out accuracy per version),
``correlation.png`` (learned vs oracle reward on the evaluation steps), ``returns.png``
(mean oracle and env returns of the policy, a random policy and PPO trained directly on
the oracle), ``fidelity.png`` (how far to trust the learned reward, as labels grow: see
:mod:`~rlhf_sandbox.agents.rlhf.fidelity_report`), ``labels.png`` (label counts),
``policy.gif`` and ``oracle_ppo.pt`` (the baseline, used again by ``report --run``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from rlhf_sandbox.agents.evaluation import fidelity as fm
from rlhf_sandbox.agents.evaluation.rollouts import (
    PolicyFn,
    evaluate,
    random_policy,
    record_gif,
    sb3_policy,
)
from rlhf_sandbox.agents.evaluation.vectorized import evaluate_vec, vec_gif
from rlhf_sandbox.agents.policy.ppo import load_policy, save_policy
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble
from rlhf_sandbox.agents.rlhf.fidelity_report import (
    StepLog,
    StepRecorder,
    curve_versions,
    feature_rows,
    heldout_labels,
    measure,
    plot_curve,
    raters_agreement,
)
from rlhf_sandbox.agents.rlhf.report_md import markdown
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, clip_steps
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.envs.ids import is_game_spec, trains_by_role
from rlhf_sandbox.envs.vector import decision_hz, make_vec_env
from rlhf_sandbox.files import atomic_path
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.run_folder import RunFolder, RunStore


@dataclass
class PolicyScore:
    """Mean returns of one policy over the evaluation episodes."""

    env_return: float
    oracle_return: float | None
    episodes: int
    crashes: int  # episodes ended by termination

    def to_json(self) -> dict[str, Any]:
        return {
            "env_return": self.env_return,
            "oracle_return": self.oracle_return,
            "episodes": self.episodes,
            "terminated": self.crashes,
        }


EVAL_SEED = 10_000  # evaluation episode k is seeded EVAL_SEED + k: seeds no training used


def score_policy(
    policy: PolicyFn,
    s: RLHFSettings,
    oracle: Oracle | None,
    name: str,
    episodes: int,
    seed: int = EVAL_SEED,
) -> tuple[PolicyScore, StepLog]:
    """Evaluate on fresh seeds: env return, oracle return, and every step kept."""
    by_role = trains_by_role(s.env_id)
    venv = make_vec_env(s.env_id, s.ppo.n_envs if by_role else 1, 0, **s.env_kwargs)
    recorder = StepRecorder(venv.action_space)
    venv.close()
    if by_role:  # no Gymnasium id: the role's SB3 VecEnv (arena_v0, a PettingZoo game)
        venv = make_vec_env(s.env_id, s.ppo.n_envs, seed, **s.env_kwargs)
        res = evaluate_vec(policy, venv, episodes, recorder)
        venv.close()
    else:
        res = evaluate(
            policy, s.env_id, episodes, seed, n_envs=min(16, episodes), observer=recorder,
            **s.env_kwargs,
        )  # fmt: skip
    log = recorder.log(name, oracle, res.terminated)
    oracle_ret = None
    if log.oracle is not None:
        oracle_ret = float(np.mean([e.sum() for e in log.episodes(log.oracle)]))
    score = PolicyScore(res.mean, oracle_ret, episodes, int(res.terminated.sum()))
    return score, log


def _env_facts(s: RLHFSettings) -> tuple[Any, float]:
    """The env's action space and decisions per second."""
    n = s.ppo.n_envs if trains_by_role(s.env_id) else 1
    venv = make_vec_env(s.env_id, n, 0, **s.env_kwargs)
    try:
        return venv.action_space, decision_hz(venv)
    finally:
        venv.close()


BaselineTrainer = Callable[[RLHFSettings, Oracle], OnPolicyAlgorithm]
"""Trains the report's baseline (PPO on the oracle's own reward) for a run's settings."""
BASELINE_POLICY = "oracle_ppo.pt"  # in the report folder: `report --run` uses it again


@dataclass(frozen=True)
class RunReport:
    """What :func:`write_report` wrote: ``data`` is ``report.json``'s content."""

    path: Path  # report.md
    data: dict[str, Any]

    @property
    def warnings(self) -> list[dict[str, str]]:
        """The fidelity warnings: ``code``, ``message``, ``what_to_try``."""
        return list((self.data.get("fidelity") or {}).get("warnings", []))


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
    :func:`~rlhf_sandbox.agents.rlhf.run.train_oracle_ppo`) and saves it in the report
    folder; without one, a baseline saved there by an earlier report is used again. None
    for a human teacher. ``store``: the URL of the shared store the run wrote to, when the
    one its folder saved (``store.json``) had a password."""
    folder = RunFolder(out)
    s = RLHFSettings.saved(folder.read_settings())
    where = folder.saved_store(store)  # before the long evaluation: a bad URL fails now
    rep = folder.report
    rep.mkdir(parents=True, exist_ok=True)
    oracle = s.teacher_value.resolve()
    model = RewardEnsemble.load(folder.reward_model) if folder.reward_model.exists() else None
    space, hz = _env_facts(s)
    policies: dict[str, PolicyFn] = {
        "rlhf": sb3_policy(load_policy(folder.policy)),
        "random": random_policy(space, s.seed),
    }
    saved_baseline = rep / BASELINE_POLICY
    if oracle is not None and baseline is not None:
        algo = baseline(s, oracle)
        save_policy(algo, saved_baseline, s.ppo, env_id=s.env_id)
        policies["oracle_ppo"] = sb3_policy(algo)
    elif oracle is not None and saved_baseline.is_file():
        policies["oracle_ppo"] = sb3_policy(load_policy(saved_baseline))
    scores, logs = {}, []
    for name, pol in policies.items():
        scores[name], log = score_policy(pol, s, oracle, name, episodes)
        logs.append(log)
    with _open_clips(folder, where) as clips:
        labels = clips.db.labels(where.run if where.shared else None)  # shared: others' too
        rows = clips.db.reward_models(where.run)
        versions = [dict(v.metrics, version=v.version) for v in rows]
        fid = (
            fidelity(s, model, logs, clips, where.run, versions, folder, clip_steps(s, hz))
            if model is not None
            else None
        )
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab.choice] = counts.get(lab.choice, 0) + 1
    final = fid.pop("_final") if fid else None
    learned = np.concatenate(final.learned) if final else np.zeros(0)
    truth = np.concatenate([g.oracle for g in logs if g.oracle is not None]) if final else learned
    corr = fm.pearson(learned, truth) if learned.size > 2 else None
    data = {
        "settings": s.to_json(),
        "scores": {k: v.to_json() for k, v in scores.items()},
        "learned_oracle_correlation": corr,
        "reward_model_versions": versions,
        "labels": counts,
        "fidelity": fid,
    }
    _plots(rep, scores, learned, truth, corr, versions, counts)
    if fid and fid["curve"]:
        plot_curve(rep / "fidelity.png", fid["curve"])
    if gif:
        if trains_by_role(s.env_id):
            drawn = {"render_mode": "rgb_array"} if is_game_spec(s.env_id) else {}
            gif_venv = make_vec_env(s.env_id, 1, EVAL_SEED, **s.env_kwargs, **drawn)
            gif = vec_gif(policies["rlhf"], gif_venv, rep / "policy.gif") > 0
            gif_venv.close()
        else:
            gif_path = rep / "policy.gif"
            record_gif(
                policies["rlhf"], s.env_id, gif_path, seed=EVAL_SEED, max_steps=300,
                **s.env_kwargs,
            )  # fmt: skip
    text = json.dumps(data, indent=2, default=float, allow_nan=False) + "\n"
    with atomic_path(rep / "report.json") as tmp:
        tmp.write_text(text)
    md = markdown(s, data, gif)
    with atomic_path(rep / "report.md") as tmp:
        tmp.write_text(md)
    return RunReport(rep / "report.md", json.loads(text))


@contextlib.contextmanager
def _open_clips(folder: RunFolder, where: RunStore) -> Iterator[ClipStore]:
    clips: ClipStore = (
        ClipStore.open(where.url, where.clips) if where.shared else folder.open_store()
    )
    try:
        yield clips
    finally:
        clips.db.close()


def fidelity(
    s: RLHFSettings,
    model: RewardEnsemble,
    logs: list[StepLog],
    clips: ClipStore,
    run: str,
    versions: list[dict[str, Any]],
    folder: RunFolder,
    length: int,
) -> dict[str, Any]:
    """The fidelity section's data (``report.json``'s ``fidelity``); its ``_final`` entry is
    the final model's :class:`Measures` (taken out before writing)."""
    gamma = s.ppo.gamma
    final = measure(model, logs, length, gamma)
    curve = []
    by_version = {int(v["version"]): v for v in versions}
    for v in curve_versions(sorted(by_version)):
        path, _ = folder.reward_model_version(v)
        if v == max(by_version) or not path.is_file():
            m = final if v == max(by_version) else None
        else:
            m = measure(RewardEnsemble.load(path), logs, length, gamma)
        if m is not None:
            pairs = by_version[v].get("n_pairs", 0)
            curve.append({"version": v, "pairs": pairs, **m.to_json()})
    trend = fm.agreement_trend(
        [(p["pairs"], p["pool"]["counted"]["value"], p["pool"]["counted"]["n"]) for p in curve]
    )
    oracle_steps = [g.oracle for g in logs if g.oracle is not None]
    terminal = [np.isin(np.arange(len(g.env_reward)), g.bounds[1:][g.terminated] - 1) for g in logs]
    choices = [lab.choice for lab in clips.db.labels(run)]
    warns = fm.fidelity_warnings(
        pool=final.pool if final else None,
        trend=trend if final else None,
        choices=choices,
        step_reward=np.concatenate(oracle_steps) if final else None,
        terminal=np.concatenate(terminal) if final else None,
    )
    held = heldout_labels(model, clips, run, s.test_share, s.seed, length)
    return {
        "_final": final,
        "pool_policies": [g.name for g in logs],
        "eval_seeds": [EVAL_SEED, EVAL_SEED + len(logs[0].terminated) - 1] if logs else [],
        "clip_steps": length,
        **(final.to_json() if final else {}),
        "heldout_labels": {**held.to_json(), "test_share": s.test_share},
        "raters": raters_agreement(clips, run) if s.teacher_value.human else None,
        "features": [r.to_json() for r in feature_rows(logs, final.learned)] if final else [],
        "trend": trend.to_json() if final else None,
        "curve": curve,
        "warnings": [w.to_json() for w in warns],
    }


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
        for key, style, label in (
            ("heldout_accuracy", "o-", "early-stopping pairs"),
            ("train_accuracy", ".--", "train"),
        ):
            y = [float(v.get(key) or np.nan) for v in versions]
            ax.plot(x, y, style, label=label)
        ax.legend()
    ax.set(xlabel="labelled pairs", ylabel="accuracy", title="Reward model", ylim=(0.4, 1.02))
    save(fig, "reward_model.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    if learned.size:
        ax.scatter(truth, learned, s=4, alpha=0.3)
    title = "Learned vs oracle reward (evaluation steps)"
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
