"""The companion's RLHF cell with and without exploration and an even label schedule
(issue 20): which of the two lifts it to PPO's level.

Run (after ``bench/npc_suite.py --tasks companion``, whose cells are the row "both"):

    .venv/bin/python bench/companion_schedule.py --jobs 2     # every cell not done yet
    .venv/bin/python bench/companion_schedule.py --summary    # the table

The NPC suite's companion cell (``preference_suite.rlhf_settings`` of the task, 500 labels
from a perfect rater, 500,000 steps, seeds 0-4, evaluated by the report on 50 episodes,
normalised by the suite's reference cells) with the suite's refits (``refit_growth`` 0.25,
:data:`COMMON`), under the variants of :data:`VARIANTS`: nothing else changed; PEBBLE's
exploration for the first 51,200 steps; the labels spread evenly (a tenth on the first
rollout asked, no decay). The row "both" is the NPC suite's own companion cells
(``npc_suite.COMPANION_RLHF``: the two together, with the same refits), read from its files,
not run again here. And the guard: its NPC suite cells (the defaults, a refit every
rollout) beside ``guard: both``, its cell with the companion's settings, which a run of both
roles from one settings file would give it. One process per cell; a cell's JSON under
``bench/results/companion_schedule/`` is never run again.

``--terms``: where the return is won or lost. The oracle's terms (per 300-step episode) of
the kept policies, deterministic, 8 env slots x 600 steps on env seed 5: the suite's PPO
references, its RLHF cells, and the RLHF cells run with the defaults if their policies were
kept in ``bench/results/npc_suite_defaults/policies/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import npc_suite as ns
from common import ROOT, machine, single_thread

OUT = ROOT / "bench" / "results" / "companion_schedule"
SEEDS = (0, 1, 2, 3, 4)
COMMON: dict[str, Any] = {"refit_growth": ns.COMPANION_RLHF["refit_growth"]}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "explore": {"explore_steps": ns.COMPANION_RLHF["explore_steps"]},
    "even labels": {k: ns.COMPANION_RLHF[k] for k in ("initial_label_share", "label_decay")},
    "guard: both": dict(ns.COMPANION_RLHF),  # the guard's cell with the companion's settings
}
VARIANT_TASK = {"guard: both": "guard"}  # the others: companion
BOTH = "both (the NPC suite's cells)"
GUARD_SUITE = "guard: defaults (the NPC suite's cells, a refit every rollout)"


def cell_path(variant: str, seed: int) -> Path:
    return OUT / f"{variant.replace(':', '').replace(' ', '_')}__s{seed}.json"


def references(task: str = "companion") -> tuple[float, float]:
    """R_random and the median R_PPO of the NPC suite's reference cells of ``task``."""

    def r(key: str) -> float:
        path = ns.OUT / f"{task}__{key}.json"
        if not path.is_file():
            sys.exit(f"Error: {path} is missing: run bench/npc_suite.py --tasks {task} first")
        return float(json.loads(path.read_text())["R"])

    return r("random"), statistics.median(r(f"ppo__s{s}") for s in SEEDS)


def variant_task(variant: str) -> Any:
    """The suite task of a cell: the NPC suite's task without its own RLHF changes (the
    preference suite's), with :data:`COMMON` and the variant's settings instead."""
    task = ns.npc_tasks()[VARIANT_TASK.get(variant, "companion")]
    return dataclasses.replace(task, rlhf={**COMMON, **VARIANTS[variant]})


def cell_settings(variant: str, seed: int) -> Any:
    """The RLHFSettings of a cell (``preference_suite.rlhf_settings`` of its task)."""
    import preference_suite as ps

    return ps.rlhf_settings(variant_task(variant), ns.RATER, ns.LABELS, seed)


def run_cell(variant: str, seed: int) -> dict[str, Any]:
    """One RLHF cell: the preference suite's runner (``open_run``, ``train_and_report``, the
    report's PPO baseline being the NPC suite's reference policy of the same seed)."""
    import preference_suite as ps

    single_thread()
    task = variant_task(variant)
    cell = ps.Cell(task.name, "rlhf", ns.RATER, ns.LABELS, seed)
    got = ps.run_rlhf(task, cell, ns.OUT, 1.0)
    r_random, r_ppo = references(task.name)
    R = float(got["R"])
    return {
        "variant": variant, "task": task.name, "seed": seed, "R": R,
        "normalised": (R - r_random) / (r_ppo - r_random),
        "pool": ((got["fidelity"] or {}).get("pool") or {}).get("value"),
        "train_seconds": got["train_seconds"], "settings": got["settings"],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(),
    }  # fmt: skip


