"""``rlhf-sandbox train`` and ``rlhf-sandbox demo``: the RLHF loop from the command line.

``train --env ID --teacher ORACLE[:RATER] --labels N --timesteps N --out runs/NAME``;
settings may also come from a TOML file (``--config``), whose top-level keys are the fields
of :class:`~rlhf_sandbox.agents.rlhf_settings.RLHFSettings` with ``[ppo]`` and
``[reward_model]`` tables; flags given on the command line win over the file.
"""

from __future__ import annotations

import dataclasses
import os
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli_store import ClipsURLOption

# The demo: a short RLHF run on the highway with the courteous oracle (see DEMO_* below).
DEMO_ENV = "rlhf_sandbox/Highway-v0"
DEMO_ENV_KWARGS: dict[str, Any] = {"policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 20}
DEMO_TIMESTEPS = 100_000
DEMO_LABELS = 400
DEMO_CLIP_SECONDS = 4.0  # 20 decisions: 2 s clips taught the reward model too little
# PPO's discount per decision: 0.8 per second (highway-env's horizon for its 1 Hz
# decisions) spread over 5 decisions a second. At 0.8 per decision PPO looked 1 s ahead, too
# short to see where following at 25 m/s leads. Same 5 seeds, 500 labels: RLHF runs crashed
# in 16% of evaluation episodes instead of 33% (docs/BENCHMARKS.md).
DEMO_GAMMA = 0.8 ** (1 / DEMO_ENV_KWARGS["policy_hz"])


# settings field -> the flag that sets it, where the names differ
_FLAG = {
    "env_id": "env", "query_method": "query", "human_wait_s": "human-wait",
    "env_kwargs": "env-arg", "rater_overrides": "beta/--gamma/--eps-mistake/--skip/--equal",
}  # fmt: skip


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _env_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["lanes=3", "policy_hz=5"]`` -> ``{"lanes": 3, "policy_hz": 5}`` (TOML values)."""
    out: dict[str, Any] = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-arg {p!r}: expected KEY=VALUE")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value  # a bare word: a string
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path}: malformed TOML ({e})") from None


def build_settings(file: dict[str, Any], flags: dict[str, Any]) -> Any:
    """RLHFSettings from a config file's dict overridden by the flags that were given."""
    from rlhf_sandbox.agents.rlhf_settings import RLHFSettings

    d = dict(file)
    ppo = dict(d.pop("ppo", {}))
    rm = dict(d.pop("reward_model", {}))
    for k, v in flags.items():
        if v is None:
            continue
        if k in ("n_envs", "n_steps", "algo"):
            ppo[k] = v
        elif k == "device":
            ppo[k] = rm[k] = v
        elif k == "seed":
            ppo[k] = d[k] = v
        elif k in ("env_kwargs", "rater_overrides"):
            d[k] = {**d.get(k, {}), **v}
        else:
            d[k] = v
    d["ppo"], d["reward_model"] = ppo, rm
    if "env_id" not in d:
        raise ValueError("no env: give --env ID (or env_id in the config file)")
    return RLHFSettings.from_json(d)


def _run(
    settings: Any,
    out: Path,
    resume: bool,
    report: bool,
    baseline: bool,
    episodes: int,
    store: tuple[str | None, str | None, str | None] = (None, None, None),
) -> None:
    """Train (``store``: URL, clips URL, run name of a shared store), then the report."""
    import torch
    from rich.console import Console

    from rlhf_sandbox.agents.report import write_report
    from rlhf_sandbox.agents.rlhf import RLHFLoop
    from rlhf_sandbox.cli_store import store_errors

    torch.set_num_threads(1)
    console = Console()
    url, clips_url, store_run = store
    errors: tuple[type[BaseException], ...] = (*store_errors(), FileExistsError)
    try:
        loop = RLHFLoop(
            settings, out, resume=resume, store=url, clips=clips_url, store_run=store_run
        )
    except errors as e:
        raise _fail(str(e)) from None
    s = loop.s
    teacher = s.teacher if s.teacher == "human" else f"{s.teacher}:{s.rater}"
    shared = f" (store {loop.db.where}, run {loop.run!r})" if loop.where.shared else ""
    console.print(
        f"[bold]train[/]: {s.ppo.algo.upper()} on [cyan]{s.env_id}[/], teacher {teacher},"
        f" {s.labels} labels, {s.timesteps:,} steps, clips of {loop.T} steps"
        f" ({s.clip_seconds} s) -> {out}/{shared}" + (" (resumed)" if resume else "")
    )
    if loop.where.shared and s.teacher == "human":
        console.print(
            f"raters: rlhf-sandbox label --store URL --store-run {loop.run}"
            + (f" --clips-url {loop.where.clips}" if loop.where.clips else "")
        )
    t0 = time.perf_counter()
    try:
        state = loop.train(progress=True)
    finally:
        loop.close()
    console.print(
        f"trained {state.num_timesteps:,} steps in {time.perf_counter() - t0:.0f} s;"
        f" {state.labels_asked} labels asked, reward model v{state.model_version}"
    )
    if report:
        path = write_report(out, episodes=episodes, baseline=baseline, progress=True, store=url)
        console.print(f"report: {path}")


def train(
    env: Annotated[str | None, typer.Option(help="Gymnasium id to train on")] = None,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="ORACLE[:RATER]: courteous, companion, guard, env or human; "
            "RATER: perfect, stochastic, mistake, skip, equal, myopic"
        ),
    ] = None,
    labels: Annotated[int | None, typer.Option(min=0, help="labels to ask for in all")] = None,
    timesteps: Annotated[int | None, typer.Option(min=1, help="env steps in all")] = None,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/rlhf"),
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of settings")] = None,
    env_arg: Annotated[
        list[str] | None, typer.Option(help="env setting KEY=VALUE (repeatable)")
    ] = None,
    clip_seconds: Annotated[float | None, typer.Option(help="query clip length [s]")] = None,
    query: Annotated[
        str | None, typer.Option(help="query selection: random, disagreement, entropy")
    ] = None,
    algo: Annotated[str | None, typer.Option(help="ppo or trpo")] = None,
    n_envs: Annotated[int | None, typer.Option(min=1, help="envs stepped together")] = None,
    n_steps: Annotated[int | None, typer.Option(min=1, help="steps per env per rollout")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="seed")] = None,
    beta: Annotated[float | None, typer.Option(help="rater: Boltzmann rationality")] = None,
    gamma: Annotated[float | None, typer.Option(help="rater: myopia discount")] = None,
    eps_mistake: Annotated[float | None, typer.Option(help="rater: mistake rate")] = None,
    skip: Annotated[float | None, typer.Option(help="rater: skip threshold share")] = None,
    equal: Annotated[float | None, typer.Option(help="rater: equal threshold share")] = None,
    human_wait: Annotated[
        float | None, typer.Option(help="human teacher: longest wait per rollout [s]")
    ] = None,
    human_min_labels: Annotated[
        int | None, typer.Option(help="human teacher: new labels that end a wait")
    ] = None,
    report: Annotated[bool, typer.Option(help="write the report at the end")] = True,
    baseline: Annotated[
        bool, typer.Option(help="report: also train PPO on the oracle reward (doubles the time)")
    ] = True,
    eval_episodes: Annotated[int, typer.Option(min=1, help="report: evaluation episodes")] = 20,
    store: Annotated[
        str | None,
        typer.Option(
            help="a shared store's URL (postgresql://USER@HOST:PORT/DB or sqlite:///PATH) for"
            " the run's clips, queries, labels and reward models instead of --out/store;"
            " on --resume, needed again when the URL holds a password"
        ),
    ] = None,
    store_run: Annotated[
        str | None,
        typer.Option(help="with --store: the run's name in it (new) [default: --out's name]"),
    ] = None,
    clips_url: ClipsURLOption = None,
) -> None:
    """Train a policy on a reward model learned from a teacher's preferences; write a report."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import rlhf_sandbox  # noqa: F401  (registers the env ids)
    from rlhf_sandbox.agents.rollout import check_train_env_id
    from rlhf_sandbox.agents.teachers import parse_teacher

    flags: dict[str, Any] = dict(
        env_id=env, labels=labels, timesteps=timesteps, device=device,
        clip_seconds=clip_seconds, query_method=query, algo=algo, n_envs=n_envs,
        n_steps=n_steps, seed=seed, human_wait_s=human_wait,
        human_min_labels=human_min_labels,
    )  # fmt: skip
    try:
        if teacher is not None:
            flags["teacher"], flags["rater"] = parse_teacher(teacher)
        overrides = dict(beta=beta, gamma=gamma, eps_mistake=eps_mistake, skip=skip, equal=equal)
        flags["rater_overrides"] = {k: v for k, v in overrides.items() if v is not None}
        flags["env_kwargs"] = _env_kwargs(env_arg or [])
        if resume:
            given = [k for k, v in flags.items() if v not in (None, {})]
            if given or config is not None:
                raise ValueError(
                    "--resume continues the run with its own settings.json; drop "
                    + ", ".join(
                        f"--{_FLAG.get(k, k.replace('_', '-'))}" for k in given or ["config"]
                    )
                )
            settings = None
        else:
            settings = build_settings(_from_file(config), flags)
            check_train_env_id(settings.env_id)
            check_env_kwargs(settings)
    except (ValueError, TypeError) as e:
        raise _fail(str(e)) from None
    _run(settings, out, resume, report, baseline, eval_episodes, (store, clips_url, store_run))


def check_env_kwargs(settings: Any) -> None:
    """Build the env once so that a bad setting fails here, in one line."""
    import gymnasium as gym

    from rlhf_sandbox.agents.ppo import make_vec_env
    from rlhf_sandbox.agents.rollout import ARENA_V0

    try:
        if settings.env_id == ARENA_V0:  # the role defaults to the oracle's, as in the loop
            kw = {"role": settings.teacher, **settings.env_kwargs}
            make_vec_env(ARENA_V0, 1, 0, **kw).close()
        else:
            gym.make(settings.env_id, **settings.env_kwargs).close()
    except TypeError as e:
        raise ValueError(f"{settings.env_id}: {e}") from None


def demo(
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/demo"),
    timesteps: Annotated[int, typer.Option(min=1, help="env steps")] = DEMO_TIMESTEPS,
    labels: Annotated[int, typer.Option(min=0, help="labels")] = DEMO_LABELS,
    seed: Annotated[int, typer.Option(min=0, help="seed")] = 0,
) -> None:
    """A short RLHF run: the highway, the courteous oracle with a perfect rater, a report.
    It replaces its own earlier demo folder, and refuses any other folder."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import rlhf_sandbox  # noqa: F401
    from rlhf_sandbox.files import FolderError, fresh_folder

    try:  # the demo starts afresh; it removes only a folder of its own (its marker says so)
        fresh_folder(out, "demo", overwrite=True)
    except FolderError as e:
        raise _fail(str(e)) from None
    s = demo_settings(seed, "perfect", timesteps, labels)
    _run(s, out, resume=False, report=True, baseline=True, episodes=20)


def demo_settings(seed: int, rater: str, timesteps: int, labels: int) -> Any:
    """The demo's run (also the label-efficiency benchmark's): the highway, ``courteous``."""
    from rlhf_sandbox.agents.ppo import PPOSettings
    from rlhf_sandbox.agents.rlhf_settings import RLHFSettings

    return RLHFSettings(
        env_id=DEMO_ENV,
        env_kwargs=DEMO_ENV_KWARGS,
        teacher="courteous",
        rater=rater,
        labels=labels,
        timesteps=timesteps,
        clip_seconds=DEMO_CLIP_SECONDS,
        # half the labels on the random policy's first rollout, where all behaviours show:
        # with a quarter, the learned reward told "slower" from "idle" less often
        initial_label_share=0.5,
        seed=seed,
        ppo=dataclasses.replace(PPOSettings(), seed=seed, gamma=DEMO_GAMMA),
    )
