"""Ratings and demonstrations in the preference database (schema version 2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rlhf_sandbox.store.db import SCHEMA_VERSION, ClipRow, PreferenceDB, utc_now


def _clip(cid: str, run: str = "r1") -> ClipRow:
    return ClipRow(
        id=cid, run=run, chunk="0" * 32 + ".npz", env_id="e", config={}, seed=1, slot=0,
        start_step=0, fps=10.0, policy_hz=10.0, T=5, created=utc_now(),
    )  # fmt: skip


@pytest.fixture
def db(store_url: str):
    d = PreferenceDB.open(store_url)
    d.add_run("r1")
    d.add_clips([_clip(c) for c in ("a", "b", "c", "p")])
    yield d
    d.close()


def test_ratings_are_checked_and_a_rater_may_change_their_mind(db: PreferenceDB) -> None:
    first = db.add_rating("a", "alice", score=2, tags=["unsafe"])
    again = db.add_rating("a", "alice", score=4, thumb=1, comment="better on reflection")
    assert first == again
    db.add_rating("a", "bob", thumb=-1)
    rows = db.ratings("r1")
    assert [(r.rater, r.score, r.thumb) for r in rows] == [("alice", 4, 1), ("bob", None, -1)]
    assert rows[0].tags == [] and rows[0].comment == "better on reflection"
    for kw, msg in (
        ({"score": 6}, "score"),
        ({"score": 2.5}, "score"),
        ({"thumb": 0}, "thumb"),
        ({}, "needs"),
    ):
        with pytest.raises(ValueError, match=msg):
            db.add_rating("b", "alice", **kw)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="unknown clip"):
        db.add_rating("nope", "alice", score=3)
    assert db.feedback_count("r1") == 2


def test_demonstrations_and_corrections(db: PreferenceDB) -> None:
    db.add_demonstration("r1", "b", "carol")
    db.add_demonstration("r1", "c", "carol", kind="correction", replaces="p")
    rows = db.demonstrations("r1")
    assert [(r.clip, r.kind, r.replaces) for r in rows] == [
        ("b", "demonstration", None),
        ("c", "correction", "p"),
    ]
    with pytest.raises(ValueError, match="kind"):
        db.add_demonstration("r1", "b", "carol", kind="hint")
    with pytest.raises(ValueError, match="correction"):
        db.add_demonstration("r1", "b", "carol", kind="correction")
    with pytest.raises(KeyError, match="unknown clip"):
        db.add_demonstration("r1", "zzz", "carol")
    assert db.feedback_count("r1") == 2


def test_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    PreferenceDB(path).close()
    c = sqlite3.connect(path)  # make it look like a version-1 file
    c.execute("DROP TABLE ratings")
    c.execute("DROP TABLE demonstrations")
    c.execute("UPDATE schema_version SET version = 1")
    c.commit()
    c.close()
    with PreferenceDB(path) as db:
        assert db.schema_version() == SCHEMA_VERSION == 5
        db.add_run("r")
        db.add_clips([_clip("x", "r")])
        db.add_rating("x", "alice", score=5)
        assert len(db.ratings()) == 1


def test_export_import_keeps_ratings_and_demonstrations(db: PreferenceDB, tmp_path: Path) -> None:
    db.add_rating("a", "alice", score=3, tags=["off-task"])
    db.add_demonstration("r1", "c", "carol", kind="correction", replaces="p")
    n = db.export_jsonl(tmp_path / "x.jsonl")
    with PreferenceDB(tmp_path / "fresh.db") as fresh:
        assert fresh.import_jsonl(tmp_path / "x.jsonl") == n
        assert fresh.ratings() == db.ratings()
        assert fresh.demonstrations() == db.demonstrations()
