"""``rlhf-sandbox <command>``: the command line, one module per command.

A command parses its options, checks them, calls one function (of ``agents``, ``store``
or ``feedback_ui``) and prints; :mod:`~rlhf_sandbox.cli.common` holds what they share
(the error exit, the process set-up, shared options). Bad input is one line on stderr,
``Error: ...``, and exit code 2.
"""

from __future__ import annotations

import typer

from rlhf_sandbox.cli import (
    arena,
    demo,
    envs,
    evaluate,
    export,
    label,
    play,
    ppo,
    queue,
    raters,
    report,
    store,
    sweep,
    train,
)
from rlhf_sandbox.cli.common import guarded

app = typer.Typer(
    name="rlhf-sandbox",
    help="A sandbox for reinforcement learning from human feedback in games and driving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(arena.app, name="arena")  # rlhf-sandbox arena train ...
app.add_typer(store.app, name="store")  # rlhf-sandbox store migrate|verify|copy|export|info
for module in (train, demo, report, evaluate, play, queue, raters, label, sweep, ppo, envs, export):
    app.command(name=module.__name__.rpartition(".")[2])(guarded(module.command))


def main() -> None:
    """Console-script entry point (``rlhf-sandbox``)."""
    app()