def run_missing(jobs: int, variants: list[str], seeds: list[int]) -> None:
    todo = [(v, s) for s in seeds for v in variants if not cell_path(v, s).is_file()]
    print(f"{len(todo)} cells to run, {jobs} at a time", flush=True)

    def one(cell: tuple[str, int]) -> None:
        v, s = cell
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--cell", v, str(s)], check=False)
        print(f"{v} s{s}: {'done' if done.returncode == 0 else 'FAILED'}"
              f" in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(one, todo))


def suite_cells(task: str = "companion") -> list[dict[str, Any]]:
    """The NPC suite's RLHF cells of ``task`` there are, as rows of this grid."""
    if not (ns.OUT / f"{task}__random.json").is_file():
        return []  # no references, no rows
    r_random, r_ppo = references(task)
    out = []
    for s in SEEDS:
        path = ns.OUT / f"{task}__{ns.RATER}__{ns.LABELS}__s{s}.json"
        if path.is_file():
            cell = json.loads(path.read_text())
            pool = (cell.get("fidelity") or {}).get("pool") or {}
            R = float(cell["R"])
            out.append({"seed": s, "normalised": (R - r_random) / (r_ppo - r_random),
                        "pool": pool.get("value")})  # fmt: skip
    return out


def summary() -> str:
    rows = ["| variant | normalised, seeds 0-4 | median | pool agreement (median) |",
            "|---|---|---:|---:|"]  # fmt: skip
    grid = {v: [json.loads(p.read_text()) for s in SEEDS if (p := cell_path(v, s)).is_file()]
            for v in VARIANTS}  # fmt: skip
    grid[BOTH] = suite_cells()
    grid[GUARD_SUITE] = suite_cells("guard")
    grid = {k: grid[k] for k in (*list(VARIANTS)[:3], BOTH, GUARD_SUITE, "guard: both")}
    for v, got in grid.items():
        if not got:
            continue
        norm = ", ".join(f"{g['normalised']:.2f}" for g in got)
        med = statistics.median(g["normalised"] for g in got)
        pools = [g["pool"] for g in got if g["pool"] is not None]
        pool = f"{statistics.median(pools):.2f}" if pools else "-"
        rows.append(f"| {v} | {norm} | {med:.2f}{'' if len(got) == 5 else ' (partial)'} | {pool} |")
    return "\n".join(rows)


DEFAULTS_POLICIES = ns.OUT.parent / "npc_suite_defaults" / "policies"
TERM_SLOTS, TERM_STEPS, TERM_SEED = 8, 600, 5


def policy_terms(path: Path) -> dict[str, float]:
    """The oracle's return and its terms per 300-step episode of the policy at ``path``
    (deterministic), on TERM_SLOTS env slots for TERM_STEPS steps."""
    import reward_ideas as ri

    from rlhf_sandbox.agents.policy.ppo import load_policy

    single_thread()
    task = ns.npc_tasks()["companion"].base
    p = load_policy(path)
    rec = ri.Task("companion", task.env_id, dict(task.env_kwargs), "companion", 30, TERM_SLOTS,
                  TERM_STEPS)  # fmt: skip
    _, _, r, terms = ri.segments_and_terms(
        rec, lambda o: p.predict(o, deterministic=True)[0], TERM_SEED
    )
    per_episode = 300 / r.size
    return {"oracle": float(r.sum() * per_episode),
            **{k: float(v.sum() * per_episode) for k, v in terms.items()}}  # fmt: skip


def terms_table() -> str:
    groups = {
        "PPO on the oracle": [ns.OUT / "policies" / f"companion__ppo__s{s}.pt" for s in SEEDS],
        "RLHF, defaults": [DEFAULTS_POLICIES / f"companion__perfect__500__s{s}.pt" for s in SEEDS],
        "RLHF, the suite's": [
            ns.policy_path(ns.OUT, f"companion__perfect__500__s{s}") for s in SEEDS
        ],
    }
    rows, names = [], None
    for group, paths in groups.items():
        got = [policy_terms(p) for p in paths if p.is_file()]
        if not got:
            continue
        names = names or list(got[0])
        med = [statistics.median(g[k] for g in got) for k in names]
        rows.append(f"| {group} ({len(got)} seeds) | " + " | ".join(f"{m:.1f}" for m in med) + " |")
    if names is None:
        return "no policies kept"
    head = "| policies (median) | " + " | ".join(names) + " |"
    return "\n".join([head, "|---|" + "---:|" * len(names), *rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    p.add_argument("--summary", action="store_true")
    p.add_argument("--terms", action="store_true", help="the oracle's terms of the kept policies")
    p.add_argument("--cell", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.cell:
        variant, seed = a.cell[0], int(a.cell[1])
        res = run_cell(variant, seed)
        OUT.mkdir(parents=True, exist_ok=True)
        cell_path(variant, seed).write_text(json.dumps(res, indent=2))
        return
    if a.terms:
        print(terms_table())
        return
    if not a.summary:
        for task in {VARIANT_TASK.get(v, "companion") for v in a.variants}:
            references(task)  # before any run: the references must be there
        run_missing(a.jobs, a.variants, a.seeds)
    print(summary())


if __name__ == "__main__":
    main()
