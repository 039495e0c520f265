"""Several roles of one game in one run: one reward model, one policy, one report per role.

A run of several roles (``train --teacher ROLE=SPEC,...``, or ``--env arena_v0`` with no
role: its companion and its guard) is a folder holding ``roles.json`` (the roles, in order,
and the game) and one ordinary run folder per role under ``roles/ROLE/``, with that role's
settings (``env_kwargs.role``), store, reward models, checkpoints, policy and report. So
``label``, ``raters``, ``evaluate``, ``report`` and ``export`` take ``--role ROLE`` and then
work on that folder as on any run.

The roles share one game: :class:`~rlhf_sandbox.envs.pz_joint.JointGame` steps its copies
once per step for all of them (our arena's through its batched core), and each role's
learner (an :class:`RLHFLoop`) steps its role's view; a view waits at each step for the
others. Every role has the same ``ppo.n_steps``, so their rollouts end on the same step, and
their reward-model fits and PPO updates run at the same time. Each learner runs in a
process of its own, forked from this one (:mod:`~rlhf_sandbox.envs.pz_remote`: the game stays
here, a thread per role answers its learner's calls), so that the learners' Python does not
take turns on one interpreter lock; on threads of this process instead where ``fork`` is
missing (not Linux), where a person labels (clips hold frames) or with ``processes=False``.
A learner that fails stops the others at their next step, as on threads. In processes the
same seed gives the same run; on threads it does not (the learners draw from torch's one
global generator, in turns that vary).
Our arena is played through its PettingZoo face (``arena_v0``'s ``parallel_env``): the NPCs
of roles not trained follow their scripts (``scripted_roles``); in a foreign game they act at
random. A pair always holds two clips of one role: each role's queries are cut from its own
rollouts and stored in its own store.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.agents.rlhf.loop import LoopState, RLHFLoop
from rlhf_sandbox.agents.rlhf.report import BaselineTrainer, RunReport, write_report
from rlhf_sandbox.agents.rlhf.run import check_env
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.ids import ARENA_V0
from rlhf_sandbox.envs.pz_joint import JointGame
from rlhf_sandbox.envs.pz_maker import game_maker
from rlhf_sandbox.envs.pz_remote import RemoteRoleVecEnv, ViewServer, remote_view_args, sendable
from rlhf_sandbox.files import write_atomic
from rlhf_sandbox.store.run_folder import RunFolder, is_role_name

ARENA_GAME = "rlhf_sandbox.envs.arena_v0:parallel_env"  # arena_v0 as a PettingZoo game
ARENA_ROLES = {"companion": "companion", "guard": "guard"}  # the arena's default: two roles
FORMAT = "rlhf-sandbox roles 1"


def is_role_map(text: str | None) -> bool:
    """Whether a ``--teacher`` or ``--labels`` value names roles (``ROLE=...``)."""
    return text is not None and "=" in text


def parse_role_map(text: str, what: str) -> dict[str, str]:
    """``"companion=companion, guard=human"`` -> ``{"companion": "companion", ...}``, in
    order; a ValueError naming ``what`` (the flag) for an empty value, a role given twice or a
    name that is not a role name."""
    out: dict[str, str] = {}
    for part in text.split(","):
        role, eq, value = part.partition("=")
        role, value = role.strip(), value.strip()
        if not eq or not role or not value:
            raise ValueError(f"{what}: expected ROLE=VALUE,... got {part.strip()!r} in {text!r}")
        if not is_role_name(role):
            raise ValueError(f"{what}: {role!r} is not a role name (letters, digits, _ and -)")
        if role in out:
            raise ValueError(f"{what}: role {role!r} is given twice")
        out[role] = value
    return out


def split_labels(labels: str | int | None, roles: list[str], default: int) -> dict[str, int]:
    """Each role's label budget: ``ROLE=N,...`` (every role named, none other), or a total
    (``default`` when None) split evenly, the first roles taking the remainder."""
    if isinstance(labels, str) and is_role_map(labels):
        given = parse_role_map(labels, "--labels")
        if set(given) != set(roles):
            raise ValueError(
                f"--labels names roles {', '.join(given)}; the run trains {', '.join(roles)}"
                " (name each of them once)"
            )
        out = {}
        for role in roles:
            try:
                out[role] = int(given[role])
            except ValueError:
                raise ValueError(
                    f"--labels: {role}={given[role]!r} is not a whole number"
                ) from None
            if out[role] < 0:
                raise ValueError(f"--labels: {role}={out[role]} must be >= 0")
        return out
    try:
        total = default if labels is None else int(labels)
    except ValueError:
        raise ValueError(f"--labels {labels!r}: a whole number, or ROLE=N,...") from None
    if total < 0:
        raise ValueError(f"--labels must be >= 0, got {total}")
    share, rest = divmod(total, len(roles))
    return {r: share + (i < rest) for i, r in enumerate(roles)}


@dataclass(frozen=True)
class RolesPlan:
    """What a run of several roles trains: the game and each role's settings."""

    env_id: str
    env_kwargs: dict[str, Any]  # the game's settings (no role)
    roles: dict[str, RLHFSettings]  # in training order

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "roles": list(self.roles),
        }


