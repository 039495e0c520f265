"""Preference suite (issue 17, item 4), B-Pref style: tasks x raters x label budgets x seeds.

Run (never while timing figures are being taken on the same machine: the grid keeps every
core it is given busy for hours):

    .venv/bin/python bench/preference_suite.py --list                   # the cells, done or not
    .venv/bin/python bench/preference_suite.py --jobs 2                 # the required grid
    .venv/bin/python bench/preference_suite.py --grid all --jobs 16     # a 16-core host
    .venv/bin/python bench/preference_suite.py --summary                # table, plots

A **cell** is one run with one result file, ``bench/results/preference_suite/<key>.json``,
written atomically when the cell is done:

* RLHF, ``<task>__<rater>__<labels>__s<seed>``: our loop through the public API
  (``agents.rlhf.run.open_run`` / ``train_and_report``) with a synthetic teacher, its
  report's fidelity figures (agreement on the fixed pool of unseen policies' pairs,
  held-out agreement, the shaping-free distance, behaviour features of opposite sign), and
  R, the mean oracle return of its final policy over the task's evaluation episodes on
  seeds 10,000 onward (the report's evaluation; the same seeds for every cell);
* references, ``<task>__ppo__s<seed>`` (PPO on the teacher's reward, same PPO settings and
  steps, evaluated at 80, 90 and 100 % of its steps; its policy is kept under
  ``policies/`` and is the PPO member of the RLHF cells' fixed pool), ``<task>__random`` and,
  for discrete actions, ``<task>__const<a>``;
* imitation, ``<task>__imitation__<rater>__<labels>__s<seed>`` (Pendulum, Acrobot):
  imitation 1.0.1's ``PreferenceComparisons`` in its own venv (``bash bench/peers/setup.sh``)
  with the same label budget, the same rater model (imitation's own perfect gatherer,
  ``SyntheticGatherer`` at temperature 0, wrapped to flip 10 % / 20 % of the labels), the
  same PPO settings and PPO steps (to a rollout: its rounds are whole rollouts), the same
  evaluation; both sides' env steps are recorded.

Raters: ``perfect`` (B-Pref's Oracle), ``mistake10`` (the ``mistake`` preset, eps_mistake
0.1), ``mistake20`` (``mistake`` with ``rater_overrides = {eps_mistake = 0.2}``).

Grids: ``required`` (every task x rater at 500 labels, seeds 0-4; the imitation cells),
``curves`` (100 and 250 labels, perfect rater, seeds 0-2), ``refs`` (the references alone),
``all``. Every grid but ``refs`` includes the references its scores are normalised by.
A cell already done is skipped, so a killed grid continues where it stopped, and cells run
on several machines add up (copy their result folders together). A cell that fails writes
``<key>.error.json`` instead; ``--retry-failed`` runs those again. ``--cells 'guard__*'``
picks cells by key (fnmatch), ``--tasks``/``--seeds`` narrow the grid, ``--scale 0.02``
multiplies every step budget (smoke runs; their results go to a folder of their own,
``preference_suite_x0.02``). Each cell runs in a fresh process with one torch thread
(``--jobs N`` of them at once; with N > 1 the worlds stay serial, one core each).

``--summary`` reads every cell file and writes the table (stdout and
``bench/results/preference_suite.md``) and plots: per task x rater x labels the median
normalised score, normalised = (R - R_random) / (R_PPO - R_random) with R_PPO the median
over the PPO reference seeds, an order-statistic interval over seeds, n, the verdict
against the targets (0.9 perfect, 0.8 mistake10, 0.7 mistake20 at 500 labels over 5
seeds), the fidelity figures and the wall time. A missing cell is shown as missing.

References must reach a level: Pendulum R_PPO >= -200, Acrobot >= -100; the driving and
arena tasks above their best constant action by a margin (the best constant scores at most
0.6 normalised, as docs/ORACLES.md); and flat over the last 20 % of PPO's steps (the median
change from 80 % to 100 % at most 0.1 normalised).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from common import PEERS, ROOT, machine
from oracle_levels import CONSTANT_MAX, SEED0, Task, tasks

RESULTS = ROOT / "bench" / "results"
OUT = RESULTS / "preference_suite"
EXAMPLES = ROOT / "examples" / "teachers"  # the plug-in highway teacher's folder
RATERS: dict[str, tuple[str, dict[str, float]]] = {  # suite name: (preset, overrides)
    "perfect": ("perfect", {}),
    "mistake10": ("mistake", {}),  # the preset's eps_mistake is 0.1
    "mistake20": ("mistake", {"eps_mistake": 0.2}),
}
TARGETS = {"perfect": 0.9, "mistake10": 0.8, "mistake20": 0.7}  # median normalised, 500 labels
POOL_TARGET = 0.95  # agreement on the fixed pool, perfect rater, driving and arena tasks
FLIP_CORR = 0.2  # a feature with |corr(oracle, feature)| >= this must keep its sign
CHECKPOINTS = (0.8, 0.9, 1.0)  # PPO references are evaluated at these shares of their steps
FLAT_MAX = 0.1  # |median change over the last 20 % of PPO's steps|, normalised
COVERAGE = 0.9  # the order-statistic interval's coverage, where the seeds allow it


# ----------------------------------------------------------------------------- the tasks
@dataclass(frozen=True)
class SuiteTask:
    """One task: ``base`` holds the env, PPO's step budget, discount and other settings, and
    the evaluation episodes (bench/oracle_levels.py's Task); the rest is the suite's."""

    name: str
    base: Task
    teacher: str  # oracle spec: a built-in name or MODULE:ATTR (a plug-in)
    clip_seconds: float  # query clips
    actions: int | None  # discrete actions (const<a> references); None: continuous
    level: float | None = None  # R_PPO median must reach it; None: beat constants by a margin
    imitation: bool = False  # imitation's PreferenceComparisons beside us
    rlhf: dict[str, Any] = field(default_factory=dict)  # other RLHFSettings fields
    reward_model: dict[str, Any] = field(default_factory=dict)  # RewardModelConfig fields

    @property
    def kind(self) -> str:
        return "foreign" if self.teacher == "env" else "ours"  # ours: driving and arena


ACROBOT_EXPLORE = 40_960  # env steps: 10 of the 74 rollouts (16 envs x 256 steps)


def suite_tasks() -> dict[str, SuiteTask]:
    """The seven tasks, fixed here (budgets and PPO settings of the driving and arena ones
    are bench/oracle_levels.py's; Pendulum's are bench/rlhf_pendulum.py's)."""
    from rlhf_pendulum import SETTINGS as PEND

    from rlhf_sandbox.agents.rlhf.presets import DEMO_CLIP_SECONDS

    ol = tasks()
    pend_ppo = {k: v for k, v in PEND["ppo"].items() if k not in ("gamma", "device")}
    pend_rm = {k: v for k, v in PEND["reward_model"].items() if k != "device"}
    pendulum = Task(
        "env", PEND["env_id"], {}, PEND["timesteps"], PEND["ppo"]["gamma"], 20, pend_ppo
    )
    # rl-zoo's PPO for Acrobot (16 envs, 256 steps, GAE 0.94, 4 epochs, gamma 0.99, (64, 64))
    acro_ppo = {"n_steps": 256, "n_epochs": 4, "gae_lambda": 0.94, "net_arch": (64, 64)}
    acrobot = Task("env", "Acrobot-v1", {}, 300_000, 0.99, 20, acro_ppo)
    out = [
        # the highway oracle through the plug-in route (examples/teachers/highway_oracle.py)
        SuiteTask("highway", ol["highway"], "highway_oracle:HIGHWAY", DEMO_CLIP_SECONDS, 5,
                  rlhf={"initial_label_share": 0.5}),  # the demo's
        SuiteTask("merge", ol["merge"], "merge", 8.0, 5),  # 1 Hz: 8 decisions
        SuiteTask("crossing", ol["crossing"], "crossing", 3.0, 5),  # 5 Hz: 15 decisions
        SuiteTask("companion", ol["companion"], "companion", 3.0, 9),  # 10 Hz: 30 steps
        SuiteTask("guard", ol["guard"], "guard", 2.0, 9),  # a catch ends it: PPO's last 37 steps
        SuiteTask("pendulum", pendulum, "env", PEND["clip_seconds"], None, level=-200.0,
                  imitation=True, reward_model=pend_rm,
                  rlhf={"query_every": PEND["query_every"], "query_method": PEND["query_method"]}),
        # 50-step clips; the first 10 rollouts explore (state entropy): Acrobot's -1 a step
        # gives a random policy's clips nothing to tell apart (docs/BENCHMARKS.md)
        SuiteTask("acrobot", acrobot, "env", 10.0, 3, level=-100.0, imitation=True,
                  rlhf={"explore_steps": ACROBOT_EXPLORE}),
    ]  # fmt: skip
    return {t.name: t for t in out}


@dataclass(frozen=True)
class Grid:
    """What the grids hold: tasks, raters, label budgets and seeds."""

    tasks: dict[str, SuiteTask]
    raters: tuple[str, ...] = tuple(RATERS)
    labels: int = 500  # the required grid's budget
    curve_labels: tuple[int, ...] = (100, 250)  # the curves', perfect rater
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    curve_seeds: tuple[int, ...] = (0, 1, 2)


GRIDS = ("required", "curves", "all", "refs")


# ----------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Cell:
    """One run of the suite; ``key`` names its result file."""

    task: str
    kind: str  # rlhf, imitation, ppo, random, const
    rater: str = ""
    labels: int = 0
    seed: int | None = None
    action: int | None = None

    @property
    def key(self) -> str:
        t = self.task
        if self.kind == "rlhf":
            return f"{t}__{self.rater}__{self.labels}__s{self.seed}"
        if self.kind == "imitation":
            return f"{t}__imitation__{self.rater}__{self.labels}__s{self.seed}"
        if self.kind == "ppo":
            return f"{t}__ppo__s{self.seed}"
        if self.kind == "const":
            return f"{t}__const{self.action}"
        return f"{t}__random"


def parse_key(key: str) -> Cell:
    """The cell a key names (ValueError for anything else)."""

    def seed(p: str) -> int:
        if not (p.startswith("s") and p[1:].isdigit()):
            raise ValueError(f"cell key {key!r}: {p!r} is not a seed (s0, s1, ...)")
        return int(p[1:])

    def count(p: str) -> int:
        if not p.isdigit():
            raise ValueError(f"cell key {key!r}: {p!r} is not a label count")
        return int(p)

    parts = key.split("__")
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"cell key {key!r}: expected TASK__...")
    task, rest = parts[0], parts[1:]
    if len(rest) == 1 and rest[0] == "random":
        return Cell(task, "random")
    if len(rest) == 1 and rest[0].startswith("const") and rest[0][5:].isdigit():
        return Cell(task, "const", action=int(rest[0][5:]))
    if len(rest) == 2 and rest[0] == "ppo":
        return Cell(task, "ppo", seed=seed(rest[1]))
    if len(rest) == 3 and rest[0] in RATERS:
        return Cell(task, "rlhf", rest[0], count(rest[1]), seed(rest[2]))
    if len(rest) == 4 and rest[0] == "imitation" and rest[1] in RATERS:
        return Cell(task, "imitation", rest[1], count(rest[2]), seed(rest[3]))
    raise ValueError(f"cell key {key!r} names no cell of the suite")


def grid_cells(
    grid: Grid,
    which: str = "required",
    tasks: Iterable[str] | None = None,
    seeds: Sequence[int] | None = None,
    patterns: Sequence[str] | None = None,
) -> list[Cell]:
    """The cells of ``which`` grid, in the order they run: the PPO references first (the
    longest, and the RLHF cells' pool needs them), the other references, then the rest seed
    by seed (a grid cut short has whole seeds), longest first within a seed."""
    if which not in GRIDS:
        raise ValueError(f"unknown grid {which!r}; known: {', '.join(GRIDS)}")
    names = list(grid.tasks) if tasks is None else [t for t in grid.tasks if t in set(tasks)]
    req_seeds = tuple(seeds) if seeds else grid.seeds
    cur_seeds = tuple(seeds) if seeds else grid.curve_seeds
    runs: list[Cell] = []
    if which in ("required", "all"):
        for t in names:
            runs += [Cell(t, "rlhf", r, grid.labels, s) for r in grid.raters for s in req_seeds]
            if grid.tasks[t].imitation:
                runs += [
                    Cell(t, "imitation", r, grid.labels, s) for r in grid.raters for s in req_seeds
                ]
    if which in ("curves", "all"):
        for t in names:
            runs += [Cell(t, "rlhf", "perfect", n, s) for n in grid.curve_labels for s in cur_seeds]
    refs: list[Cell] = []  # R_PPO: the median over the required seeds (and any curve seed)
    ppo_seeds = sorted(set(req_seeds) | (set(cur_seeds) if which in ("curves", "all") else set()))
    for t in names:
        refs += [Cell(t, "ppo", seed=s) for s in ppo_seeds]
    for t in names:
        refs.append(Cell(t, "random"))
        refs += [Cell(t, "const", action=a) for a in range(grid.tasks[t].actions or 0)]

    def cost(c: Cell) -> float:
        return job_cost(grid.tasks[c.task], c)

    ppo = sorted((c for c in refs if c.kind == "ppo"), key=lambda c: (-cost(c), c.seed))
    other_refs = [c for c in refs if c.kind != "ppo"]
    runs = sorted(dict.fromkeys(runs), key=lambda c: (c.seed, -cost(c), c.key))
    out = [*ppo, *other_refs, *runs]
    if patterns:
        out = [c for c in out if any(fnmatch.fnmatchcase(c.key, p) for p in patterns)]
    return out


def job_cost(task: SuiteTask, cell: Cell) -> float:
    """A cell's rough cost in PPO-step units (for the order and the ETA)."""
    steps = float(task.base.steps)
    if cell.kind == "rlhf":
        return 1.6 * steps  # reward-model fits, and the report's three evaluations
    if cell.kind == "imitation":
        return 1.5 * steps
    if cell.kind == "ppo":
        return steps
    return 0.02 * steps  # an evaluation only


# ----------------------------------------------------------------------------- running
@dataclass(frozen=True)
class Job:
    """A cell to run: ``fn(*args)`` returns its result (JSON-able), run in a fresh process.
    ``needs``: keys of cells to wait for when they are to run in the same batch."""

    key: str
    fn: Callable[..., dict[str, Any]]
    args: tuple[Any, ...] = ()
    needs: tuple[str, ...] = ()
    cost: float = 1.0


def cell_path(out: Path, key: str) -> Path:
    return out / f"{key}.json"


def error_path(out: Path, key: str) -> Path:
    return out / f"{key}.error.json"


def cell_state(out: Path, key: str) -> str:
    """``done`` (its result file is there), ``failed`` (its error file) or ``todo``."""
    if cell_path(out, key).is_file():
        return "done"
    return "failed" if error_path(out, key).is_file() else "todo"


def load_cells(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every result file of ``out`` (key: content) and every error file."""
    done: dict[str, dict[str, Any]] = {}
    failed: dict[str, dict[str, Any]] = {}
    if not out.is_dir():
        return done, failed
    for path in sorted(out.glob("*.json")):
        if path.name.startswith("."):  # an atomic writer's temp file left by a kill
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if path.name.endswith(".error.json"):
            failed[path.name.removesuffix(".error.json")] = data
        else:
            done[path.stem] = data
    return done, {k: v for k, v in failed.items() if k not in done}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from rlhf_sandbox.files import write_atomic

    text = json.dumps(data, indent=1, default=_json_default, allow_nan=False) + "\n"
    write_atomic(path, text.encode())


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, tuple | set):
        return list(x)
    return float(x)


def _die_with_parent(parent: int) -> None:
    """The kernel kills this process when the runner dies (Linux), so that a killed grid
    leaves no cells running on."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)


def _child(job: Job, out: Path, meta: dict[str, Any], parent: int) -> None:
    _die_with_parent(parent)
    import torch

    torch.set_num_threads(1)  # bench.common.single_thread
    t0, c0 = time.perf_counter(), _cpu()
    try:
        result = job.fn(*job.args)
    except Exception as e:
        _write_json(
            error_path(out, job.key),
            {
                "key": job.key, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(), "seconds": round(time.perf_counter() - t0, 1),
                "date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": socket.gethostname(), **meta,
            },
        )  # fmt: skip
        return
    data = {
        "key": job.key, **result,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(_cpu() - c0, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": socket.gethostname(), **meta,
    }  # fmt: skip
    _write_json(cell_path(out, job.key), data)
    error_path(out, job.key).unlink(missing_ok=True)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (imitation's worker)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_jobs(
    jobs: Sequence[Job],
    out: Path,
    *,
    workers: int = 1,
    retry_failed: bool = False,
    meta: dict[str, Any] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, str]:
    """Run the jobs not done yet in ``out`` (failed ones too with ``retry_failed``), each in
    a fresh forked process, ``workers`` at once; a progress line per finished cell. Returns
    each job's state afterwards (done, failed, todo). A cell whose process dies without a
    result gets an error file here. bench/npc_suite.py runs its cells with this too."""
    out.mkdir(parents=True, exist_ok=True)
    states = {j.key: cell_state(out, j.key) for j in jobs}
    rerun = ("todo", "failed") if retry_failed else ("todo",)
    pending = [j for j in jobs if states[j.key] in rerun]
    done = sum(s == "done" for s in states.values())
    if len(jobs) > len(pending):
        failed = len(jobs) - len(pending) - done
        echo(f"{done} cells done already, {failed} failed (--retry-failed runs them again)")
    if not pending:
        return states
    echo(f"{len(pending)} cells to run in {_rel(out)}, {workers} at a time")
    ctx = multiprocessing.get_context("fork")  # the parent has imported torch and ours once
    running: dict[Any, tuple[Job, Any, float]] = {}  # sentinel: (job, process, start)
    t_start, total, parent = time.perf_counter(), len(pending), os.getpid()
    spent, spent_cost = 0.0, 0.0
    try:
        while pending or running:
            while len(running) < workers and pending:
                busy = {j.key for j in pending} | {j.key for j, _, _ in running.values()}
                job = next((j for j in pending if not set(j.needs) & busy), None)
                if job is None and running:
                    break
                job = job or pending[0]  # only references are needed, and they need nothing
                pending.remove(job)
                error_path(out, job.key).unlink(missing_ok=True)  # a retry's old error
                proc = ctx.Process(target=_child, args=(job, out, meta or {}, parent))
                proc.start()
                running[proc.sentinel] = (job, proc, time.perf_counter())
            for sentinel in wait(list(running)):
                job, proc, t0 = running.pop(sentinel)
                proc.join()
                states[job.key] = _finished(out, job.key, proc.exitcode)
                seconds = time.perf_counter() - t0
                spent, spent_cost = spent + seconds, spent_cost + job.cost
                left = [j.cost for j in pending] + [j.cost for j, _, _ in running.values()]
                eta = spent / spent_cost * sum(left) / max(1, min(workers, len(left)))
                n = total - len(left)
                echo(
                    f"[{n}/{total}] {job.key}: {states[job.key]} in {seconds:.0f} s; elapsed"
                    f" {_hms(time.perf_counter() - t_start)}, ETA {_hms(eta)}"
                )
    except KeyboardInterrupt:  # the cells running now stay todo
        for _, proc, _ in running.values():
            proc.kill()
            proc.join()
        echo(f"interrupted: {len(running) + len(pending)} cells left to run")
        raise
    return states


def _finished(out: Path, key: str, exitcode: int | None) -> str:
    """A finished cell's state; a process that wrote nothing gets an error file."""
    state = cell_state(out, key)
    if state != "todo":
        return state
    error = f"the cell's process exited with code {exitcode} and wrote no result"
    _write_json(
        error_path(out, key),
        {"key": key, "error": error + " (killed? out of memory?)",
         "date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": socket.gethostname()},
    )  # fmt: skip
    return "failed"


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


# ----------------------------------------------------------------------------- the cells' work
def _plugin_path() -> None:
    """The plug-in teacher's folder on the import path (as PYTHONPATH would put it)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))


def scaled_steps(task: SuiteTask, scale: float) -> int:
    """PPO's step budget times ``scale``, at least one rollout."""
    rollout = int(task.base.ppo.get("n_envs", 16)) * int(task.base.ppo.get("n_steps", 64))
    return max(rollout, int(task.base.steps * scale))


def rlhf_settings(task: SuiteTask, rater: str, labels: int, seed: int, scale: float = 1.0) -> Any:
    """The RLHFSettings of a cell (the references use them with 0 labels)."""
    from rlhf_sandbox.agents.rlhf.settings import build_settings

    _plugin_path()
    preset, overrides = RATERS[rater]
    steps = scaled_steps(task, scale)
    rlhf = dict(task.rlhf)
    if "explore_steps" in rlhf:  # scaled too, leaving at least one rollout to learn from
        rollout = int(task.base.ppo.get("n_envs", 16)) * int(task.base.ppo.get("n_steps", 64))
        rlhf["explore_steps"] = min(int(rlhf["explore_steps"] * scale), steps - rollout)
    file = {
        "env_id": task.base.env_id, "env_kwargs": dict(task.base.env_kwargs),
        "teacher": task.teacher, "rater": preset, "rater_overrides": dict(overrides),
        "labels": labels, "timesteps": steps, "clip_seconds": task.clip_seconds, **rlhf,
        "ppo": {**task.base.ppo, "gamma": task.base.gamma},
        "reward_model": dict(task.reward_model),
    }  # fmt: skip
    values = {"seed": seed, "device": "cpu", "reward_model.seed": seed}
    return build_settings(file, values)


def _policy_path(out: Path, task: str, seed: int) -> Path:
    return out / "policies" / f"{task}__ppo__s{seed}.pt"


def _score(
    policy: Any, s: Any, oracle: Any, name: str, episodes: int, actions: int | None
) -> dict[str, Any]:
    """The report's evaluation (``score_policy``): mean oracle return on seeds 10,000 on."""
    import numpy as np

    from rlhf_sandbox.agents.rlhf.report import score_policy

    score, log = score_policy(policy, s, oracle, name, episodes, seed=SEED0)
    out = {
        "R": score.oracle_return, "env_return": score.env_return, "episodes": episodes,
        "terminated": score.crashes,
        "mean_length": float(np.diff(log.bounds).mean()) if len(log.bounds) > 1 else 0.0,
    }  # fmt: skip
    acts = np.asarray(log.actions)
    if acts.ndim == 1 and np.issubdtype(acts.dtype, np.integer) and acts.size:
        share = np.bincount(acts, minlength=actions or 0) / acts.size
        out["action_share"] = share.round(3).tolist()
    return out


def run_reference(task: SuiteTask, cell: Cell, out: Path, scale: float) -> dict[str, Any]:
    """A reference cell: PPO on the teacher's reward (checkpoints at 80, 90, 100 % of its
    steps; the policy kept for the RLHF cells' pool), random, or a constant action."""
    import gymnasium as gym
    import numpy as np

    import rlhf_sandbox  # noqa: F401  (registers the ids)
    from rlhf_sandbox.agents.evaluation.rollouts import random_policy, sb3_policy
    from rlhf_sandbox.agents.teachers.teacher import resolve_oracle

    seed = cell.seed or 0
    s = rlhf_settings(task, "perfect", 0, seed, scale)
    oracle = resolve_oracle(task.teacher)
    n = task.base.episodes
    res: dict[str, Any] = {"task": task.name, "kind": cell.kind, "seed": cell.seed}
    res.update(teacher=s.teacher_value.spec, env_id=s.env_id, scale=scale)
    if cell.kind == "ppo":
        t0 = time.perf_counter()
        algo, points = _train_ppo(
            s, oracle, lambda a: _score(sb3_policy(a), s, oracle, "ppo", n, task.actions)
        )
        from rlhf_sandbox.agents.policy.ppo import save_policy

        save_policy(algo, _policy_path(out, task.name, seed), s.ppo, env_id=s.env_id)
        res.update(points[-1])
        res.update(checkpoints=points, ppo_steps=int(algo.num_timesteps))
        res.update(train_seconds=round(time.perf_counter() - t0, 1), settings=s.to_json())
        return res
    if cell.kind == "random":
        policy = random_policy(gym.make(s.env_id, **s.env_kwargs).action_space, 0)
    else:
        a = int(cell.action or 0)
        policy = lambda obs: np.full(len(obs), a)  # noqa: E731
    res.update(_score(policy, s, oracle, cell.key, n, task.actions))
    return res


def _train_ppo(
    s: Any, oracle: Any, evaluate: Callable[[Any], dict[str, Any]]
) -> tuple[Any, list[dict[str, Any]]]:
    """PPO with the run's settings on the oracle's reward (the report's baseline trainer,
    ``agents.rlhf.run.train_oracle_algo``), evaluated at each share in CHECKPOINTS."""
    from stable_baselines3.common.callbacks import BaseCallback

    from rlhf_sandbox.agents.policy.ppo import make_model, unchecked_distributions
    from rlhf_sandbox.agents.reward.wrappers import OracleReward
    from rlhf_sandbox.envs.vector import make_vec_env

    marks = [(f, math.ceil(f * s.timesteps)) for f in CHECKPOINTS if f < 1.0]
    points: list[dict[str, Any]] = []

    class Checkpoints(BaseCallback):
        def _on_rollout_start(self) -> None:  # after the update of the rollout before
            crossed = [m for m in marks if self.model.num_timesteps >= m[1]]
            if crossed:
                got = evaluate(self.model)
                for mark in crossed:
                    marks.remove(mark)
                    points.append({"share": mark[0], "steps": int(self.model.num_timesteps), **got})

        def _on_step(self) -> bool:
            return True

    venv = make_vec_env(s.env_id, s.ppo.n_envs, s.ppo.seed, **s.env_kwargs)
    env = OracleReward(venv, oracle)
    algo = make_model(env, s.ppo)
    with unchecked_distributions():
        algo.learn(total_timesteps=s.timesteps, callback=Checkpoints())
    env.close()
    points.append({"share": 1.0, "steps": int(algo.num_timesteps), **evaluate(algo)})
    return algo, points


def run_rlhf(task: SuiteTask, cell: Cell, out: Path, scale: float) -> dict[str, Any]:
    """An RLHF cell: train and report through the public API; R and the report's fidelity
    figures. The report's PPO baseline (the fixed pool's third policy) is the reference
    cell's policy of the same seed when that is done, else trained here."""
    from rlhf_sandbox.agents.rlhf.report import BASELINE_POLICY
    from rlhf_sandbox.agents.rlhf.run import open_run, train_and_report
    from rlhf_sandbox.files import json_path
    from rlhf_sandbox.store.run_folder import RunFolder

    seed = cell.seed or 0
    s = rlhf_settings(task, cell.rater, cell.labels, seed, scale)
    ref = _policy_path(out, task.name, seed)
    have_ref = ref.is_file() and json_path(ref).is_file()
    with tempfile.TemporaryDirectory(prefix="preference-suite-") as tmp:
        run = Path(tmp) / "run"
        loop = open_run(s, run)
        if have_ref:
            rep = RunFolder(run).report
            rep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ref, rep / BASELINE_POLICY)
            shutil.copyfile(json_path(ref), json_path(rep / BASELINE_POLICY))
        t0 = time.perf_counter()
        outcome = train_and_report(
            loop, baseline=not have_ref, episodes=task.base.episodes, gif=False, progress=False
        )
        report_s = time.perf_counter() - t0 - outcome.seconds
        env_steps = int(loop.recorder.env_steps)
    assert outcome.report is not None
    data = outcome.report.data
    scores = data["scores"]
    return {
        "task": task.name, "kind": "rlhf", "rater": cell.rater, "labels": cell.labels,
        "seed": seed, "scale": scale, "teacher": s.teacher_value.spec,
        "rater_config": {"preset": s.rater, **s.rater_overrides},
        "R": scores["rlhf"]["oracle_return"], "terminated": scores["rlhf"]["terminated"],
        "episodes": scores["rlhf"]["episodes"],
        "report_scores": {k: v["oracle_return"] for k, v in scores.items()},
        "baseline": "reference cell" if have_ref else "trained in cell",
        "labels_asked": outcome.state.labels_asked, "label_counts": data["labels"],
        "ppo_steps": outcome.state.num_timesteps, "env_steps": env_steps,
        "train_seconds": round(outcome.seconds, 1), "report_seconds": round(report_s, 1),
        "fidelity": fidelity_figures(data.get("fidelity")),
        "settings": s.to_json(),
    }  # fmt: skip


def fidelity_figures(fid: dict[str, Any] | None) -> dict[str, Any] | None:
    """The figures of a report's fidelity section the suite tables (report.json keys)."""
    if not fid:
        return None
    pool = fid.get("pool") or {}
    held = (fid.get("heldout_labels") or {}).get("agreement") or {}
    dist = fid.get("distance") or {}
    flips = [
        r["name"] for r in fid.get("features", [])
        if r.get("corr_learned") is not None and r.get("corr_oracle") is not None
        and abs(r["corr_oracle"]) >= FLIP_CORR and r["corr_learned"] * r["corr_oracle"] < 0
    ]  # fmt: skip
    return {
        "pool": pool.get("counted"), "pool_all_pairs": pool.get("all_pairs"),
        "heldout": held, "distance": dist.get("distance"), "distance_plain": dist.get("plain"),
        "segment_return_correlation": fid.get("segment_return_correlation"),
        "sign_flips": flips, "pool_policies": fid.get("pool_policies"),
        "warnings": [w.get("code") for w in fid.get("warnings", [])],
        "curve": [
            {"pairs": p.get("pairs"), "pool": (p.get("pool") or {}).get("counted")}
            for p in fid.get("curve", [])
        ],
    }  # fmt: skip


def imitation_rounds(rollouts: int) -> tuple[int, int]:
    """imitation's ``num_iterations`` and PPO rollouts per round that come nearest to our
    ``rollouts`` (its ``train`` runs num_iterations + 1 rounds of whole rollouts); ties go
    to the tutorial's 5 iterations."""

    def total(n: int) -> int:
        return (n + 1) * max(1, round(rollouts / (n + 1)))

    n = min(range(3, 13), key=lambda n: (abs(total(n) - rollouts), abs(n - 5)))
    return n, max(1, round(rollouts / (n + 1)))


def run_imitation(task: SuiteTask, cell: Cell, out: Path, scale: float) -> dict[str, Any]:
    """An imitation cell: the same task, labels, rater model, PPO settings and PPO steps in
    imitation's venv (``imitation_worker`` below, run there)."""
    from rlhf_sandbox.agents.rlhf.settings import clip_steps
    from rlhf_sandbox.agents.teachers.raters import rater_config
    from rlhf_sandbox.envs.vector import decision_hz, make_vec_env

    seed = cell.seed or 0
    s = rlhf_settings(task, cell.rater, cell.labels, seed, scale)
    venv = make_vec_env(s.env_id, 1, 0, **s.env_kwargs)
    length = clip_steps(s, decision_hz(venv))
    venv.close()
    n_iter, per_round = imitation_rounds(s.iterations)
    spec = {
        "env_id": s.env_id, "seed": seed, "labels": cell.labels, "fragment_length": length,
        "eps_mistake": rater_config(s.rater, **s.rater_overrides).eps_mistake,
        "ppo": s.ppo.to_json(), "reward_hidden": list(s.reward_model.hidden),
        "num_iterations": n_iter, "total_timesteps": n_iter * per_round * s.rollout,
        "episodes": task.base.episodes, "eval_seed": SEED0,
    }  # fmt: skip
    python = PEERS / "imitation" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"peer venv {python.parent.parent} is missing: bash bench/peers/setup.sh"
        )
    proc = subprocess.run(
        [str(python), __file__, "--imitation-worker", json.dumps(spec)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": ""},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"imitation worker failed ({proc.returncode}): {proc.stderr[-1500:]}")
    peer = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "task": task.name, "kind": "imitation", "rater": cell.rater, "labels": cell.labels,
        "seed": seed, "scale": scale, "our_ppo_steps": s.iterations * s.rollout, **peer,
        "spec": spec,
    }  # fmt: skip


def imitation_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in ``.venv-peers/imitation``: PreferenceComparisons as bench/peers/
    imitation_pendulum.py builds it (reward net, fragmenter, trainer, exploration, rounds),
    with the cell's env, PPO settings, fragment length, labels and rater; R on the same
    evaluation seeds as ours (deterministic, one env per episode)."""
    import gymnasium as gym
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "bench" / "peers"))
    from imitation.algorithms import preference_comparisons as pc
    from imitation.policies.base import NormalizeFeaturesExtractor
    from imitation.rewards.reward_nets import BasicRewardNet
    from imitation.util import logger as imit_logger
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from imitation_pendulum import EXPLORATION_FRAC, PC_KWARGS, REWARD_TRAINER_EPOCHS, StepCounter
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    class FlippingGatherer(pc.PreferenceGatherer):
        """imitation's perfect teacher (SyntheticGatherer at temperature 0: the larger
        return, 0.5 on a tie), each left/right label flipped with probability ``eps``."""

        def __init__(self, eps: float, rng: np.random.Generator, custom_logger: Any) -> None:
            super().__init__(custom_logger=custom_logger)
            self.inner = pc.SyntheticGatherer(
                temperature=0, sample=False, custom_logger=custom_logger
            )
            self.eps, self.rng, self.flips, self.labels = eps, rng, 0, 0

        def __call__(self, pairs: Any) -> np.ndarray:
            p = self.inner(pairs)
            flip = (self.rng.random(len(p)) < self.eps) & (p != 0.5)
            self.flips += int(flip.sum())
            self.labels += len(p)
            return np.where(flip, 1.0 - p, p).astype(np.float32)

    if not hasattr(np, "float_"):  # gymnasium 0.29's Acrobot uses it; NumPy 2 removed it
        setattr(np, "float_", np.float64)  # noqa: B010
    torch.set_num_threads(1)
    seed, ppo = int(spec["seed"]), spec["ppo"]
    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    venv = make_vec_env(spec["env_id"], rng=rng, n_envs=int(ppo["n_envs"]))
    counted = StepCounter(venv)
    with (
        tempfile.TemporaryDirectory(prefix="imitation-suite-") as log_dir,
        contextlib.redirect_stdout(sys.stderr),  # imitation prints; stdout carries the JSON
    ):
        log = imit_logger.configure(log_dir, ["log", "csv"])
        reward_net = BasicRewardNet(
            counted.observation_space, counted.action_space,
            hid_sizes=tuple(spec["reward_hidden"]), normalize_input_layer=RunningNorm,
        )  # fmt: skip
        gatherer = FlippingGatherer(float(spec["eps_mistake"]), rng, log)
        trainer = pc.BasicRewardTrainer(
            preference_model=pc.PreferenceModel(reward_net), loss=pc.CrossEntropyRewardLoss(),
            epochs=REWARD_TRAINER_EPOCHS, rng=rng,
        )  # fmt: skip
        agent = PPO(
            "MlpPolicy", counted,
            policy_kwargs={
                "net_arch": list(ppo["net_arch"]),
                "features_extractor_class": NormalizeFeaturesExtractor,
                "features_extractor_kwargs": {"normalize_class": RunningNorm},
            },
            n_steps=ppo["n_steps"], batch_size=ppo["batch_size"], n_epochs=ppo["n_epochs"],
            learning_rate=ppo["learning_rate"], ent_coef=ppo["ent_coef"],
            clip_range=ppo["clip_range"], gae_lambda=ppo["gae_lambda"], gamma=ppo["gamma"],
            seed=seed, device="cpu",
        )  # fmt: skip
        agent_trainer = pc.AgentTrainer(
            algorithm=agent, reward_fn=reward_net, venv=counted,
            exploration_frac=EXPLORATION_FRAC, rng=rng,
        )  # fmt: skip
        kw = {
            **PC_KWARGS, "num_iterations": int(spec["num_iterations"]),
            "fragment_length": int(spec["fragment_length"]),
            "allow_variable_horizon": True,  # Acrobot ends when solved
        }  # fmt: skip
        pref = pc.PreferenceComparisons(
            agent_trainer, reward_net, fragmenter=pc.RandomFragmenter(warning_threshold=0, rng=rng),
            preference_gatherer=gatherer, reward_trainer=trainer, custom_logger=log, **kw,
        )  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        metrics = pref.train(
            total_timesteps=int(spec["total_timesteps"]), total_comparisons=int(spec["labels"])
        )
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    env = gym.make(spec["env_id"])
    returns, terminated = [], 0
    for k in range(int(spec["episodes"])):
        obs, _ = env.reset(seed=int(spec["eval_seed"]) + k)
        ret = 0.0
        while True:
            action, _ = agent.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            ret += float(r)
            if term or trunc:
                terminated += int(term)
                break
        returns.append(ret)
    env.close()
    venv.close()
    import imitation

    return {
        "R": float(np.mean(returns)), "returns": returns, "terminated": terminated,
        "episodes": len(returns), "ppo_steps": int(agent.num_timesteps),
        "env_steps": int(counted.steps),
        "query_env_steps": int(counted.steps - agent.num_timesteps),
        "comparisons": len(pref.dataset), "flipped": gatherer.flips,
        "reward_loss": float(metrics["reward_loss"]),
        "reward_accuracy": float(metrics["reward_accuracy"]),
        "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu, 1),
        "versions": {"imitation": imitation.__version__, "torch": torch.__version__,
                     "gymnasium": gym.__version__},
    }  # fmt: skip


def job_of(cell: Cell, grid: Grid, out: Path, scale: float) -> Job:
    task = grid.tasks[cell.task]
    fn = {"rlhf": run_rlhf, "imitation": run_imitation}.get(cell.kind, run_reference)
    needs = (Cell(cell.task, "ppo", seed=cell.seed).key,) if cell.kind == "rlhf" else ()
    return Job(cell.key, fn, (task, cell, out, scale), needs, job_cost(task, cell))


# ----------------------------------------------------------------------------- summary
def order_interval(
    values: Sequence[float], coverage: float = COVERAGE
) -> tuple[float, float, float]:
    """A distribution-free interval for the median: the order statistics ``x_(k)`` and
    ``x_(n+1-k)`` with the largest k whose coverage is at least ``coverage`` (k = 1, the
    range, when none reaches it: 75 % for 3 seeds, 94 % for 5). ``(lo, hi, coverage)``."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")

    def cover(k: int) -> float:  # P(x_(k) <= median <= x_(n+1-k))
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / 2.0**n

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= coverage:
        k += 1
    return xs[k - 1], xs[n - k], cover(k)


