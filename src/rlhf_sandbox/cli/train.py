"""``rlhf-sandbox train``: the RLHF loop from the command line.

``train --env ID --teacher SPEC[:RATER] --labels N --timesteps N --out runs/NAME``;
settings may also come from a TOML file (``--config``), whose top-level keys are the fields
of :class:`~rlhf_sandbox.agents.rlhf.settings.RLHFSettings` with ``[ppo]`` and
``[reward_model]`` tables; flags given on the command line win over the file. The help of a
flag that sets a field is that field's doc.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.rlhf.settings import (
    DEFAULT_LABELS,
    DEVICE,
    SEED,
    TEACHER,
    RLHFSettings,
)
from rlhf_sandbox.agents.teachers.plugin import TeacherSourceChanged
from rlhf_sandbox.cli.common import (
    ClipsURLOption,
    EnvArgOption,
    env_kwargs,
    fail,
    one_torch_thread,
    read_rubric,
    read_toml,
    setup,
    store_errors,
)
from rlhf_sandbox.config import doc_of
from rlhf_sandbox.store.db import check_task


def _doc(name: str) -> str:
    return doc_of(RLHFSettings, name)


def _ppo_doc(name: str) -> str:
    return doc_of(PPOSettings, name)


# flag -> the setting path it sets (see build_settings); the rater's flags set overrides
FLAGS: dict[str, str] = {
    "env": "env_id", "teacher": TEACHER, "labels": "labels", "timesteps": "timesteps",
    "device": DEVICE, "clip_seconds": "clip_seconds", "explore_steps": "explore_steps",
    "query": "query_method",
    "algo": "ppo.algo", "n_envs": "ppo.n_envs", "n_steps": "ppo.n_steps", "seed": SEED,
    "human_wait": "human_wait_s", "human_min_labels": "human_min_labels",
    "beta": "rater_overrides.beta", "gamma": "rater_overrides.gamma",
    "eps_mistake": "rater_overrides.eps_mistake", "skip": "rater_overrides.skip",
    "equal": "rater_overrides.equal",
}  # fmt: skip


def command(
    env: Annotated[str | None, typer.Option(help=_doc("env_id"))] = None,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="SPEC[:RATER]: a built-in oracle (courteous, highway, merge, crossing,"
            " companion, guard, env), your own as MODULE:ATTR (code you run: see"
            " docs/ORACLES.md), or human; RATER: perfect, stochastic, mistake, skip, equal,"
            " myopic. Several roles of a game in one run: ROLE=SPEC,... (--env arena_v0"
            " alone trains companion=companion,guard=guard)"
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help=_doc("labels")),
    ] = None,
    timesteps: Annotated[int | None, typer.Option(min=1, help=_doc("timesteps"))] = None,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/rlhf"),
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of settings")] = None,
    env_arg: EnvArgOption = None,
    clip_seconds: Annotated[float | None, typer.Option(help=_doc("clip_seconds"))] = None,
    explore_steps: Annotated[int | None, typer.Option(min=0, help=_doc("explore_steps"))] = None,
    query: Annotated[str | None, typer.Option(help=_doc("query_method"))] = None,
    algo: Annotated[str | None, typer.Option(help=_ppo_doc("algo"))] = None,
    n_envs: Annotated[int | None, typer.Option(min=1, help=_ppo_doc("n_envs"))] = None,
    n_steps: Annotated[int | None, typer.Option(min=1, help=_ppo_doc("n_steps"))] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="seed (sets seed and ppo.seed)")] = None,
    beta: Annotated[float | None, typer.Option(help="rater: Boltzmann rationality")] = None,
    gamma: Annotated[float | None, typer.Option(help="rater: myopia discount")] = None,
    eps_mistake: Annotated[float | None, typer.Option(help="rater: mistake rate")] = None,
    skip: Annotated[float | None, typer.Option(help="rater: skip threshold share")] = None,
    equal: Annotated[float | None, typer.Option(help="rater: equal threshold share")] = None,
    human_wait: Annotated[float | None, typer.Option(help=_doc("human_wait_s"))] = None,
    human_min_labels: Annotated[int | None, typer.Option(help=_doc("human_min_labels"))] = None,
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
    question: Annotated[
        str | None,
        typer.Option(help="what raters are asked, shown above the clips in `label` (one line)"),
    ] = None,
    rubric: Annotated[
        Path | None,
        typer.Option(help="a UTF-8 text file: how to judge, shown under the question"),
    ] = None,
) -> None:
    """Train a policy on a reward model learned from a teacher's preferences; write a report."""
    setup()
    from rlhf_sandbox.agents.rlhf.settings import build_settings

    given = dict(
        env=env, teacher=teacher, labels=labels, timesteps=timesteps, device=device,
        clip_seconds=clip_seconds, explore_steps=explore_steps, query=query, algo=algo,
        n_envs=n_envs, n_steps=n_steps, seed=seed, human_wait=human_wait,
        human_min_labels=human_min_labels, beta=beta, gamma=gamma, eps_mistake=eps_mistake,
        skip=skip, equal=equal,
    )  # fmt: skip
    if roles_run(env, teacher, env_arg, out, resume):
        train_roles(
            given, env_arg, config, out, resume=resume, report=report, baseline=baseline,
            episodes=eval_episodes, store=store, task=(question, rubric),
        )  # fmt: skip
        return
    try:
        given["labels"] = _count(labels)
        kw = env_kwargs(env_arg)
        rubric_text = read_rubric(rubric)
        if question is not None or rubric_text is not None:
            check_task(question or "", rubric_text or "")
        settings = None
        if resume:
            named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
            named += ["--env-arg"] * bool(kw) + ["--config"] * (config is not None)
            if named:
                raise ValueError(
                    "--resume continues the run with its own settings.json; drop "
                    + ", ".join(dict.fromkeys(named))
                )
        else:
            values = {FLAGS[k]: v for k, v in given.items()}
            values.update({f"env_kwargs.{k}": v for k, v in kw.items()})
            settings = build_settings(read_toml(config), values)
    except (ValueError, TypeError) as e:
        raise fail(str(e)) from None
    train_and_print(
        settings, out, resume=resume, report=report, baseline=baseline, episodes=eval_episodes,
        store=(store, clips_url, store_run), task=(question, rubric_text),
    )  # fmt: skip


