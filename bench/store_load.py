"""Load on the preference store: N rater processes claiming and labelling at once.

For each backend (SQLite file, PostgreSQL server) and N in 1, 4, 16: a new store with
``--queries`` queries (one rater wanted each), N processes that each loop for
``--seconds``: ``claim_queries(n=1)`` (timed: the time to get the next query), then
``add_label``. Prints labels per second sustained by all N together, and the median and
95th-percentile time to get the next query under that load; checks that no query was
labelled twice.

    .venv/bin/python bench/store_load.py [--seconds 5] [--queries 4000] [--pg URL]

PostgreSQL: ``--pg``, else $RLHF_SANDBOX_TEST_PG, else a throwaway server that
``.ci/postgres.sh`` starts (and stops). Every label is a committed, durable transaction on
both backends (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous_commit on).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rlhf_sandbox.store.db import ClipRow, PreferenceDB, utc_now

ROOT = Path(__file__).resolve().parents[1]
RATERS = (1, 4, 16)


def worker(url: str, rater: str, seconds: float) -> None:
    """One rater: claim, label, repeat until the time is up; prints its figures as JSON."""
    db = PreferenceDB.open(url)
    print("ready", flush=True)
    sys.stdin.readline()
    waits: list[float] = []
    labels = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        got = db.claim_queries("r1", rater, 1)
        waits.append(time.perf_counter() - t0)
        if not got:
            continue
        db.add_label(got[0].id, rater, "left")
        labels += 1
    db.close()
    print(json.dumps({"labels": labels, "waits": waits}), flush=True)


def fill(url: str, n_queries: int) -> None:
    with PreferenceDB.open(url) as db:
        now = utc_now()
        db.add_clips(
            [
                ClipRow(id=c, run="r1", chunk="c.npz", env_id="e", config={}, seed=0, slot=0,
                        start_step=0, fps=5.0, policy_hz=5.0, T=10, created=now)
                for c in ("a", "b")
            ]
        )  # fmt: skip
        rows = [
            ("queries", {"id": f"q{i:06d}", "run": "r1", "left_clip": "a", "right_clip": "b",
                         "method": "random", "score": None, "created": now, "raters_wanted": 1})
            for i in range(n_queries)
        ]  # fmt: skip
        db.import_rows(rows)


def run_load(url: str, n: int, seconds: float) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--worker", url]
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen([*cmd, f"rater{i}", str(seconds)], stdin=pipe, stdout=pipe, text=True)
        for i in range(n)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.communicate(timeout=seconds + 120)[0]) for p in procs]
    wall = time.perf_counter() - t0
    with PreferenceDB.open(url) as db:
        labels = db.labels("r1")
    if len({lb.query for lb in labels}) != len(labels):
        raise AssertionError("a query was labelled twice")
    waits = sorted(w for r in results for w in r["waits"])
    return {
        "labels": len(labels),
        "labels_per_s": len(labels) / wall,
        "median_ms": 1e3 * statistics.median(waits),
        "p95_ms": 1e3 * waits[int(0.95 * (len(waits) - 1))],
    }


def pg_schema_url(base: str) -> str:
    """A new, empty schema on the server (dropped with the server, or left for a look)."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="load per setting [s]")
    ap.add_argument("--queries", type=int, default=4000, help="queries in each new store")
    ap.add_argument("--pg", default=os.environ.get("RLHF_SANDBOX_TEST_PG"))
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], float(args.worker[2]))
        return
    stop: list[str] = []
    if not args.pg:
        out = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres.sh"), "start"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        args.pg, datadir = out.stdout.split()
        stop = ["bash", str(ROOT / ".ci" / "postgres.sh"), "stop", datadir]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in ("sqlite", "postgresql"):
                for n in RATERS:
                    if backend == "sqlite":
                        url = f"sqlite:///{tmp}/{n}/prefs.sqlite"
                    else:
                        url = pg_schema_url(args.pg)
                    fill(url, args.queries)
                    r = run_load(url, n, args.seconds)
                    rows.append((backend, n, r))
                    print(
                        f"{backend:10s} N={n:2d}: {r['labels_per_s']:7.1f} labels/s, next query "
                        f"median {r['median_ms']:6.2f} ms, p95 {r['p95_ms']:6.2f} ms",
                        file=sys.stderr,
                    )
    finally:
        if stop:
            subprocess.run(stop, capture_output=True)
    print(f"\nstore load: {args.seconds:g} s per setting, {args.queries} queries, 1 rater each")
    print("| backend | raters (processes) | labels/s | next query, median [ms] | p95 [ms] |")
    print("|---|---:|---:|---:|---:|")
    for backend, n, r in rows:
        print(
            f"| {backend} | {n} | {r['labels_per_s']:.0f} | {r['median_ms']:.1f} "
            f"| {r['p95_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