@dataclass(frozen=True)
class Norm:
    """A task's normaliser from its reference cells; None wherever one is missing."""

    r_random: float | None
    r_ppo: dict[int, float]  # seed: R

    @property
    def r_ppo_median(self) -> float | None:
        return statistics.median(self.r_ppo.values()) if self.r_ppo else None

    @property
    def span(self) -> float | None:
        med = self.r_ppo_median
        if med is None or self.r_random is None or med <= self.r_random:
            return None
        return med - self.r_random

    @property
    def why_not(self) -> str:
        """Why nothing can be normalised (when :attr:`span` is None)."""
        if self.r_random is None or not self.r_ppo:
            return "refs missing"
        return "R_PPO <= R_random"

    def __call__(self, r: float | None) -> float | None:
        span = self.span
        if span is None or r is None or self.r_random is None:
            return None
        return (r - self.r_random) / span


def normaliser(task: str, done: dict[str, dict[str, Any]]) -> Norm:
    """R_random and R_PPO of every PPO reference seed found for ``task``."""
    rnd = done.get(Cell(task, "random").key)
    ppo = {}
    for key, d in done.items():
        with contextlib.suppress(ValueError):
            c = parse_key(key)
            if c.task == task and c.kind == "ppo" and c.seed is not None:
                ppo[c.seed] = float(d["R"])
    return Norm(None if rnd is None else float(rnd["R"]), dict(sorted(ppo.items())))


