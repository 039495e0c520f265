"""``rlhf-sandbox ppo``: PPO on an env's reward against a random policy, with a GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.cli.common import fail, one_torch_thread, setup

# Timesteps of `ppo`: ~2.5 to 3 minutes of training on 2 CPU cores. Measured: SB3 PPO on
# HighwayFast-v0, 16 envs, torch on one thread, runs at ~1,600-1,800 env steps/s on an idle
# machine (~600 when other jobs share the cores).
PPO_TIMESTEPS = 262_144  # 256 rollouts of 16 envs x 64 steps


def command(
    timesteps: Annotated[
        int, typer.Option(min=1, help="PPO env steps (all envs counted); ~3 min on 2 cores")
    ] = PPO_TIMESTEPS,
    out: Annotated[Path, typer.Option(help="folder for the policy, the GIF and summary.json")] = (
        Path("runs/ppo")
    ),
    seed: Annotated[int, typer.Option(min=0, help="seed of training and evaluation")] = 0,
    env: Annotated[str, typer.Option(help="Gymnasium id to train on")] = (
        "rlhf_sandbox/HighwayFast-v0"
    ),
    overwrite: Annotated[
        bool, typer.Option(help="replace --out when it holds an earlier output of ppo")
    ] = False,
) -> None:
    """Train PPO, compare it with a random policy on the same episodes, and write a GIF."""
    setup()
    from rlhf_sandbox.agents.evaluation.compare import (
        EVAL_EPISODES,
        FILES,
        check_ppo_run,
        ppo_against_random,
    )
    from rlhf_sandbox.agents.policy.ppo import PPOSettings

    try:
        check_ppo_run(env, out, overwrite)  # before any training
    except ValueError as e:
        raise fail(str(e)) from None
    from rich.console import Console
    from rich.table import Table

    one_torch_thread()
    console = Console()
    console.print(
        f"[bold]ppo[/]: PPO on [cyan]{env}[/] for {timesteps:,} steps "
        f"({PPOSettings().n_envs} envs, seed {seed}) -> {out}/"
    )
    try:
        c = ppo_against_random(env, timesteps, out, seed=seed, overwrite=overwrite)
    except ValueError as e:  # --out changed hands while training
        raise fail(str(e)) from None
    sm = c.summary
    table = Table(title=f"{env}: {EVAL_EPISODES} episodes, seeds {sm['eval_seed']}..")
    table.add_column("policy")
    table.add_column("return (mean ± std)", justify="right")
    table.add_column("steps (mean)", justify="right")
    table.add_column("ended early", justify="right")
    for name, r in (("PPO (trained)", c.trained), ("random", c.random)):
        table.add_row(
            name,
            f"{r.mean:.2f} ± {r.std:.2f}",
            f"{r.lengths.mean():.1f}",
            f"{int(r.terminated.sum())}/{EVAL_EPISODES}",
        )
    console.print(table)
    if sm["ratio"] is not None:
        console.print(f"trained / random mean return: [bold]{sm['ratio']:.2f}x[/]")
    k = sm["gif_seed"] - sm["eval_seed"]
    console.print(
        f"trained.gif: episode seed {sm['gif_seed']} (median return, {sm['gif_return']:.2f}),"
        f" {c.trained.lengths[k]} steps, {sm['gif_frames']} frames"
    )
    train_s = sm["train_seconds"]
    console.print(
        f"wrote {out}/{', '.join(FILES)} (training {train_s:.0f} s at"
        f" {timesteps / train_s:.0f} steps/s, total {sm['wall_seconds']:.0f} s)"
    )