def plan_roles(
    teachers: Mapping[str, str],
    labels: Mapping[str, int],
    build: Callable[[str, str, int], RLHFSettings],
) -> RolesPlan:
    """Each role's settings from ``build(role, teacher spec, labels)``; checks that the roles
    share one game and one rollout length (their steps line up) and that each env builds."""
    if len(teachers) < 2:
        raise ValueError(
            "a run of several roles needs at least two roles (--teacher ROLE=SPEC,...)"
        )
    roles = {r: build(r, spec, labels[r]) for r, spec in teachers.items()}
    first = next(iter(roles.values()))
    game_kw = {k: v for k, v in first.env_kwargs.items() if k != "role"}
    for role, s in roles.items():
        kw = {k: v for k, v in s.env_kwargs.items() if k != "role"}
        if s.env_id != first.env_id or kw != game_kw:
            raise ValueError(f"role {role!r}: every role must play the same env and settings")
        if s.ppo.n_steps != first.ppo.n_steps or s.timesteps != first.timesteps:
            raise ValueError(f"role {role!r}: every role takes the same ppo.n_steps and timesteps")
        if s.env_kwargs.get("role") != role:
            raise ValueError(f"role {role!r}: its settings train role {s.env_kwargs.get('role')!r}")
    if first.env_id == ARENA_V0:
        known = set(ArenaConfig().roles) | set(game_kw.get("roles", ()))
        unknown = [r for r in roles if r not in known]
        if unknown:
            raise ValueError(f"arena_v0 has no NPC of role {unknown[0]!r}")
    for s in roles.values():
        check_env(s)
    return RolesPlan(first.env_id, game_kw, roles)