def ref_checks(task: SuiteTask, done: dict[str, dict[str, Any]], norm: Norm) -> dict[str, Any]:
    """The reference's level (Pendulum, Acrobot: R_PPO; else the best constant action at
    most CONSTANT_MAX normalised) and flatness (median change over the last 20 % of steps)."""
    consts = [done.get(Cell(task.name, "const", action=a).key) for a in range(task.actions or 0)]
    best = None
    if consts and all(d is not None for d in consts):
        a = max(range(len(consts)), key=lambda i: consts[i]["R"])  # type: ignore[index]
        r = float(consts[a]["R"])  # type: ignore[index]
        best = {"action": a, "R": r, "normalised": norm(r)}
    changes = []
    for seed in norm.r_ppo:
        cps = done[Cell(task.name, "ppo", seed=seed).key].get("checkpoints", [])
        at = {p["share"]: p["R"] for p in cps}
        if norm.span and CHECKPOINTS[0] in at and 1.0 in at:
            changes.append((at[1.0] - at[CHECKPOINTS[0]]) / norm.span)
    change = _med(changes)
    if task.level is not None:
        med = norm.r_ppo_median
        level = None if med is None else med >= task.level
    else:
        level = None if best is None or best["normalised"] is None else (
            best["normalised"] <= CONSTANT_MAX
        )  # fmt: skip
    return {
        "R_random": norm.r_random, "R_ppo": norm.r_ppo, "R_ppo_median": norm.r_ppo_median,
        "best_constant": best, "change_last20": change, "changes": changes,
        "level_ok": level, "flat_ok": None if change is None else abs(change) <= FLAT_MAX,
    }  # fmt: skip


