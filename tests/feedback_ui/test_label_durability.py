"""The labelling app as a process: kill -9 loses nothing acknowledged; two apps and a
trainer share one store for 1,000 labels without a locking error."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rlhf_sandbox.store.db import DEFAULT_LEASE_S, PreferenceDB

PROCS = str(Path(__file__).with_name("label_procs.py"))
DB = Path("store") / "prefs.sqlite"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROCS, *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_kill_9_mid_session_loses_no_acknowledged_label(frames_run: Callable) -> None:
    run, ids = frames_run(6)
    with PreferenceDB(run / DB) as db:
        for i in range(400):
            db.add_query("main", ids[i % 6], ids[(i + 1) % 6])
    p = _start("app", str(run), "alice", "400")
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    acked = []
    while len(acked) < 25:
        line = p.stdout.readline().split()
        assert line and line[0] == "ack", p.stderr.read() if p.stderr else ""
        acked.append(line[1])
    p.kill()  # SIGKILL, mid-session
    p.wait()
    with PreferenceDB(run / DB) as db:
        assert db.integrity_check() == "ok"
        have = {lb.id for lb in db.labels("main")}
        assert set(acked) <= have
        assert len(have) < 400  # it really was cut off
        assert len(db.claims("main")) <= 3  # the dead app's leases, which will expire


def test_claims_of_a_killed_app_return_within_10_s(frames_run: Callable) -> None:
    """Issue 19: a killed app's claims used to block its queries for 5 minutes (a lease of
    300 s). Leases are short now and renewed by the running app: they survive a rater
    looking at a pair for longer than a lease, and lapse within seconds of a kill."""
    run, ids = frames_run(6)
    with PreferenceDB(run / DB) as db:
        qids = [db.add_query("main", ids[i % 6], ids[(i + 1) % 6]) for i in range(3)]
    # an app that answers nothing: it shows a pair and holds two more
    p = subprocess.Popen(
        [sys.executable, PROCS, "hold", str(run), "alice"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "holding"
        with PreferenceDB(run / DB) as db:
            time.sleep(0.5)
            held = {c.query for c in db.claims("main") if c.rater == "alice"}
            assert len(held) >= 2 and held <= set(qids)  # the pair shown, and ahead
            time.sleep(min(DEFAULT_LEASE_S, 30.0) + 2.0)  # longer than a lease: still held
            assert not {q.id for q in db.claim_queries("main", "bob", 3)} & held
            assert {c.query for c in db.claims("main") if c.rater == "alice"} == held
            p.kill()
            p.wait()
            killed = time.monotonic()
            got: set[str] = set()
            while time.monotonic() - killed < 15.0 and not held <= got:
                got |= {q.id for q in db.claim_queries("main", "bob", 3)}
                time.sleep(0.2)
            back_s = time.monotonic() - killed
        assert held <= got, "the killed app's claims did not come back within 15 s"
        assert back_s <= 10.0, f"the claims came back after {back_s:.1f} s"
    finally:
        if p.poll() is None:
            p.kill()


def test_two_apps_and_a_trainer_1000_labels(frames_run: Callable) -> None:
    run, _ = frames_run(8)
    n, k2 = 900, 100  # 800 queries want one rater, 100 want two: 1,000 labels
    trainer = _start("trainer", str(run), str(n), str(k2))
    apps = [_start("app", str(run), r, "1000") for r in ("alice", "bob")]
    for p in [trainer, *apps]:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err
    with PreferenceDB(run / DB) as db:
        labels = db.labels("main")
        queries = {q.id: q.raters_wanted for q in db.queries("main")}
    assert len(labels) == 1000
    per_query = Counter(lb.query for lb in labels)
    assert per_query == Counter({q: k for q, k in queries.items()})  # exactly k raters each
    assert len({(lb.query, lb.rater) for lb in labels}) == 1000
    by_rater = Counter(lb.rater for lb in labels)
    assert by_rater["alice"] >= 100 and by_rater["bob"] >= 100  # both did real work
