"""``rlhf-sandbox evaluate``: a driving policy over a scenario suite, with a report.

``evaluate --policy P --suite standard [--baseline Q] --out reports/NAME``. P and Q are
``idm``, ``random``, ``constant[:ACTION]``, an SB3 ``.zip`` (trusted input only: SB3
unpickles part of it) or a run folder of ``train`` / ``ppo``. Bad input is one line on
stderr, ``Error: ...``, exit code 2, and nothing written. ``--ray [--address A]`` plays
the scenarios as Ray tasks (:mod:`~rlhf_sandbox.agents.evaluation.harness.distributed`)
with identical results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rlhf_sandbox.cli.common import (
    ClipsURLOption,
    check_out_parent,
    fail,
    one_torch_thread,
    setup,
    store_errors,
)

if TYPE_CHECKING:  # heavy imports wait until the input is checked
    from rich.console import Console

    from rlhf_sandbox.agents.evaluation.harness import Driver, Suite, SuiteResult
    from rlhf_sandbox.agents.teachers.oracles import Oracle


def _check_out(out: Path, overwrite: bool) -> None:
    """``--out`` must be new (or empty, or an earlier report of ``evaluate`` with
    ``--overwrite``) and creatable: its nearest existing ancestor a folder."""
    from rlhf_sandbox.files import check_out_folder

    check_out_folder(out, "evaluate", overwrite=overwrite)
    check_out_parent(out)


def command(
    policy: Annotated[
        str,
        typer.Option(
            help="idm, random, constant[:ACTION], an SB3 .zip (trusted input only: SB3 "
            "unpickles part of it) or a run folder with policy.pt"
        ),
    ],
    suite: Annotated[
        str, typer.Option(help="smoke, standard, stress, critical, or a path to a suite .toml")
    ] = "standard",
    baseline: Annotated[
        str | None, typer.Option(help="a second policy (same forms) for an A/B comparison")
    ] = None,
    out: Annotated[Path, typer.Option(help="report folder (must not exist)")] = Path(
        "reports/eval"
    ),
    episodes: Annotated[
        int | None, typer.Option(min=1, help="episodes per scenario instead of the suite's")
    ] = None,
    n_envs: Annotated[int, typer.Option(min=1, help="envs stepped together per scenario")] = 64,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="scenarios run side by side on threads, without --ray [default: one per core]",
        ),
    ] = None,
    worst: Annotated[int, typer.Option(min=0, help="GIFs of this many worst episodes")] = 3,
    clips: Annotated[
        str, typer.Option(help="episodes stored as clips: all, worst or none")
    ] = "all",
    overwrite: Annotated[
        bool, typer.Option(help="replace --out when it holds an earlier report of evaluate")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            help="a shared store's URL for the episodes' clips instead of --out/store"
            " (runs NAME/policy, NAME/baseline; queue them with `queue --store`)"
        ),
    ] = None,
    store_run: Annotated[
        str | None,
        typer.Option(help="with --store: the run name NAME in it (new) [default: --out's name]"),
    ] = None,
    clips_url: ClipsURLOption = None,
    oracle: Annotated[
        str,
        typer.Option(
            help="whose return fills the oracle column: a built-in driving oracle (courteous,"
            " highway, merge, crossing) or your own as MODULE:ATTR (code you run)"
        ),
    ] = "courteous",
    use_ray: Annotated[
        bool,
        typer.Option("--ray", help="spread the scenarios over Ray workers (same results)"),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            help="with --ray: a Ray cluster, HOST:6379, auto, or ray://HOST:10001 (unchecked)"
        ),
    ] = None,
) -> None:
    """Evaluate a driving policy on a scenario suite: metrics, A/B verdicts, plots, GIFs."""
    setup()
    from rlhf_sandbox.agents.evaluation.harness import (
        DriverError,
        SuiteError,
        load_suite,
        parse_driver,
    )
    from rlhf_sandbox.agents.evaluation.harness.drivers import check_driver
    from rlhf_sandbox.agents.evaluation.harness.report import CLIP_MODES, check_store_target

    errors: tuple[type[BaseException], ...] = (SuiteError, DriverError, ValueError, *store_errors())
    try:
        if clips not in CLIP_MODES:
            raise ValueError(f"--clips must be one of {', '.join(CLIP_MODES)}, got {clips!r}")
        _check_out(out, overwrite)
        _check_ray(use_ray, address)
        s = load_suite(suite)
        if episodes is not None:
            s = s.with_episodes(episodes)
        drivers = [parse_driver(policy)] + ([parse_driver(baseline)] if baseline else [])
        for d in drivers:  # a policy that cannot load or act fails here, before any episode
            check_driver(d, s)
        target = check_store_target(store, clips_url, store_run, out, clips, baseline is not None)
        scorer = _oracle(oracle)
    except errors as e:
        raise fail(str(e)) from None
    specs = [policy] + ([baseline] if baseline else []) if use_ray else None
    _run(
        s, drivers, out, n_envs, worst, clips, overwrite, target, specs, address, workers,
        (oracle, scorer),
    )  # fmt: skip


def _oracle(spec: str) -> Oracle:
    """The oracle named ``spec``, checked to read only features our driving worlds give."""
    from rlhf_sandbox.agents.rlhf.run import check_features
    from rlhf_sandbox.agents.teachers.teacher import resolve_oracle
    from rlhf_sandbox.envs.vector import make_vec_env

    oracle = resolve_oracle(spec)
    venv = make_vec_env("rlhf_sandbox/Highway-v0", 1, 0)
    try:
        check_features(venv, "a driving world", spec, oracle.features)
    finally:
        venv.close()
    return oracle


def _run(
    s: Suite, drivers: list[Driver], out: Path, n_envs: int, worst: int, clips: str,
    overwrite: bool, target: tuple[str, str | None, str] | None = None,
    ray_specs: list[str] | None = None, address: str | None = None, workers: int | None = None,
    oracle: tuple[str, Oracle] | None = None,
) -> None:  # fmt: skip
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TimeElapsedColumn,
    )

    from rlhf_sandbox.agents.evaluation.harness import DriverError, run_suite, write_report
    from rlhf_sandbox.agents.evaluation.harness.runner import with_oracle

    one_torch_thread()
    console = Console()
    names = " vs ".join(d.name for d in drivers)
    console.print(
        f"[bold]evaluate[/]: {names} on suite [cyan]{s.name}[/] "
        f"({len(s.scenarios)} scenarios, {s.episodes} episodes each policy) -> {out}/"
    )
    runs = []
    if ray_specs is not None:  # --ray: every (policy, scenario) a Ray task, all at once
        runs = _ray_runs(console, s, drivers, ray_specs, n_envs, address)
    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:  # fmt: skip
        for d in drivers[len(runs) :]:  # none left after --ray
            task = bar.add_task(d.name, total=s.episodes)

            def advance(n: int, task: TaskID = task) -> None:
                bar.advance(task, n)

            try:
                runs.append(run_suite(d, s, n_envs, advance, workers))
            except DriverError as e:
                bar.stop()
                raise fail(str(e)) from None
    spec = "courteous"
    if oracle is not None and oracle[0] != spec:  # the runner's metrics use courteous
        spec = oracle[0]
        runs = [with_oracle(r, oracle[1]) for r in runs]
    try:
        with console.status("writing the report (clips, GIFs, plots)"):
            path = write_report(
                out, runs[0], runs[1] if len(runs) > 1 else None, worst_k=worst, clips=clips,
                overwrite=overwrite, store=target and target[0], clips_url=target and target[1],
                store_run=target and target[2], oracle=spec,
            )  # fmt: skip
    except OSError as e:  # nothing is left behind: write_report removes its temporary folder
        raise fail(f"cannot write the report to {out} ({e.strerror or e})") from None
    except store_errors() as e:  # the shared store (--store) refused the clips
        raise fail(str(e)) from None
    _print_summary(console, runs)
    console.print(f"report: {path}")


def _check_ray(use_ray: bool, address: str | None) -> None:
    from rlhf_sandbox.agents.evaluation.ray_connect import ray_installed

    if address is not None and not use_ray:
        raise ValueError("--address needs --ray")
    if use_ray and not ray_installed():
        raise ValueError("--ray: Ray is not installed; pip install 'rlhf-sandbox[ray]'")


def _ray_runs(
    console: Console, s: Suite, drivers: list[Driver], specs: list[str], n_envs: int,
    address: str | None,
) -> list[SuiteResult]:  # fmt: skip
    """The suite for every spec on Ray (agents/evaluation/harness/distributed.py), with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from rlhf_sandbox.agents.evaluation.harness import DriverError
    from rlhf_sandbox.agents.evaluation.harness.distributed import run_suites_distributed
    from rlhf_sandbox.agents.evaluation.ray_connect import RayUnavailable, connect, disconnect

    try:
        with console.status(f"connecting to Ray at {address}" if address else "starting Ray"):
            ours = connect(address)
    except RayUnavailable as e:
        raise fail(str(e)) from None
    try:
        with Progress(
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        ) as bar:  # fmt: skip
            tasks = [bar.add_task(f"{d.name} (Ray)", total=s.episodes) for d in drivers]
            try:
                return run_suites_distributed(
                    specs, s, n_envs, lambda i, n: bar.advance(tasks[i], n)
                )
            except DriverError as e:
                bar.stop()
                raise fail(str(e)) from None
    finally:
        disconnect(ours)


def _print_summary(console: Console, runs: list[SuiteResult]) -> None:
    from rich.table import Table

    from rlhf_sandbox.agents.evaluation.harness.aggregate import summarize

    table = Table(title="overall (95 % intervals)")
    table.add_column("policy")
    for col in ("score", "collision rate", "at fault", "off-road rate", "oracle return"):
        table.add_column(col, justify="right")
    for r in runs:
        m = summarize(r.episodes, n_boot=500)
        cells = []
        for key, pct in (("score", False), ("collision", True), ("at_fault_collision", True),
                         ("off_road", True), ("oracle_return", False)):  # fmt: skip
            v = m[key]
            f = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.2f}")
            cells.append(f"{f(v.value)} [{f(v.lo)}, {f(v.hi)}]")
        table.add_row(r.driver, *cells)
    console.print(table)
