"""The one schema of the preference store, written in SQLite's dialect.

:mod:`~rlhf_sandbox.store.db_sqlite` runs it as it is; :mod:`~rlhf_sandbox.store.db_postgres`
derives PostgreSQL's from it (``REAL`` -> ``DOUBLE PRECISION``, ``BLOB`` -> ``BYTEA``, and an
identity column named ``rowid`` in each table, so that ``ORDER BY rowid``, insertion order,
reads the same on both). Versions:

1. runs, clips, queries, labels, reward models
2. ratings and demonstrations
3. claims (several labelling apps on one store)
4. chunks (clip arrays held in the database) and migrations (when each version was applied)
5. run tasks (a run's question and rubric, shown to raters) and trainer beats (whether a
   run's trainer is running, finished, or gone quiet: the labelling app's waiting screen)

Every upgrade so far only adds tables, which the ``CREATE TABLE IF NOT EXISTS`` statements
below do; a later one that changes a table adds its statements to :data:`STEPS`.
"""

from __future__ import annotations

from rlhf_sandbox.store.rows import (
    ClipRow,
    DemonstrationRow,
    LabelRow,
    QueryRow,
    RatingRow,
    RewardModelRow,
    RunRow,
    RunTaskRow,
)

SCHEMA_VERSION = 5
UPGRADABLE = (1, 2, 3, 4)  # versions this code upgrades in place (`rlhf-sandbox store migrate`)
STEPS: dict[int, tuple[str, ...]] = {}  # version -> statements beyond the new tables

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS chunks (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    applied TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tasks (
    run TEXT PRIMARY KEY REFERENCES runs(name),
    question TEXT NOT NULL DEFAULT '',
    rubric TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trainer_beats (
    run TEXT PRIMARY KEY REFERENCES runs(name),
    state TEXT NOT NULL CHECK (state IN ('running', 'finished')),
    beat TEXT NOT NULL
);
"""

# table -> (row class, JSON columns), in export (and import) order. Claims are leases of
# running apps, trainer beats say whether a process is alive, and chunks are binary clip
# data: none of them is in a JSONL export (`store copy` copies chunks itself). An export
# of an older version (no run_tasks rows) imports as it is.
TABLES: dict[str, tuple[type, tuple[str, ...]]] = {
    "runs": (RunRow, ("config",)),
    "run_tasks": (RunTaskRow, ()),
    "clips": (ClipRow, ("config",)),
    "queries": (QueryRow, ()),
    "labels": (LabelRow, ("tags",)),
    "reward_models": (RewardModelRow, ("metrics",)),
    "ratings": (RatingRow, ("tags",)),
    "demonstrations": (DemonstrationRow, ()),
}


def statements(schema: str = SCHEMA) -> list[str]:
    """The schema's statements, one per item."""
    return [s.strip() for s in schema.split(";") if s.strip()]