def rlhf_row(
    task: str, rater: str, labels: int, seeds: Sequence[int],
    done: dict[str, dict[str, Any]], failed: dict[str, dict[str, Any]], norm: Norm,
) -> dict[str, Any]:  # fmt: skip
    """One row of the RLHF tables: per-seed normalised scores (missing ones named), their
    median and interval, the fidelity figures' medians, the wall time."""
    per, vals, got = [], [], []
    for seed in seeds:
        key = Cell(task, "rlhf", rater, labels, seed).key
        d = done.get(key)
        if d is None:
            per.append("failed" if key in failed else "missing")
            continue
        got.append(d)
        x = norm(d["R"])
        per.append(_f(x) if x is not None else f"R {d['R']:.2f} ({norm.why_not})")
        if x is not None:
            vals.append(x)
    if vals:
        lo, hi, cover = order_interval(vals)
        text = f"{statistics.median(vals):.2f} [{lo:.2f}, {hi:.2f}] ({cover:.0%})"
    else:
        text = "missing" if not got else norm.why_not
    fids = [d.get("fidelity") or {} for d in got]
    flips = [len(f.get("sign_flips") or []) for f in fids if f]
    names = sorted({n for f in fids for n in (f.get("sign_flips") or [])})
    flips_text = "missing" if not flips else f"{sum(flips)} in {len(flips)} runs"
    return {
        "n": len(got), "values": vals, "median": _med(vals), "median_text": text,
        "per_seed": ", ".join(per), "pool": _med(_pool(d) for d in got),
        "heldout": _med((f.get("heldout") or {}).get("value") for f in fids),
        "distance": _med(f.get("distance") for f in fids),
        "flips": flips, "flip_names": names,
        "flips_text": flips_text + (f" ({', '.join(names)})" if names else ""),
        "R": _med(d["R"] for d in got), "seconds": _med(d.get("seconds") for d in got),
    }  # fmt: skip


