"""``rlhf-sandbox play ENV_ID``: drive a world by keyboard; demonstrations and corrections.

``play ENV_ID [--run runs/NAME] [--rater NAME] [--seed S] [--role npc|player] [--npc NPC]``
stores each episode as demonstration clips (``arena_v0 --npc companion_1``: of that NPC,
for its role); ``--correct --policy runs/NAME|policy.pt|policy.zip``
lets the policy drive until T (take over) and stores the person's segment as a correction
of the policy's from the same start state. A run folder holding ``settings.json`` (a
``train`` run) gives the env settings and the clip length, so the loop can learn from
what was played. Without ``--run`` the clips go to ``runs/play-<ENV>``.
"""

from __future__ import annotations

import getpass
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli.common import EnvArgOption, env_kwargs, fail, setup

DEFAULT_CLIP_SECONDS = 2.0  # the loop's default (RLHFSettings.clip_seconds)


def _env_id(name: str) -> str:
    from rlhf_sandbox.envs.ids import ARENA_V0
    from rlhf_sandbox.feedback_ui.worlds import PLAYABLE

    full = name if "/" in name or name == ARENA_V0 else f"rlhf_sandbox/{name}"
    if full not in PLAYABLE:
        raise ValueError(f"unknown env id {name!r}; play knows {', '.join(PLAYABLE)}")
    return full


def _run_settings(run: Path, env_id: str) -> dict[str, Any]:
    """The settings of a ``train`` run folder ({} when it has none); the env must match."""
    from rlhf_sandbox.store.run_folder import RunFolder

    folder = RunFolder(run)
    if not folder.settings.exists():
        return {}
    settings = folder.read_settings()
    if settings.get("env_id") != env_id:
        raise ValueError(
            f"{run} trains {settings.get('env_id')!r}, not {env_id!r}: play that env there, "
            "or pick another --run"
        )
    return settings


def _role_folder(run: Path) -> tuple[Path, dict[str, Any]] | None:
    """A run of several roles (``roles/ROLE/``): its first role's folder and settings (the
    arena settings the roles share), or None for any other folder."""
    from rlhf_sandbox.store.run_folder import RunFolder

    roles = RunFolder(run).roles()
    if not roles:
        return None
    first = RunFolder(run).role(roles[0])
    return first.path, first.read_settings()


def _npc_run(world: Any, run_dir: Path, settings: dict[str, Any], several: bool) -> Path:
    """Where the NPC's demonstrations go: a run training its role (the role's own folder in
    a run of several roles); a run training another role is refused (its reward model would
    learn from another role's behaviour)."""
    from rlhf_sandbox.store.run_folder import RunFolder

    role, agent = world.subject["role"], world.subject["agent"]
    if several:
        folder = RunFolder(run_dir)
        if role not in folder.roles():
            raise ValueError(
                f"{run_dir} trains the roles {', '.join(folder.roles())}; {agent} is a {role}:"
                " pick an NPC of one of them"
            )
        target = folder.role(role).path
        _run_settings(target, world.env_id)
        return target
    trained = settings.get("env_kwargs", {}).get("role")
    if trained is not None and trained != role:
        same = [
            n
            for n, r in zip(_agent_names(world.config), world.config.roles, strict=True)
            if r == trained
        ]
        raise ValueError(
            f"{run_dir} trains the {trained} role; {agent} is a {role}: pick "
            f"{' or '.join(same) or f'a {trained}'}, or another --run"
        )
    return run_dir


def _agent_names(config: Any) -> list[str]:
    from rlhf_sandbox.envs.arena_config import agent_names

    return agent_names(config)


