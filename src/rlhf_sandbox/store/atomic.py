"""Files written whole or not at all: a temp file beside the target, fsynced, renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path, fill: Callable[[BinaryIO], None] | bytes) -> None:
    """Write ``path`` through a temp file in the same folder (``fill(f)`` writes it, or the
    bytes given), fsync it, rename it onto ``path``, then fsync the folder so that the
    rename itself is durable. On any error the temp file is removed and ``path`` is as it
    was."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(fill, bytes):
                f.write(fill)
            else:
                fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