def summarise(grid: Grid, out: Path, scale: float = 1.0) -> tuple[str, dict[str, Any]]:
    """The summary's markdown and its numbers, from the cell files in ``out``. A cell not
    there is "missing" (or "failed"), never a number."""
    done, failed = load_cells(out)
    norms = {t: normaliser(t, done) for t in grid.tasks}
    num: dict[str, Any] = {"refs": {}, "rlhf": {}, "curves": {}, "imitation": {}}
    lines = [
        "# Preference suite (issue 17)", "",
        f"{len(done)} cell files in `{_rel(out)}` ({len(failed)} failed); summarised"
        f" {time.strftime('%Y-%m-%d %H:%M')} on {machine()}. normalised = (R - R_random) /"
        " (R_PPO - R_random), R_PPO the median over the PPO reference seeds; intervals are"
        " order statistics of the seeds (their coverage in brackets).", "",
    ]  # fmt: skip

    rows = []
    for name, task in grid.tasks.items():
        nm = norms[name]
        chk = num["refs"][name] = ref_checks(task, done, nm)
        seeds = _per_seed([Cell(name, "ppo", seed=s).key for s in grid.seeds], done, failed)
        best = chk["best_constant"]
        best_txt = "n/a" if not task.actions else "missing"
        if best is not None:
            best_txt = f"{best['action']}: {best['R']:.2f} ({_f(best['normalised'])})"
        need = f">= {task.level:g}" if task.level is not None else f"constants <= {CONSTANT_MAX}"
        n_ppo = len([s for s in grid.seeds if s in nm.r_ppo])
        part = "" if n_ppo == len(grid.seeds) else f" ({n_ppo}/{len(grid.seeds)} seeds)"
        level, flat = _verdict(chk["level_ok"]), _verdict(chk["flat_ok"])
        rows.append([
            name, f"`{task.teacher}`", f"{scaled_steps(task, scale):,}",
            _f(nm.r_random), seeds, _f(nm.r_ppo_median), best_txt, need,
            level + part * (level != "missing"), _f(chk["change_last20"]),
            flat + part * (flat != "missing"),
        ])  # fmt: skip
    lines += ["## References: PPO on the teacher's reward", ""]
    lines += _table(
        ["task", "teacher", "PPO steps", "R_random", "R_PPO per seed", "median",
         "best constant (normalised)", "required", "level", "change, last 20 %", "flat"],
        rows,
    )  # fmt: skip

    rows = []
    for name, task in grid.tasks.items():
        for rater in grid.raters:
            row = rlhf_row(name, rater, grid.labels, grid.seeds, done, failed, norms[name])
            num["rlhf"][f"{name}__{rater}"] = row
            fig = _fig_text(row)
            pool = fig(row["pool"])
            if rater == "perfect" and task.kind == "ours" and row["pool"] is not None:
                pool += " (target met)" if row["pool"] >= POOL_TARGET else " (below target)"
            rows.append([
                name, rater, f"{row['n']}/{len(grid.seeds)}", row["per_seed"], row["median_text"],
                f"{TARGETS[rater]}", _target_verdict(row, TARGETS[rater], len(grid.seeds)),
                pool, fig(row["heldout"]), fig(row["distance"]), row["flips_text"], _f(row["R"]),
                _f(row["seconds"], 0),
            ])  # fmt: skip
    lines += ["", f"## RLHF at {grid.labels} labels", ""]
    lines += [
        f"Targets: median normalised over {len(grid.seeds)} seeds >= 0.9 (perfect), 0.8"
        f" (mistake10), 0.7 (mistake20); pool agreement >= {POOL_TARGET} (perfect, driving"
        f" and arena); no feature with |corr(oracle)| >= {FLIP_CORR} of opposite sign.", "",
    ]  # fmt: skip
    lines += _table(
        ["task", "rater", "n", "normalised per seed", "median [interval]", "target", "verdict",
         "pool agreement", "held-out agreement", "distance", "sign flips", "R (median)",
         "wall s (median)"],
        rows,
    )  # fmt: skip

    budgets = sorted({*grid.curve_labels, grid.labels})
    rows = []
    for name in grid.tasks:
        row_cells, pools = [name], []
        for n in budgets:
            row = rlhf_row(name, "perfect", n, grid.curve_seeds, done, failed, norms[name])
            num["curves"][f"{name}__{n}"] = row
            row_cells.append(f"{row['median_text']} (n = {row['n']})")
            pools.append(_fig_text(row)(row["pool"]))
        diffs = []
        for seed in grid.curve_seeds:
            a = _pool(done.get(Cell(name, "rlhf", "perfect", budgets[-2], seed).key))
            b = _pool(done.get(Cell(name, "rlhf", "perfect", budgets[-1], seed).key))
            if len(budgets) > 1 and a is not None and b is not None:
                diffs.append(b - a)
        diff = "missing"
        if diffs:
            lo_hi = f"[{min(diffs):+.3f}, {max(diffs):+.3f}]"
            diff = f"{statistics.median(diffs):+.3f} {lo_hi} (n = {len(diffs)})"
        rows.append([*row_cells, " / ".join(pools), diff])
    lines += ["", f"## Label curves (perfect rater, seeds {_seeds(grid.curve_seeds)})", ""]
    change = f"pool agreement, {budgets[-1]} - {budgets[-2]} labels" if len(budgets) > 1 else "-"
    lines += _table(
        ["task", *(f"{n} labels" for n in budgets), "pool agreement by budget",
         f"{change} (paired: median [min, max])"],
        rows,
    )  # fmt: skip

    rows = []
    for name, task in grid.tasks.items():
        if not task.imitation:
            continue
        for rater in grid.raters:
            ours = [
                d
                for s in grid.seeds
                if (d := done.get(Cell(name, "rlhf", rater, grid.labels, s).key))
            ]
            peer = [
                d
                for s in grid.seeds
                if (d := done.get(Cell(name, "imitation", rater, grid.labels, s).key))
            ]
            r_o, r_i = _med(d["R"] for d in ours), _med(d["R"] for d in peer)
            ahead = None if r_o is None or r_i is None else r_o > r_i
            whole = len(ours) == len(peer) == len(grid.seeds)
            ahead_txt = "missing" if ahead is None else ("yes" if ahead else "no")
            ahead_txt += "" if whole or ahead is None else " (incomplete)"
            num["imitation"][f"{name}__{rater}"] = {"ours": r_o, "imitation": r_i, "ahead": ahead}

            def pair(key: str, fmt: Callable[[float | None], str], o=ours, p=peer) -> str:
                return f"{fmt(_med(d.get(key) for d in o))} / {fmt(_med(d.get(key) for d in p))}"

            rows.append([
                name, rater, f"{len(ours)} / {len(peer)}", _f(r_o), _f(r_i), ahead_txt,
                f"{_f(norms[name](r_o))} / {_f(norms[name](r_i))}", pair("ppo_steps", _fi),
                pair("env_steps", _fi), pair("train_seconds", lambda x: _f(x, 0)),
            ])  # fmt: skip
    if rows:
        lines += ["", f"## Beside imitation's PreferenceComparisons ({grid.labels} labels)", ""]
        lines += _table(
            ["task", "rater", "n ours / imitation", "R ours (median)", "R imitation (median)",
             "ours ahead", "normalised ours / imitation", "PPO steps ours / imitation",
             "env steps ours / imitation", "training s ours / imitation"],
            rows,
        )  # fmt: skip
    if failed:
        lines += ["", "## Failed cells", ""]
        for key, err in sorted(failed.items()):
            first = (str(err.get("error", "")).splitlines() or [""])[0][:200]
            lines.append(f"* `{key}`: {first}")
    num["failed"] = sorted(failed)
    return "\n".join([*lines, ""]), num


