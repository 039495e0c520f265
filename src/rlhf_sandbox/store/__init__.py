"""Clip files and the preference database.

:mod:`~rlhf_sandbox.store.clips` holds the clip arrays (``.npz`` chunks, no pickle);
:mod:`~rlhf_sandbox.store.db` is the preference database, :class:`PreferenceDB`, on SQLite
(the default) or PostgreSQL behind a store URL (its ``db_*`` modules hold all the SQL);
:mod:`~rlhf_sandbox.store.rows` the typed rows it returns.
"""

from rlhf_sandbox.store.clips import Clip, ClipFileError, ClipStore
from rlhf_sandbox.store.db import (
    LabelConflictError,
    LabelRow,
    PreferenceDB,
    QueryRow,
    RewardModelRow,
    SchemaVersionError,
)

__all__ = [
    "Clip",
    "ClipFileError",
    "ClipStore",
    "LabelConflictError",
    "LabelRow",
    "PreferenceDB",
    "QueryRow",
    "RewardModelRow",
    "SchemaVersionError",
]
