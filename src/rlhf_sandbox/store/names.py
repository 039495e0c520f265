"""Names a store holds that become file names, checked against the one form our writers
produce: a clip chunk is ``<32 hex digits>.npz`` (:class:`~rlhf_sandbox.store.clips.ClipStore`),
a reward model's file as :mod:`~rlhf_sandbox.store.run_folder` names it.

A store is shared (a team's PostgreSQL server, a SQLite file from someone else): anyone who
can write a row can write any name into it. Names are data, never paths: one that is not of
our form is refused where it is written, read or copied, and nothing is opened by it.
"""

from __future__ import annotations

import re

from rlhf_sandbox.store.run_folder import REWARD_MODELS, is_reward_model_name

CHUNK_NAME = re.compile(r"[0-9a-f]{32}\.npz")
VERIFY = "list such rows with `rlhf-sandbox store verify URL`"


def is_chunk_name(name: object) -> bool:
    return isinstance(name, str) and CHUNK_NAME.fullmatch(name) is not None


def chunk_name_problem(name: object, clip: str | None = None) -> str | None:
    """Why ``name`` is not a chunk name (naming ``clip`` when given), or None."""
    if is_chunk_name(name):
        return None
    who = f"clip {clip} names its chunk" if clip is not None else "chunk"
    return f"{who} {name!r}, which is not a chunk name (32 hex digits, .npz)"


def reward_model_problem(path: object, run: str, version: object) -> str | None:
    """Why ``path`` is not a reward model's file name, or None."""
    if is_reward_model_name(path):
        return None
    return (
        f"reward model v{version} of run {run!r} names its file {path!r},"
        f" which is not a reward model's ({REWARD_MODELS}/v<N>.pt)"
    )


def check_chunk_name(name: object, where: str, clip: str | None = None) -> str:
    """``name``, or a ValueError saying why it is not a chunk name, in store ``where``."""
    why = chunk_name_problem(name, clip)
    if why is not None:
        raise ValueError(f"store {where}: {why}; it was not used ({VERIFY})")
    assert isinstance(name, str)
    return name


def check_reward_model_path(path: object, where: str, run: str, version: object = "?") -> str:
    """``path``, or a ValueError saying why it is not a reward model's file name."""
    why = reward_model_problem(path, run, version)
    if why is not None:
        raise ValueError(f"store {where}: {why}; it was not used ({VERIFY})")
    assert isinstance(path, str)
    return path