def command(
    env_id: Annotated[str, typer.Argument(help="env to play, e.g. Highway-v0 (rlhf_sandbox/...)")],
    run: Annotated[
        Path | None, typer.Option(help="run folder to store into (default runs/play-<ENV>)")
    ] = None,
    rater: Annotated[str | None, typer.Option(help="your name in the store")] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="seed of the first episode (default: random)")
    ] = None,
    role: Annotated[str, typer.Option(help="arena: drive the env's NPC, or the player")] = "npc",
    npc: Annotated[
        str | None,
        typer.Option(
            help="arena_v0: the NPC to drive, by agent name (companion_1) or index in roles"
            " (default: the first NPC of the --run's role, else the first agent)"
        ),
    ] = None,
    correct: Annotated[
        bool, typer.Option(help="correction mode: the policy drives, T takes over")
    ] = False,
    policy: Annotated[
        Path | None, typer.Option(help="correction mode: runs/NAME, policy.pt or policy.zip")
    ] = None,
    clip_seconds: Annotated[
        float | None, typer.Option(help="clip length [s] (default: the run's, or 2)")
    ] = None,
    env_arg: EnvArgOption = None,
    headless: Annotated[
        bool, typer.Option(help="no window (SDL dummy driver); needs --max-steps")
    ] = False,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="stop after this many decisions")
    ] = None,
    screenshot: Annotated[
        Path | None, typer.Option(help="save a PNG of the window after a few decisions")
    ] = None,
) -> None:
    """Drive an env by keyboard; store the episodes as demonstrations (or corrections)."""
    setup(window=True, headless=headless)

    from rlhf_sandbox.store.run_folder import RunFolder

    try:
        if headless and max_steps is None:
            raise ValueError("--headless plays no keys: give --max-steps too")
        env = _env_id(env_id)
        if role not in ("npc", "player"):
            raise ValueError(f"--role must be npc or player, got {role!r}")
        run_dir = run if run is not None else Path("runs") / f"play-{env.split('/')[-1]}"
        if run is not None and run.exists() and not run.is_dir():
            raise ValueError(f"--run {run} is not a folder")
        several = _role_folder(run_dir)
        settings = several[1] if several is not None else _run_settings(run_dir, env)
        if several is not None:
            _run_settings(several[0], env)  # the env must be the run's
        kwargs = {**settings.get("env_kwargs", {}), **env_kwargs(env_arg)}
        trained = kwargs.pop("role", None)
        prefer: tuple[str, ...] = ()  # without --npc: the first NPC of a role the run trains
        if several is not None:
            prefer = tuple(RunFolder(run_dir).roles())
        elif isinstance(trained, str):
            prefer = (trained,)
        secs = (
            clip_seconds
            if clip_seconds is not None
            else float(settings.get("clip_seconds", DEFAULT_CLIP_SECONDS))
        )
        if secs <= 0:
            raise ValueError(f"--clip-seconds must be positive, got {secs}")
        if policy is not None and not correct:
            raise ValueError("--policy is for correction mode: add --correct")
        if correct and role == "player":
            raise ValueError("--correct takes over the env's agent: drop --role player")
        from rlhf_sandbox.feedback_ui.worlds import PlayWorld

        world = PlayWorld(
            env, kwargs, "player" if role == "player" else "npc", npc, prefer_roles=prefer
        )
        if world.subject:  # the arena: the run (or the role's folder) that trains its role
            run_dir = _npc_run(world, run_dir, settings, several is not None)
        if correct and policy is None:
            if not RunFolder(run_dir).policy.exists():
                raise ValueError(f"--correct needs --policy (no policy.pt in {run_dir})")
            policy = run_dir
        policy_fn = None
        if correct:
            from rlhf_sandbox.feedback_ui.correct import load_policy_fn

            assert policy is not None
            policy_fn = load_policy_fn(policy, world)
    except (ValueError, TypeError) as e:
        raise fail(str(e)) from None
    if seed is None:  # a fresh episode each session, not the same seed chain every time
        seed = secrets.randbelow(2**31)
    _play(world, run_dir, rater or getpass.getuser(), seed, secs, policy_fn, max_steps, screenshot)


def _play(
    world: Any,
    run_dir: Path,
    rater: str,
    seed: int | None,
    secs: float,
    policy_fn: Any,
    max_steps: int | None,
    screenshot: Path | None,
) -> None:
    from rich.console import Console

    from rlhf_sandbox.feedback_ui.episode import open_store
    from rlhf_sandbox.feedback_ui.play import PlayApp
    from rlhf_sandbox.feedback_ui.session import PlaySession
    from rlhf_sandbox.store.run_folder import RUN

    console = Console()
    steps = max(1, round(secs * world.policy_hz))
    store = open_store(run_dir)
    try:
        session = PlaySession(
            world, store, db_run=RUN, rater=rater, clip_steps=steps, seed=seed, policy=policy_fn
        )
        mode = "correction" if policy_fn is not None else "play"
        console.print(
            f"[bold]play[/]: {mode} mode on [cyan]{world.env_id}[/], clips of {steps} decisions"
            f" ({steps / world.policy_hz:g} s), seed {seed} -> {run_dir}/store"
        )
        shot = (min(3, max_steps or 3), screenshot) if screenshot is not None else None
        saved = PlayApp(session, realtime=max_steps is None).run(max_steps, shot)
    finally:
        store.db.close()
    n_demo, n_corr = len(saved.demonstrations), len(saved.corrections)
    what = f"{n_demo} demonstration clip(s) and {n_corr} correction pair(s)"
    if saved.clips:
        what = f"{len(saved.clips)} clip(s) of the NPCs (you played the player: not demonstrations)"
    console.print(f"saved {what} to {run_dir}/store (run {RUN!r}, rater {rater!r})")
    if saved.endings:
        from collections import Counter

        why = ", ".join(f"{k} x{n}" for k, n in Counter(saved.endings).items())
        console.print(f"{len(saved.endings)} episode(s) ended: {why}")
    if shot is not None:
        console.print(f"screenshot: {screenshot}")
