"""The preference database: labels, queries, durability, concurrency, export."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rlhf_sandbox.store.db import (
    SCHEMA_VERSION,
    ClipRow,
    LabelConflictError,
    NewQuery,
    PreferenceDB,
    SchemaVersionError,
    utc_now,
)


def clip_row(cid: str, run: str = "r1") -> ClipRow:
    return ClipRow(
        id=cid, run=run, chunk="0" * 32 + ".npz", env_id="e", config={"k": [1, 2]}, seed=1, slot=0,
        start_step=0, fps=30.0, policy_hz=10.0, T=5, created=utc_now(),
    )  # fmt: skip


@pytest.fixture
def db(store_url: str):
    d = PreferenceDB.open(store_url)
    d.add_run("r1", {"lr": 0.001})
    d.add_clips([clip_row(c) for c in ("a", "b", "c", "d")])
    yield d
    d.close()


def test_store_db_pragmas_and_schema(db: PreferenceDB) -> None:
    assert db.schema_version() == SCHEMA_VERSION == 5
    assert [v for v, _ in db.migrations()] == [5]
    if db.kind == "sqlite":
        c = sqlite3.connect(db.path)
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        c.close()
    with pytest.raises(db.IntegrityError):  # foreign keys on
        db.add_query("r1", "a", "zzz")


def test_store_db_newer_schema_refused(tmp_path: Path) -> None:
    PreferenceDB(tmp_path / "x.db").close()
    c = sqlite3.connect(tmp_path / "x.db")
    c.execute("UPDATE schema_version SET version = 99")
    c.commit()
    c.close()
    with pytest.raises(SchemaVersionError, match="version"):
        PreferenceDB(tmp_path / "x.db")


def test_store_pairs_and_their_labels_stored_together(db: PreferenceDB) -> None:
    """A synthetic teacher's round: the pairs and their answers in one transaction, so a
    failure anywhere in it leaves neither (here a pair naming a clip the store lacks)."""
    pairs = [NewQuery("a", "b", "disagreement", 0.5), NewQuery("c", "d")]
    qids = db.add_queries("r1", pairs, 2, rater="oracle", choices=["right", "equal"])
    got = db.queries("r1")
    assert [(x.id, x.left_clip, x.method, x.score, x.raters_wanted) for x in got] == [
        (qids[0], "a", "disagreement", 0.5, 2),
        (qids[1], "c", "random", None, 2),
    ]
    assert [(lab.query, lab.rater, lab.choice, lab.shown_left) for lab in db.labels("r1")] == [
        (qids[0], "oracle", "right", "a"),
        (qids[1], "oracle", "equal", "c"),
    ]
    with pytest.raises(db.IntegrityError):
        db.add_queries(
            "r1", [NewQuery("b", "c"), NewQuery("a", "zzz")], rater="o", choices=["left", "left"]
        )
    for bad in (
        dict(rater="o"),
        dict(choices=["left"]),
        dict(rater="o", choices=["maybe", "left"]),
    ):
        with pytest.raises(ValueError):
            db.add_queries("r1", [NewQuery("b", "c"), NewQuery("a", "d")], **bad)  # type: ignore[arg-type]
    assert len(db.queries("r1")) == 2 and len(db.labels("r1")) == 2  # nothing half-written


def test_store_label_visible_from_second_connection(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b", method="disagreement", score=0.7)
    lid = db.add_label(q, "alice", "right", rating=4, tags=["unsafe"], comment="hm")
    with PreferenceDB.open(db.url) as other:
        (got,) = other.labels("r1")
    assert (got.id, got.query, got.rater, got.choice, got.rating) == (lid, q, "alice", "right", 4)
    (label,) = db.labels("r1")
    assert label.tags == ["unsafe"] and label.shown_left == "a" and label.comment == "hm"
    assert db.labels("other") == []


def test_store_label_checks(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b")
    with pytest.raises(ValueError, match="choice"):
        db.add_label(q, "alice", "better")
    with pytest.raises(ValueError, match="rating"):
        db.add_label(q, "alice", "left", rating=6)
    with pytest.raises(ValueError, match="shown_left"):
        db.add_label(q, "alice", "left", shown_left="c")
    with pytest.raises(ValueError, match="rating"):
        db.add_label(q, "alice", "left", rating=True)
    with pytest.raises(KeyError, match="nope"):
        db.add_label("nope", "alice", "left")
    assert db.labels() == []
    db.add_label(q, "alice", "left", rating=np.int64(2))
    assert db.labels()[0].rating == 2


def test_store_label_idempotent_and_conflict(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b")
    lid = db.add_label(q, "alice", "left", shown_left="b", tags=["x"])
    assert db.add_label(q, "alice", "left", shown_left="b", tags=["x"]) == lid
    with pytest.raises(LabelConflictError, match="alice"):
        db.add_label(q, "alice", "right", shown_left="b", tags=["x"])
    with pytest.raises(LabelConflictError):
        db.add_label(q, "alice", "left", shown_left="a", tags=["x"])
    assert [lb.id for lb in db.labels()] == [lid]


def test_store_pending_queries_k_raters(db: PreferenceDB) -> None:
    q1 = db.add_query("r1", "a", "b", raters_wanted=2)
    q2 = db.add_query("r1", "c", "d")
    db.add_query("r2", "a", "c")  # another run
    assert [q.id for q in db.pending_queries("r1", "alice", 10)] == [q1, q2]
    assert [q.id for q in db.pending_queries("r1", "alice", 1)] == [q1]
    db.add_label(q1, "alice", "left")
    assert [q.id for q in db.pending_queries("r1", "alice", 10)] == [q2]
    assert [q.id for q in db.pending_queries("r1", "bob", 10)] == [q1, q2]
    db.add_label(q1, "bob", "equal")
    db.add_label(q2, "bob", "cant_tell")
    assert db.pending_queries("r1", "carol", 10) == []  # both have their raters
    assert db.pending_queries("r1", "bob", 10) == []
    assert db.get_query(q1).raters_wanted == 2


def test_store_undo_removes_exactly_one(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b", raters_wanted=3)
    ids = [db.add_label(q, r, "left") for r in ("alice", "bob", "carol")]
    db.undo_label(ids[1])
    assert [lb.id for lb in db.labels()] == [ids[0], ids[2]]
    with pytest.raises(KeyError):
        db.undo_label(ids[1])
    assert [p.id for p in db.pending_queries("r1", "bob", 5)] == [q]
    db.add_label(q, "bob", "right")  # may label again after undo


def test_store_reward_models(db: PreferenceDB) -> None:
    assert db.latest_reward_model("r1") is None
    assert db.add_reward_model("r1", "reward_models/v1.pt", {"acc": 0.6}) == 1
    assert db.add_reward_model("r1", "reward_models/v2.pt", {"acc": 0.7}) == 2
    assert db.add_reward_model("r2", "reward_models/v9.pt") == 1
    rm = db.latest_reward_model("r1")
    assert rm is not None and (rm.version, rm.metrics) == (2, {"acc": 0.7})
    assert rm.path == "reward_models/v2.pt"


def test_store_jsonl_round_trip(db: PreferenceDB, tmp_path: Path) -> None:
    q = db.add_query("r1", "a", "b", method="entropy", score=1.5, raters_wanted=2)
    db.add_query("r1", "c", "d", method="manual")
    db.add_label(q, "alice", "left", rating=3, tags=["off-task", "unnatural"], comment="ü")
    db.add_label(q, "bob", "right", shown_left="b")
    db.add_reward_model("r1", "reward_models/v1.pt", {"acc": 0.75, "n": 10})
    n = db.export_jsonl(tmp_path / "a.jsonl")
    assert n == 1 + 4 + 2 + 2 + 1
    fresh = PreferenceDB(tmp_path / "fresh.db")
    assert fresh.import_jsonl(tmp_path / "a.jsonl") == n
    fresh.export_jsonl(tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert fresh.labels() == db.labels()
    with pytest.raises(sqlite3.IntegrityError):  # importing twice: nothing imported
        fresh.import_jsonl(tmp_path / "a.jsonl")
    assert len(fresh.labels()) == 2
    fresh.close()


_LABELER = textwrap.dedent(
    """
    import sys
    from rlhf_sandbox.store.db import PreferenceDB

    db = PreferenceDB.open(sys.argv[1])
    rater, n = sys.argv[2], int(sys.argv[3])
    qs = [q.id for q in db.pending_queries("r1", rater, n)]
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for q in qs:
        print(db.add_label(q, rater, "left"), flush=True)
    """
)


def _make_queries(db: PreferenceDB, n: int, raters: int) -> None:
    for _ in range(n):
        db.add_query("r1", "a", "b", raters_wanted=raters)


def _labeler(db: PreferenceDB, rater: str, n: int) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", _LABELER, db.url, rater, str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_store_kill_during_label_writes_keeps_acked(db: PreferenceDB) -> None:
    _make_queries(db, 2000, 1)
    p = _labeler(db, "alice", 2000)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("go\n")
    p.stdin.flush()
    acked = [p.stdout.readline().strip() for _ in range(50)]
    p.kill()  # SIGKILL
    p.wait()
    again = PreferenceDB.open(db.url)
    assert again.integrity_check() == "ok"
    have = {lb.id for lb in again.labels()}
    assert set(acked) <= have
    assert len(have) < 2000  # it was killed mid-way
    again.close()


def test_store_two_processes_label_concurrently(db: PreferenceDB) -> None:
    _make_queries(db, 200, 2)
    procs = [_labeler(db, r, 200) for r in ("alice", "bob")]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "locked" not in err
        assert len(out.split()) == 200
    labels = db.labels()
    assert len(labels) == 400
    assert {lb.rater for lb in labels} == {"alice", "bob"}
    assert db.pending_queries("r1", "carol", 10) == []


def test_store_run_question_and_rubric(db: PreferenceDB, tmp_path: Path) -> None:
    """A run's question and rubric: set, replaced, given at run creation, checked before
    anything is written, and carried by an export (an older export without them imports)."""
    assert db.run_question("r1") is None
    db.set_run_question("r1", "  Which car drives more safely?  ", "Keep 2 s gaps.\nNo cut-ins.")
    got = db.run_question("r1")
    assert got is not None and got.run == "r1"
    assert (got.question, got.rubric) == (
        "Which car drives more safely?",
        "Keep 2 s gaps.\nNo cut-ins.",
    )
    db.set_run_question("r1", "Which car is faster?")  # replaces both
    got = db.run_question("r1")
    assert got is not None and (got.question, got.rubric) == ("Which car is faster?", "")
    for bad in ("two\nlines", "x" * 501, "nul\x00"):
        with pytest.raises(ValueError):
            db.set_run_question("r2", bad)
    assert not db.has_run("r2")  # nothing written
    assert db.create_run("r3", {"token": "t"}, question="Q3?", rubric="R3")
    db.add_run("r4", question="Q4?")
    assert [(t.question, t.rubric) for t in (db.run_question("r3"), db.run_question("r4"))] == [
        ("Q3?", "R3"),
        ("Q4?", ""),
    ]
    db.export_jsonl(tmp_path / "x.jsonl")
    lines = (tmp_path / "x.jsonl").read_text().splitlines()
    assert sum('"run_tasks"' in line for line in lines) == 3
    with PreferenceDB(tmp_path / "fresh.db") as fresh:
        fresh.import_jsonl(tmp_path / "x.jsonl")
        assert fresh.run_question("r3") == db.run_question("r3")
    old = tmp_path / "old.jsonl"  # an export of version 4: no run_tasks rows
    old.write_text("".join(line + "\n" for line in lines if '"run_tasks"' not in line))
    with PreferenceDB(tmp_path / "fresh2.db") as fresh:
        fresh.import_jsonl(old)
        assert fresh.run_question("r3") is None


def test_store_trainer_status(db: PreferenceDB) -> None:
    """Running, finished, or quiet: from the trainer's beats, else from the run's newest
    clip, query or reward model."""
    st = db.trainer_status("nobody")
    assert (st.state, st.age_s, st.source) == ("unseen", None, "activity")
    st = db.trainer_status("r1")  # the fixture's clips were just added
    assert (st.state, st.source) == ("running", "activity") and st.age_s is not None
    assert db.trainer_status("r1", quiet_s=0.0).state == "quiet"
    db.trainer_beat("r1")
    st = db.trainer_status("r1")
    assert (st.state, st.source) == ("running", "beat")
    assert db.trainer_status("r1", quiet_s=0.0).state == "quiet"
    db.trainer_beat("r1", "finished")
    assert db.trainer_status("r1", quiet_s=0.0).state == "finished"
    with pytest.raises(ValueError, match="state"):
        db.trainer_beat("r1", "crashed")
