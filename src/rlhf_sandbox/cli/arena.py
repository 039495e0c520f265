"""``rlhf-sandbox arena ...``: commands for the NPC arena."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rlhf_sandbox.cli.common import fail, guarded, one_torch_thread, setup

app = typer.Typer(help="The NPC arena: train companions with a shared PPO policy.")


@app.callback()
def _group() -> None:
    """The NPC arena: train companions with a shared PPO policy."""


@app.command()
@guarded
def train(
    timesteps: Annotated[
        int, typer.Option(help="PPO environment steps (all companions).")
    ] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the worlds and of PPO.")] = 0,
    out: Annotated[
        Path, typer.Option(help="Folder for policy.pt, settings.json, companions.gif.")
    ] = Path("runs/arena"),
    n_worlds: Annotated[int, typer.Option(help="Arena worlds stepped together.")] = 8,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out when it holds an earlier output of arena train.")
    ] = False,
) -> None:
    """Train every companion with one PPO policy; compare with random; write a GIF."""
    setup()
    from rlhf_sandbox.agents.policy.npc import train_companions
    from rlhf_sandbox.files import FolderError

    one_torch_thread()
    try:  # the folder is checked before training, and again before it is replaced
        r = train_companions(
            out, timesteps=timesteps, seed=seed, n_worlds=n_worlds, progress=True,
            overwrite=overwrite,
        )  # fmt: skip
    except FolderError as e:
        raise fail(str(e)) from None
    table = Table(title="companions after training (env reward per step)")
    table.add_column("policy")
    table.add_column("reward", justify="right")
    table.add_column("distance to player [m]", justify="right")
    table.add_row("PPO (greedy)", f"{r.mean_reward_trained:.3f}", f"{r.mean_distance_trained:.2f}")
    table.add_row("random", f"{r.mean_reward_random:.3f}", f"{r.mean_distance_random:.2f}")
    console = Console()
    console.print(table)
    console.print(f"{r.timesteps} steps in {r.seconds:.1f} s")
    console.print(f"policy: {r.policy_path}\nGIF: {r.gif_path}")
