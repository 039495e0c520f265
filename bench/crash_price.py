"""The price a learned reward puts on a crash (issue 17): why the crossing's RLHF policies
never yield.

Run: ``.venv/bin/python bench/crash_price.py [--tasks ...] [--seeds ...] [--clip-seconds S]``
(about 5 minutes per task and seed on one core of this 2-core machine) after
``bench/preference_suite.py`` has run the tasks' PPO references (their policies are read
from ``bench/results/preference_suite/policies/``).

For each task and seed, the preference suite's RLHF cell (perfect rater, 500 labels, the
cell's settings) is trained again, in a temporary folder; then the PPO reference of that seed
(trained on the oracle), the RLHF policy and a random policy each drive EPISODES evaluation
episodes (the report's seeds), and on those steps:

* exchange rate: the least-squares slope of the learned reward on the oracle's, and their
  correlation, over the steps without a collision (learned units per oracle unit);
* crash price: what a collision costs PPO under the learned reward (the collision step's
  learned reward plus the absorbing tail PPO is given, ``gamma / (1 - gamma)`` absorbing
  rewards, less the mean collision-free step) divided by the exchange rate, so in the
  oracle's units, beside the oracle's own price (its collision step less the mean step);
* clip range: the spread (max - min) of the oracle returns of the collision-free windows
  of the cell's clip length in the same episodes. A perfect rater prefers every clip
  without a collision to every clip that has one, however much the collision costs, so
  labels only require the learned price to exceed about this range: above it, nothing
  in them tells a price of twice the range from one of a hundred times;
* episode returns under the learned reward (the tail included), per policy: whether the
  learned reward ranks the reference above the RLHF policy, as the oracle does;
* term prices: on the three policies' collision-free steps together, each term of the
  oracle (progress, headway, ...) weighed in the learned reward by least squares, relative
  to the oracle's own weight (1: priced alike, 0: ignored, below 0: the wrong sign).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, machine, save, single_thread

EPISODES = 50
TASKS = ("crossing", "merge", "highway")
SEEDS = (0, 1, 2)
POLICIES = ROOT / "bench" / "results" / "preference_suite" / "policies"


def exchange_rate(oracle: np.ndarray, learned: np.ndarray) -> tuple[float, float]:
    """``(slope, corr)`` of ``learned`` on ``oracle`` (steps ``[S]`` each, no collisions)."""
    slope = float(np.polyfit(oracle, learned, 1)[0])
    return slope, float(np.corrcoef(oracle, learned)[0, 1])


def crash_prices(
    oracle: np.ndarray,
    learned: np.ndarray,
    crash: np.ndarray,
    tail_reward: float,
    slope: float,
) -> tuple[float, float] | None:
    """``(learned price in oracle units, oracle price)`` of a collision, both as a change
    from the mean collision-free step (negative: a cost); None without collisions.
    ``tail_reward``: the absorbing tail PPO is given on a terminating step."""
    if not crash.any():
        return None
    calm = ~crash
    learned_cost = float(learned[crash].mean() + tail_reward - learned[calm].mean())
    oracle_cost = float(oracle[crash].mean() - oracle[calm].mean())
    return learned_cost / slope, oracle_cost


def term_prices(terms: dict[str, np.ndarray], learned: np.ndarray) -> dict[str, float]:
    """Each oracle term's price under the learned reward, relative to the oracle's: the
    least-squares weight of the term in ``learned`` (all terms and a constant fitted at
    once) divided by the slope of ``learned`` on the terms' sum. 1: priced as the oracle
    prices it; 0: ignored; negative: the wrong sign. Terms constant over the steps are left
    out (nothing to fit)."""
    names = [k for k, v in terms.items() if np.ptp(v) > 0]
    if not names:
        return {}
    x = np.stack([terms[k] for k in names], axis=1)
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.linalg.lstsq(design, learned, rcond=None)[0][:-1]
    slope = float(np.polyfit(x.sum(axis=1), learned, 1)[0])
    return {k: float(wk / slope) for k, wk in zip(names, w, strict=True)}


def clip_range(oracle: np.ndarray, crash: np.ndarray, bounds: np.ndarray, t: int) -> float:
    """Spread (max - min) of the oracle returns of the collision-free windows of ``t`` steps
    (every start) in the episodes ``bounds`` (``[E + 1]``) of the per-step ``oracle``."""
    sums: list[np.ndarray] = []
    for a, b in itertools.pairwise(bounds):
        if b - a < t:
            continue
        c = np.concatenate([[0.0], np.cumsum(oracle[a:b])])
        k = np.concatenate([[0], np.cumsum(crash[a:b])])
        ret = c[t:] - c[:-t]
        sums.append(ret[(k[t:] - k[:-t]) == 0])
    got = np.concatenate(sums) if sums else np.zeros(0)
    return float(got.max() - got.min()) if got.size else math.nan


def _learned_steps(model: Any, log: Any, tail: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The report's per-step learned rewards of ``log`` (no tail), its episode returns with
    the absorbing tail on terminating steps, and the absorbing reward."""
    from rlhf_sandbox.agents.rlhf.fidelity_report import absorbing_reward, learned_steps

    plain = learned_steps(model, log)
    r_abs = absorbing_reward(model, log)
    ends = np.zeros_like(plain)
    ends[(log.bounds[1:] - 1)[log.terminated]] = tail * r_abs
    return plain, np.array([e.sum() for e in log.episodes(plain + ends)]), r_abs


