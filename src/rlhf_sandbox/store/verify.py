"""``store verify``: every name a store holds is of our form, every clip's chunk readable.

For team stores that may already hold rows planted through a rater's account (a chunk
named ``../../home/.bashrc``): :func:`name_problems` lists them without opening anything,
and :func:`verify_store` also reads each clip from its chunk. ``store copy`` refuses a
store with such rows (:func:`check_names`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rlhf_sandbox.store.clips import ClipFileError, ClipStore, clips_of_chunk
from rlhf_sandbox.store.names import (
    VERIFY,
    chunk_name_problem,
    is_chunk_name,
    reward_model_problem,
)
from rlhf_sandbox.store.rows import ClipRow


@dataclass(frozen=True)
class VerifyReport:
    where: str  # the store, for messages
    clips: int
    chunks: int  # distinct chunks the clips name
    reward_models: int
    problems: list[str]  # one line each, naming the row


def name_problems(rows: Iterable[tuple[str, dict[str, Any]]], chunks: Iterable[str]) -> list[str]:
    """The rows (of :meth:`~rlhf_sandbox.store.db.PreferenceDB.export_rows`) and the
    database's chunk names that are not of our form, one line each."""
    out = []
    for table, row in rows:
        if table == "clips":
            why = chunk_name_problem(row["chunk"], row["id"])
        elif table == "reward_models":
            why = reward_model_problem(row["path"], row["run"], row["version"])
        else:
            continue
        if why is not None:
            out.append(why)
    out += [f"the database holds a {why}" for n in sorted(chunks) if (why := chunk_name_problem(n))]
    return out


def check_names(where: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """A ValueError naming the first of the rows whose names are not ours, if any."""
    bad = name_problems(rows, ())
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ValueError(f"store {where}: {bad[0]}{more}; nothing was copied: {VERIFY}")


def unreadable_clips(store: ClipStore, rows: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """The clips (of ``rows``, names already checked) that cannot be read from their
    chunks: clip id -> why. Each chunk is read once."""
    by_chunk: dict[str, list[ClipRow]] = defaultdict(list)
    for table, row in rows:
        if table == "clips" and is_chunk_name(row["chunk"]):
            by_chunk[row["chunk"]].append(ClipRow(**row))
    bad: dict[str, str] = {}
    for name, group in sorted(by_chunk.items()):
        try:
            data = store.read_chunk(name)
        except ClipFileError as e:
            bad.update({r.id: f"its chunk is unreadable ({e})" for r in group})
            continue
        for r in group:
            try:
                clips_of_chunk(data, [r], name)
            except ClipFileError as e:
                bad[r.id] = f"unreadable from its chunk ({e})"
    return bad


def without_clips(
    rows: list[tuple[str, dict[str, Any]]], gone: set[str]
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
    """``rows`` without the clips ``gone`` and every row that names one (queries of them,
    those queries' labels, ratings, demonstrations); how many of each were left out."""
    queries = {
        r["id"]
        for t, r in rows
        if t == "queries" and (r["left_clip"] in gone or r["right_clip"] in gone)
    }

    def names_one(table: str, r: dict[str, Any]) -> bool:
        if table == "clips":
            return r["id"] in gone
        if table == "queries":
            return r["id"] in queries
        if table == "labels":
            return r["query"] in queries or r["shown_left"] in gone
        if table == "ratings":
            return r["clip"] in gone
        if table == "demonstrations":
            return r["clip"] in gone or r["replaces"] in gone
        return False

    kept: list[tuple[str, dict[str, Any]]] = []
    dropped: dict[str, int] = defaultdict(int)
    for table, r in rows:
        if names_one(table, r):
            dropped[table] += 1
        else:
            kept.append((table, r))
    return kept, dict(dropped)


def verify_store(store: ClipStore) -> VerifyReport:
    """Check every name ``store`` holds and read every clip from its chunk."""
    rows = list(store.db.export_rows())
    problems = name_problems(rows, store.db.db_chunks())
    problems += [f"clip {cid}: {why}" for cid, why in unreadable_clips(store, rows).items()]
    chunks = {r["chunk"] for t, r in rows if t == "clips" and is_chunk_name(r["chunk"])}
    n_clips = sum(t == "clips" for t, _ in rows)
    n_models = sum(t == "reward_models" for t, _ in rows)
    return VerifyReport(store.db.where, n_clips, len(chunks), n_models, problems)
