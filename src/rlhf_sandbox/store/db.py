"""The preference database: runs, clip metadata, queries, labels, ratings,
demonstrations, reward models and (optionally) clip chunks, behind a store URL.

:class:`PreferenceDB` is one interface over two backends: SQLite (the embedded default,
:mod:`~rlhf_sandbox.store.db_sqlite`; ``PreferenceDB(path)``) and PostgreSQL for a team
(:mod:`~rlhf_sandbox.store.db_postgres`; ``PreferenceDB.open("postgresql://...")``). The
logic is written once, for both: validation, row mapping, and the SQL both backends run as
written (``?`` placeholders; ``rowid`` is SQLite's implicit column and an identity column of
the same name in PostgreSQL), here and in its parts: connection and schema
(:mod:`~rlhf_sandbox.store.db_core`), claims and labels (:mod:`~rlhf_sandbox.store.db_claims`),
export and import (:mod:`~rlhf_sandbox.store.db_io`). What differs (connections,
transactions and retries, the schema's types, row locks) is in the backend modules. No
module outside ``store`` writes SQL.

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
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from rlhf_sandbox.store.db_claims import DEFAULT_LEASE_S, ClaimsAndLabels
from rlhf_sandbox.store.db_core import _columns, _insert, _int_or_none, _row
from rlhf_sandbox.store.db_io import ExportImport
from rlhf_sandbox.store.names import check_chunk_name, check_reward_model_path
from rlhf_sandbox.store.rows import (
    CHOICES,
    DEMO_KINDS,
    Choice,
    ClaimRow,
    ClipRow,
    DemonstrationRow,
    LabelConflictError,
    LabelRow,
    NewQuery,
    QueryRow,
    RatingRow,
    RewardModelRow,
    RunRow,
    RunTaskRow,
    SchemaVersionError,
    StoreConnectionError,
    StoreCorruptError,
    StoreURLError,
    utc_now,
)
from rlhf_sandbox.store.schema import SCHEMA_VERSION

__all__ = [  # the rows are part of this module's interface
    "CHOICES", "DEFAULT_LEASE_S", "DEMO_KINDS", "SCHEMA_VERSION", "TRAINER_STATES", "ClaimRow",
    "ClipRow", "DemonstrationRow", "LabelConflictError", "LabelRow", "NewQuery", "PreferenceDB",
    "QueryRow", "RatingRow", "RewardModelRow", "RunRow", "RunTaskRow", "SchemaVersionError",
    "StoreConnectionError", "StoreCorruptError", "StoreURLError", "TrainerStatus", "open_db",
    "utc_now",
]  # fmt: skip


MAX_QUESTION = 500  # characters of a run's question
MAX_RUBRIC = 20_000  # characters of a run's rubric
TRAINER_STATES = ("running", "finished")
QUIET_S = 300.0  # a trainer not seen for this long [s] is "not seen for a while"


def check_task(question: str, rubric: str) -> None:
    """A run's question and rubric are text that every backend stores: ValueError if not."""
    for what, value, most in (("question", question, MAX_QUESTION), ("rubric", rubric, MAX_RUBRIC)):
        if not isinstance(value, str):
            raise ValueError(f"the {what} must be text, got {type(value).__name__}")
        if "\x00" in value:
            raise ValueError(f"the {what} holds a NUL character")
        if len(value) > most:
            raise ValueError(f"the {what} is {len(value)} characters long: at most {most}")
    if "\n" in question.strip():
        raise ValueError("the question is one line (put the details in the rubric)")


@dataclass(frozen=True)
class TrainerStatus:
    """What the store says of a run's trainer: ``state`` is "running", "finished",
    "quiet" (not seen for :data:`QUIET_S`) or "unseen" (no sign of it at all);
    ``age_s`` the seconds since its last sign (None when unseen); ``source`` "beat"
    (:meth:`PreferenceDB.trainer_beat`) or "activity" (the run's newest clip, query or
    reward model, for trainers that do not beat)."""

    state: str
    age_s: float | None
    source: str


