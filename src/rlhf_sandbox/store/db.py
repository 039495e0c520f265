"""The preference database: runs, clip metadata, queries, labels, ratings,
demonstrations, reward models and (optionally) clip chunks, behind a store URL.

:class:`PreferenceDB` is one interface over two backends: SQLite (the embedded default,
:mod:`~rlhf_sandbox.store.db_sqlite`; ``PreferenceDB(path)``) and PostgreSQL for a team
(:mod:`~rlhf_sandbox.store.db_postgres`; ``PreferenceDB.open("postgresql://...")``). The
logic is here, once: validation, row mapping, and the SQL both backends run as written
(``?`` placeholders; ``rowid`` is SQLite's implicit column and an identity column of the
same name in PostgreSQL). What differs (connections, transactions and retries, the schema's
types, row locks) is in the backend modules. No other module of the project writes SQL.

Every write is one transaction, committed before the method returns, so an acknowledged
label survives a crash of the writer and is visible at once to other processes (the
labelling UI and the trainer meet only here). Timestamps are ISO-8601 UTC strings; JSON
columns hold text.

Several labelling apps share one store through *claims*: :meth:`PreferenceDB.claim_queries`
leases queries to a rater so that at most ``raters_wanted`` distinct raters hold or have
labelled a query. A lease expires (a crashed app's queries go back to the pool); a label
ends its rater's lease. Claims are working state, not data: exports leave them out.
"""

from __future__ import annotations

import json
import operator
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rlhf_sandbox.store.db_sqlite import SQLiteBackend
from rlhf_sandbox.store.rows import (
    CHOICES,
    DEMO_KINDS,
    Choice,
    ClaimRow,
    ClipRow,
    DemonstrationRow,
    LabelConflictError,
    LabelRow,
    QueryRow,
    RatingRow,
    RewardModelRow,
    RunRow,
    SchemaVersionError,
    StoreConnectionError,
    StoreURLError,
    utc_now,
)
from rlhf_sandbox.store.schema import SCHEMA_VERSION, STEPS, TABLES, UPGRADABLE
from rlhf_sandbox.store.url import parse_store_url

__all__ = [  # the rows are part of this module's interface
    "CHOICES", "DEMO_KINDS", "SCHEMA_VERSION", "ClaimRow", "ClipRow", "DemonstrationRow",
    "LabelConflictError", "LabelRow", "PreferenceDB", "QueryRow", "RatingRow",
    "RewardModelRow", "RunRow", "SchemaVersionError", "StoreConnectionError",
    "StoreURLError", "open_db", "utc_now",
]  # fmt: skip

DEFAULT_LEASE_S = 300.0  # how long a claim holds a query for its rater [s]
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


# A query ``q`` that rater ``?1`` may take at time ``?2``: not labelled by the rater, and
# either the rater holds a live claim on it or its distinct raters (labelled, or holding a
# live claim) are fewer than it wants. Arguments: :func:`_open_args`. For one query.
_OPEN_TO_RATER = (
    "NOT EXISTS (SELECT 1 FROM labels l WHERE l.query = q.id AND l.rater = ?)"
    " AND (EXISTS (SELECT 1 FROM claims k WHERE k.query = q.id AND k.rater = ?"
    " AND k.expires > ?) OR (SELECT COUNT(*) FROM (SELECT l.rater FROM labels l"
    " WHERE l.query = q.id UNION SELECT k.rater FROM claims k WHERE k.query = q.id"
    " AND k.expires > ?) AS who) < q.raters_wanted)"
)

# The same condition over all queries of run ``?4``, as joins instead of subqueries run
# per row (so a scan of many queries costs a hash join, not a subquery each). ``mine`` is
# the rater's live claim (NULL if none); ``load`` the query's distinct raters. FROM and
# WHERE of a SELECT; arguments: :func:`_scan_args`.
_OPEN_SCAN = (
    "queries q LEFT JOIN (SELECT w.query, COUNT(*) AS n FROM (SELECT l.query, l.rater"
    " FROM labels l UNION SELECT k.query, k.rater FROM claims k WHERE k.expires > ?) AS w"
    " GROUP BY w.query) AS load ON load.query = q.id"
    " LEFT JOIN claims mine ON mine.query = q.id AND mine.rater = ? AND mine.expires > ?"
    " WHERE q.run = ? AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.query = q.id"
    " AND l.rater = ?) AND (mine.query IS NOT NULL OR COALESCE(load.n, 0) < q.raters_wanted)"
)


