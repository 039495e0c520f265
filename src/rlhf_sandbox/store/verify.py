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


def verify_store(store: ClipStore) -> VerifyReport:
    """Check every name ``store`` holds and read every clip from its chunk."""
    rows = list(store.db.export_rows())
    problems = name_problems(rows, store.db.db_chunks())
    by_chunk: dict[str, list[ClipRow]] = defaultdict(list)
    for table, row in rows:
        if table == "clips" and is_chunk_name(row["chunk"]):
            by_chunk[row["chunk"]].append(ClipRow(**row))
    for name, group in sorted(by_chunk.items()):
        try:
            data = store.read_chunk(name)
        except ClipFileError as e:
            problems += [f"clip {r.id}: its chunk is unreadable ({e})" for r in group]
            continue
        for r in group:
            try:
                clips_of_chunk(data, [r], name)
            except ClipFileError as e:
                problems.append(f"clip {r.id}: unreadable from its chunk ({e})")
    n_clips = sum(t == "clips" for t, _ in rows)
    n_models = sum(t == "reward_models" for t, _ in rows)
    return VerifyReport(store.db.where, n_clips, len(by_chunk), n_models, problems)
