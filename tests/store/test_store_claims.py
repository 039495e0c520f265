"""Claims: several labelling apps on one store, each query taken by at most k raters."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlhf_sandbox.store.db import SCHEMA_VERSION, ClipRow, PreferenceDB, utc_now


def _clip(cid: str) -> ClipRow:
    return ClipRow(
        id=cid, run="r1", chunk="0" * 32 + ".npz", env_id="e", config={}, seed=1, slot=0,
        start_step=0, fps=10.0, policy_hz=10.0, T=5, created=utc_now(),
    )  # fmt: skip


@pytest.fixture
def db(store_url: str):
    d = PreferenceDB.open(store_url)
    d.add_clips([_clip(c) for c in ("a", "b", "c", "d")])
    yield d
    d.close()


def _ids(rows: list) -> list[str]:
    return [r.id for r in rows]


def test_one_rater_wanted_one_holder(db: PreferenceDB) -> None:
    q1 = db.add_query("r1", "a", "b")
    q2 = db.add_query("r1", "c", "d")
    assert _ids(db.claim_queries("r1", "alice", 1)) == [q1]
    assert _ids(db.claim_queries("r1", "bob", 5)) == [q2]  # q1 is alice's
    assert db.claim_queries("r1", "carol", 5) == []
    assert db.pending_count("r1", "carol") == 0 and db.pending_count("r1", "alice") == 1
    assert _ids(db.pending_queries("r1", "alice")) == [q1]
    db.add_label(q1, "alice", "left")  # the label ends the lease
    assert [(k.query, k.rater) for k in db.claims("r1")] == [(q2, "bob")]
    assert db.claim_queries("r1", "carol", 5) == []
    assert db.release_claims("bob") == 1
    assert _ids(db.claim_queries("r1", "carol", 5)) == [q2]


def test_k_raters_and_held_queries_come_first(db: PreferenceDB) -> None:
    q1 = db.add_query("r1", "a", "b", raters_wanted=2)
    q2 = db.add_query("r1", "c", "d", raters_wanted=2)
    assert _ids(db.claim_queries("r1", "alice", 1)) == [q1]
    assert _ids(db.claim_queries("r1", "bob", 2)) == [q1, q2]
    assert _ids(db.claim_queries("r1", "carol", 2)) == [q2]  # q1 has its two raters
    db.add_label(q1, "alice", "left")
    assert db.claim_queries("r1", "dave", 2) == []  # alice labelled, bob holds it
    db.release_claims("alice")  # alice had claimed only q1, which her label released
    assert _ids(db.claim_queries("r1", "bob", 1)) == [q1]  # held first, lease renewed
    assert db.claim_queries("r1", "alice", 5) == []  # q1 labelled; q2 full (bob, carol)


def test_leases_expire_and_renew(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b")
    assert _ids(db.claim_queries("r1", "alice", 1, lease_s=0.2)) == [q]
    assert db.claim_queries("r1", "bob", 1) == []
    assert db.renew_claims("alice", [q], lease_s=0.2) == [q]
    time.sleep(0.3)  # alice's app crashed: her query goes back
    assert db.claims("r1") == []
    assert _ids(db.claim_queries("r1", "bob", 1)) == [q]
    assert db.renew_claims("alice", [q]) == []  # bob has it now
    with pytest.raises(ValueError):
        db.claim_queries("r1", "bob", 1, lease_s=0)


def test_undo_can_keep_the_place(db: PreferenceDB) -> None:
    q = db.add_query("r1", "a", "b")
    db.claim_queries("r1", "alice", 1)
    lid = db.add_label(q, "alice", "right")
    db.undo_label(lid, reclaim_s=60.0)
    assert db.labels() == [] and db.claim_queries("r1", "bob", 1) == []
    assert _ids(db.claim_queries("r1", "alice", 1)) == [q]
    with pytest.raises(KeyError):
        db.undo_label(lid, reclaim_s=60.0)


def test_version_2_file_upgraded_and_exports_leave_claims_out(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with PreferenceDB(path) as d:
        d.add_clips([_clip(c) for c in ("a", "b")])
        q = d.add_query("r1", "a", "b")
    c = sqlite3.connect(path)  # make it look like a version-2 file
    c.execute("DROP TABLE claims")
    c.execute("UPDATE schema_version SET version = 2")
    c.commit()
    c.close()
    with PreferenceDB(path) as d:
        assert d.schema_version() == SCHEMA_VERSION == 5
        assert _ids(d.claim_queries("r1", "alice", 1)) == [q]
        n = d.export_jsonl(tmp_path / "x.jsonl")
        assert "claims" not in (tmp_path / "x.jsonl").read_text()
    with PreferenceDB(tmp_path / "fresh.db") as fresh:
        assert fresh.import_jsonl(tmp_path / "x.jsonl") == n
        assert _ids(fresh.claim_queries("r1", "bob", 1)) == [q]  # no lease came with it


_CLAIMER = textwrap.dedent(
    """
    import sys
    from rlhf_sandbox.store.db import PreferenceDB

    db = PreferenceDB.open(sys.argv[1])
    rater = sys.argv[2]
    print("ready", flush=True)
    sys.stdin.readline()
    while True:
        got = db.claim_queries("r1", rater, 1)
        if not got:
            break
        db.add_label(got[0].id, rater, "left")
        print(got[0].id, flush=True)
    """
)


def test_racing_apps_never_share_a_query(db: PreferenceDB) -> None:
    """Without claims, apps that list pending queries at once label the same ones."""
    for _ in range(60):
        db.add_query("r1", "a", "b")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, db.url, r],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in ("alice", "bob", "carol")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    done: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        done += out.split()
    assert len(done) == len(set(done)) == 60
    labels = db.labels("r1")
    assert len(labels) == 60 and len({lb.query for lb in labels}) == 60