def _open_args(rater: str, now: float) -> tuple[str, str, str, str]:
    t = _stamp(now)
    return rater, rater, t, t


def _scan_args(run: str, rater: str, now: float) -> tuple[str, str, str, str, str]:
    t = _stamp(now)
    return t, rater, t, run, rater


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


def open_db(url: str | os.PathLike[str], **kwargs: Any) -> PreferenceDB:
    """The store at ``url`` (see :mod:`~rlhf_sandbox.store.url`); same as
    :meth:`PreferenceDB.open`."""
    return PreferenceDB.open(url, **kwargs)


class PreferenceDB:
    """The preference store; safe to open from several processes at once.

    ``PreferenceDB(path)`` opens (or creates) a SQLite file; :meth:`open` takes a store URL.
    One instance per thread.
    """

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
    ) -> PreferenceDB:
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

    def __enter__(self) -> PreferenceDB:
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

    # ---- runs -------------------------------------------------------------------------

    def add_run(self, name: str, config: dict[str, Any] | None = None) -> None:
        """Create a run; an existing run with this name is left as it is."""
        self._write(lambda c, _: self._ensure_run(c, name, config))

    def create_run(self, name: str, config: dict[str, Any] | None = None) -> bool:
        """Create a run that must be new; False when the store has a run of this name
        already (two writers racing for one name: one gets True). Give ``config`` something
        unique (a token): a retry after a lost connection recognises its own row by it."""
        text = json.dumps(config or {}, sort_keys=True)

        def body(c: Any, again: bool) -> bool:
            got = c.execute("SELECT config FROM runs WHERE name = ?", (name,)).fetchone()
            if got is not None:
                return again and got[0] == text
            c.execute(
                "INSERT INTO runs (name, created, config) VALUES (?, ?, ?)",
                (name, utc_now(), text),
            )
            return True

        try:
            return self._write(body)
        except self.IntegrityError:
            return False

    def has_run(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE name = ?", (name,)))

    @staticmethod
    def _ensure_run(c: Any, name: str, config: dict[str, Any] | None) -> None:
        c.execute(
            "INSERT INTO runs (name, created, config) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (name, utc_now(), json.dumps(config or {}, sort_keys=True)),
        )

    def runs(self) -> list[RunRow]:
        return [
            _row(RunRow, ("config",), r) for r in self._read("SELECT * FROM runs ORDER BY rowid")
        ]

    # ---- clips ------------------------------------------------------------------------

    def add_clips(self, rows: Sequence[ClipRow], chunk: tuple[str, bytes] | None = None) -> None:
        """Insert clip metadata rows in one transaction (their runs are created if new);
        with ``chunk`` (name, ``.npz`` bytes), the chunk goes into the database with them."""
        cols = _columns(ClipRow)
        sql = _insert("clips", cols)

        def body(c: Any, again: bool) -> None:
            if again and rows:  # the lost attempt committed if its first row is there
                got = c.execute("SELECT chunk FROM clips WHERE id = ?", (rows[0].id,)).fetchone()
                if got is not None and got[0] == rows[0].chunk:
                    return
            for run in dict.fromkeys(r.run for r in rows):
                self._ensure_run(c, run, None)
            if chunk is not None:
                c.execute(_insert("chunks", ("name", "data", "created")), (*chunk, utc_now()))
            for r in rows:
                d = asdict(r)
                d["config"] = json.dumps(d["config"], sort_keys=True)
                c.execute(sql, [d[k] for k in cols])

        self._write(body)

    def get_clip(self, clip_id: str) -> ClipRow:
        got = self._read("SELECT * FROM clips WHERE id = ?", (clip_id,))
        if not got:
            raise KeyError(f"unknown clip id {clip_id!r}")
        return _row(ClipRow, ("config",), got[0])

    def clip_ids(self, run: str | None = None) -> list[str]:
        if run is None:
            rows = self._read("SELECT id FROM clips ORDER BY rowid")
        else:
            rows = self._read("SELECT id FROM clips WHERE run = ? ORDER BY rowid", (run,))
        return [r[0] for r in rows]

    def clip_chunks(self) -> set[str]:
        """The chunk names that some clip row refers to."""
        return {r[0] for r in self._read("SELECT DISTINCT chunk FROM clips")}

    def get_chunk(self, name: str) -> bytes | None:
        """The bytes of a chunk held in the database, or None when it is not there."""
        got = self._read("SELECT data FROM chunks WHERE name = ?", (name,))
        return None if not got else bytes(got[0][0])

    def db_chunks(self) -> set[str]:
        """The names of the chunks held in the database."""
        return {r[0] for r in self._read("SELECT name FROM chunks")}

    # ---- queries ----------------------------------------------------------------------

    def add_query(
        self,
        run: str,
        left_clip: str,
        right_clip: str,
        method: str = "random",
        score: float | None = None,
        raters_wanted: int = 1,
    ) -> str:
        """Add a pair of clips to be compared; returns the new query id."""
        if raters_wanted < 1:
            raise ValueError(f"raters_wanted must be >= 1, got {raters_wanted}")
        qid = uuid.uuid4().hex

        def body(c: Any, again: bool) -> None:
            if again and c.execute("SELECT 1 FROM queries WHERE id = ?", (qid,)).fetchone():
                return
            self._ensure_run(c, run, None)
            c.execute(
                "INSERT INTO queries (id, run, left_clip, right_clip, method, score, created,"
                " raters_wanted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (qid, run, left_clip, right_clip, method, score, utc_now(), raters_wanted),
            )

        self._write(body)
        return qid

    def get_query(self, query_id: str) -> QueryRow:
        got = self._read("SELECT * FROM queries WHERE id = ?", (query_id,))
        if not got:
            raise KeyError(f"unknown query id {query_id!r}")
        return _row(QueryRow, (), got[0])

    def queries(self, run: str | None = None) -> list[QueryRow]:
        """Every query (of ``run``), oldest first."""
        sql, args = "SELECT * FROM queries", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " WHERE run = ?", (run,)
        return [_row(QueryRow, (), r) for r in self._read(sql + " ORDER BY rowid", args)]

    def label_count(self, run: str) -> int:
        """How many labels the queries of ``run`` have."""
        got = self._read(
            "SELECT COUNT(*) FROM labels l JOIN queries q ON l.query = q.id WHERE q.run = ?",
            (run,),
        )
        return int(got[0][0])

    def feedback_count(self, run: str) -> int:
        """Labels, ratings and demonstrations of ``run``: what the reward model learns from."""
        got = self._read(
            "SELECT (SELECT COUNT(*) FROM ratings x JOIN clips c ON x.clip = c.id"
            " WHERE c.run = ?) + (SELECT COUNT(*) FROM demonstrations WHERE run = ?)",
            (run, run),
        )
        return self.label_count(run) + int(got[0][0])

    # ---- ratings and demonstrations ---------------------------------------------------

    def add_rating(
        self,
        clip: str,
        rater: str,
        *,
        score: int | None = None,
        thumb: int | None = None,
        tags: Sequence[str] = (),
        comment: str = "",
    ) -> str:
        """Record (or replace) ``rater``'s rating of ``clip``; committed before it returns."""
        if score is not None and (_int_or_none(score) is None or not 1 <= int(score) <= 5):
            raise ValueError(f"score must be an integer 1..5 or None, got {score!r}")
        if thumb not in (None, -1, 1):
            raise ValueError(f"thumb must be -1, 1 or None, got {thumb!r}")
        if score is None and thumb is None and not tags and not comment:
            raise ValueError("a rating needs a score, a thumb, tags or a comment")
        rid = uuid.uuid4().hex

        def body(c: Any, again: bool) -> str:
            if c.execute("SELECT 1 FROM clips WHERE id = ?", (clip,)).fetchone() is None:
                raise KeyError(f"unknown clip id {clip!r}")
            c.execute(
                "INSERT INTO ratings (id, clip, rater, score, thumb, tags, comment, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clip, rater) DO UPDATE SET"
                " score = excluded.score, thumb = excluded.thumb, tags = excluded.tags,"
                " comment = excluded.comment, created = excluded.created",
                (rid, clip, rater, score, thumb, json.dumps(list(tags)), comment, utc_now()),
            )
            got = c.execute(
                "SELECT id FROM ratings WHERE clip = ? AND rater = ?", (clip, rater)
            ).fetchone()
            return str(got[0])

        return self._write(body)

    def undo_rating(self, rating_id: str) -> None:
        """Delete one rating; an unknown id raises KeyError."""

        def body(c: Any, again: bool) -> None:
            gone = c.execute("DELETE FROM ratings WHERE id = ?", (rating_id,)).rowcount
            if gone != 1 and not again:
                raise KeyError(f"unknown rating id {rating_id!r}")

        self._write(body)

    def unrated_clips(self, run: str, rater: str, limit: int = 10) -> list[str]:
        """Clips of ``run`` that ``rater`` has not rated, oldest first."""
        rows = self._read(
            "SELECT c.id FROM clips c WHERE c.run = ? AND NOT EXISTS (SELECT 1 FROM ratings r"
            " WHERE r.clip = c.id AND r.rater = ?) ORDER BY c.rowid LIMIT ?",
            (run, rater, limit),
        )
        return [r[0] for r in rows]

    def ratings(self, run: str | None = None) -> list[RatingRow]:
        sql, args = "SELECT r.* FROM ratings r", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " JOIN clips c ON r.clip = c.id WHERE c.run = ?", (run,)
        rows = self._read(sql + " ORDER BY r.rowid", args)
        return [_row(RatingRow, ("tags",), r) for r in rows]

    def add_demonstration(
        self,
        run: str,
        clip: str,
        rater: str,
        kind: str = "demonstration",
        replaces: str | None = None,
    ) -> str:
        """Record a played clip; a ``correction`` names the policy clip it ``replaces``."""
        if kind not in DEMO_KINDS:
            raise ValueError(f"kind must be one of {DEMO_KINDS}, got {kind!r}")
        if (kind == "correction") != (replaces is not None):
            raise ValueError("a correction, and only a correction, names the clip it replaces")
        did = uuid.uuid4().hex

        def body(c: Any, again: bool) -> None:
            if again and c.execute("SELECT 1 FROM demonstrations WHERE id = ?", (did,)).fetchone():
                return
            for cid in (clip, replaces):
                if (
                    cid is not None
                    and not c.execute("SELECT 1 FROM clips WHERE id = ?", (cid,)).fetchone()
                ):
                    raise KeyError(f"unknown clip id {cid!r}")
            self._ensure_run(c, run, None)
            c.execute(
                "INSERT INTO demonstrations (id, run, clip, rater, kind, replaces, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (did, run, clip, rater, kind, replaces, utc_now()),
            )

        self._write(body)
        return did

    def demonstrations(self, run: str | None = None) -> list[DemonstrationRow]:
        sql, args = "SELECT * FROM demonstrations", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " WHERE run = ?", (run,)
        return [_row(DemonstrationRow, (), r) for r in self._read(sql + " ORDER BY rowid", args)]

    def pending_queries(self, run: str, rater: str, limit: int = 10) -> list[QueryRow]:
        """Queries of ``run`` that ``rater`` has not labelled and may still take: ones it
        holds a live claim on, or whose distinct raters (labelled or holding a live claim)
        are fewer than ``raters_wanted``. Reads only: :meth:`claim_queries` takes them."""
        rows = self._read(
            f"SELECT q.* FROM {_OPEN_SCAN} ORDER BY q.rowid LIMIT ?",
            (*_scan_args(run, rater, time.time()), limit),
        )
        return [_row(QueryRow, (), r) for r in rows]

    def pending_count(self, run: str, rater: str) -> int:
        """How many queries :meth:`pending_queries` would list without a limit."""
        got = self._read(f"SELECT COUNT(*) FROM {_OPEN_SCAN}", _scan_args(run, rater, time.time()))
        return int(got[0][0])

    # ---- claims (several labelling apps on one store) ---------------------------------

    def claim_queries(
        self, run: str, rater: str, n: int = 1, lease_s: float = DEFAULT_LEASE_S
    ) -> list[QueryRow]:
        """Lease up to ``n`` queries of ``run`` to ``rater`` for ``lease_s`` seconds.

        One transaction: expired claims are dropped, then the queries ``rater`` already
        holds come first (their leases renewed), then the oldest that still want raters.
        Each candidate is row-locked (PostgreSQL: skipping rows that other claimers hold)
        and checked again under its lock before it is held, so at most ``raters_wanted``
        distinct raters hold or have labelled a query, whatever number of apps claim at
        once. Returns the claimed queries.
        """
        if n < 0 or lease_s <= 0:
            raise ValueError(f"n must be >= 0 and lease_s > 0, got n={n}, lease_s={lease_s}")
        b = self._b

        def body(c: Any, again: bool) -> list[QueryRow]:
            now = time.time()
            c.execute("DELETE FROM claims WHERE expires <= ?", (_stamp(now),))
            taken: list[QueryRow] = []
            seen: list[str] = []
            while len(taken) < n:
                skip = f" AND q.id NOT IN {_in(seen)}" if seen else ""
                rows = c.execute(
                    f"SELECT q.* FROM {_OPEN_SCAN}{skip} ORDER BY mine.query IS NULL, q.rowid"
                    f" LIMIT ?{b.LOCK_SKIP}",
                    (*_scan_args(run, rater, now), *seen, n - len(taken)),
                ).fetchall()
                if not rows:
                    break
                for r in rows:
                    seen.append(r["id"])
                    if b.LOCK and not self._open_to(c, r["id"], rater, now):
                        continue  # filled by a transaction that committed meanwhile
                    self._hold(c, r["id"], rater, now + lease_s)
                    taken.append(_row(QueryRow, (), r))
            return taken

        return self._write(body)

    @staticmethod
    def _open_to(c: Any, query: str, rater: str, now: float) -> bool:
        """Whether ``rater`` may take ``query``, by a fresh statement (fresh snapshot)."""
        return (
            c.execute(
                f"SELECT 1 FROM queries q WHERE q.id = ? AND {_OPEN_TO_RATER}",
                (query, *_open_args(rater, now)),
            ).fetchone()
            is not None
        )

    def renew_claims(
        self, rater: str, query_ids: Sequence[str], lease_s: float = DEFAULT_LEASE_S
    ) -> list[str]:
        """Extend ``rater``'s leases on ``query_ids`` (re-taking a lapsed one while the
        query still has room); returns the ids ``rater`` holds now, in the given order."""
        if not query_ids:
            return []
        ids = list(dict.fromkeys(query_ids))

        def body(c: Any, again: bool) -> list[str]:
            now = time.time()
            # row locks in one order (id), so that two renewing apps cannot deadlock
            c.execute(
                f"SELECT id FROM queries WHERE id IN {_in(ids)} ORDER BY id{self._b.LOCK}", ids
            )
            held = [q for q in ids if self._open_to(c, q, rater, now)]
            for q in held:
                self._hold(c, q, rater, now + lease_s)
            return [q for q in query_ids if q in held]

        return self._write(body)

    def release_claims(self, rater: str, query_ids: Sequence[str] | None = None) -> int:
        """Give back ``rater``'s claims (on ``query_ids``, or all); returns how many."""

        def body(c: Any, again: bool) -> int:
            if query_ids is None:
                return int(c.execute("DELETE FROM claims WHERE rater = ?", (rater,)).rowcount)
            return sum(
                c.execute("DELETE FROM claims WHERE rater = ? AND query = ?", (rater, q)).rowcount
                for q in query_ids
            )

        return self._write(body)

    def claims(self, run: str | None = None) -> list[ClaimRow]:
        """Live (unexpired) claims (on queries of ``run``), oldest query first."""
        sql = (
            "SELECT k.* FROM claims k JOIN queries q ON q.id = k.query WHERE k.expires > ?"
            + ("" if run is None else " AND q.run = ?")
            + " ORDER BY q.rowid, k.rater"
        )
        args = (_stamp(time.time()),) + (() if run is None else (run,))
        return [_row(ClaimRow, (), r) for r in self._read(sql, args)]

    @staticmethod
    def _hold(c: Any, query: str, rater: str, until: float) -> None:
        c.execute(
            "INSERT INTO claims (query, rater, expires) VALUES (?, ?, ?)"
            " ON CONFLICT (query, rater) DO UPDATE SET expires = excluded.expires",
            (query, rater, _stamp(until)),
        )

    # ---- labels -----------------------------------------------------------------------

    def add_label(
        self,
        query: str,
        rater: str,
        choice: Choice | str,
        *,
        shown_left: str | None = None,
        rating: int | None = None,
        tags: Sequence[str] = (),
        comment: str = "",
    ) -> str:
        """Record a rater's answer to a query; committed before this returns.

        ``shown_left`` is the clip that was shown on the left (default: the query's left
        clip). The same (query, rater) again with the same content returns the existing
        id (so a retried call is harmless); with different content it raises
        :class:`LabelConflictError`.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}")
        if rating is not None:
            r = _int_or_none(rating)
            if r is None or not 1 <= r <= 5:
                raise ValueError(f"rating must be an integer 1..5 or None, got {rating!r}")
            rating = r
        tags_json = json.dumps(list(tags))

        def body(c: Any, again: bool) -> str:
            q = c.execute(
                f"SELECT left_clip, right_clip FROM queries WHERE id = ?{self._b.LOCK}", (query,)
            ).fetchone()
            if q is None:
                raise KeyError(f"unknown query id {query!r}")
            left = q[0] if shown_left is None else shown_left
            if left not in (q[0], q[1]):
                raise ValueError(f"shown_left {left!r} is neither clip of query {query!r}")
            old = c.execute(
                "SELECT id, choice, rating, tags, comment, shown_left FROM labels"
                " WHERE query = ? AND rater = ?",
                (query, rater),
            ).fetchone()
            if old is not None:
                if (old[1], old[2], old[3], old[4], old[5]) == (
                    choice,
                    rating,
                    tags_json,
                    comment,
                    left,
                ):
                    return str(old[0])
                raise LabelConflictError(
                    f"rater {rater!r} already labelled query {query!r} differently "
                    f"(label {old[0]}); undo it first"
                )
            lid = uuid.uuid4().hex
            c.execute(
                "INSERT INTO labels (id, query, rater, choice, rating, tags, comment,"
                " shown_left, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (lid, query, rater, choice, rating, tags_json, comment, left, utc_now()),
            )
            c.execute("DELETE FROM claims WHERE query = ? AND rater = ?", (query, rater))
            return lid

        return self._write(body)

    def undo_label(self, label_id: str, *, reclaim_s: float | None = None) -> None:
        """Delete one label; an unknown id raises KeyError.

        With ``reclaim_s``, the rater keeps the query for that many seconds (a claim in
        the same transaction), so that no other rater takes the place meanwhile.
        """

        def body(c: Any, again: bool) -> None:
            got = c.execute("SELECT query, rater FROM labels WHERE id = ?", (label_id,)).fetchone()
            if got is None:
                if again:
                    return  # the lost attempt did it
                raise KeyError(f"unknown label id {label_id!r}")
            c.execute(f"SELECT 1 FROM queries WHERE id = ?{self._b.LOCK}", (got[0],))
            if c.execute("DELETE FROM labels WHERE id = ?", (label_id,)).rowcount != 1:
                raise KeyError(f"unknown label id {label_id!r}")
            if reclaim_s is not None:
                self._hold(c, got[0], got[1], time.time() + reclaim_s)

        self._write(body)

    def labels(self, run: str | None = None) -> list[LabelRow]:
        if run is None:
            rows = self._read("SELECT * FROM labels ORDER BY rowid")
        else:
            rows = self._read(
                "SELECT l.* FROM labels l JOIN queries q ON q.id = l.query"
                " WHERE q.run = ? ORDER BY l.rowid",
                (run,),
            )
        return [_row(LabelRow, ("tags",), r) for r in rows]

    # ---- reward models ----------------------------------------------------------------

    def add_reward_model(self, run: str, path: str, metrics: dict[str, Any] | None = None) -> int:
        """Register a trained reward model; returns its version (1, 2, ... per run)."""
        metrics_json = json.dumps(metrics or {}, sort_keys=True)

        def body(c: Any, again: bool) -> int:
            if again:
                got = c.execute(
                    "SELECT version FROM reward_models WHERE run = ? AND path = ? AND metrics = ?"
                    " ORDER BY version DESC",
                    (run, path, metrics_json),
                ).fetchone()
                if got is not None:
                    return int(got[0])
            self._ensure_run(c, run, None)
            (last,) = c.execute(
                "SELECT COALESCE(MAX(version), 0) FROM reward_models WHERE run = ?", (run,)
            ).fetchone()
            version = int(last) + 1
            c.execute(
                "INSERT INTO reward_models (version, run, path, created, metrics)"
                " VALUES (?, ?, ?, ?, ?)",
                (version, run, path, utc_now(), metrics_json),
            )
            return version

        return self._write(body)

    def latest_reward_model(self, run: str) -> RewardModelRow | None:
        got = self._read(
            "SELECT * FROM reward_models WHERE run = ? ORDER BY version DESC LIMIT 1", (run,)
        )
        return None if not got else _row(RewardModelRow, ("metrics",), got[0])

    def reward_models(self, run: str) -> list[RewardModelRow]:
        """Every reward-model version of ``run``, oldest first."""
        rows = self._read("SELECT * FROM reward_models WHERE run = ? ORDER BY version", (run,))
        return [_row(RewardModelRow, ("metrics",), r) for r in rows]

    # ---- export / import --------------------------------------------------------------

    def export_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row (claims and chunks aside) as (table, row dict), in export order, from
        one consistent snapshot of the store."""
        with self._b.snapshot() as c:
            for table, (cls, json_cols) in TABLES.items():
                for r in c.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall():
                    yield table, asdict(_row(cls, json_cols, r))

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every row as ``{"table": ..., "row": {...}}`` lines (atomically).

        Returns the number of rows written.
        """
        path = Path(path)
        n = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for table, row in self.export_rows():
                    f.write(json.dumps({"table": table, "row": row}, sort_keys=True) + "\n")
                    n += 1
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return n

    def import_rows(
        self,
        records: Iterable[tuple[str, dict[str, Any]]],
        chunks: Iterable[tuple[str, bytes]] = (),
    ) -> int:
        """Insert (table, row dict) records, and ``chunks`` (name, bytes) into the chunks
        table, in one transaction; returns the number of records. Rows keep their ids and
        timestamps; a row that already exists is an error and nothing is imported."""

        def body(c: Any, again: bool) -> int:
            if again:
                raise StoreConnectionError(
                    f"{self.where}: the connection was lost while importing; the import may "
                    "or may not have been committed: look before running it again"
                )
            n = 0
            for table, row in records:
                cls, json_cols = TABLES[table]
                cols = _columns(cls)
                values = [
                    json.dumps(row[k], sort_keys=True) if k in json_cols else row[k] for k in cols
                ]
                c.execute(_insert(table, cols), values)
                n += 1
            for name, data in chunks:
                c.execute(_insert("chunks", ("name", "data", "created")), (name, data, utc_now()))
            return n

        return self._write(body)

    def import_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Insert the rows of an export, in one transaction; returns the number of rows.

        Rows are inserted as they are (ids and timestamps kept); a row that already
        exists is an error and nothing is imported.
        """
        return self.import_rows(_read_export(path))

    def is_empty(self) -> bool:
        """Whether the store holds no rows of any exported table, and no chunks."""
        return not any(
            self._read(f"SELECT 1 FROM {t} LIMIT 1") for t in (*TABLES, "chunks", "claims")
        )


def _read_export(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (table, row) records of a JSONL export; a bad line is a ValueError naming it."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                table, row = rec["table"], rec["row"]
                cls, _ = TABLES[table]
                missing = [k for k in _columns(cls) if k not in row]
                if missing:
                    raise KeyError(", ".join(missing))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not an export row ({e})") from e
            yield table, row