def one(task_name: str, seed: int, clip_seconds: float | None = None) -> dict[str, Any]:
    """Train the task's RLHF cell of ``seed`` (its clips ``clip_seconds`` long, if given)
    and measure its learned reward's prices."""
    import dataclasses

    import preference_suite as ps

    from rlhf_sandbox.agents.evaluation.rollouts import random_policy, sb3_policy
    from rlhf_sandbox.agents.policy.ppo import load_policy
    from rlhf_sandbox.agents.reward.absorbing import tail_factor
    from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
    from rlhf_sandbox.agents.rlhf.report import score_policy

    task = ps.suite_tasks()[task_name]
    s = ps.rlhf_settings(task, "perfect", 500, seed)
    if clip_seconds is not None:
        s = dataclasses.replace(s, clip_seconds=clip_seconds)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crash-price-") as tmp:
        loop = RLHFLoop(s, Path(tmp) / "run")
        try:
            loop.train(progress=False)
            model, rlhf = loop.model, sb3_policy(loop.algo)
            space, T = loop.venv.action_space, loop.T
        finally:
            loop.close()
    train_s = time.perf_counter() - t0
    oracle = s.teacher_value.resolve()
    tail = tail_factor(s.ppo.gamma)
    ref = sb3_policy(load_policy(POLICIES / f"{task_name}__ppo__s{seed}.pt"))
    out: dict[str, Any] = {
        "task": task_name, "seed": seed, "clip_steps": T, "gamma": s.ppo.gamma,
        "tail_steps": tail, "train_seconds": round(train_s, 1),
    }  # fmt: skip
    policies = {"reference": ref, "rlhf": rlhf, "random": random_policy(space, seed)}
    pooled: list[tuple[dict[str, np.ndarray], np.ndarray]] = []
    for name, pol in policies.items():
        score, log = score_policy(pol, s, oracle, name, EPISODES)
        plain, returns, r_abs = _learned_steps(model, log, tail)
        out["absorbing_reward"] = r_abs
        crash = log.features["collision"] > 0
        parts = oracle.terms(log.features, log.env_reward)
        pooled.append(({k: v[~crash] for k, v in parts.items()}, plain[~crash]))
        slope, corr = exchange_rate(log.oracle[~crash], plain[~crash])
        prices = crash_prices(log.oracle, plain, crash, tail * r_abs, slope)
        out[name] = {
            "oracle_return": score.oracle_return, "learned_return": float(returns.mean()),
            "collisions": int(crash.sum()), "slope": slope, "corr": corr,
            "learned_price": None if prices is None else prices[0],
            "oracle_price": None if prices is None else prices[1],
            "clip_range": clip_range(log.oracle, crash, log.bounds, T),
        }  # fmt: skip
    names = pooled[0][0].keys()
    out["term_prices"] = term_prices(
        {k: np.concatenate([p[0][k] for p in pooled]) for k in names},
        np.concatenate([p[1] for p in pooled]),
    )
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task, medians over seeds of the random policy's figures (its steps cover the
    widest range) and how often the learned reward ranks the reference first."""
    by: dict[str, Any] = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]

        def med(key: str, policy: str = "random", rows_: list[dict[str, Any]] = mine) -> float:
            vals = [r[policy][key] for r in rows_ if r[policy][key] is not None]
            return statistics.median(vals) if vals else math.nan

        by[task] = {
            "seeds": [r["seed"] for r in mine],
            "slope": med("slope"), "corr": med("corr"),
            "learned_price": med("learned_price"), "oracle_price": med("oracle_price"),
            "clip_range": med("clip_range"),
            "reference_first_learned": sum(
                r["reference"]["learned_return"] > r["rlhf"]["learned_return"] for r in mine
            ),
            "term_prices": {
                k: statistics.median(r["term_prices"][k] for r in mine if k in r["term_prices"])
                for k in dict.fromkeys(k for r in mine for k in r["term_prices"])
            },
            "reference_first_oracle": sum(
                r["reference"]["oracle_return"] > r["rlhf"]["oracle_return"] for r in mine
            ),
        }  # fmt: skip
    return by


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument(
        "--clip-seconds",
        type=float,
        help="clips of this length instead of the cell's (a probe:"
        " its results go to crash_price_clipS.json)",
    )
    a = p.parse_args(argv)
    single_thread()
    rows = []
    for task in a.tasks:
        for seed in a.seeds:
            rows.append(one(task, seed, a.clip_seconds))
            r = rows[-1]
            print(
                f"{task} s{seed}: price {r['random']['learned_price']:.1f} learned vs"
                f" {r['random']['oracle_price']:.1f} oracle (clip range"
                f" {r['random']['clip_range']:.1f}); learned return reference"
                f" {r['reference']['learned_return']:.1f}, rlhf {r['rlhf']['learned_return']:.1f}",
                file=sys.stderr,
                flush=True,
            )
    result = {"machine": machine(), "episodes": EPISODES, "rows": rows, "summary": summary(rows)}
    print(json.dumps(result["summary"], indent=1))
    name = "crash_price" if a.clip_seconds is None else f"crash_price_clip{a.clip_seconds:g}"
    save(name, {**result, "clip_seconds": a.clip_seconds})


if __name__ == "__main__":
    main()
