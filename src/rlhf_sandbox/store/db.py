"""The preference database: runs, clip metadata, queries, labels, ratings,
demonstrations and reward models.

All SQL of the project lives in this module, so that another backend (PostgreSQL) can
stand behind the same :class:`PreferenceDB` interface later.

SQLite in WAL mode with a busy timeout, foreign keys on and ``synchronous=FULL``: every
write is one ``BEGIN IMMEDIATE`` transaction, committed before the method returns, so a
label that :meth:`PreferenceDB.add_label` acknowledged survives a ``kill -9`` of the
writer and is visible at once to other processes (the labelling UI and the trainer meet
only here). Timestamps are ISO-8601 UTC strings; JSON columns hold text.

Several labelling apps share one store through *claims*: :meth:`PreferenceDB.claim_queries`
leases queries to a rater inside one ``BEGIN IMMEDIATE`` transaction, so that at most
``raters_wanted`` distinct raters hold or have labelled a query. A lease expires (a crashed
app's queries go back to the pool); a label ends its rater's lease. Claims are working
state, not data: exports leave them out.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    utc_now,
)

__all__ = [  # the rows are part of this module's interface
    "CHOICES", "DEMO_KINDS", "SCHEMA_VERSION", "ClaimRow", "ClipRow", "DemonstrationRow",
    "LabelConflictError", "LabelRow", "PreferenceDB", "QueryRow", "RatingRow",
    "RewardModelRow", "RunRow", "SchemaVersionError", "utc_now",
]  # fmt: skip

SCHEMA_VERSION = 3  # 2 added ratings and demonstrations, 3 claims; older files are upgraded
_UPGRADABLE = ([1], [2])  # versions whose upgrade only creates tables (done by _SCHEMA)
DEFAULT_LEASE_S = 300.0  # how long a claim holds a query for its rater [s]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY,
    run TEXT NOT NULL REFERENCES runs(name),
    chunk TEXT NOT NULL,
    env_id TEXT NOT NULL,
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    start_step INTEGER NOT NULL,
    fps REAL NOT NULL,
    policy_hz REAL NOT NULL,
    T INTEGER NOT NULL CHECK (T >= 1),
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clips_run ON clips(run);
CREATE TABLE IF NOT EXISTS queries (
    id TEXT PRIMARY KEY,
    run TEXT NOT NULL REFERENCES runs(name),
    left_clip TEXT NOT NULL REFERENCES clips(id),
    right_clip TEXT NOT NULL REFERENCES clips(id),
    method TEXT NOT NULL,
    score REAL,
    created TEXT NOT NULL,
    raters_wanted INTEGER NOT NULL DEFAULT 1 CHECK (raters_wanted >= 1)
);
CREATE INDEX IF NOT EXISTS queries_run ON queries(run);
CREATE TABLE IF NOT EXISTS labels (
    id TEXT PRIMARY KEY,
    query TEXT NOT NULL REFERENCES queries(id),
    rater TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'equal', 'cant_tell')),
    rating INTEGER CHECK (rating IS NULL OR (rating BETWEEN 1 AND 5)),
    tags TEXT NOT NULL DEFAULT '[]',
    comment TEXT NOT NULL DEFAULT '',
    shown_left TEXT NOT NULL REFERENCES clips(id),
    created TEXT NOT NULL,
    UNIQUE (query, rater)
);
CREATE TABLE IF NOT EXISTS reward_models (
    version INTEGER NOT NULL,
    run TEXT NOT NULL REFERENCES runs(name),
    path TEXT NOT NULL,
    created TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run, version)
);
CREATE TABLE IF NOT EXISTS ratings (
    id TEXT PRIMARY KEY,
    clip TEXT NOT NULL REFERENCES clips(id),
    rater TEXT NOT NULL,
    score INTEGER CHECK (score IS NULL OR (score BETWEEN 1 AND 5)),
    thumb INTEGER CHECK (thumb IS NULL OR thumb IN (-1, 1)),
    tags TEXT NOT NULL DEFAULT '[]',
    comment TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    UNIQUE (clip, rater)
);
CREATE TABLE IF NOT EXISTS demonstrations (
    id TEXT PRIMARY KEY,
    run TEXT NOT NULL REFERENCES runs(name),
    clip TEXT NOT NULL REFERENCES clips(id),
    rater TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('demonstration', 'correction')),
    replaces TEXT REFERENCES clips(id),
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    query TEXT NOT NULL REFERENCES queries(id),
    rater TEXT NOT NULL,
    expires TEXT NOT NULL,
    PRIMARY KEY (query, rater)
);
"""


