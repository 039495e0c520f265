"""NPC suite (issue 20): RLHF with 500 labels on NPC roles, ours and a PettingZoo game's.

Run (never while timing figures are being taken on the same machine):

    .venv/bin/python bench/npc_suite.py --list        # the cells, done or not
    .venv/bin/python bench/npc_suite.py --jobs 2      # every cell not done yet
    .venv/bin/python bench/npc_suite.py --summary     # the table

Target: RLHF with 500 labels (perfect synthetic rater) reaches normalised score >= 0.8 on
every task, median of 5 seeds, normalised = (R - R_random) / (R_PPO - R_random) with R_PPO
the median over seeds of PPO trained on the same teacher's reward, the same PPO settings
and steps (``TARGET``, ``LABELS``, ``SEEDS``).

The tasks, steps fixed per task (:func:`npc_tasks`):

* ``companion`` and ``guard``: the arena's single-role ids with their oracles, the
  preference suite's tasks (bench/oracle_levels.py's PPO budgets and settings: 500,000 and
  300,000 steps, the guard evaluated on 100 episodes); the companion's RLHF cells add
  :data:`COMPANION_RLHF` (exploration first, labels spread evenly, fewer refits);
* ``tag``: mpe2's ``simple_tag_v3`` (PettingZoo, not ours) through ``--env MODULE`` as a
  user's own game would come: the three adversaries (``role=adversary``) share one policy
  and chase the good agent, which acts at random; the ``env`` teacher judges by their own
  reward from the game (+10 per hit: sparse, most clips hold none). See :data:`TAG`;
* ``spread``: mpe2's ``simple_spread_v3`` (three agents of one role, ``agent``, cover three
  landmarks), the ``env`` teacher: a dense reward (the landmarks' distances to their nearest
  agent, collisions);
* ``push``: mpe2's ``simple_push_v3`` (``role=agent``): the good agent trains to reach its
  goal landmark while the adversary, acting at random, pushes it about; the ``env`` teacher
  judges by the good agent's reward (minus its distance to the goal: dense, and a function
  of its own observation, unlike spread's, which depends on the other agents' places).
  The three mpe2 tasks: 200,000 steps, gamma 0.95, the arena's PPO settings.

Cells, keys, result files, ``--jobs``/``--cells``/``--tasks``/``--seeds``/``--scale``/
``--retry-failed`` and resuming are the preference suite's (bench/preference_suite.py: its
``Grid``, ``grid_cells``, ``run_jobs`` and per-cell runners, ``open_run``/
``train_and_report`` through the public API), with one rater (``perfect``) and one label
budget: one file per cell under ``bench/results/npc_suite/``; a cell done is never run
again, a killed run continues where it stopped. Two differences: an RLHF cell keeps its
trained policy (``policies/<key>.pt`` and ``.json``, ``agents.policy.ppo.load_policy``
reads it; bench/guard_catches.py evaluates the guard's), and the random reference takes its
action space from the run's own vector env, so that it works for a PettingZoo game too.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import preference_suite as ps
from common import ROOT, machine
from oracle_levels import Task

OUT = ROOT / "bench" / "results" / "npc_suite"
TARGET = 0.8  # median normalised score over SEEDS at LABELS labels
RATER = "perfect"
LABELS = 500
SEEDS = (0, 1, 2, 3, 4)
POLICIES = "policies"  # the RLHF cells' (and the PPO references') policies, in the out folder
TAG_ID = "mpe2:simple_tag_v3"
# mpe2 1.1.1's simple_tag_v3 defaults (1 good agent, 3 adversaries, 2 obstacles, 25 steps of
# 0.1 s, discrete actions); ours: role (the adversaries train; the good agent acts at random)
TAG = {"role": "adversary"}
TAG_PPO = {"n_steps": 128, "ent_coef": 0.01}  # as the arena tasks'
TAG_STEPS = 200_000  # env steps (every adversary slot counted), as PPO's budget
TAG_GAMMA = 0.95
TAG_CLIP_S = 2.0  # 20 of an episode's 25 steps: hits are rare, a clip must hold some
SPREAD_ID = "mpe2:simple_spread_v3"
# mpe2 1.1.1's simple_spread_v3 defaults (3 agents, 3 landmarks, 25 steps, local_ratio 0.5,
# discrete actions): all three agents are one role, "agent"; a dense reward (minus the
# landmarks' distances to their nearest agent, collisions)
SPREAD: dict[str, Any] = {}
SPREAD_STEPS = 200_000
SPREAD_CLIP_S = 1.0  # 10 steps
PUSH_ID = "mpe2:simple_push_v3"
# mpe2 1.1.1's simple_push_v3 defaults (1 good agent, 1 adversary, 2 landmarks, 25 steps,
# discrete actions); ours: role (the good agent trains, its reward minus its distance to the
# goal landmark; the adversary, which pushes it off, acts at random)
PUSH: dict[str, Any] = {"role": "agent"}
PUSH_CLIP_S = 1.0  # 10 steps, as spread's
# The companion's RLHF cells: PEBBLE's exploration for the first 51,200 steps (25 of the 245
# rollouts on the state-entropy reward), the labels spread evenly over the run (a tenth on
# the explored policy's first rollout, no decay) instead of the defaults (a quarter on the
# first rollout, then falling 5-fold), and a refit only once the labels have grown by a
# quarter (11 fits instead of about 220). With the defaults the policy settled
# trailing the player out of sight before the reward model had seen clips of a companion
# close by and in view (docs/BENCHMARKS.md, "The companion: exploration and labels spread
# over the run"; bench/companion_schedule.py compares the parts). The PPO references and the
# preference suite's companion cells keep the defaults.
COMPANION_RLHF: dict[str, Any] = {
    "explore_steps": 51_200, "initial_label_share": 0.1, "label_decay": 0.0, "refit_growth": 0.25,
}  # fmt: skip


def npc_tasks() -> dict[str, ps.SuiteTask]:
    """The suite's tasks, fixed here: the preference suite's companion (with
    :data:`COMPANION_RLHF`) and guard, and three mpe2 games."""
    base = ps.suite_tasks()
    companion = dataclasses.replace(
        base["companion"], rlhf={**base["companion"].rlhf, **COMPANION_RLHF}
    )
    tag = ps.SuiteTask(
        "tag", Task("env", TAG_ID, dict(TAG), TAG_STEPS, TAG_GAMMA, 50, dict(TAG_PPO)), "env",
        TAG_CLIP_S, 5,
    )  # fmt: skip
    spread = ps.SuiteTask(
        "spread", Task("env", SPREAD_ID, dict(SPREAD), SPREAD_STEPS, TAG_GAMMA, 50, dict(TAG_PPO)),
        "env", SPREAD_CLIP_S, 5,
    )  # fmt: skip
    push = ps.SuiteTask(
        "push", Task("env", PUSH_ID, dict(PUSH), SPREAD_STEPS, TAG_GAMMA, 50, dict(TAG_PPO)),
        "env", PUSH_CLIP_S, 5,
    )  # fmt: skip
    return {
        "companion": companion, "guard": base["guard"], "tag": tag, "spread": spread,
        "push": push,
    }  # fmt: skip


def npc_grid(tasks: dict[str, ps.SuiteTask] | None = None) -> ps.Grid:
    """One rater, one budget, seeds 0-4, no label curves."""
    return ps.Grid(
        tasks if tasks is not None else npc_tasks(), raters=(RATER,), labels=LABELS,
        curve_labels=(), seeds=SEEDS, curve_seeds=(),
    )  # fmt: skip


def policy_path(out: Path, key: str) -> Path:
    """Where an RLHF cell keeps its trained policy (a PPO reference's is the suite's
    ``policies/<task>__ppo__s<seed>.pt`` beside it)."""
    return out / POLICIES / f"{key}.pt"


# ----------------------------------------------------------------------------- the cells' work
def run_rlhf(task: ps.SuiteTask, cell: ps.Cell, out: Path, scale: float) -> dict[str, Any]:
    """The preference suite's RLHF cell (``ps.run_rlhf``: ``open_run``, ``train_and_report``,
    the report's score and fidelity figures), keeping the trained policy: ``ps.run_rlhf``
    trains in a temporary folder, so ``train_and_report`` is wrapped for the call (in this
    cell's own process) to copy the run's ``policy.pt`` and its JSON out before it goes."""
    import rlhf_sandbox.agents.rlhf.run as run_module
    from rlhf_sandbox.files import json_path
    from rlhf_sandbox.store.run_folder import RunFolder

    real = run_module.train_and_report
    dest = policy_path(out, cell.key)

    def keep_policy(loop: Any, **kw: Any) -> Any:
        outcome = real(loop, **kw)
        src = RunFolder(loop.out).policy
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(json_path(src), json_path(dest))
        shutil.copyfile(src, dest)
        return outcome

    run_module.train_and_report = keep_policy
    try:
        result = ps.run_rlhf(task, cell, out, scale)
    finally:
        run_module.train_and_report = real
    return {**result, "policy": str(dest.relative_to(out))}


def run_random(task: ps.SuiteTask, cell: ps.Cell, out: Path, scale: float) -> dict[str, Any]:
    """The random reference (uniform actions, ``random_policy(space, 0)`` as the preference
    suite's) with the action space of the run's own vector env: ``gym.make`` knows no
    PettingZoo game."""
    from rlhf_sandbox.agents.evaluation.rollouts import random_policy
    from rlhf_sandbox.agents.teachers.teacher import resolve_oracle
    from rlhf_sandbox.envs.vector import make_vec_env

    s = ps.rlhf_settings(task, RATER, 0, 0, scale)
    venv = make_vec_env(s.env_id, s.ppo.n_envs, 0, **s.env_kwargs)
    space = venv.action_space
    venv.close()
    policy = random_policy(space, 0)
    res: dict[str, Any] = {"task": task.name, "kind": "random", "seed": None}
    res.update(teacher=s.teacher_value.spec, env_id=s.env_id, scale=scale)
    oracle = resolve_oracle(task.teacher)
    res.update(ps._score(policy, s, oracle, cell.key, task.base.episodes, task.actions))
    return res


def job_of(cell: ps.Cell, grid: ps.Grid, out: Path, scale: float) -> ps.Job:
    """The preference suite's job of ``cell``, with this suite's RLHF and random runners."""
    job = ps.job_of(cell, grid, out, scale)
    fn = {"rlhf": run_rlhf, "random": run_random}.get(cell.kind, job.fn)
    return dataclasses.replace(job, fn=fn)


# ----------------------------------------------------------------------------- summary
def summarise(grid: ps.Grid, out: Path, scale: float = 1.0) -> tuple[str, dict[str, Any]]:
    """The table (markdown) and its numbers from the cell files in ``out``; a cell not there
    is "missing" (or "failed"), never a number."""
    done, failed = ps.load_cells(out)
    seeds = grid.seeds
    num: dict[str, Any] = {"tasks": {}, "failed": sorted(failed), "target": TARGET}
    lines = [
        "# NPC suite (issue 20)", "",
        f"{len(done)} cell files in `{ps._rel(out)}` ({len(failed)} failed); summarised"
        f" {time.strftime('%Y-%m-%d %H:%M')} on {machine()}. {RATER} rater, {grid.labels}"
        f" labels; normalised = (R - R_random) / (R_PPO - R_random), R_PPO the median over the"
        " PPO reference seeds; the interval is the order statistics of the seeds (coverage in"
        f" brackets). Target: median over {len(seeds)} seeds >= {TARGET}.", "",
    ]  # fmt: skip
    rows = []
    for name, task in grid.tasks.items():
        norm = ps.normaliser(name, done)
        chk = ps.ref_checks(task, done, norm)
        row = ps.rlhf_row(name, RATER, grid.labels, seeds, done, failed, norm)
        ppo = ps._per_seed([ps.Cell(name, "ppo", seed=s).key for s in seeds], done, failed)
        best = chk["best_constant"]
        best_txt = "missing"
        if best is not None:
            best_txt = f"{best['action']}: {best['R']:.2f} ({ps._f(best['normalised'])})"
        verdict = ps._target_verdict(row, TARGET, len(seeds))
        num["tasks"][name] = {"refs": chk, "rlhf": row, "verdict": verdict}
        pool = ps._fig_text(row)(row["pool"])
        rows.append([
            name, f"`{task.base.env_id}`", f"`{task.teacher}`", f"{ps.scaled_steps(task, scale):,}",
            ps._f(norm.r_random), ppo, ps._f(norm.r_ppo_median), best_txt,
            f"{row['n']}/{len(seeds)}", row["per_seed"], row["median_text"], verdict, pool,
            ps._f(row["R"]), ps._f(row["seconds"], 0),
        ])  # fmt: skip
    lines += ps._table(
        ["task", "env", "teacher", "PPO steps", "R_random", "R_PPO per seed", "R_PPO median",
         "best constant (normalised)", "n", "RLHF normalised per seed", "median [interval]",
         f">= {TARGET}", "pool agreement", "R RLHF (median)", "wall s (median)"],
        rows,
    )  # fmt: skip
    if failed:
        lines += ["", "## Failed cells", ""]
        for key, err in sorted(failed.items()):
            first = (str(err.get("error", "")).splitlines() or [""])[0][:200]
            lines.append(f"* `{key}`: {first}")
    return "\n".join([*lines, ""]), num


# ----------------------------------------------------------------------------- command line
def out_dir(scale: float, out: str | None) -> Path:
    if out:
        return Path(out)
    return OUT if scale == 1.0 else OUT.with_name(f"{OUT.name}_x{scale:g}")


def run_cells(
    grid: ps.Grid,
    out: Path,
    *,
    seeds: Sequence[int] | None = None,
    patterns: Sequence[str] | None = None,
    jobs: int = 1,
    scale: float = 1.0,
    retry_failed: bool = False,
) -> dict[str, str]:
    """Run the grid's cells not done yet in ``out`` (the references first); their states."""
    cells = ps.grid_cells(grid, "required", None, seeds, patterns)
    rerun = ("todo", "failed") if retry_failed else ("todo",)
    if any(ps.cell_state(out, c.key) in rerun for c in cells):
        # compile (or load) the kernels in a child, so this process starts no threads
        subprocess.run([sys.executable, "-m", "rlhf_sandbox.sim.warm_up"], check=True)
        import torch

        torch.set_num_threads(1)
        import rlhf_sandbox.agents.rlhf.run  # noqa: F401  (imported once, before the forks)
    meta = {**ps._git(), "machine": machine(), "jobs": jobs, "suite": "npc_suite"}
    todo = [job_of(c, grid, out, scale) for c in cells]
    return ps.run_jobs(todo, out, workers=jobs, retry_failed=retry_failed, meta=meta)


def main(argv: Sequence[str] | None = None, grid: ps.Grid | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", help="these tasks only (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", help="these seeds (default: 0-4)")
    ap.add_argument(
        "--cells", nargs="+", metavar="PATTERN", help="cells whose key matches (fnmatch)"
    )
    ap.add_argument("--jobs", type=int, default=1, help="cells at once, one process each")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply every step budget (smoke runs)"
    )
    ap.add_argument("--out", help="results folder (default bench/results/npc_suite[_xSCALE])")
    ap.add_argument("--list", action="store_true", help="print the cells and whether each is done")
    ap.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    ap.add_argument("--summary", action="store_true", help="the table from the cell files")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if args.jobs > 1:  # one core per cell: the worlds stay serial (read when sim is imported)
        os.environ.setdefault("RLHF_SANDBOX_THREADS", "0")
    grid = grid or npc_grid()
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(grid.tasks))
        if unknown:
            ap.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(grid.tasks)}")
        grid = dataclasses.replace(
            grid, tasks={k: t for k, t in grid.tasks.items() if k in args.tasks}
        )
    out = out_dir(args.scale, args.out)
    if args.summary:
        text, numbers = summarise(grid, out, args.scale)
        print(text)
        md = out.with_name(out.name + ".md")
        ps._write_text(md, text)
        ps._write_json(out.with_name(out.name + ".json"), numbers)
        print(f"wrote {ps._rel(md)}")
        return 0
    cells = ps.grid_cells(grid, "required", None, args.seeds, args.cells)
    if args.list:
        ps.list_cells(out, cells)
        return 0
    if not cells:
        print("no cells match")
        return 0
    t0 = time.perf_counter()
    states = run_cells(
        grid, out, seeds=args.seeds, patterns=args.cells, jobs=args.jobs, scale=args.scale,
        retry_failed=args.retry_failed,
    )  # fmt: skip
    failed = sorted(k for k, s in states.items() if s == "failed")
    print(f"{sum(s == 'done' for s in states.values())}/{len(cells)} cells done, "
          f"{len(failed)} failed, {ps._hms(time.perf_counter() - t0)}")  # fmt: skip
    for k in failed:
        print(f"  failed: {k} ({ps.error_path(out, k).name})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
