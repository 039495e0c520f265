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
from rlhf_sandbox.agents.rlhf.settings import DEVICE, SEED, TEACHER, RLHFSettings
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
    "device": DEVICE, "clip_seconds": "clip_seconds", "query": "query_method",
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
            " myopic"
        ),
    ] = None,
    labels: Annotated[int | None, typer.Option(min=0, help=_doc("labels"))] = None,
    timesteps: Annotated[int | None, typer.Option(min=1, help=_doc("timesteps"))] = None,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/rlhf"),
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of settings")] = None,
    env_arg: EnvArgOption = None,
    clip_seconds: Annotated[float | None, typer.Option(help=_doc("clip_seconds"))] = None,
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
        clip_seconds=clip_seconds, query=query, algo=algo, n_envs=n_envs, n_steps=n_steps,
        seed=seed, human_wait=human_wait, human_min_labels=human_min_labels, beta=beta,
        gamma=gamma, eps_mistake=eps_mistake, skip=skip, equal=equal,
    )  # fmt: skip
    try:
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
