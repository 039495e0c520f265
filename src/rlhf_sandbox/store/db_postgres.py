"""The PostgreSQL backend of :class:`~rlhf_sandbox.store.db.PreferenceDB`: a team's store.

psycopg 3, one connection per :class:`PreferenceDB` (per thread), autocommit outside the
explicit transactions. The SQL of :mod:`~rlhf_sandbox.store.db` is written with ``?``
placeholders and runs here as it is, after ``?`` -> ``%s``; the schema is the SQLite one
with PostgreSQL's types (see :func:`pg_statements`).

Concurrency. Writes run at READ COMMITTED, and every transaction that adds a claim or a
label on a query first takes that query's row lock (:data:`PostgresBackend.LOCK`, or
:data:`PostgresBackend.LOCK_SKIP` when claiming: ``SELECT ... FOR NO KEY UPDATE SKIP
LOCKED``, so that raters asking at once get different queries instead of waiting). With
the lock held, a fresh statement sees every committed claim and label of that query, so
the "fewer than ``raters_wanted`` distinct raters" check that ``claim_queries`` repeats
under the lock cannot be raced.

Failures. A transaction that fails because the connection broke (server restart, network,
``pg_terminate_backend``) or that PostgreSQL rolled back (deadlock, serialisation) is run
again on a new connection, with backoff, for up to ``retry_s`` seconds; after that the
error is a :class:`StoreConnectionError` naming the server. A retry after a broken
connection is told so (``again=True``): the commit of the lost attempt may have happened,
so the write checks for its own earlier row first (labels are idempotent anyway: the same
(query, rater, content) returns the existing id). A schema of an older version is not
upgraded on open: ``rlhf-sandbox store migrate URL`` does that, once, for the whole team.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from rlhf_sandbox.store.rows import StoreConnectionError, StoreURLError
from rlhf_sandbox.store.schema import statements

T = TypeVar("T")

SCHEMA_LOCK = 0x726C6866  # advisory lock key held while a schema is created or upgraded
_IDENTITY = "rowid BIGINT GENERATED ALWAYS AS IDENTITY, "


@lru_cache(maxsize=1)
def pg_statements() -> tuple[str, ...]:
    """The schema for PostgreSQL: 8-byte integers (SQLite's INTEGER holds 64 bits: an
    episode seed of the driving worlds does not fit PostgreSQL's 4-byte INTEGER) and
    floats, bytea, and an identity ``rowid`` column (SQLite's implicit one, made explicit)
    as the first column of every table."""
    out = []
    for stmt in statements():
        stmt = stmt.replace(" REAL", " DOUBLE PRECISION").replace(" BLOB", " BYTEA")
        stmt = stmt.replace(" INTEGER", " BIGINT")
        out.append(re.sub(r"^(CREATE TABLE IF NOT EXISTS \w+ \()", r"\1" + _IDENTITY, stmt))
    return tuple(out)


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """SQLite placeholders to psycopg's (our SQL has no ``?`` or ``%`` inside literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Row:
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    # Unquoted identifiers fold to lower case in PostgreSQL: column T comes back as "t".
    names = ["T" if d.name == "t" else d.name for d in cursor.description or ()]
    index = {n: i for i, n in enumerate(names)}
    return lambda values: _Row(values, index)


class _Conn:
    """What a transaction body sees: ``execute(sql, args)`` with ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_pg(sql), args)


def server_name(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL, for messages (no user, no password)."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.ProgrammingError as e:
        raise StoreURLError(f"bad PostgreSQL URL {url!r}: {e}") from None
    host = d.get("host") or d.get("hostaddr") or "localhost"
    return f"{host}:{d.get('port') or 5432}/{d.get('dbname') or d.get('user') or ''}"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class PostgresBackend:
    """One connection to one PostgreSQL database (the schema on its ``search_path``)."""

    name = "postgresql"
    LOCK = " FOR NO KEY UPDATE"  # the query row, while its claims or labels change
    LOCK_SKIP = " FOR NO KEY UPDATE OF q SKIP LOCKED"  # ... skipping rows others hold
    upgrade_on_open = False
    IntegrityError = psycopg.IntegrityError

    def __init__(self, url: str, *, retry_s: float = 30.0, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.where = f"PostgreSQL at {server_name(url)}"
        self.retry_s = retry_s
        self._connect_timeout = max(1, round(connect_timeout_s))
        self._conn: psycopg.Connection[Any] | None = None
        try:
            self._connection()
        except psycopg.Error as e:
            raise StoreConnectionError(f"cannot connect to {self.where}: {_first_line(e)}") from e

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            kwargs: dict[str, Any] = {}
            if "connect_timeout" not in conninfo_to_dict(self.url):
                kwargs["connect_timeout"] = self._connect_timeout
            self._conn = psycopg.connect(
                self.url, autocommit=True, row_factory=_row_factory, **kwargs
            )
        return self._conn

    def _retrying(self, attempt: Callable[[bool], T]) -> T:
        """``attempt(again)`` until it succeeds; lost connections and rolled-back
        transactions are retried with backoff for up to ``retry_s`` seconds."""
        deadline = time.monotonic() + self.retry_s
        delay, again = 0.05, False
        while True:
            try:
                return attempt(again)
            except psycopg.OperationalError as e:
                lost = self._conn is None or self._conn.closed or self._conn.broken
                if not (lost or isinstance(e, pg_errors.TransactionRollback)):
                    raise
                again = again or lost
                if time.monotonic() + delay > deadline:
                    raise StoreConnectionError(
                        f"lost {self.where} and could not finish after {self.retry_s:g} s "
                        f"of retries: {_first_line(e)}"
                    ) from e
                time.sleep(delay)
                delay = min(2 * delay, 2.0)

    def write(self, body: Callable[[Any, bool], T]) -> T:
        """``body(connection, again)`` in one transaction, retried as :meth:`_retrying` says."""

        def attempt(again: bool) -> T:
            conn = self._connection()
            with conn.transaction():
                return body(_Conn(conn), again)

        return self._retrying(attempt)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._retrying(lambda _: self._connection().execute(_pg(sql), args).fetchall())

    @contextmanager
    def snapshot(self) -> Iterator[_Conn]:
        """A read-only REPEATABLE READ transaction: one consistent view of the database."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _Conn(conn)

    @staticmethod
    def table_exists(c: _Conn, table: str) -> bool:
        return bool(c.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0])

    @staticmethod
    def create_schema(c: _Conn) -> None:
        for stmt in pg_statements():
            c.execute(stmt)

    @staticmethod
    def lock_schema(c: _Conn) -> None:
        """Two processes opening a fresh database at once: one creates, the other waits."""
        c.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))

    def integrity_check(self) -> str:
        """ "ok" when the server answers (PostgreSQL checks its own pages)."""
        self.read("SELECT 1")
        return "ok"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