def read_plan_roles(out: str | Path) -> tuple[str, dict[str, Any], list[str]]:
    """``roles.json`` of a run of several roles: (env id, game settings, roles)."""
    folder = RunFolder(out)
    data = json.loads(folder.roles_file.read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{folder.roles_file}: not a roles file of this version")
    roles = [r for r in data.get("roles", []) if is_role_name(r)]
    if len(roles) != len(data.get("roles", [])) or not roles:
        raise ValueError(f"{folder.roles_file}: bad role names")
    return str(data["env_id"]), dict(data.get("env_kwargs") or {}), roles


def _game_spec(env_id: str, game_kw: dict[str, Any], roles: list[str]) -> tuple[str, dict]:
    """The PettingZoo game the roles play and its settings; the arena's NPCs of roles not
    trained follow their scripts."""
    if env_id != ARENA_V0:
        return env_id, dict(game_kw)
    npc_roles = tuple(game_kw.get("roles", ArenaConfig().roles))
    scripted = tuple(dict.fromkeys(r for r in npc_roles if r not in roles))
    return ARENA_GAME, {**game_kw, "scripted_roles": scripted}


def can_fork() -> bool:
    """Whether learners can run in forked processes (Linux)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class RolesRun:
    """A run of several roles in ``out``: new (``plan``) or resumed (``resume``); one process
    per role's learner unless ``processes`` is False (None: where they can, see the module
    docstring)."""

    def __init__(
        self,
        out: str | Path,
        plan: RolesPlan | None,
        *,
        resume: bool = False,
        processes: bool | None = None,
    ) -> None:
        self.out = Path(out)
        self.folder = folder = RunFolder(self.out)
        if resume:
            if not folder.roles_file.exists():
                raise FileNotFoundError(f"{self.out}: no run of several roles to resume")
            env_id, game_kw, roles = read_plan_roles(self.out)
        else:
            if plan is None:
                raise ValueError("a new run of several roles needs its plan")
            if taken := folder.run_files():
                raise FileExistsError(
                    f"{self.out} holds {taken[0]} already (a run's, or someone's own): resume"
                    " the run or pick a new folder"
                )
            env_id, game_kw, roles = plan.env_id, plan.env_kwargs, list(plan.roles)
        self.env_id, self.roles = env_id, roles
        settings = (
            plan.roles
            if plan is not None and not resume
            else {r: RLHFSettings.saved(folder.role(r).read_settings()) for r in roles}
        )
        self.settings = settings
        first = settings[roles[0]]
        human = any(s.teacher_value.human for s in settings.values())
        spec, kw = _game_spec(env_id, game_kw, roles)
        maker = game_maker(spec, kw, render_mode="rgb_array" if human else None)
        sizes = [len(maker.roles.get(r, ())) for r in roles]
        n_copies = max(1, first.ppo.n_envs // max(max(sizes), 1))
        self.game: JointGame = maker.game(
            n_copies, roles, seed=first.ppo.seed, threaded=True, timeout_s=None,
            render_mode="rgb_array" if human else None,
        )  # fmt: skip
        self.loops: dict[str, RLHFLoop] = {}  # on threads: each role's learner
        self.processes = (not human and can_fork()) if processes is None else processes
        if self.processes and not can_fork():
            raise ValueError("learners in processes of their own need fork (Linux)")
        self._procs: dict[str, Any] = {}
        self._servers: dict[str, ViewServer] = {}
        try:
            if not resume:
                self.out.mkdir(parents=True, exist_ok=True)
                assert plan is not None
                write_atomic(
                    folder.roles_file, (json.dumps(plan.to_json(), indent=2) + "\n").encode()
                )
            if self.processes:
                self._start_learners(resume)
                return
            for r in roles:
                self.loops[r] = RLHFLoop(
                    None if resume else settings[r],
                    folder.role(r).path,
                    resume=resume,
                    base=self.game.views[r],
                )
        except BaseException:
            self.close()
            raise

    def _start_learners(self, resume: bool) -> None:
        """Fork one learner per role (each builds its RLHFLoop on a remote view) and wait
        until every one is ready; the first failure is raised."""
        _warm_imports()
        ctx = multiprocessing.get_context("fork")
        pipes = {r: ctx.Pipe() for r in self.roles}
        ends = [end for pair in pipes.values() for end in pair]
        for r in self.roles:
            args = (
                pipes[r][1], ends, self.settings[r], self.folder.role(r).path, resume,
                remote_view_args(self.game, r),
            )  # fmt: skip
            proc = ctx.Process(target=_learner, args=args, name=f"role-{r}", daemon=True)
            proc.start()
            self._procs[r] = proc
        for r in self.roles:
            pipes[r][1].close()
            proc = self._procs[r]
            self._servers[r] = ViewServer(
                self.game, r, pipes[r][0], exitcode=lambda p=proc: _exit_code(p)
            )
        for server in self._servers.values():
            server.ready.wait()
        failed = [s.error for s in self._servers.values() if s.error is not None]
        if failed:
            raise _first(failed)

    def _train_processes(
        self, progress: Callable[[dict[str, int]], None] | None
    ) -> dict[str, LoopState]:
        servers = self._servers
        for server in servers.values():
            server.tell("train")
        while not all(s.ended.is_set() for s in servers.values()):
            next(s for s in servers.values() if not s.ended.is_set()).ended.wait(1.0)
            if progress is not None:
                progress({r: s.steps for r, s in servers.items()})
        failed = [s.error for s in servers.values() if s.error is not None]
        if failed:
            raise _first(failed)
        return {r: s.result for r, s in servers.items()}

    def train(
        self, progress: Callable[[dict[str, int]], None] | None = None
    ) -> dict[str, LoopState]:
        """Train every role to its budget, each in its own process (or thread);
        ``progress(steps by role)`` is called about once a second meanwhile. The first
        failure is raised (the others stop at their next step)."""
        from rlhf_sandbox.envs.pz_joint import run_threads

        if self.processes:
            return self._train_processes(progress)

        result: dict[str, Any] = {}
        failed: list[BaseException] = []

        def trainer(role: str) -> Callable[[Any], LoopState]:
            return lambda _view: self.loops[role].train(progress=False)

        def work() -> None:
            try:
                result.update(run_threads(self.game, {r: trainer(r) for r in self.roles}))
            except BaseException as e:
                failed.append(e)

        thread = threading.Thread(target=work, name="roles")
        thread.start()
        while thread.is_alive():
            thread.join(1.0)
            if progress is not None:
                progress({r: int(loop.algo.num_timesteps) for r, loop in self.loops.items()})
        if failed:
            raise failed[0]
        return result

    def close(self) -> None:
        for server in self._servers.values():
            server.tell("close")  # a learner still waiting for "train"
        for proc in self._procs.values():
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for server in self._servers.values():
            server.thread.join(5)
        for loop in self.loops.values():
            loop.close()
        self.game.close()


def _warm_imports() -> None:
    """Import here, once, what each forked learner would import on its own: torch's first
    optimiser pulls in ``torch._dynamo`` (2 to 4 s of CPU a process on this machine)."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _exit_code(proc: Any) -> int | None:
    """A learner process's exit code, once it has ended (a few seconds at most)."""
    proc.join(5)
    return proc.exitcode


