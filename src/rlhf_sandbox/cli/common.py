"""What every command shares: the error exit, the process set-up, shared options.

Bad input is one line on stderr, ``Error: ...``, and exit code 2 (:func:`fail`). A
command parses its options, checks them, calls one function of ``agents`` (or ``store``,
``feedback_ui``) and prints; it computes nothing of its own.
"""

from __future__ import annotations

import errno
import functools
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox import display

URL_HELP = "store URL: sqlite:///PATH (or a path) or postgresql://USER@HOST:PORT/DB"
CLIPS_HELP = (
    "where clip chunks are: file:///DIR (or a folder) or db [default: next to a SQLite file;"
    " in the database for PostgreSQL]"
)

# The options of the commands that take a shared store (`queue`, `raters`, `label`, ...).
StoreURLOption = Annotated[
    str | None, typer.Option("--store", help="a shared store's URL instead of the run folder's")
]
ClipsURLOption = Annotated[
    str | None, typer.Option(help="with --store: where clips are, file:///DIR or db")
]
EnvArgOption = Annotated[list[str] | None, typer.Option(help="env setting KEY=VALUE (repeatable)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` (on one line) on stderr; the caller raises the returned exit:
    code 2 for bad input, 1 for a failure of the machine or of a file (:func:`guarded`)."""
    typer.echo(f"Error: {' '.join(message.split())}", err=True)
    return typer.Exit(code=code)


# A full or read-only disk, an I/O error: the machine failed, not the input.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the failures that are not bad input (a corrupt store file, a full
    disk, an env returning NaN) as one ``Error:`` line naming what failed, exit 1. Every
    command is registered through it."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from rlhf_sandbox.envs.vector import NonFiniteEnvError
        from rlhf_sandbox.store.rows import StoreCorruptError

        try:
            command(*args, **kwargs)
        except (StoreCorruptError, NonFiniteEnvError) as e:
            raise fail(str(e), code=1) from None
        except MemoryError:
            raise fail("out of memory: lower the budgets (timesteps, labels, n_envs)", 1) from None
        except OSError as e:
            if e.errno not in DISK_ERRNOS:
                raise
            where = f"{e.filename}: " if e.filename else ""
            raise fail(
                f"{where}{e.strerror or e} (a run resumes from its last checkpoint)", 1
            ) from None

    return run


def setup(window: bool = False, headless: bool = False) -> None:
    """The process set-up of a command, once: where pygame draws (off-screen unless the
    command opens a window for a person; see :mod:`rlhf_sandbox.display`). A window with
    no display to show it on is one ``Error:`` line, before anything is opened or stored."""
    if not window:
        display.offscreen()
        return
    try:
        display.windowed(headless)
        display.check_window()
    except display.NoDisplayError as e:
        raise fail(str(e)) from None


def one_torch_thread() -> None:
    """torch on one thread: small networks gain nothing from more, and the worlds' kernels
    want the cores. Called after the input checks (importing torch takes a while)."""
    import torch

    torch.set_num_threads(1)


def env_kwargs(pairs: list[str] | None) -> dict[str, Any]:
    """``["lanes=3", "policy_hz=5"]`` -> ``{"lanes": 3, "policy_hz": 5}`` (TOML values; a
    bare word is a string, a list a tuple)."""
    out: dict[str, Any] = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-arg {p!r}: expected KEY=VALUE")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def read_toml(path: Path | None) -> dict[str, Any]:
    """A settings file's tables ({} without one); a missing or malformed file: ValueError."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ValueError(f"config file {path} is a folder") from None
    except UnicodeDecodeError as e:
        raise ValueError(
            f"config file {path}: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path}: malformed TOML ({e})") from None


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input or an unreachable store: one ``Error:`` line."""
    from rlhf_sandbox.store.clips import ClipFileError
    from rlhf_sandbox.store.rows import SchemaVersionError, StoreConnectionError

    return (ValueError, FileNotFoundError, StoreConnectionError, SchemaVersionError, ClipFileError)


def open_store(url: str, clips: str | None = None, *, must_exist: bool = False) -> Any:
    """The :class:`~rlhf_sandbox.store.clips.ClipStore` at ``url``; a bad URL, a server
    that cannot be reached or a schema of another version exits with one error line."""
    from rlhf_sandbox.store.clips import ClipStore
    from rlhf_sandbox.store.copy import require_existing

    try:
        if must_exist:
            require_existing(url)
        return ClipStore.open(url, clips)
    except store_errors() as e:
        raise fail(str(e)) from None


def check_out_parent(out: Path) -> None:
    """``out`` can be made: its nearest existing ancestor is a folder."""
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is not a folder")


MAX_RUBRIC_BYTES = 1_000_000


def read_rubric(path: Path | None) -> str | None:
    """The rubric file's text (None without one); not a readable UTF-8 text file: ValueError."""
    if path is None:
        return None
    try:
        if path.is_dir():
            raise ValueError(f"--rubric {path} is a folder, not a text file")
        if path.stat().st_size > MAX_RUBRIC_BYTES:
            raise ValueError(f"--rubric {path}: larger than {MAX_RUBRIC_BYTES:,} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"--rubric {path} not found") from None
    except PermissionError:
        raise ValueError(f"--rubric {path}: cannot be read (permission denied)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"--rubric {path}: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    if "\x00" in text:
        raise ValueError(f"--rubric {path}: not a text file (it holds NUL bytes)")
    return text.removeprefix("\ufeff").replace("\r\n", "\n").strip()


RoleOption = Annotated[
    str | None,
    typer.Option(help="the role, in a run of several roles (its folder roles/ROLE/)"),
]


def role_folder(run: Path, role: str | None) -> tuple[Any, str | None]:
    """``--run DIR [--role R]``: the run folder meant (a :class:`RunFolder`) and its role
    (None: a run with no role). A run of several roles needs ``--role``, one of its roles; a
    run of one role takes none, or its own. ValueError otherwise, naming the roles."""
    from rlhf_sandbox.store.run_folder import RunFolder

    if not run.is_dir():
        raise ValueError(
            f"--run {run}: no such run folder" if not run.exists() else f"--run {run}: not a folder"
        )
    rf = RunFolder(run)
    roles = rf.roles()
    if roles:
        if role is None:
            raise ValueError(f"{run} holds roles {', '.join(roles)}: pick one with --role")
        if role not in roles:  # a checked name from the folder, never the option's text
            raise ValueError(f"unknown role {role!r}; {run} holds roles {', '.join(roles)}")
        return rf.role(role), role
    saved = None
    if rf.settings.is_file():
        kw = rf.read_settings().get("env_kwargs") or {}  # a JSONDecodeError is a ValueError
        if not isinstance(kw, dict):
            raise ValueError(f"{rf.settings}: env_kwargs is not a JSON object")
        saved = kw.get("role")
    if role is not None and role != saved:
        if isinstance(saved, str):
            raise ValueError(f"unknown role {role!r}; {run} trained role {saved!r} only")
        raise ValueError(f"--role {role!r}: {run} is a run of one policy with no roles")
    return rf, saved if isinstance(saved, str) else None