def _count(labels: str | None) -> int | None:
    if labels is None:
        return None
    try:
        n = int(labels)
    except ValueError:
        raise ValueError(
            f"--labels {labels!r}: a whole number (ROLE=N,... only in a run of several roles)"
        ) from None
    if n < 0:
        raise ValueError(f"--labels must be >= 0, got {n}")
    return n


def roles_run(
    env: str | None, teacher: str | None, env_arg: list[str] | None, out: Path, resume: bool
) -> bool:
    """Whether this ``train`` is a run of several roles: ``--teacher ROLE=SPEC,...``, or
    ``--env arena_v0`` with neither a teacher nor a role; on ``--resume``, a folder of one."""
    from rlhf_sandbox.agents.rlhf.roles import is_role_map, is_roles_run
    from rlhf_sandbox.envs.ids import ARENA_V0

    if resume:
        return out.is_dir() and is_roles_run(out)
    if is_role_map(teacher):
        return True
    named_role = any(a.partition("=")[0].strip() == "role" for a in env_arg or [])
    return env == ARENA_V0 and teacher is None and not named_role


def train_roles(
    given: dict[str, Any],
    env_arg: list[str] | None,
    config: Path | None,
    out: Path,
    *,
    resume: bool,
    report: bool,
    baseline: bool,
    episodes: int,
    store: str | None,
    task: tuple[str | None, Path | None],
) -> None:
    """Train several roles of one game together (``agents.rlhf.roles``), then report."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from rlhf_sandbox.agents.rlhf.roles import (
        ARENA_ROLES,
        RolesRun,
        parse_role_map,
        plan_roles,
        split_labels,
        write_roles_report,
    )
    from rlhf_sandbox.agents.rlhf.run import train_oracle_algo
    from rlhf_sandbox.agents.rlhf.settings import build_settings
    from rlhf_sandbox.cli.report import print_warnings

    try:
        if store is not None or task != (None, None):
            raise ValueError(
                "a run of several roles keeps a store per role in its folder: drop --store,"
                " --question and --rubric (give them to `queue` per role)"
            )
        plan = None
        if resume:
            named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
            named += ["--env-arg"] * bool(env_arg) + ["--config"] * (config is not None)
            if named:
                raise ValueError(
                    "--resume continues the run with its own settings; drop "
                    + ", ".join(dict.fromkeys(named))
                )
        else:
            teacher = given.get("teacher")
            teachers = parse_role_map(teacher, "--teacher") if teacher else dict(ARENA_ROLES)
            file = read_toml(config)
            kw = env_kwargs(env_arg)
            labels = split_labels(given.get("labels"), list(teachers), DEFAULT_LABELS)

            def build(role: str, spec: str, n: int) -> RLHFSettings:
                values = {FLAGS[k]: v for k, v in given.items() if k not in ("teacher", "labels")}
                values.update({f"env_kwargs.{k}": v for k, v in kw.items()})
                values.update({TEACHER: spec, "labels": n, "env_kwargs.role": role})
                try:
                    return build_settings(file, values)
                except ValueError as e:
                    raise ValueError(f"role {role}: {e}") from None

            plan = plan_roles(teachers, labels, build)
        one_torch_thread()
        run = RolesRun(out, plan, resume=resume)
    except (*store_errors(), FileExistsError, TypeError) as e:  # type: ignore[misc]
        raise fail(str(e)) from None
    console = Console()
    first = run.settings[run.roles[0]]
    console.print(
        f"[bold]train[/]: {len(run.roles)} roles of [cyan]{run.env_id}[/] in one run,"
        f" {first.timesteps:,} steps each -> {out}/" + (" (resumed)" if resume else "")
    )
    for r, s in run.settings.items():
        console.print(f"  {r}: teacher {s.teacher_value.spec}, {s.labels} labels")
    t0 = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"))
    try:
        with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
            tasks = {r: bar.add_task(r, total=first.timesteps) for r in run.roles}

            def show(steps: dict[str, int]) -> None:
                for r, n in steps.items():
                    bar.update(tasks[r], completed=n)

            states = run.train(progress=show)
    finally:
        run.close()
    seconds = time.perf_counter() - t0
    for r, st in states.items():
        console.print(
            f"{r}: {st.num_timesteps:,} steps, {st.labels_asked} labels asked,"
            f" reward model v{st.model_version}"
        )
    console.print(f"trained in {seconds:.0f} s")
    if report:
        trainer = train_oracle_algo(progress=False) if baseline else None
        with console.status("evaluating every role"):
            path, reps = write_roles_report(
                out, episodes=episodes, baseline=trainer, seconds=seconds
            )
        for rep in reps.values():
            print_warnings(console, rep.warnings)
        console.print(f"report: {path}")


def train_and_print(
    settings: Any,
    out: Path,
    *,
    resume: bool,
    report: bool,
    baseline: bool,
    episodes: int,
    store: tuple[str | None, str | None, str | None] = (None, None, None),
    task: tuple[str | None, str | None] = (None, None),
) -> None:
    """Open the run (every check first), say what it does, train, report (``train``, ``demo``)."""
    from rich.console import Console

    from rlhf_sandbox.agents.rlhf.run import open_run, train_and_report
    from rlhf_sandbox.cli.report import print_warnings

    one_torch_thread()
    console = Console()
    url, clips_url, store_run = store
    errors: tuple[type[BaseException], ...] = (*store_errors(), FileExistsError)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", TeacherSourceChanged)
            loop = open_run(
                settings, out, resume=resume, store=url, clips=clips_url, store_run=store_run,
                question=task[0], rubric=task[1],
            )  # fmt: skip
    except errors as e:
        raise fail(str(e)) from None
    for w in said:
        if issubclass(w.category, TeacherSourceChanged):
            console.print(f"[yellow]warning[/]: {w.message}", highlight=False)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    s = loop.s
    shared = f" (store {loop.db.where}, run {loop.run!r})" if loop.where.shared else ""
    console.print(
        f"[bold]train[/]: {s.ppo.algo.upper()} on [cyan]{s.env_id}[/], teacher"
        f" {s.teacher_value.spec}, {s.labels} labels, {s.timesteps:,} steps, clips of"
        f" {loop.T} steps ({s.clip_seconds} s) -> {out}/{shared}" + (" (resumed)" if resume else "")
    )
    if loop.where.shared and s.teacher_value.human:
        console.print(
            f"raters: rlhf-sandbox label --store URL --store-run {loop.run}"
            + (f" --clips-url {loop.where.clips}" if loop.where.clips else "")
        )
    done = train_and_report(
        loop, report=report, baseline=baseline, episodes=episodes, progress=True, store=url
    )
    state = done.state
    console.print(
        f"trained {state.num_timesteps:,} steps in {done.seconds:.0f} s;"
        f" {state.labels_asked} labels asked, reward model v{state.model_version}"
    )
    if state.unreadable:
        console.print(
            f"[yellow]warning[/]: the last reward-model fit left out pairs whose clips could not"
            f" be read, for instance: {state.unreadable[0]}; `rlhf-sandbox store verify` lists"
            " them"
        )
    if done.report is not None:
        print_warnings(console, done.report.warnings)
        console.print(f"report: {done.report.path}")
