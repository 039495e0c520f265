"""Sweeps: many RLHF runs as Ray tasks, on a local Ray or a cluster, with a summary.

Each run of a :class:`~rlhf_sandbox.agents.sweep.config.SweepPlan` is one Ray task
(:func:`execute_run`): it trains and reports in a temporary folder of whichever machine
runs it and returns the folder's files as bytes (``checkpoint/`` left out: a finished run
has no use for it). The driver writes them under ``OUT/runs/<run-id>/`` (temporary folder,
then rename), with ``result.json``, and rewrites the summary as runs end (every few
seconds at most). No shared
filesystem is needed. A run that raises, or whose worker dies, is a ``failed`` row with
its error; the other runs go on. Running a sweep again with ``resume`` skips the runs
whose ``result.json`` says ``ok`` for the same settings and runs the rest.

Files under ``OUT``: ``sweep.json`` (the plan), ``runs/<run-id>/`` (``settings.json``,
``result.json``, ``report/``, ``policy.pt``, ``store/``, ...), ``summary.csv``,
``summary.json``, ``summary.md``, ``summary.png``.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlhf_sandbox import display
from rlhf_sandbox.agents.evaluation.ray_connect import RayUnavailable, connect, disconnect
from rlhf_sandbox.agents.sweep.config import RunSpec, SweepPlan
from rlhf_sandbox.agents.sweep.summary import RunRow, write_plot, write_summary
from rlhf_sandbox.files import atomic_dir, atomic_path
from rlhf_sandbox.store.run_folder import CHECKPOINT, RunFolder

RESULT = "result.json"
LEFT_OUT = (CHECKPOINT,)  # run-folder parts not sent back from a worker
SUMMARY_EVERY_S = 5.0  # the summary files are rewritten at most this often while runs end


class SweepError(ValueError):
    """The sweep cannot start (its folder, the cluster); the message says why."""


def execute_run(settings: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Train and report one run in a temporary folder; its outcome and files (as bytes).

    Runs in a Ray worker (or anywhere): torch on one thread, the world serial in a task of
    fewer than two CPUs (ray_connect.one_core_task), drawing off-screen. Never
    raises for a failing run: the outcome says ``failed`` with the error and traceback."""
    display.offscreen()
    import torch

    from rlhf_sandbox.agents.evaluation.ray_connect import one_core_task
    from rlhf_sandbox.agents.rlhf.run import open_run, train_and_report
    from rlhf_sandbox.agents.rlhf.settings import RLHFSettings

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    outcome: dict[str, Any] = {"status": "ok", "error": None, "traceback": None, "metrics": {}}
    with tempfile.TemporaryDirectory(prefix="rlhf-sweep-") as tmp, one_core_task():
        run = Path(tmp) / "run"
        try:
            done = train_and_report(
                open_run(RLHFSettings.from_json(settings), run),
                episodes=int(options["eval_episodes"]),
                baseline=bool(options["baseline"]),
                gif=bool(options["gif"]),
                progress=False,
            )
            assert done.report is not None
            outcome["metrics"] = run_metrics(
                done.report.data, done.state.labels_asked, done.state.num_timesteps
            )
        except Exception as e:  # a failing run is reported, never raised
            outcome.update(status="failed", error=_one_line(e), traceback=traceback.format_exc())
        outcome["files"] = _collect(run)
    outcome["wall_s"] = round(time.perf_counter() - t0, 2)
    outcome["host"] = socket.gethostname()
    return outcome


