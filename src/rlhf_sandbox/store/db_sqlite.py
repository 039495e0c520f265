"""The SQLite backend of :class:`~rlhf_sandbox.store.db.PreferenceDB`: the embedded default.

WAL mode with a busy timeout, foreign keys on and ``synchronous=FULL``: every write is one
``BEGIN IMMEDIATE`` transaction, committed before the method returns, so a label that
``add_label`` acknowledged survives a ``kill -9`` of the writer and is visible at once to
other processes. ``BEGIN IMMEDIATE`` takes the file's write lock up front, so write
transactions run one at a time (no lock upgrades, no deadlocks) and need no row locks:
:data:`SQLiteBackend.LOCK` is empty. A file of an older schema version is upgraded when
it is opened (it has one user at a time, the person whose laptop holds it).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rlhf_sandbox.store.rows import StoreCorruptError
from rlhf_sandbox.store.schema import statements

T = TypeVar("T")


class SQLiteBackend:
    """One connection to one SQLite file; one per thread (sqlite3 refuses other threads)."""

    name = "sqlite"
    LOCK = ""  # BEGIN IMMEDIATE already serialises writers
    LOCK_SKIP = ""
    upgrade_on_open = True
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.where = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
        )  # a run of several roles builds its loops here and trains each on a thread
        self._conn.row_factory = sqlite3.Row
        with self._readable():
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """SQLite's "file is not a database" and "disk image is malformed" (plain
        ``DatabaseError``, not its subclasses) as one StoreCorruptError naming the file."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if "full" not in str(e):
                raise
            raise OSError(errno.ENOSPC, str(e), str(self.path)) from None  # SQLITE_FULL
        except sqlite3.DatabaseError as e:
            if type(e) is not sqlite3.DatabaseError:
                raise
            self._conn.close()
            raise StoreCorruptError(f"{self.path}: not a readable SQLite store ({e})") from None

    def write(self, body: Callable[[Any, bool], T]) -> T:
        """``body(connection, False)`` in one BEGIN IMMEDIATE transaction (never retried)."""
        with self._readable():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = body(self._conn, False)
                self._conn.execute("COMMIT")
                return out
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._readable():
            return self._conn.execute(sql, args).fetchall()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent view of the file."""
        with self._readable():
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @staticmethod
    def table_exists(c: sqlite3.Connection, table: str) -> bool:
        row = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return row.fetchone() is not None

    @staticmethod
    def create_schema(c: sqlite3.Connection) -> None:
        for stmt in statements():
            c.execute(stmt)

    @staticmethod
    def lock_schema(c: sqlite3.Connection) -> None:
        """Nothing to do: BEGIN IMMEDIATE holds the file's write lock."""

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