# table -> (row class, JSON columns, ORDER BY for exports), in export (and import) order;
# claims are leases of running apps, not data: they are neither exported nor imported
_TABLES: dict[str, tuple[type, tuple[str, ...], str]] = {
    "runs": (RunRow, ("config",), "rowid"),
    "clips": (ClipRow, ("config",), "rowid"),
    "queries": (QueryRow, (), "rowid"),
    "labels": (LabelRow, ("tags",), "rowid"),
    "reward_models": (RewardModelRow, ("metrics",), "rowid"),
    "ratings": (RatingRow, ("tags",), "rowid"),
    "demonstrations": (DemonstrationRow, (), "rowid"),
}


def _columns(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _row(cls: type, json_cols: Sequence[str], r: sqlite3.Row) -> Any:
    values = {k: (json.loads(r[k]) if k in json_cols else r[k]) for k in _columns(cls)}
    return cls(**values)


# A query ``q`` that rater ``?1`` may take at time ``?2``: not labelled by the rater, and
# either the rater holds a live claim on it or its distinct raters (labelled, or holding a
# live claim) are fewer than it wants. Arguments: :func:`_open_args`.
_OPEN_TO_RATER = (
    "NOT EXISTS (SELECT 1 FROM labels l WHERE l.query = q.id AND l.rater = ?)"
    " AND (EXISTS (SELECT 1 FROM claims k WHERE k.query = q.id AND k.rater = ?"
    " AND k.expires > ?) OR (SELECT COUNT(*) FROM (SELECT l.rater FROM labels l"
    " WHERE l.query = q.id UNION SELECT k.rater FROM claims k WHERE k.query = q.id"
    " AND k.expires > ?)) < q.raters_wanted)"
)


def _open_args(rater: str, now: float) -> tuple[str, str, str, str]:
    t = _stamp(now)
    return rater, rater, t, t


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


class PreferenceDB:
    """SQLite preference store; safe to open from several processes at once."""

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            str(self.path), timeout=timeout_s, isolation_level=None
        )  # one PreferenceDB per thread (sqlite3 refuses use from another thread)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._init_schema()

    # ---- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE (no lock upgrades, so no deadlocks)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _init_schema(self) -> None:
        with self._tx() as c:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            got = [r[0] for r in c.execute("SELECT version FROM schema_version")]
            if not got:
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif got in _UPGRADABLE:  # the new tables were just created: nothing else changed
                c.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            elif got != [SCHEMA_VERSION]:
                raise SchemaVersionError(
                    f"{self.path}: schema version {got} but this code reads version "
                    f"{SCHEMA_VERSION}; upgrade rlhf-sandbox to open it"
                )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PreferenceDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self._conn.execute("SELECT version FROM schema_version").fetchone()[0])

    # ---- runs -------------------------------------------------------------------------

    def add_run(self, name: str, config: dict[str, Any] | None = None) -> None:
        """Create a run; an existing run with this name is left as it is."""
        with self._tx() as c:
            self._ensure_run(c, name, config)

    @staticmethod
    def _ensure_run(c: sqlite3.Connection, name: str, config: dict[str, Any] | None) -> None:
        c.execute(
            "INSERT OR IGNORE INTO runs (name, created, config) VALUES (?, ?, ?)",
            (name, utc_now(), json.dumps(config or {}, sort_keys=True)),
        )

    def runs(self) -> list[RunRow]:
        rows = self._conn.execute("SELECT * FROM runs ORDER BY rowid")
        return [_row(RunRow, ("config",), r) for r in rows]

    # ---- clips ------------------------------------------------------------------------

    def add_clips(self, rows: Sequence[ClipRow]) -> None:
        """Insert clip metadata rows in one transaction (their runs are created if new)."""
        cols = _columns(ClipRow)
        sql = f"INSERT INTO clips ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self._tx() as c:
            for run in dict.fromkeys(r.run for r in rows):
                self._ensure_run(c, run, None)
            for r in rows:
                d = asdict(r)
                d["config"] = json.dumps(d["config"], sort_keys=True)
                c.execute(sql, [d[k] for k in cols])

    def get_clip(self, clip_id: str) -> ClipRow:
        r = self._conn.execute("SELECT * FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if r is None:
            raise KeyError(f"unknown clip id {clip_id!r}")
        return _row(ClipRow, ("config",), r)

    def clip_ids(self, run: str | None = None) -> list[str]:
        if run is None:
            rows = self._conn.execute("SELECT id FROM clips ORDER BY rowid")
        else:
            rows = self._conn.execute("SELECT id FROM clips WHERE run = ? ORDER BY rowid", (run,))
        return [r[0] for r in rows]

    def clip_chunks(self) -> set[str]:
        """The chunk file names that some clip row refers to."""
        return {r[0] for r in self._conn.execute("SELECT DISTINCT chunk FROM clips")}

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
        with self._tx() as c:
            self._ensure_run(c, run, None)
            c.execute(
                "INSERT INTO queries (id, run, left_clip, right_clip, method, score, created,"
                " raters_wanted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (qid, run, left_clip, right_clip, method, score, utc_now(), raters_wanted),
            )
        return qid

    def get_query(self, query_id: str) -> QueryRow:
        r = self._conn.execute("SELECT * FROM queries WHERE id = ?", (query_id,)).fetchone()
        if r is None:
            raise KeyError(f"unknown query id {query_id!r}")
        return _row(QueryRow, (), r)

    def queries(self, run: str | None = None) -> list[QueryRow]:
        """Every query (of ``run``), oldest first."""
        sql, args = "SELECT * FROM queries", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " WHERE run = ?", (run,)
        return [_row(QueryRow, (), r) for r in self._conn.execute(sql + " ORDER BY rowid", args)]

    def label_count(self, run: str) -> int:
        """How many labels the queries of ``run`` have."""
        r = self._conn.execute(
            "SELECT COUNT(*) FROM labels l JOIN queries q ON l.query = q.id WHERE q.run = ?",
            (run,),
        ).fetchone()
        return int(r[0])

    def feedback_count(self, run: str) -> int:
        """Labels, ratings and demonstrations of ``run``: what the reward model learns from."""
        r = self._conn.execute(
            "SELECT (SELECT COUNT(*) FROM ratings x JOIN clips c ON x.clip = c.id"
            " WHERE c.run = ?) + (SELECT COUNT(*) FROM demonstrations WHERE run = ?)",
            (run, run),
        ).fetchone()
        return self.label_count(run) + int(r[0])

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
        with self._tx() as c:
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

    def undo_rating(self, rating_id: str) -> None:
        """Delete one rating; an unknown id raises KeyError."""
        with self._tx() as c:
            if c.execute("DELETE FROM ratings WHERE id = ?", (rating_id,)).rowcount != 1:
                raise KeyError(f"unknown rating id {rating_id!r}")

    def unrated_clips(self, run: str, rater: str, limit: int = 10) -> list[str]:
        """Clips of ``run`` that ``rater`` has not rated, oldest first."""
        rows = self._conn.execute(
            "SELECT c.id FROM clips c WHERE c.run = ? AND NOT EXISTS (SELECT 1 FROM ratings r"
            " WHERE r.clip = c.id AND r.rater = ?) ORDER BY c.rowid LIMIT ?",
            (run, rater, limit),
        )
        return [r[0] for r in rows]

    def ratings(self, run: str | None = None) -> list[RatingRow]:
        sql, args = "SELECT r.* FROM ratings r", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " JOIN clips c ON r.clip = c.id WHERE c.run = ?", (run,)
        rows = self._conn.execute(sql + " ORDER BY r.rowid", args)
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
        with self._tx() as c:
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
        return did

    def demonstrations(self, run: str | None = None) -> list[DemonstrationRow]:
        sql, args = "SELECT * FROM demonstrations", tuple[str, ...]()
        if run is not None:
            sql, args = sql + " WHERE run = ?", (run,)
        rows = self._conn.execute(sql + " ORDER BY rowid", args)
        return [_row(DemonstrationRow, (), r) for r in rows]

    def pending_queries(self, run: str, rater: str, limit: int = 10) -> list[QueryRow]:
        """Queries of ``run`` that ``rater`` has not labelled and may still take: ones it
        holds a live claim on, or whose distinct raters (labelled or holding a live claim)
        are fewer than ``raters_wanted``. Reads only: :meth:`claim_queries` takes them."""
        rows = self._conn.execute(
            f"SELECT q.* FROM queries q WHERE q.run = ? AND {_OPEN_TO_RATER} ORDER BY q.rowid"
            " LIMIT ?",
            (run, *_open_args(rater, time.time()), limit),
        )
        return [_row(QueryRow, (), r) for r in rows]

    def pending_count(self, run: str, rater: str) -> int:
        """How many queries :meth:`pending_queries` would list without a limit."""
        r = self._conn.execute(
            f"SELECT COUNT(*) FROM queries q WHERE q.run = ? AND {_OPEN_TO_RATER}",
            (run, *_open_args(rater, time.time())),
        ).fetchone()
        return int(r[0])

    # ---- claims (several labelling apps on one store) ---------------------------------

    def claim_queries(
        self, run: str, rater: str, n: int = 1, lease_s: float = DEFAULT_LEASE_S
    ) -> list[QueryRow]:
        """Lease up to ``n`` queries of ``run`` to ``rater`` for ``lease_s`` seconds.

        One ``BEGIN IMMEDIATE`` transaction: expired claims are dropped, then the queries
        ``rater`` already holds come first (their leases renewed), then the oldest that
        still want raters. At most ``raters_wanted`` distinct raters hold or have labelled
        a query, whatever number of apps claim at once. Returns the claimed queries.
        """
        if n < 0 or lease_s <= 0:
            raise ValueError(f"n must be >= 0 and lease_s > 0, got n={n}, lease_s={lease_s}")
        now = time.time()
        with self._tx() as c:
            c.execute("DELETE FROM claims WHERE expires <= ?", (_stamp(now),))
            rows = c.execute(
                "SELECT q.* FROM queries q WHERE q.run = ?"
                f" AND {_OPEN_TO_RATER} ORDER BY EXISTS (SELECT 1 FROM claims k"
                " WHERE k.query = q.id AND k.rater = ?) DESC, q.rowid LIMIT ?",
                (run, *_open_args(rater, now), rater, n),
            ).fetchall()
            for r in rows:
                self._hold(c, r["id"], rater, now + lease_s)
        return [_row(QueryRow, (), r) for r in rows]

    def renew_claims(
        self, rater: str, query_ids: Sequence[str], lease_s: float = DEFAULT_LEASE_S
    ) -> list[str]:
        """Extend ``rater``'s leases on ``query_ids`` (re-taking a lapsed one while the
        query still has room); returns the ids ``rater`` holds now, in the given order."""
        now = time.time()
        held: list[str] = []
        with self._tx() as c:
            for qid in query_ids:
                ok = c.execute(
                    f"SELECT 1 FROM queries q WHERE q.id = ? AND {_OPEN_TO_RATER}",
                    (qid, *_open_args(rater, now)),
                ).fetchone()
                if ok is not None:
                    self._hold(c, qid, rater, now + lease_s)
                    held.append(qid)
        return held

    def release_claims(self, rater: str, query_ids: Sequence[str] | None = None) -> int:
        """Give back ``rater``'s claims (on ``query_ids``, or all); returns how many."""
        with self._tx() as c:
            if query_ids is None:
                return int(c.execute("DELETE FROM claims WHERE rater = ?", (rater,)).rowcount)
            return sum(
                c.execute("DELETE FROM claims WHERE rater = ? AND query = ?", (rater, q)).rowcount
                for q in query_ids
            )

    def claims(self, run: str | None = None) -> list[ClaimRow]:
        """Live (unexpired) claims (on queries of ``run``), oldest query first."""
        sql = (
            "SELECT k.* FROM claims k JOIN queries q ON q.id = k.query WHERE k.expires > ?"
            + ("" if run is None else " AND q.run = ?")
            + " ORDER BY q.rowid, k.rater"
        )
        args = (_stamp(time.time()),) + (() if run is None else (run,))
        return [_row(ClaimRow, (), r) for r in self._conn.execute(sql, args)]

    @staticmethod
    def _hold(c: sqlite3.Connection, query: str, rater: str, until: float) -> None:
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
        id; with different content it raises :class:`LabelConflictError`.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}")
        if rating is not None:
            r = _int_or_none(rating)
            if r is None or not 1 <= r <= 5:
                raise ValueError(f"rating must be an integer 1..5 or None, got {rating!r}")
            rating = r
        tags_json = json.dumps(list(tags))
        with self._tx() as c:
            q = c.execute(
                "SELECT left_clip, right_clip FROM queries WHERE id = ?", (query,)
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

    def undo_label(self, label_id: str, *, reclaim_s: float | None = None) -> None:
        """Delete one label; an unknown id raises KeyError.

        With ``reclaim_s``, the rater keeps the query for that many seconds (a claim in
        the same transaction), so that no other rater takes the place meanwhile.
        """
        with self._tx() as c:
            got = c.execute("SELECT query, rater FROM labels WHERE id = ?", (label_id,)).fetchone()
            if (
                got is None
                or c.execute("DELETE FROM labels WHERE id = ?", (label_id,)).rowcount != 1
            ):
                raise KeyError(f"unknown label id {label_id!r}")
            if reclaim_s is not None:
                self._hold(c, got[0], got[1], time.time() + reclaim_s)

    def labels(self, run: str | None = None) -> list[LabelRow]:
        if run is None:
            rows = self._conn.execute("SELECT * FROM labels ORDER BY rowid")
        else:
            rows = self._conn.execute(
                "SELECT l.* FROM labels l JOIN queries q ON q.id = l.query"
                " WHERE q.run = ? ORDER BY l.rowid",
                (run,),
            )
        return [_row(LabelRow, ("tags",), r) for r in rows]

    # ---- reward models ----------------------------------------------------------------

    def add_reward_model(self, run: str, path: str, metrics: dict[str, Any] | None = None) -> int:
        """Register a trained reward model; returns its version (1, 2, ... per run)."""
        with self._tx() as c:
            self._ensure_run(c, run, None)
            (last,) = c.execute(
                "SELECT COALESCE(MAX(version), 0) FROM reward_models WHERE run = ?", (run,)
            ).fetchone()
            version = int(last) + 1
            c.execute(
                "INSERT INTO reward_models (version, run, path, created, metrics)"
                " VALUES (?, ?, ?, ?, ?)",
                (version, run, path, utc_now(), json.dumps(metrics or {}, sort_keys=True)),
            )
        return version

    def latest_reward_model(self, run: str) -> RewardModelRow | None:
        r = self._conn.execute(
            "SELECT * FROM reward_models WHERE run = ? ORDER BY version DESC LIMIT 1", (run,)
        ).fetchone()
        return None if r is None else _row(RewardModelRow, ("metrics",), r)

    def reward_models(self, run: str) -> list[RewardModelRow]:
        """Every reward-model version of ``run``, oldest first."""
        rows = self._conn.execute(
            "SELECT * FROM reward_models WHERE run = ? ORDER BY version", (run,)
        )
        return [_row(RewardModelRow, ("metrics",), r) for r in rows]

    # ---- export / import --------------------------------------------------------------

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every row as ``{"table": ..., "row": {...}}`` lines (atomically).

        Returns the number of rows written.
        """
        path = Path(path)
        n = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                self._conn.execute("BEGIN")  # one consistent snapshot
                try:
                    for table, (cls, json_cols, order) in _TABLES.items():
                        rows = self._conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
                        for r in rows:
                            row = asdict(_row(cls, json_cols, r))
                            f.write(json.dumps({"table": table, "row": row}, sort_keys=True))
                            f.write("\n")
                            n += 1
                finally:
                    self._conn.execute("COMMIT")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return n

    def import_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Insert the rows of an export, in one transaction; returns the number of rows.

        Rows are inserted as they are (ids and timestamps kept); a row that already
        exists is an error and nothing is imported.
        """
        n = 0
        with self._tx() as c, open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    table, row = rec["table"], rec["row"]
                    cls, json_cols, _ = _TABLES[table]
                    cols = _columns(cls)
                    values = [
                        json.dumps(row[k], sort_keys=True) if k in json_cols else row[k]
                        for k in cols
                    ]
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{lineno}: not an export row ({e})") from e
                c.execute(
                    f"INSERT INTO {table} ({', '.join(cols)})"
                    f" VALUES ({', '.join('?' * len(cols))})",
                    values,
                )
                n += 1
        return n

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