def open_db(url: str | os.PathLike[str], **kwargs: Any) -> PreferenceDB:
    """The store at ``url`` (see :mod:`~rlhf_sandbox.store.url`); same as
    :meth:`PreferenceDB.open`."""
    return PreferenceDB.open(url, **kwargs)


def _age_s(stamp: str) -> float:
    """Seconds since an ISO-8601 UTC time stamp of the store (0 for one in the future)."""
    then = datetime.fromisoformat(stamp)
    return max(0.0, (datetime.now(then.tzinfo) - then).total_seconds())


class PreferenceDB(ClaimsAndLabels, ExportImport):
    """The preference store; safe to open from several processes at once.

    ``PreferenceDB(path)`` opens (or creates) a SQLite file; :meth:`open` takes a store URL.
    One instance per thread. Connection and schema: :class:`~.db_core.DBCore`; claims and
    labels: :class:`~.db_claims.ClaimsAndLabels`; export and import:
    :class:`~.db_io.ExportImport`.
    """

    # ---- runs -------------------------------------------------------------------------

    def add_run(
        self,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        question: str | None = None,
        rubric: str | None = None,
    ) -> None:
        """Create a run; an existing run with this name is left as it is. A ``question``
        (and ``rubric``) given is set in the same transaction, new run or not."""
        task = self._task_args(question, rubric)

        def body(c: Any, again: bool) -> None:
            self._ensure_run(c, name, config)
            if task is not None:
                self._set_task(c, name, *task)

        self._write(body)

    def create_run(
        self,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        question: str | None = None,
        rubric: str | None = None,
    ) -> bool:
        """Create a run that must be new; False when the store has a run of this name
        already (two writers racing for one name: one gets True). Give ``config`` something
        unique (a token): a retry after a lost connection recognises its own row by it.
        A ``question`` (and ``rubric``) is stored with the new run, in its transaction."""
        text = json.dumps(config or {}, sort_keys=True)
        task = self._task_args(question, rubric)

        def body(c: Any, again: bool) -> bool:
            got = c.execute("SELECT config FROM runs WHERE name = ?", (name,)).fetchone()
            if got is not None:
                return again and got[0] == text
            c.execute(
                "INSERT INTO runs (name, created, config) VALUES (?, ?, ?)",
                (name, utc_now(), text),
            )
            if task is not None:
                self._set_task(c, name, *task)
            return True

        try:
            return self._write(body)
        except self.IntegrityError:
            return False

    # ---- what raters are asked, and whether the trainer is there ----------------------

    @staticmethod
    def _task_args(question: str | None, rubric: str | None) -> tuple[str, str] | None:
        if question is None and rubric is None:
            return None
        q, r = question or "", rubric or ""
        check_task(q, r)
        return q.strip(), r

    @staticmethod
    def _set_task(c: Any, run: str, question: str, rubric: str) -> None:
        c.execute(
            "INSERT INTO run_tasks (run, question, rubric, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run) DO UPDATE SET question = excluded.question,"
            " rubric = excluded.rubric, updated = excluded.updated",
            (run, question, rubric, utc_now()),
        )

    def set_run_question(self, run: str, question: str, rubric: str = "") -> None:
        """Set (or replace) what raters of ``run`` are asked: a one-line ``question`` shown
        above the clips and a ``rubric`` (plain text: how to judge). The run is created if
        new. Bad text (not a string, a NUL, too long, a question of several lines):
        ValueError, nothing written."""
        q, r = self._task_args(question, rubric) or ("", "")

        def body(c: Any, again: bool) -> None:
            self._ensure_run(c, run, None)
            self._set_task(c, run, q, r)

        self._write(body)

    def run_question(self, run: str) -> RunTaskRow | None:
        """``run``'s question and rubric, or None when none was set."""
        got = self._read("SELECT * FROM run_tasks WHERE run = ?", (run,))
        return None if not got else _row(RunTaskRow, (), got[0])

    def trainer_beat(self, run: str, state: str = "running") -> None:
        """A sign of life of ``run``'s trainer (call it every rollout or so), or with
        ``state="finished"`` its last word; the labelling app's waiting screen reads it
        (:meth:`trainer_status`). The run is created if new."""
        if state not in TRAINER_STATES:
            raise ValueError(f"state must be one of {TRAINER_STATES}, got {state!r}")

        def body(c: Any, again: bool) -> None:
            self._ensure_run(c, run, None)
            c.execute(
                "INSERT INTO trainer_beats (run, state, beat) VALUES (?, ?, ?) ON CONFLICT"
                " (run) DO UPDATE SET state = excluded.state, beat = excluded.beat",
                (run, state, utc_now()),
            )

        self._write(body)

    def trainer_status(self, run: str, quiet_s: float = QUIET_S) -> TrainerStatus:
        """Whether ``run``'s trainer is running, finished, or not seen for ``quiet_s``
        seconds, from its beats (:meth:`trainer_beat`); for a trainer that does not beat,
        from the run's newest clip, query or reward model ("finished" is then unknown)."""
        got = self._read("SELECT state, beat FROM trainer_beats WHERE run = ?", (run,))
        if got:
            age = _age_s(str(got[0][1]))
            if got[0][0] == "finished":
                return TrainerStatus("finished", age, "beat")
            return TrainerStatus("running" if age < quiet_s else "quiet", age, "beat")
        last = self._read(
            "SELECT MAX(t) FROM (SELECT MAX(created) AS t FROM clips WHERE run = ?"
            " UNION ALL SELECT MAX(created) FROM queries WHERE run = ?"
            " UNION ALL SELECT MAX(created) FROM reward_models WHERE run = ?) AS x",
            (run, run, run),
        )
        if not last or last[0][0] is None:
            return TrainerStatus("unseen", None, "activity")
        age = _age_s(str(last[0][0]))
        return TrainerStatus("running" if age < quiet_s else "quiet", age, "activity")

    def has_run(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE name = ?", (name,)))

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
        for r in rows:
            check_chunk_name(r.chunk, self.where, r.id)
        if chunk is not None:
            check_chunk_name(chunk[0], self.where)

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
        return self.add_queries(
            run, [NewQuery(left_clip, right_clip, method, score)], raters_wanted
        )[0]

    def add_queries(
        self,
        run: str,
        pairs: Sequence[NewQuery],
        raters_wanted: int = 1,
        *,
        rater: str | None = None,
        choices: Sequence[Choice | str] = (),
    ) -> list[str]:
        """Add pairs of clips to be compared, in one transaction; returns their ids.

        With ``rater`` and one choice per pair (a synthetic teacher's answers), each pair's
        label is stored in the same transaction: a kill leaves the pairs with their labels
        or neither, never a pair that nobody will answer."""
        if raters_wanted < 1:
            raise ValueError(f"raters_wanted must be >= 1, got {raters_wanted}")
        if (rater is None) != (not choices) or (choices and len(choices) != len(pairs)):
            raise ValueError("give a rater and one choice per pair, or neither")
        bad = [ch for ch in choices if ch not in CHOICES]
        if bad:
            raise ValueError(f"choice must be one of {CHOICES}, got {bad[0]!r}")
        qids = [uuid.uuid4().hex for _ in pairs]

        def body(c: Any, again: bool) -> None:
            if (
                again
                and qids
                and c.execute("SELECT 1 FROM queries WHERE id = ?", (qids[0],)).fetchone()
            ):
                return  # the lost attempt committed: all of it, one transaction
            self._ensure_run(c, run, None)
            now = utc_now()
            for qid, p in zip(qids, pairs, strict=True):
                c.execute(
                    "INSERT INTO queries (id, run, left_clip, right_clip, method, score, created,"
                    " raters_wanted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (qid, run, p.left, p.right, p.method, p.score, now, raters_wanted),
                )
            if rater is not None:
                for qid, p, ch in zip(qids, pairs, choices, strict=True):
                    self._insert_label(c, qid, rater, str(ch), None, "[]", "", p.left)

        self._write(body)
        return qids

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

    # ---- reward models ----------------------------------------------------------------

    def add_reward_model(self, run: str, path: str, metrics: dict[str, Any] | None = None) -> int:
        """Register a trained reward model, its file ``path`` relative to the run folder
        (``reward_models/v<N>.pt``); returns its version (1, 2, ... per run)."""
        check_reward_model_path(path, self.where, run)
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
