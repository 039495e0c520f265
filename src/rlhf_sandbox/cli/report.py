"""``rlhf-sandbox report --run DIR [--role R]``: write a finished run's report again,
fidelity section included (for runs made before it existed, or after more labels were
stored). A run of several roles: every role's report and the run's own, or one role's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.cli.common import (
    RoleOption,
    fail,
    one_torch_thread,
    role_folder,
    setup,
    store_errors,
)


def command(
    run: Annotated[Path, typer.Option(help="a finished run folder (train, demo, a sweep's run)")],
    baseline: Annotated[
        bool,
        typer.Option(
            help="train PPO on the oracle again (doubles the time); without it, the one an"
            " earlier report saved is used, or none"
        ),
    ] = False,
    eval_episodes: Annotated[int, typer.Option(min=1, help="evaluation episodes")] = 20,
    gif: Annotated[bool, typer.Option(help="write policy.gif")] = True,
    store: Annotated[
        str | None,
        typer.Option(help="the shared store's URL again, when the run's had a password"),
    ] = None,
    role: RoleOption = None,
) -> None:
    """Evaluate a finished run and write RUN/report/ (report.md, report.json, plots)."""
    setup()
    from rich.console import Console

    from rlhf_sandbox.agents.rlhf.report import write_report
    from rlhf_sandbox.agents.rlhf.roles import is_roles_run, write_roles_report
    from rlhf_sandbox.agents.rlhf.run import train_oracle_algo
    from rlhf_sandbox.store.run_folder import RunFolder

    every_role = role is None and run.is_dir() and is_roles_run(run)
    try:
        if every_role:
            rf = RunFolder(run)
            folders = [(r, rf.role(r)) for r in rf.roles()]
        else:
            folders = [(role or "", role_folder(run, role)[0])]
    except ValueError as e:
        raise fail(str(e)) from None
    for _, folder in folders:
        if not folder.settings.is_file():
            raise fail(f"{folder.path} holds no run (no settings.json)")
        if not folder.policy.is_file():
            raise fail(f"{folder.path}: the run has not finished (no policy.pt): resume it first")
    one_torch_thread()
    console = Console()
    trainer = train_oracle_algo(progress=True) if baseline else None
    try:
        with console.status(f"evaluating {run}"):
            if every_role:
                path, reps = write_roles_report(
                    run, episodes=eval_episodes, baseline=trainer, gif=gif, store=store
                )
            else:
                rep = write_report(
                    folders[0][1].path, episodes=eval_episodes, baseline=trainer, gif=gif,
                    store=store,
                )  # fmt: skip
                path, reps = rep.path, {folders[0][0] or "": rep}
    except store_errors() as e:
        raise fail(str(e)) from None
    for r, rep in reps.items():
        if r and every_role:
            console.print(f"[bold]{r}[/]: {rep.path}")
        print_warnings(console, rep.warnings)
    console.print(f"report: {path}")


def print_warnings(console: object, warnings: list[dict[str, str]]) -> None:
    """The report's fidelity warnings, one line each with what to try."""
    from rich.console import Console

    assert isinstance(console, Console)
    for w in warnings:
        console.print(
            f"[yellow]warning[/]: {w['message']}. Try: {w['what_to_try']}", highlight=False
        )
