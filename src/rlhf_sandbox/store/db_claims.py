"""Claims and labels: several labelling apps on one store.

A rater's app *claims* queries (a lease) so that at most ``raters_wanted`` distinct raters
hold or have labelled a query; a lease expires (a crashed app's queries go back to the
pool) and a label ends its rater's lease. Claims are working state, not data.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from rlhf_sandbox.store.db_core import DBCore, _in, _int_or_none, _row, _stamp
from rlhf_sandbox.store.rows import (
    CHOICES,
    Choice,
    ClaimRow,
    LabelConflictError,
    LabelRow,
    QueryRow,
    utc_now,
)

# How long a claim holds a query for its rater [s]. Short, so that the queries of an app
# that crashed (or was killed) go back to the pool within seconds; a running app renews
# its leases every RENEW_S on a thread of its own (feedback_ui.lease.LeaseKeeper).
DEFAULT_LEASE_S = 8.0
RENEW_S = 2.0

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


class ClaimsAndLabels(DBCore):
    """Claiming queries for a rater, and the rater's labels."""

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
            return self._insert_label(c, query, rater, choice, rating, tags_json, comment, left)

        return self._write(body)

    @staticmethod
    def _insert_label(
        c: Any,
        query: str,
        rater: str,
        choice: str,
        rating: int | None,
        tags_json: str,
        comment: str,
        shown_left: str,
    ) -> str:
        """The label row, inside the caller's transaction; the rater's claim on the query
        goes with it. Returns the new label's id."""
        lid = uuid.uuid4().hex
        c.execute(
            "INSERT INTO labels (id, query, rater, choice, rating, tags, comment,"
            " shown_left, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (lid, query, rater, choice, rating, tags_json, comment, shown_left, utc_now()),
        )
        c.execute("DELETE FROM claims WHERE query = ? AND rater = ?", (query, rater))
        return lid

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