def run_metrics(report: dict[str, Any], labels_asked: int, timesteps: int) -> dict[str, Any]:
    """The summary's numbers from a run's ``report.json``."""
    scores = report["scores"]
    versions = report.get("reward_model_versions") or [{}]
    return {
        "oracle_return": scores["rlhf"]["oracle_return"],
        "env_return": scores["rlhf"]["env_return"],
        "ended_early": f"{scores['rlhf']['terminated']}/{scores['rlhf']['episodes']}",
        "random_oracle_return": scores["random"]["oracle_return"],
        "oracle_ppo_return": scores.get("oracle_ppo", {}).get("oracle_return"),
        "heldout_accuracy": versions[-1].get("heldout_accuracy"),
        "labels_given": int(sum(report.get("labels", {}).values())),
        "labels_asked": int(labels_asked),
        "timesteps": int(timesteps),
    }


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _collect(run: Path) -> dict[str, bytes]:
    if not run.is_dir():
        return {}
    return {
        p.relative_to(run).as_posix(): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.relative_to(run).parts[0] not in LEFT_OUT
    }


# ---------------------------------------------------------------------- the driver's side
def prepare(plan: SweepPlan, out: Path, resume: bool) -> list[RunSpec]:
    """Check ``out`` and write ``sweep.json``; the runs still to do (all of them, or with
    ``resume`` those not finished with the same settings)."""
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out} is a file")
    if out.exists() and any(out.iterdir()) and not resume:
        raise SweepError(f"{out} exists; pass --resume to continue it or pick a new --out")
    if resume and out.exists() and not (out / "sweep.json").is_file():
        raise SweepError(f"{out} holds no sweep (no sweep.json) to resume")
    todo = []
    for spec in plan.runs:
        result = read_result(out, spec.run_id)
        if result is None or result.get("status") != "ok":
            todo.append(spec)
        elif result.get("planned_settings") != _json(spec.settings.to_json()):
            raise SweepError(
                f"{out}/runs/{spec.run_id} was run with other settings; resume with the same "
                "sweep file or pick a new --out"
            )
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sweep.json") as tmp:
        tmp.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    return todo


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    *,
    address: str | None = None,
    max_parallel: int | None = None,
    resume: bool = False,
    on_start: Callable[[RunSpec], None] | None = None,
    on_done: Callable[[RunRow], None] | None = None,
) -> list[RunRow]:
    """Run the plan's runs (those not done yet) as Ray tasks; write and return the summary.

    ``address``: a Ray cluster (``ray://host:10001``, ``host:6379`` or ``auto``); without
    it a local Ray of ``max_parallel`` (default: all) CPUs is started and shut down after.
    An already initialised Ray (``ray.is_initialized()``) is used as it is."""
    out = Path(out)
    plugins = sorted({s.settings.teacher for s in plan.runs if s.settings.teacher_value.plugin})
    started = False
    if plugins:  # before anything is written: each worker must import the user's oracles
        started = _connect(plan, address, max_parallel)
        try:
            check_plugins_on_workers(plugins)
        except BaseException:
            disconnect(started)
            raise
    try:
        todo = prepare(plan, out, resume)
        write_summary(out, plan, rows(plan, out))
        if todo:
            _run_tasks(plan, out, todo, address, max_parallel, on_start, on_done)
    finally:
        disconnect(started)
    final = rows(plan, out)
    write_summary(out, plan, final)
    write_plot(out / "summary.png", plan, final)
    return final


def _run_tasks(
    plan: SweepPlan,
    out: Path,
    todo: list[RunSpec],
    address: str | None,
    max_parallel: int | None,
    on_start: Callable[[RunSpec], None] | None,
    on_done: Callable[[RunRow], None] | None,
) -> None:
    import ray

    started = _connect(plan, address, max_parallel)
    pending: dict[Any, RunSpec] = {}
    try:
        task = ray.remote(execute_run).options(
            num_cpus=plan.options.cpus_per_run, max_retries=0, name="rlhf-sweep-run"
        )
        queue = list(todo)
        limit = max_parallel or len(queue)
        options = plan.options.to_json()
        current = {r.run_id: r for r in rows(plan, out)}
        written = time.monotonic()
        while queue or pending:
            while queue and len(pending) < limit:
                spec = queue.pop(0)
                pending[task.remote(spec.settings.to_json(), options)] = spec
                if on_start is not None:
                    on_start(spec)
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as e:  # the worker died, or Ray failed the task
                outcome = {"status": "failed", "error": _one_line(e), "files": {}}
            store_run(out, spec, outcome)
            current[spec.run_id] = _row(spec, read_result(out, spec.run_id) or {})
            if time.monotonic() - written > SUMMARY_EVERY_S or not (queue or pending):
                write_summary(out, plan, list(current.values()))
                written = time.monotonic()
            if on_done is not None:
                on_done(current[spec.run_id])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        disconnect(started)