def _table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def _per_seed(keys: Sequence[str], done: dict[str, Any], failed: dict[str, Any]) -> str:
    out = []
    for key in keys:
        d = done.get(key)
        out.append(_f(d["R"]) if d is not None else ("failed" if key in failed else "missing"))
    return ", ".join(out)


def _pool(d: dict[str, Any] | None) -> float | None:
    """A cell's agreement on the fixed pool (counted pairs), None when not judged."""
    pool = ((d or {}).get("fidelity") or {}).get("pool") or {}
    return pool.get("value")


def _target_verdict(row: dict[str, Any], target: float, expected: int) -> str:
    if row["median"] is None:
        return "missing" if row["n"] == 0 else "not normalised"
    side = "above" if row["median"] >= target else "below"
    if len(row["values"]) < expected:
        return f"incomplete ({len(row['values'])}/{expected}, {side} so far)"
    return "PASS" if side == "above" else "FAIL"


def _fig_text(row: dict[str, Any]) -> Callable[[float | None], str]:
    """A fidelity figure's text: "missing" without cells, "not judged" when the cells'
    reports gave none (too few pairs, a constant reward)."""
    return lambda x: ("missing" if row["n"] == 0 else "not judged") if x is None else f"{x:.2f}"


def _verdict(ok: bool | None) -> str:
    return "missing" if ok is None else ("PASS" if ok else "FAIL")