def _first(errors: list[BaseException]) -> BaseException:
    """The first failure that is not an abort (another role's failure), else the first."""
    from rlhf_sandbox.envs.pz_joint import JointGameAborted

    return next((e for e in errors if not isinstance(e, JointGameAborted)), errors[0])


def _learner(
    conn: Any,
    ends: list[Any],
    settings: RLHFSettings,
    path: Path,
    resume: bool,
    view_args: tuple[Any, ...],
) -> None:
    """A role's learner in its own (forked) process: its RLHFLoop on a remote view, trained
    when the run says ``train`` (see :mod:`~rlhf_sandbox.envs.pz_remote`)."""
    import torch

    for end in ends:  # the other roles' and the game's ends: only the game may hold them
        if end is not conn:
            end.close()
    # torch on one thread, as the CLI has it: OpenMP threads started before a fork cannot
    # run in the forked child (GNU OpenMP hangs), and small networks gain nothing from more
    torch.set_num_threads(1)
    loop: RLHFLoop | None = None
    try:
        loop = RLHFLoop(
            None if resume else settings, path, resume=resume,
            base=RemoteRoleVecEnv(conn, *view_args),
        )  # fmt: skip
        conn.send(("ready", (int(loop.algo.num_timesteps),)))
        if conn.recv()[0] == "train":
            conn.send(("done", (loop.train(progress=False),)))
    except BaseException as e:
        with contextlib.suppress(OSError, EOFError):
            conn.send(("error", (sendable(e),)))
    finally:
        with contextlib.suppress(Exception):  # the run heard of the failure that matters
            if loop is not None:
                loop.close()
        conn.close()


def write_roles_report(
    out: str | Path,
    *,
    episodes: int = 20,
    baseline: BaselineTrainer | None = None,
    gif: bool = True,
    store: str | None = None,
    seconds: float | None = None,
) -> tuple[Path, dict[str, RunReport]]:
    """Each role's report (``roles/ROLE/report/``) and the run's ``report.md`` beside
    ``roles.json``: a table of the roles and a section per role pointing to its report."""
    folder = RunFolder(out)
    env_id, _, roles = read_plan_roles(out)
    reports = {
        r: write_report(
            folder.role(r).path, episodes=episodes, baseline=baseline, gif=gif, store=store
        )
        for r in roles
    }
    path = folder.path / "report.md"
    write_atomic(path, roles_markdown(env_id, reports, folder, seconds).encode())
    return path, reports


def roles_markdown(
    env_id: str, reports: Mapping[str, RunReport], folder: RunFolder, seconds: float | None
) -> str:
    """The run's own ``report.md``: one row and one section per role."""
    lines = [f"# Run of {len(reports)} roles on {env_id}", ""]
    if seconds is not None:
        lines += [f"Trained together in {seconds:.0f} s (one game, one learner per role).", ""]
    lines += [
        "| role | teacher | labels | RLHF | random | PPO on the teacher | pool agreement |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for role, rep in reports.items():
        d = rep.data
        s = d.get("settings", {})
        sc = d.get("scores", {})

        def ret(name: str, sc: dict[str, Any] = sc) -> str:
            v = (sc.get(name) or {}).get("oracle_return")
            if v is None:
                v = (sc.get(name) or {}).get("env_return")
            return "-" if v is None else f"{v:.2f}"

        counted = (((d.get("fidelity") or {}).get("pool") or {}).get("counted")) or {}
        pool = counted.get("text") or "-"
        lines.append(
            f"| {role} | {s.get('teacher', '-')}:{s.get('rater', '-')} | {s.get('labels', '-')} |"
            f" {ret('rlhf')} | {ret('random')} | {ret('oracle_ppo')} | {pool} |"
        )
    for role, rep in reports.items():
        rel = rep.path.relative_to(folder.path)
        lines += ["", f"## {role}", "", f"Full report: [{rel}]({rel}).", ""]
        for w in rep.warnings:
            lines.append(f"* warning: {w.get('message', '')} ({w.get('what_to_try', '')})")
    return "\n".join(lines) + "\n"


def is_roles_run(out: str | Path) -> bool:
    """Whether ``out`` holds a run of several roles."""
    return RunFolder(out).roles_file.exists()
