"""``rlhf-sandbox sweep``: many ``train`` runs on Ray, each with its report, and a summary.

``sweep --config sweep.toml [--address HOST:6379 | auto] [--out sweeps/NAME]
[--max-parallel N] [--resume]``. The sweep file's format is in
:mod:`rlhf_sandbox.agents.sweep.config`; docs in ``docs/TEAM.md``. Bad input is one line on
stderr, ``Error: ...``, exit code 2, and nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli.common import check_out_parent, fail, setup


def command(
    config: Annotated[Path, typer.Option(help="sweep file (TOML): [sweep], [base], [grid]")],
    out: Annotated[
        Path | None, typer.Option(help="sweep folder (default: sweeps/<config file name>)")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: HOST:6379, auto, or ray://HOST:10001 (Ray Client, unchecked);"
            " default: a local Ray"
        ),
    ] = None,
    max_parallel: Annotated[
        int | None, typer.Option(min=1, help="runs at once at most (default: as CPUs allow)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the sweep in --out: skip its finished runs")
    ] = False,
) -> None:
    """Run a grid of RLHF runs (seeds, teachers, label budgets, ...) as Ray tasks."""
    setup()
    from rlhf_sandbox.agents.evaluation.ray_connect import ray_installed
    from rlhf_sandbox.agents.sweep.config import SweepConfigError, check_envs, load_sweep
    from rlhf_sandbox.agents.sweep.run import SweepError, prepare

    out = out if out is not None else Path("sweeps") / config.stem
    try:
        plan = load_sweep(config)
        check_envs(plan)  # every distinct env builds once, so a bad setting fails here
        _check_out(out, resume)
        if not ray_installed():
            raise SweepError(
                "Ray is not installed; install it with pip install 'rlhf-sandbox[ray]'"
            )
        if resume and out.exists():
            prepare(plan, out, resume=True)  # settings that differ fail here, before Ray
    except (SweepConfigError, SweepError, ValueError) as e:
        raise fail(str(e)) from None
    _run(plan, out, address, max_parallel, resume)


def _check_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file")
    if out.exists() and any(out.iterdir()) and not resume:
        raise ValueError(f"{out} exists; pass --resume to continue it or pick a new --out")
    check_out_parent(out)


def _run(plan: Any, out: Path, address: str | None, max_parallel: int | None, resume: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from rlhf_sandbox.agents.evaluation.ray_connect import RayUnavailable, connect, disconnect
    from rlhf_sandbox.agents.sweep.run import SweepError, read_result, run_sweep
    from rlhf_sandbox.agents.sweep.summary import RunRow

    console = Console()
    done_before = sum((read_result(out, s.run_id) or {}).get("status") == "ok" for s in plan.runs)
    where = address or "a local Ray"
    ours = False  # whether this command started Ray (and shuts it down)
    if done_before < len(plan.runs):  # Ray is reached before the bar shows, or not at all
        cpus = max(1, round(max_parallel * plan.options.cpus_per_run)) if max_parallel else None
        try:
            ours = connect(address, cpus)
        except RayUnavailable as e:
            raise fail(str(e)) from None
    console.print(
        f"[bold]sweep[/]: {len(plan.runs)} runs of {plan.source} on {where}"
        + (f" ({done_before} finished before, skipped)" if done_before else "")
        + f" -> {out}/"
    )
    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task("runs", total=len(plan.runs), completed=done_before)
        running: set[str] = set()

        def started(spec: Any) -> None:
            running.add(spec.run_id)
            bar.update(task, description=f"runs ({len(running)} running)")

        def finished(row: RunRow) -> None:
            running.discard(row.run_id)
            bar.update(task, advance=1, description=f"runs ({len(running)} running)")
            if row.status == "ok":
                ret = row.metrics.get("oracle_return")
                text = f"oracle return {ret:.2f}" if isinstance(ret, float) else "ok"
                bar.console.print(f"[green]ok[/] {row.run_id}: {text} ({row.wall_s:.0f} s)")
            else:
                bar.console.print(f"[red]failed[/] {row.run_id}: {row.error}")

        try:
            rows = run_sweep(
                plan, out, address=address, max_parallel=max_parallel, resume=resume,
                on_start=started, on_done=finished,
            )  # fmt: skip
        except SweepError as e:
            bar.stop()
            raise fail(str(e)) from None
        finally:
            disconnect(ours)
    failed = [r for r in rows if r.status != "ok"]
    console.print(
        f"{len(rows) - len(failed)} of {len(rows)} runs ok"
        + (f", {len(failed)} failed (see summary.md)" if failed else "")
        + f"; summary: {out}/summary.md, summary.csv, summary.json, summary.png"
    )