def _f(x: float | None, digits: int = 2) -> str:
    return "missing" if x is None else f"{x:.{digits}f}"


def _fi(x: float | None) -> str:
    return "missing" if x is None else f"{x:,.0f}"


def _med(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(map(str, seeds))


def list_cells(out: Path, cells: list[Cell]) -> None:
    """Print each cell's state (done, failed, todo) and the counts (``--list``)."""
    counts: dict[str, int] = {}
    for c in cells:
        state = cell_state(out, c.key)
        counts[state] = counts.get(state, 0) + 1
        print(f"{state:6s} {c.key}")
    print(f"{len(cells)} cells in {_rel(out)}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def plots(grid: Grid, num: dict[str, Any], stem: Path) -> list[Path]:
    """``<stem>_labels.png`` (normalised against labels per task, perfect rater) and
    ``<stem>_raters.png`` (median per task and rater at the required budget); a missing
    point is left out (the bars say "missing"), never drawn as a number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted({*grid.curve_labels, grid.labels})
    names = list(grid.tasks)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for n in budgets:
            vals = num["curves"][f"{name}__{n}"]["values"]
            ax.plot([n] * len(vals), vals, ".", color="tab:gray", alpha=0.7)
            if vals:
                lo, hi, _ = order_interval(vals)
                med = statistics.median(vals)
                ax.errorbar(
                    [n], [med], [[med - lo], [hi - med]], fmt="o", color="tab:blue", capsize=3
                )
        ax.axhline(TARGETS["perfect"], color="tab:green", lw=0.8, ls="--")
        ax.axhline(0.0, color="grey", lw=0.6, ls=":")
        ax.set(title=name, xlabel="labels", xticks=budgets)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("normalised (perfect rater)")
    written = [_save_fig(fig, stem.with_name(stem.name + "_labels.png"))]

    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.4))
    width = 0.8 / len(grid.raters)
    for i, rater in enumerate(grid.raters):
        for j, name in enumerate(names):
            vals = num["rlhf"][f"{name}__{rater}"]["values"]
            x = j + (i - (len(grid.raters) - 1) / 2) * width
            if not vals:
                ax.text(x, 0.02, "missing", rotation=90, ha="center", va="bottom", fontsize=6)
                continue
            lo, hi, _ = order_interval(vals)
            med = statistics.median(vals)
            label = rater if j == 0 else None
            ax.bar(x, med, width, color=f"C{i}", label=label, yerr=[[med - lo], [hi - med]])
        ax.hlines(TARGETS[rater], -0.5, len(names) - 0.5, colors=f"C{i}", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel=f"normalised, {grid.labels} labels", title="Median over seeds, per rater")
    ax.axhline(0.0, color="grey", lw=0.6)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    written.append(_save_fig(fig, stem.with_name(stem.name + "_raters.png")))
    return written


def _save_fig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from rlhf_sandbox.files import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- command line
def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain")),
    }


def out_dir(scale: float, out: str | None) -> Path:
    if out:
        return Path(out)
    return OUT if scale == 1.0 else OUT.with_name(f"{OUT.name}_x{scale:g}")


def main(argv: Sequence[str] | None = None, grid: Grid | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--grid", choices=GRIDS, default="required",
        help="required: 500 labels, every rater, seeds 0-4, imitation; curves: 100 and 250"
        " labels, perfect, seeds 0-2; refs: the references only; all (each with its references)",
    )  # fmt: skip
    ap.add_argument("--tasks", nargs="+", help="these tasks only (default: all seven)")
    ap.add_argument("--seeds", type=int, nargs="+", help="these seeds (default: 0-4, curves 0-2)")
    ap.add_argument(
        "--cells", nargs="+", metavar="PATTERN", help="cells whose key matches (fnmatch)"
    )
    ap.add_argument("--jobs", type=int, default=1, help="cells at once, one process each")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply every step budget (smoke runs)"
    )
    ap.add_argument(
        "--out", help="results folder (default bench/results/preference_suite[_xSCALE])"
    )
    ap.add_argument("--list", action="store_true", help="print the cells and whether each is done")
    ap.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    ap.add_argument("--summary", action="store_true", help="table and plots from the cell files")
    ap.add_argument("--imitation-worker", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.imitation_worker:  # in imitation's venv: nothing of ours is importable there
        print(json.dumps(imitation_worker(json.loads(args.imitation_worker))))
        return 0
    if args.jobs > 1:  # one core per cell: the worlds stay serial (read when sim is imported)
        os.environ.setdefault("RLHF_SANDBOX_THREADS", "0")
    grid = grid or Grid(suite_tasks())
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(grid.tasks))
        if unknown:
            ap.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(grid.tasks)}")
        chosen = {k: t for k, t in grid.tasks.items() if k in args.tasks}
        grid = dataclasses.replace(grid, tasks=chosen)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    out = out_dir(args.scale, args.out)
    if args.summary:
        text, numbers = summarise(grid, out, args.scale)
        print(text)
        md = out.with_name(out.name + ".md")
        _write_text(md, text)
        for p in [md, *plots(grid, numbers, out)]:
            print(f"wrote {_rel(p)}")
        return 0
    cells = grid_cells(grid, args.grid, args.tasks, args.seeds, args.cells)
    if args.list:
        list_cells(out, cells)
        return 0
    if not cells:
        print("no cells match")
        return 0
    rerun = ("todo", "failed") if args.retry_failed else ("todo",)
    todo = [c for c in cells if cell_state(out, c.key) in rerun]
    if todo:  # compile (or load) the kernels in a child, so this process starts no threads
        subprocess.run([sys.executable, "-m", "rlhf_sandbox.sim.warm_up"], check=True)
        import torch

        torch.set_num_threads(1)
        import rlhf_sandbox.agents.rlhf.run  # noqa: F401  (imported once, before the forks)
    meta = {**_git(), "machine": machine(), "jobs": args.jobs}
    jobs = [job_of(c, grid, out, args.scale) for c in cells]
    t0 = time.perf_counter()
    states = run_jobs(jobs, out, workers=args.jobs, retry_failed=args.retry_failed, meta=meta)
    failed = sorted(k for k, s in states.items() if s == "failed")
    print(f"{sum(s == 'done' for s in states.values())}/{len(cells)} cells done, "
          f"{len(failed)} failed, {_hms(time.perf_counter() - t0)}")  # fmt: skip
    for k in failed:
        print(f"  failed: {k} ({error_path(out, k).name})")
    return 1 if failed else 0


def _write_text(path: Path, text: str) -> None:
    from rlhf_sandbox.files import write_atomic

    write_atomic(path, text.encode())


if __name__ == "__main__":
    sys.exit(main())
