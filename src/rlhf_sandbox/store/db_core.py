"""The core of the preference database: a backend's connection, the schema, transactions,
and the small helpers every part of :class:`~rlhf_sandbox.store.db.PreferenceDB` uses."""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from rlhf_sandbox.store.db_sqlite import SQLiteBackend
from rlhf_sandbox.store.rows import SchemaVersionError, utc_now
from rlhf_sandbox.store.schema import SCHEMA_VERSION, STEPS, UPGRADABLE
from rlhf_sandbox.store.url import parse_store_url

T = TypeVar("T")


class _Backend(Protocol):
    """What :class:`PreferenceDB` needs of a backend (see the two backend modules)."""

    name: str
    url: str
    where: str
    LOCK: str
    LOCK_SKIP: str
    upgrade_on_open: bool

    @property
    def IntegrityError(self) -> type[Exception]: ...

    def write(self, body: Callable[[Any, bool], T]) -> T: ...
    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...
    def snapshot(self) -> AbstractContextManager[Any]: ...
    def table_exists(self, c: Any, table: str) -> bool: ...
    def create_schema(self, c: Any) -> None: ...
    def lock_schema(self, c: Any) -> None: ...
    def integrity_check(self) -> str: ...
    def close(self) -> None: ...


def _columns(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _row(cls: type, json_cols: Sequence[str], r: Any) -> Any:
    values = {k: (json.loads(r[k]) if k in json_cols else r[k]) for k in _columns(cls)}
    return cls(**values)


def _insert(table: str, cols: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def _in(ids: Sequence[str]) -> str:
    """``(?, ?, ...)`` for an ``IN`` list of ``ids`` (at least one)."""
    return "(" + ", ".join("?" * len(ids)) + ")"


def _stamp(t: float) -> str:
    """Unix time ``t`` as an ISO-8601 UTC string of fixed width (so strings sort as times)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


def _int_or_none(x: object) -> int | None:
    """``x`` as a Python int when it is an integer (numpy ones included), not a bool."""
    if isinstance(x, bool):
        return None
    try:
        return operator.index(x)  # type: ignore[arg-type]
    except TypeError:
        return None


class DBCore:
    """A store's connection, schema and transactions; :class:`PreferenceDB` is the whole
    store (its parts: :mod:`~rlhf_sandbox.store.db_claims`, :mod:`~rlhf_sandbox.store.db_io`)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self._setup(SQLiteBackend(path, timeout_s=timeout_s), None)

    @classmethod
    def open(
        cls,
        url: str | os.PathLike[str],
        *,
        migrate: bool | None = None,
        retry_s: float = 30.0,
        timeout_s: float = 60.0,
    ) -> Self:
        """Open the store at a URL (``sqlite:///PATH``, a path, or ``postgresql://...``).

        A new store gets the schema. An older schema is upgraded in place when ``migrate``
        is true; None means the backend's habit (SQLite: yes; PostgreSQL: no, run
        ``rlhf-sandbox store migrate URL``). Bad URL: StoreURLError; server not reached:
        StoreConnectionError; schema not readable: SchemaVersionError.
        """
        u = parse_store_url(url if isinstance(url, str) else Path(url))
        backend: _Backend
        if u.path is not None:
            backend = SQLiteBackend(u.path, timeout_s=timeout_s)
        else:
            from rlhf_sandbox.store.db_postgres import PostgresBackend

            backend = PostgresBackend(u.url, retry_s=retry_s)
        self = cls.__new__(cls)
        self._setup(backend, migrate)
        return self

    def _setup(self, backend: _Backend, migrate: bool | None) -> None:
        self._b = backend
        self.kind = backend.name
        self.url = backend.url
        self.where = backend.where
        self.path: Path | None = getattr(backend, "path", None)
        self.IntegrityError = backend.IntegrityError
        self.upgraded_from: int | None = None  # the version an open upgraded, if it did
        try:
            self._init_schema(backend.upgrade_on_open if migrate is None else migrate)
        except BaseException:
            backend.close()
            raise

    # ---- plumbing ---------------------------------------------------------------------

    def _write(self, body: Callable[[Any, bool], T]) -> T:
        """``body(c, again)`` in one write transaction; ``again`` is true when the backend
        runs it anew after losing the connection (the lost attempt may have committed)."""
        return self._b.write(body)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._b.read(sql, args)

    def _init_schema(self, upgrade: bool) -> None:
        b = self._b

        def body(c: Any, again: bool) -> None:
            b.lock_schema(c)
            got = (
                [r[0] for r in c.execute("SELECT version FROM schema_version")]
                if b.table_exists(c, "schema_version")
                else []
            )
            if got == [SCHEMA_VERSION]:
                return
            if got and (len(got) != 1 or got[0] not in UPGRADABLE):
                raise SchemaVersionError(
                    f"{b.where}: schema version {got} but this code reads version "
                    f"{SCHEMA_VERSION}; upgrade rlhf-sandbox to open it"
                )
            if got and not upgrade:
                raise SchemaVersionError(
                    f"{b.where}: schema version {got[0]} is older than this code's "
                    f"{SCHEMA_VERSION}; upgrade it in place with `rlhf-sandbox store migrate URL`"
                )
            b.create_schema(c)  # new tables (IF NOT EXISTS): all of a fresh store's
            old = got[0] if got else SCHEMA_VERSION - 1
            for v in range(old + 1, SCHEMA_VERSION + 1):
                for stmt in STEPS.get(v, ()):
                    c.execute(stmt)
                c.execute(
                    "INSERT INTO migrations (version, applied) VALUES (?, ?) ON CONFLICT"
                    " (version) DO UPDATE SET applied = excluded.applied",
                    (v, utc_now()),
                )
            if got:
                c.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                self.upgraded_from = old
            else:
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

        self._write(body)

    def close(self) -> None:
        self._b.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self._read("SELECT version FROM schema_version")[0][0])

    def migrations(self) -> list[tuple[int, str]]:
        """(version, when applied) of each schema version this store went through here."""
        rows = self._read("SELECT version, applied FROM migrations ORDER BY version")
        return [(int(r[0]), str(r[1])) for r in rows]

    def integrity_check(self) -> str:
        """ "ok" when the store is sound (SQLite: ``PRAGMA integrity_check``)."""
        return self._b.integrity_check()

    @staticmethod
    def _ensure_run(c: Any, name: str, config: dict[str, Any] | None) -> None:
        c.execute(
            "INSERT INTO runs (name, created, config) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (name, utc_now(), json.dumps(config or {}, sort_keys=True)),
        )
