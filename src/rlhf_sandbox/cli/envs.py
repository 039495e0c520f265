"""``rlhf-sandbox envs``: the registered ids with their main settings and spaces."""

from __future__ import annotations

from rlhf_sandbox.cli.common import setup


def command() -> None:
    """List the registered env ids with their main settings and spaces."""
    setup()
    from rich.console import Console
    from rich.table import Table

    from rlhf_sandbox.envs.ids import describe_ids

    table = Table(title="rlhf_sandbox env ids")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("main settings")
    table.add_column("observation")
    table.add_column("action")
    for row in describe_ids():
        table.add_row(*row)
    Console().print(table)
