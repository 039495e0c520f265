"""``rlhf-sandbox <command>``: the command line.

Commands: ``train`` (the RLHF loop), ``demo`` (a short RLHF run with its report), ``ppo``
(PPO on the env reward, compared with a random policy, with a GIF), ``envs`` (the registered
ids) and ``arena ...``. Bad input is one line on stderr, ``Error: ...``, and exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli_arena import arena_app
from rlhf_sandbox.cli_evaluate import evaluate
from rlhf_sandbox.cli_label import label
from rlhf_sandbox.cli_play import play
from rlhf_sandbox.cli_queue import queue, raters
from rlhf_sandbox.cli_store import store_app
from rlhf_sandbox.cli_sweep import sweep
from rlhf_sandbox.cli_train import demo, train

app = typer.Typer(
    name="rlhf-sandbox",
    help="A sandbox for reinforcement learning from human feedback in games and driving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.add_typer(arena_app, name="arena")  # rlhf-sandbox arena train ...
app.add_typer(store_app, name="store")  # rlhf-sandbox store migrate|copy|export|info
app.command()(train)
app.command()(demo)
app.command()(evaluate)
app.command()(play)
app.command()(queue)
app.command()(raters)
app.command()(label)
app.command()(sweep)

# Timesteps of `ppo`: ~2.5 to 3 minutes of training on 2 CPU cores. Measured: SB3 PPO on
# HighwayFast-v0, 16 envs, torch on one thread, runs at ~1,600-1,800 env steps/s on an idle
# machine (~600 when other jobs share the cores).
PPO_TIMESTEPS = 262_144  # 256 rollouts of 16 envs x 64 steps
EVAL_EPISODES = 20
EVAL_SEED_OFFSET = 10_000  # evaluation episodes are seeded apart from the training slots


def _fail(message: str) -> typer.Exit:
    """Print ``Error: message`` on stderr; the caller raises the returned exit (code 2)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _setup() -> None:
    """Headless drawing and registered ids; torch is imported later, after input checks."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    import rlhf_sandbox  # noqa: F401  (registers the env ids)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from rlhf_sandbox.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


@app.command()
def ppo(
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
    _setup()
    from rlhf_sandbox.agents.rollout import check_env_id
    from rlhf_sandbox.files import FolderError, check_out_folder, replacing_folder

    try:
        check_env_id(env)
        check_out_folder(out, "ppo", overwrite=overwrite)  # before any training
    except ValueError as e:
        raise _fail(str(e)) from None

    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table

    from rlhf_sandbox.agents.ppo import PPOSettings, save_policy, train_ppo
    from rlhf_sandbox.agents.rollout import evaluate, random_policy, record_gif, sb3_policy

    torch.set_num_threads(1)  # PPO's small MLP gains nothing from more; envs are one thread
    console = Console()
    settings = PPOSettings(seed=seed)
    console.print(
        f"[bold]ppo[/]: PPO on [cyan]{env}[/] for {timesteps:,} steps "
        f"({settings.n_envs} envs, seed {seed}) -> {out}/"
    )
    t0 = time.perf_counter()
    model = train_ppo(env, timesteps, settings, progress=True)
    train_s = time.perf_counter() - t0

    eval_seed = seed + EVAL_SEED_OFFSET
    trained = evaluate(sb3_policy(model), env, EVAL_EPISODES, eval_seed, settings.n_envs)
    rand = evaluate(
        random_policy(model.action_space, seed), env, EVAL_EPISODES, eval_seed, settings.n_envs
    )
    # The GIF replays a representative evaluation episode: the one with the median return.
    median = int(np.argsort(trained.returns, kind="stable")[EVAL_EPISODES // 2])
    gif_seed = eval_seed + median
    try:  # written whole into a new folder that then takes --out's place
        with replacing_folder(out, "ppo", overwrite=overwrite) as tmp:
            save_policy(model, tmp / "policy.pt", settings, env_id=env)
            frames = record_gif(sb3_policy(model), env, tmp / "trained.gif", seed=gif_seed)
            ratio = trained.mean / rand.mean if rand.mean > 0 else None  # None: undefined
            wall_s = time.perf_counter() - t0
            summary = {
                "env_id": env,
                "timesteps": timesteps,
                "seed": seed,
                "settings": settings.to_json(),
                "train_seconds": round(train_s, 2),
                "timesteps_per_second": round(timesteps / train_s, 1),
                "wall_seconds": round(wall_s, 2),
                "eval_seed": eval_seed,
                "trained": trained.to_json(),
                "random": rand.to_json(),
                "ratio": ratio,
                "gif_seed": gif_seed,
                "gif_return": float(trained.returns[median]),
                "gif_frames": frames,
                "files": ["policy.pt", "policy.json", "trained.gif", "summary.json"],
            }
            _write_json(tmp / "summary.json", summary)
    except FolderError as e:  # --out changed hands while training
        raise _fail(str(e)) from None

    table = Table(title=f"{env}: {EVAL_EPISODES} episodes, seeds {eval_seed}..")
    table.add_column("policy")
    table.add_column("return (mean ± std)", justify="right")
    table.add_column("steps (mean)", justify="right")
    table.add_column("ended early", justify="right")
    for name, r in (("PPO (trained)", trained), ("random", rand)):
        table.add_row(
            name,
            f"{r.mean:.2f} ± {r.std:.2f}",
            f"{r.lengths.mean():.1f}",
            f"{int(r.terminated.sum())}/{EVAL_EPISODES}",
        )
    console.print(table)
    if ratio is not None:
        console.print(f"trained / random mean return: [bold]{ratio:.2f}x[/]")
    console.print(
        f"trained.gif: episode seed {gif_seed} (median return, {trained.returns[median]:.2f}), "
        f"{trained.lengths[median]} steps, {frames} frames"
    )
    console.print(
        f"wrote {out}/policy.pt, policy.json, trained.gif, summary.json "
        f"(training {train_s:.0f} s at {timesteps / train_s:.0f} steps/s, total {wall_s:.0f} s)"
    )


# Settings shown by `envs`, where an id's config has them.
_MAIN_SETTINGS = (
    "road", "lanes", "vehicles", "sim_hz", "policy_hz", "duration", "action",
    "layout", "roles", "max_steps", "dt", "continuous",
)  # fmt: skip


@app.command()
def envs() -> None:
    """List the registered env ids with their main settings and spaces."""
    _setup()
    import gymnasium as gym
    from rich.console import Console
    from rich.table import Table

    from rlhf_sandbox.agents.rollout import OUR_IDS

    table = Table(title="rlhf_sandbox env ids")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("main settings")
    table.add_column("observation")
    table.add_column("action")
    for env_id in OUR_IDS:
        env = gym.make(env_id)
        try:
            config = getattr(env.unwrapped, "config", None)
            fields = (
                {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
                if dataclasses.is_dataclass(config)
                else {}
            )
            main = ", ".join(f"{k}={fields[k]}" for k in _MAIN_SETTINGS if k in fields)
            table.add_row(env_id, main, _space(env.observation_space), _space(env.action_space))
        finally:
            env.close()
    Console().print(table)


def _space(space: Any) -> str:
    shape = getattr(space, "shape", None)
    n = getattr(space, "n", None)
    return f"{type(space).__name__}({n})" if n is not None else f"{type(space).__name__}{shape}"


def main() -> None:
    """Console-script entry point (``rlhf-sandbox``). Drawing is off-screen for every command."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    app()


if __name__ == "__main__":
    main()
