"""Two roles in one run against one run per role (issue 20): what a run of both costs.

Run: ``.venv/bin/python bench/two_roles.py`` (5 repeats of 3 runs, about 4 minutes a repeat
on this 2-core machine when it is free); ``--repeats``, ``--timesteps`` and ``--labels``
(per role) set the budget, ``--singles ids`` times the single-role runs on
``ArenaCompanion-v0`` and ``ArenaGuard-v0`` instead. Results go to
``bench/results/two_roles.json``.

Target: a two-role run costs at most 0.8x the sum of the two single-role runs with the
same steps per role.

Each repeat times three commands, as a user types them (the console script in a fresh
process, ``--no-report``: training only, the same PPO, reward-model and query settings, the
defaults, for every role):

* **both**: ``rlhf-sandbox train --env arena_v0 --labels 2L --timesteps T`` (companion and
  guard from their oracles, L labels and T steps each, one game: ``agents.rlhf.roles``);
* **companion**: ``train --env arena_v0 --env-arg role=companion --teacher companion
  --labels L --timesteps T`` (the same world, the guard scripted);
* **guard**: the same with ``role=guard --teacher guard`` (the companion scripted).

The order of the three turns each repeat (both first, then companion first, ...), so that
a slow spell of a shared machine falls on each in turn. Per run: wall seconds and CPU
seconds (user + system of the process and its children). The ratio both / (companion +
guard) is taken per repeat (the three ran back to back) and its median reported, with the
ratio of the medians beside it; the CPU ratio says how much of the work is saved, the wall
ratio what a user waits (the two learners of a two-role run run in two processes, the game
in a third: ``agents.rlhf.roles``). Each repeat records the 1-minute load average before
it: on this shared 2-core machine a wall ratio is only worth reading with the load beside
it (another job on a core takes the second learner's core away).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, save

CLI = ROOT / ".venv" / "bin" / "rlhf-sandbox"
TARGET = 0.8  # both / (companion + guard), wall time
RUNS = ("both", "companion", "guard")
SINGLE_IDS = {"companion": "rlhf_sandbox/ArenaCompanion-v0", "guard": "rlhf_sandbox/ArenaGuard-v0"}


def commands(timesteps: int, labels: int, seed: int, singles: str = "arena_v0") -> dict:
    """The three ``train`` command lines (without ``--out``), by run name."""
    common = ["--timesteps", str(timesteps), "--seed", str(seed), "--no-report"]
    out = {"both": ["train", "--env", "arena_v0", "--labels", str(2 * labels), *common]}
    for role in ("companion", "guard"):
        if singles == "ids":
            env = ["--env", SINGLE_IDS[role]]
        else:
            env = ["--env", "arena_v0", "--env-arg", f"role={role}"]
        out[role] = ["train", *env, "--teacher", role, "--labels", str(labels), *common]
    return out


def order(repeat: int) -> list[str]:
    """Repeat r runs the three from the r-th on (both, companion, guard, both, ...)."""
    k = repeat % len(RUNS)
    return [*RUNS[k:], *RUNS[:k]]


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def timed(argv: list[str], out: Path) -> Timing:
    """Run the console script with ``argv`` and ``--out out``; its wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(CLI), *argv, "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def ratios(reps: Sequence[dict[str, Any]], what: str) -> dict[str, Any]:
    """both / (companion + guard) per repeat, their median, and the ratio of the medians."""
    per = [
        getattr(r["both"], what) / (getattr(r["companion"], what) + getattr(r["guard"], what))
        for r in reps
    ]
    med = {name: statistics.median(getattr(r[name], what) for r in reps) for name in RUNS}
    return {
        "per_repeat": per, "median": statistics.median(per), "min": min(per), "max": max(per),
        "median_seconds": med, "ratio_of_medians": med["both"] / (med["companion"] + med["guard"]),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timesteps", type=int, default=49_152, help="per role (48 rollouts of 1,024)")
    ap.add_argument("--labels", type=int, default=100, help="per role")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--singles", choices=("arena_v0", "ids"), default="arena_v0")
    args = ap.parse_args(argv)
    cmds = commands(args.timesteps, args.labels, args.seed, args.singles)
    reps: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="two-roles-"))
    t0, load0 = time.perf_counter(), os.getloadavg()
    try:
        for r in range(args.repeats):
            got: dict[str, Any] = {"load": os.getloadavg()[0]}
            for name in order(r):
                out = work / f"{name}{r}"
                got[name] = timed(cmds[name], out)
                shutil.rmtree(out, ignore_errors=True)
                print(f"repeat {r} {name}: {got[name].wall:.1f} s wall, {got[name].cpu:.1f} s CPU")
            reps.append(got)
            w = got["both"].wall / (got["companion"].wall + got["guard"].wall)
            c = got["both"].cpu / (got["companion"].cpu + got["guard"].cpu)
            print(
                f"repeat {r}: both / (companion + guard) = {w:.2f} (wall), {c:.2f} (CPU);"
                f" load {got['load']:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall, cpu = ratios(reps, "wall"), ratios(reps, "cpu")
    print(
        f"\nwall: both / (companion + guard) median {wall['median']:.2f}"
        f" [{wall['min']:.2f}, {wall['max']:.2f}] over {args.repeats} repeats (ratio of medians"
        f" {wall['ratio_of_medians']:.2f}); CPU {cpu['median']:.2f}"
        f" [{cpu['min']:.2f}, {cpu['max']:.2f}]; target <= {TARGET}:"
        f" {'met' if wall['median'] <= TARGET else 'not met'}"
    )
    for name in RUNS:
        print(
            f"  {name}: median {wall['median_seconds'][name]:.1f} s wall,"
            f" {cpu['median_seconds'][name]:.1f} s CPU"
        )
    path = save(
        "two_roles" if args.singles == "arena_v0" else "two_roles_ids",
        {
            "settings": vars(args), "commands": cmds,
            "load_average": {"start": load0, "end": os.getloadavg()},
            "repeats": [
                {k: (vars(t) if isinstance(t, Timing) else t) for k, t in r.items()} for r in reps
            ],
            "wall": wall, "cpu": cpu, "target": TARGET,
            "met": wall["median"] <= TARGET, "minutes": round((time.perf_counter() - t0) / 60, 1),
        },
    )  # fmt: skip
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
