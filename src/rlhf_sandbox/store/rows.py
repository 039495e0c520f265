"""What the preference database stores, as typed rows, and the store's errors (no SQL
here: see :mod:`rlhf_sandbox.store.db`, which re-exports these names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

DEMO_KINDS = ("demonstration", "correction")
CHOICES = ("left", "right", "equal", "cant_tell")
Choice = Literal["left", "right", "equal", "cant_tell"]


class SchemaVersionError(RuntimeError):
    """The database was written by a newer (or unknown) schema version."""


class LabelConflictError(ValueError):
    """The rater already labelled this query, with different content."""


class StoreURLError(ValueError):
    """A store or clips URL that cannot be used (unknown scheme, missing path, ...)."""


class StoreCorruptError(RuntimeError):
    """A store's file cannot be read as a store (not SQLite, or damaged); names the file.
    A failure of a file, not of the input: commands exit 1 on it."""


class StoreConnectionError(RuntimeError):
    """The database server cannot be reached (or was lost and not regained in time)."""


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string (microseconds, ``+00:00``)."""
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class RunRow:
    name: str
    created: str
    config: dict[str, Any]


@dataclass(frozen=True)
class RunTaskRow:
    """What raters of a run are asked: the ``question`` shown above the clips and the
    ``rubric`` (how to judge, plain text); "" when not given."""

    run: str
    question: str
    rubric: str
    updated: str


@dataclass(frozen=True)
class ClipRow:
    """A clip's metadata; the arrays live in ``chunk`` (a file name under the clip root)."""

    id: str
    run: str
    chunk: str
    env_id: str
    config: dict[str, Any]
    seed: int
    slot: int
    start_step: int
    fps: float
    policy_hz: float
    T: int
    created: str


@dataclass(frozen=True)
class NewQuery:
    """A pair of clips to be asked about (``PreferenceDB.add_queries``)."""

    left: str
    right: str
    method: str = "random"
    score: float | None = None


@dataclass(frozen=True)
class QueryRow:
    id: str
    run: str
    left_clip: str
    right_clip: str
    method: str
    score: float | None
    created: str
    raters_wanted: int


@dataclass(frozen=True)
class LabelRow:
    id: str
    query: str
    rater: str
    choice: str
    rating: int | None
    tags: list[str]
    comment: str
    shown_left: str
    created: str


@dataclass(frozen=True)
class RewardModelRow:
    version: int
    run: str
    path: str
    created: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RatingRow:
    """One rater's judgement of one clip: a 1-5 score and/or thumbs (-1 / 1), tags, comment."""

    id: str
    clip: str
    rater: str
    score: int | None
    thumb: int | None
    tags: list[str]
    comment: str
    created: str


@dataclass(frozen=True)
class DemonstrationRow:
    """A clip a person played: a demonstration, or a correction that ``replaces`` the
    policy's clip from the same start state."""

    id: str
    run: str
    clip: str
    rater: str
    kind: str
    replaces: str | None
    created: str


@dataclass(frozen=True)
class ClaimRow:
    """A lease of a query to a rater (a labelling app) until ``expires`` (ISO-8601 UTC)."""

    query: str
    rater: str
    expires: str