def _connect(plan: SweepPlan, address: str | None, max_parallel: int | None) -> bool:
    """Connect to Ray (see :func:`connect`); whether this call started it."""
    cpus = max(1, round(max_parallel * plan.options.cpus_per_run)) if max_parallel else None
    try:
        return connect(address, cpus)
    except RayUnavailable as e:
        raise SweepError(str(e)) from None


def _import_plugins(specs: list[str]) -> dict[str, str]:
    """On a worker: each plug-in oracle that fails to load there, with why."""
    from rlhf_sandbox.agents.teachers.plugin import load_oracle

    failed = {}
    for spec in specs:
        try:
            load_oracle(spec)
        except ValueError as e:
            failed[spec] = str(e)
    return failed


def check_plugins_on_workers(specs: list[str], timeout_s: float = 300.0) -> None:
    """SweepError unless every live node of the connected Ray imports each of ``specs``
    (a user's ``MODULE:ATTR`` oracles): one task pinned to each node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_import_plugins)
    refs = {
        node["NodeManagerAddress"]: probe.options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        ).remote(specs)
        for node in ray.nodes()
        if node.get("Alive")
    }
    for host, ref in refs.items():
        failed = ray.get(ref, timeout=timeout_s)
        if failed:
            spec, why = next(iter(failed.items()))
            raise SweepError(
                f"the Ray worker on {host} cannot load teacher {spec!r}: {why}; a plug-in"
                " oracle's module must import on every worker (install it there, or put its"
                " folder on the workers' PYTHONPATH)"
            )


def store_run(out: Path, spec: RunSpec, outcome: dict[str, Any]) -> Path:
    """Write a run's files and ``result.json`` into ``out/runs/<run-id>/`` atomically."""
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / spec.run_id
    with atomic_dir(final) as tmp:
        for rel, data in outcome.get("files", {}).items():
            p = (tmp / rel).resolve()
            if not p.is_relative_to(tmp.resolve()):
                raise SweepError(f"run {spec.run_id}: file {rel!r} lies outside its folder")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        folder = RunFolder(tmp)
        if not folder.settings.exists():
            folder.write_settings(spec.settings.to_json())
        result = {
            "run_id": spec.run_id,
            "values": spec.values,
            "planned_settings": _json(spec.settings.to_json()),
            **{k: v for k, v in outcome.items() if k != "files"},
        }
        (tmp / RESULT).write_text(json.dumps(result, indent=2, default=float) + "\n")
    return final


def read_result(out: Path, run_id: str) -> dict[str, Any] | None:
    """A run's ``result.json``, or None if it has none (not run, or unreadable)."""
    try:
        data = json.loads((out / "runs" / run_id / RESULT).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def rows(plan: SweepPlan, out: Path) -> list[RunRow]:
    """One row per planned run, from its ``result.json`` (``pending`` without one)."""
    return [_row(spec, read_result(out, spec.run_id) or {}) for spec in plan.runs]


def _row(spec: RunSpec, r: dict[str, Any]) -> RunRow:
    return RunRow(
        run_id=spec.run_id,
        values=spec.values,
        status=str(r.get("status", "pending")),
        metrics=dict(r.get("metrics") or {}),
        wall_s=r.get("wall_s"),
        host=r.get("host"),
        error=r.get("error"),
    )


def _json(d: dict[str, Any]) -> Any:
    """``d`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(d, default=float))
