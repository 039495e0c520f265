"""Files and folders written whole or not at all, and the folders our commands may replace.

Writers: :func:`write_atomic` (a temp file beside the target, fsynced, renamed, the folder
fsynced), :func:`atomic_path` (a temp path to fill, renamed on success),
:func:`atomic_dir` (a temp folder that takes the target's place on success) and
:func:`write_gif`, the one GIF writer.

Ownership: a command that makes an output folder it may later replace (``demo``, ``ppo``,
``evaluate``, ``arena train``) leaves a marker file, :data:`MARKER`, naming itself. A folder
is removed or replaced only when its marker names the same command and the user asked for
it (:func:`check_out_folder`); a folder of anyone else's, a run folder of ``train`` with
people's labels among them, is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

MARKER = ".rlhf-sandbox.json"
"""The marker file in a folder a command made: ``{"made_by": COMMAND, ...}``."""


class FolderError(ValueError):
    """An output folder that a command may not write into or replace; names the folder."""


def write_atomic(path: Path, fill: Callable[[BinaryIO], None] | bytes) -> None:
    """Write ``path`` whole or not at all (see :func:`atomic_path`): ``fill(f)`` writes it,
    or the bytes given. The temp file is named ``.<stem>.*.part``, which ``ClipStore.sweep``
    knows for a leftover."""
    with atomic_path(path, suffix=".part") as tmp, open(tmp, "wb") as f:
        if isinstance(fill, bytes):
            f.write(fill)
        else:
            fill(f)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's) data to the disk; a folder that cannot be opened
    for it (some file systems) is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """The one atomic writer: yield a temporary path beside ``path`` (same suffix, or
    ``suffix``) to fill; on success it is fsynced and renamed onto ``path``, and the folder
    fsynced so that the rename itself is durable. On any error the temp file is removed
    and ``path`` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = path.suffix if suffix is None else suffix
    prefix = f".{path.name}." if suffix is None else f".{path.stem}."
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=end)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as e:
        if e.filename is None:  # a failed write or fsync: name the file it was for
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; on success it takes ``path``'s place
    (a folder already there is moved aside, then removed), on failure it is removed: the
    folder at ``path`` is always whole, the old one or the new one.

    The caller decides whether a folder at ``path`` may be replaced at all
    (:func:`replacing_folder` asks its marker)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual mode
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{time.time_ns()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync(path.parent)


# ---------------------------------------------------------------------- folders we made
def mark(folder: Path, command: str) -> None:
    """Leave the marker saying ``command`` made ``folder``."""
    data = {"made_by": command, "created": datetime.now(UTC).isoformat(), "version": 1}
    write_atomic(folder / MARKER, (json.dumps(data, indent=1) + "\n").encode())


def made_by(folder: Path) -> str | None:
    """The command the marker in ``folder`` names, or None (no marker, or not ours)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    got = data.get("made_by") if isinstance(data, dict) else None
    return got if isinstance(got, str) else None


def check_out_folder(
    folder: Path, command: str, *, overwrite: bool, flag: str = "--overwrite"
) -> bool:
    """Whether ``command`` may write its output folder ``folder``: False when it is new
    (or an empty folder), True when it holds ``command``'s own earlier output and
    ``overwrite`` asks to replace it. Anything else is a :class:`FolderError` naming the
    folder and what to do, and nothing is touched."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return False
    if not folder.is_dir() or folder.is_symlink():
        raise FolderError(f"{folder} exists and is not a folder; pick another --out")
    if not any(folder.iterdir()):
        return False
    owner = made_by(folder)
    if owner != command:
        whose = f" (`{owner}` made it)" if owner else ""
        raise FolderError(
            f"{folder} exists and holds files `{command}` did not write{whose}; it is left as"
            " it is: pick another --out (or remove it yourself)"
        )
    if not overwrite:
        raise FolderError(
            f"{folder} exists: an earlier `{command}` output; pass {flag} to replace it,"
            " or pick another --out"
        )
    return True


@contextlib.contextmanager
def replacing_folder(folder: Path, command: str, *, overwrite: bool) -> Iterator[Path]:
    """A new temporary folder, marked as ``command``'s, that takes ``folder``'s place on
    success (see :func:`atomic_dir`). ``folder`` is checked (:func:`check_out_folder`)
    before and again just before the swap, so that nothing that appeared meanwhile is
    replaced."""
    check_out_folder(folder, command, overwrite=overwrite)
    with atomic_dir(folder) as tmp:
        mark(tmp, command)
        yield tmp
        check_out_folder(folder, command, overwrite=overwrite)


def fresh_folder(folder: Path, command: str, *, overwrite: bool) -> None:
    """Make ``folder`` an empty folder marked as ``command``'s, for a command that writes
    into it as it goes: an earlier output of ``command`` there is removed first when
    :func:`check_out_folder` allows it."""
    if check_out_folder(folder, command, overwrite=overwrite):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark(folder, command)


# ---------------------------------------------------------------------- save / load
def json_path(path: str | Path) -> Path:
    """Where the JSON beside a ``.pt`` lives: same name, ``.json``."""
    return Path(path).with_suffix(".json")


def write_gif(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, duration_ms: float
) -> None:
    """The one GIF writer: ``frames`` (``[H, W, 3]`` uint8 each), each shown ``duration_ms``,
    looping forever, written atomically."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(list(frames)), extension=".gif", duration=duration_ms, loop=0)
