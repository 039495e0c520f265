"""Sparse rewards (issue 17, item 3): Acrobot-v1 from preferences with and without
exploration before the first queries (``explore_steps``), few labels.

Run: ``.venv/bin/python bench/sparse_explore.py`` (50 labels, seeds 0-4, perfect rater: ten
runs of about 2 minutes each on a free core of this machine); ``--labels``, ``--seeds``,
``--rater``, ``--explore`` (steps; default the preference suite's ``ACROBOT_EXPLORE``).
One file per run under ``bench/results/sparse_explore/`` (a run already there is not run
again); the summary goes to ``bench/results/sparse_explore.json``.

Each run is the preference suite's Acrobot RLHF cell (bench/preference_suite.py: the same
PPO settings and steps, 10 s clips, the ``env`` teacher, the same evaluation) with
``explore_steps`` set to 0 ("off") or ``--explore`` ("on"), so the two differ in that
setting only. Scores are normalised with the suite's references, which must be done first
(``preference_suite.py --tasks acrobot --grid refs``): (R - R_random) / (R_PPO - R_random).
Beside each run: how many of its labels were not "equal", the labels that say anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import preference_suite as ps
from common import ROOT, save, single_thread

OUT = ROOT / "bench" / "results" / "sparse_explore"


def run(labels: int, explore: int, seed: int, rater: str) -> dict[str, Any]:
    """One Acrobot RLHF run (cached in ``OUT``)."""
    path = OUT / f"acrobot__{rater}__{labels}__explore{explore}__s{seed}.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    task = ps.suite_tasks()["acrobot"]
    task = dataclasses.replace(task, rlhf={**task.rlhf, "explore_steps": explore})
    t0 = time.perf_counter()
    r = ps.run_rlhf(task, ps.Cell("acrobot", "rlhf", rater, labels, seed), ps.OUT, 1.0)
    r["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(r, indent=1, default=float))
    tmp.replace(path)
    return r


def references() -> tuple[float, float]:
    """R_random and the median R_PPO of the suite's Acrobot reference cells."""
    random_cell = ps.OUT / "acrobot__random.json"
    ppo = sorted(ps.OUT.glob("acrobot__ppo__s*.json"))
    if not random_cell.is_file() or not ppo:
        raise SystemExit(
            "Error: the suite's Acrobot references are missing: run"
            " .venv/bin/python bench/preference_suite.py --tasks acrobot --grid refs"
        )
    r_ppo = statistics.median(float(json.loads(p.read_text())["R"]) for p in ppo)
    return float(json.loads(random_cell.read_text())["R"]), r_ppo


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", type=int, default=50)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--rater", choices=sorted(ps.RATERS), default="perfect")
    p.add_argument("--explore", type=int, default=ps.ACROBOT_EXPLORE)
    a = p.parse_args(argv)
    single_thread()
    r_random, r_ppo = references()
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, explore in (("on", a.explore), ("off", 0)):
        for seed in a.seeds:
            r = run(a.labels, explore, seed, a.rater)
            told = sum(v for k, v in r["label_counts"].items() if k != "equal")
            norm = (r["R"] - r_random) / (r_ppo - r_random)
            rows.setdefault(name, []).append(
                {"seed": seed, "R": r["R"], "normalised": round(norm, 3), "told_apart": told,
                 "labels": r["labels_asked"], "seconds": r["seconds"]}
            )  # fmt: skip
            print(f"explore {name:>3} seed {seed}: R {r['R']:8.2f}  normalised {norm:5.2f}"
                  f"  labels not equal {told}/{r['labels_asked']}", flush=True)  # fmt: skip
    summary = {}
    for name, rs in rows.items():
        scores = [x["normalised"] for x in rs]
        lo, hi, cover = ps.order_interval(scores)
        summary[name] = {
            "median": statistics.median(scores), "interval": [lo, hi], "coverage": cover,
            "told_apart_median": statistics.median(x["told_apart"] for x in rs),
        }  # fmt: skip
        print(f"explore {name:>3}: median normalised {summary[name]['median']:.2f}"
              f" [{lo:.2f}, {hi:.2f}] ({cover:.0%}), labels not equal (median)"
              f" {summary[name]['told_apart_median']}")  # fmt: skip
    path = save(
        "sparse_explore",
        {"labels": a.labels, "rater": a.rater, "explore_steps": a.explore,
         "references": {"random": r_random, "ppo_median": r_ppo}, "runs": rows,
         "summary": summary},
    )  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
