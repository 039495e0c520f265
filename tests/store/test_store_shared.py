"""A shared store: many rater processes on PostgreSQL, dropped connections, killed raters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import psycopg
import pytest

from rlhf_sandbox.store.db import (
    ClipRow,
    NewQuery,
    PreferenceDB,
    StoreConnectionError,
    utc_now,
)
from rlhf_sandbox.store.db_postgres import PostgresBackend, _Conn


def _fill(db: PreferenceDB, n_queries: int, raters_wanted: int) -> list[str]:
    """Two clips and ``n_queries`` queries between them, in one transaction."""
    now = utc_now()
    clips = [
        ClipRow(
            id=c,
            run="r1",
            chunk="0" * 32 + ".npz",
            env_id="e",
            config={},
            seed=1,
            slot=0,
            start_step=0,
            fps=10.0,
            policy_hz=10.0,
            T=5,
            created=now,
        )
        for c in ("a", "b")
    ]
    db.add_clips(clips)
    ids = [f"q{i:05d}" for i in range(n_queries)]
    rows = [
        ("queries", {"id": q, "run": "r1", "left_clip": "a", "right_clip": "b",
                     "method": "random", "score": None, "created": now,
                     "raters_wanted": raters_wanted})
        for q in ids
    ]  # fmt: skip
    db.import_rows(rows)
    return ids


# A rater process: claims a few queries at a time (as the labelling app does) and labels
# them, printing each acknowledged label as "query label_id"; stops when nothing is left
# that it may take.
_RATER = textwrap.dedent(
    """
    import sys, time
    from rlhf_sandbox.store.db import PreferenceDB

    url, rater, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    db = PreferenceDB.open(url)
    print("ready", flush=True)
    sys.stdin.readline()
    while True:
        got = db.claim_queries("r1", rater, 4, lease_s=lease)
        if not got:
            if db.pending_count("r1", rater) == 0:
                break
            time.sleep(0.02)  # the open ones are locked or leased by others just now
            continue
        for q in got:
            print(q.id, db.add_label(q.id, rater, "left"), flush=True)
    """
)


def _raters(url: str, names: list[str], lease_s: float = 60.0) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RATER, url, name, str(lease_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


@pytest.mark.parametrize(("n_queries", "k"), [(2000, 1), (600, 3)])
def test_eight_rater_processes_share_the_queue(pg_url: str, n_queries: int, k: int) -> None:
    """8 processes on PostgreSQL: every query gets exactly k distinct raters (k = 1: no
    query labelled twice), none is lost, and each acknowledged label is stored."""
    with PreferenceDB.open(pg_url) as db:
        ids = _fill(db, n_queries, k)
        procs = _raters(pg_url, [f"rater{i}" for i in range(8)])
        acked: list[tuple[str, str]] = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            acked += [tuple(line.split()) for line in out.splitlines()]  # type: ignore[misc]
        labels = db.labels("r1")
        per_query: dict[str, set[str]] = {}
        for lb in labels:
            per_query.setdefault(lb.query, set()).add(lb.rater)
        assert sorted(per_query) == ids  # none lost
        assert all(len(r) == k for r in per_query.values())  # exactly k distinct raters
        assert len(labels) == len(acked) == n_queries * k
        assert {lid for _, lid in acked} == {lb.id for lb in labels}
        assert db.claims("r1") == []  # every lease ended with its label
        assert len({lb.rater for lb in labels}) > 1  # the work was shared


def test_killed_rater_loses_nothing_it_acknowledged(pg_url: str) -> None:
    """kill -9 of a rater mid-label: its acknowledged labels stay; its lease runs out and
    another rater labels the rest, each query once."""
    with PreferenceDB.open(pg_url) as db:
        ids = _fill(db, 300, 1)
        (victim,) = _raters(pg_url, ["victim"], lease_s=0.5)
        assert victim.stdout is not None
        acked = [victim.stdout.readline().split() for _ in range(60)]
        victim.kill()  # SIGKILL, most likely between a claim and its label
        victim.wait()
        stored = {lb.id: lb for lb in db.labels("r1")}
        assert {lid for _, lid in acked} <= set(stored)
        time.sleep(0.6)  # the victim's lease on the query it held runs out
        (rescuer,) = _raters(pg_url, ["rescuer"])
        _, err = rescuer.communicate(timeout=60)
        assert rescuer.returncode == 0, err
        labels = db.labels("r1")
        assert sorted(lb.query for lb in labels) == ids  # each query once, none lost
        assert {lid for _, lid in acked} <= {lb.id for lb in labels}


def _backend_pid(db: PreferenceDB) -> int:
    conn = db._b._conn  # type: ignore[attr-defined]
    assert conn is not None
    return int(conn.info.backend_pid)


def _terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_dropped_connection_is_reconnected(pg_url: str) -> None:
    with PreferenceDB.open(pg_url) as db:
        (q,) = _fill(db, 1, 1)
        _terminate(pg_url, _backend_pid(db))
        lid = db.add_label(q, "alice", "left")  # the write finds the connection dead
        _terminate(pg_url, _backend_pid(db))
        assert [lb.id for lb in db.labels("r1")] == [lid]  # so does a read


def test_connection_not_regained_is_one_clear_error(pg_url: str) -> None:
    with PreferenceDB.open(pg_url, retry_s=0.5) as db:
        (q,) = _fill(db, 1, 1)
        db._b.url = "postgresql://rlhf@127.0.0.1:1/nowhere"  # type: ignore[attr-defined]
        _terminate(pg_url, _backend_pid(db))
        t0 = time.monotonic()
        with pytest.raises(StoreConnectionError, match=r"lost PostgreSQL at 127\.0\.0\.1:\d+/"):
            db.add_label(q, "alice", "left")
        assert time.monotonic() - t0 < 5


def test_unreachable_server_named() -> None:
    with pytest.raises(
        StoreConnectionError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:1/"
    ):
        PreferenceDB.open("postgresql://rlhf@127.0.0.1:1/x")


def test_commit_lost_in_transit_is_not_done_twice(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after a commit, before the answer: the retry (told ``again``)
    must not add a second query, clip, label or reward model."""
    with PreferenceDB.open(pg_url) as db:
        (q,) = _fill(db, 1, 1)
        calls: list[int] = []

        def flaky_write(self: PostgresBackend, body: Any) -> Any:
            def attempt(again: bool) -> Any:
                conn = self._connection()
                with conn.transaction():
                    out = body(_Conn(conn), again)
                calls.append(1)
                if len(calls) % 2 == 1:  # committed; the acknowledgement is lost
                    conn.close()
                    raise psycopg.OperationalError("simulated: connection lost after commit")
                return out

            return self._retrying(attempt)

        monkeypatch.setattr(PostgresBackend, "write", flaky_write)
        q2 = db.add_query("r1", "a", "b")
        pair = [NewQuery("a", "b"), NewQuery("b", "a")]
        qs = db.add_queries("r1", pair, rater="bot", choices=["left", "right"])
        lid = db.add_label(q, "alice", "left", tags=["x"])
        v = db.add_reward_model("r1", "reward_models/v1.pt", {"acc": 0.5})
        db.add_clips([ClipRow(**{**json.loads(json.dumps(db.get_clip("a").__dict__)), "id": "c"})])
        db.undo_label(lid)
        monkeypatch.undo()
        assert [x.id for x in db.queries("r1")] == [q, q2, *qs]
        assert [(lab.query, lab.choice) for lab in db.labels("r1")] == [
            (qs[0], "left"),
            (qs[1], "right"),
        ]
        assert [m.version for m in db.reward_models("r1")] == [v] == [1]
        assert db.clip_ids("r1") == ["a", "b", "c"]
        assert len(calls) == 12  # every write ran twice
