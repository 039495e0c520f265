"""``rlhf-sandbox store copy|migrate|export|info`` and store URLs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import Clip, ClipFileError, ClipStore
from rlhf_sandbox.store.db import PreferenceDB, SchemaVersionError, StoreURLError
from rlhf_sandbox.store.url import parse_clips_url, parse_store_url

runner = CliRunner()


def _clip(run: str, seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    return Clip(
        run=run, env_id="e", config={"lanes": 3}, seed=seed, slot=0, start_step=0,
        fps=20.0, policy_hz=5.0,
        obs=rng.normal(size=(4, 3)).astype(np.float32),
        actions=rng.integers(0, 3, size=4),
        rewards=rng.normal(size=4).astype(np.float32),
        features={"speed": rng.normal(size=4).astype(np.float32)},
        states={"x": rng.normal(size=(17, 2))},
    )  # fmt: skip


def _filled_sqlite(path: Path) -> ClipStore:
    """A SQLite store with every kind of row and clip chunks in files."""
    store = ClipStore.open(f"sqlite:///{path}")
    a, b, c = (store.add([_clip("main", s)])[0] for s in (1, 2, 3))
    db = store.db
    q = db.add_query("main", a, b, method="entropy", score=0.123456789012, raters_wanted=2)
    db.add_query("main", b, c)
    db.add_label(q, "alice", "left", rating=4, tags=["unsafe"], comment="ü")
    db.add_label(q, "bob", "right", shown_left=b)
    db.add_rating(c, "alice", score=5, thumb=1, tags=["boring"])
    db.add_demonstration("main", a, "carol")
    db.add_demonstration("main", b, "carol", kind="correction", replaces=c)
    db.add_reward_model("main", "reward_models/v1.pt", {"acc": 0.75})
    db.claim_queries("main", "dave", 1)  # a claim: working state, not copied
    return store


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def _error(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def test_copy_round_trip_sqlite_postgres_sqlite(tmp_path: Path, pg_url: str) -> None:
    src = _filled_sqlite(tmp_path / "a" / "prefs.sqlite")
    ids = src.ids()
    src.db.close()
    a, back = f"sqlite:///{tmp_path}/a/prefs.sqlite", f"sqlite:///{tmp_path}/b/prefs.sqlite"
    assert "3 clip chunks" in _ok(["store", "copy", a, pg_url])
    _ok(["store", "copy", pg_url, back])
    for url, name in ((a, "a.jsonl"), (pg_url, "pg.jsonl"), (back, "b.jsonl")):
        _ok(["store", "export", url, str(tmp_path / name)])
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first.count(b"\n") == 1 + 3 + 2 + 2 + 1 + 1 + 2
    assert (tmp_path / "pg.jsonl").read_bytes() == first
    assert (tmp_path / "b.jsonl").read_bytes() == first
    with PreferenceDB.open(pg_url) as pg:  # in PostgreSQL, the chunks are in the database
        assert len(pg.db_chunks()) == 3 and pg.claims() == []
    one, two = ClipStore.open(a), ClipStore.open(back)
    pg_store = ClipStore.open(pg_url)
    for cid in ids:
        x, y, z = one.get(cid), two.get(cid), pg_store.get(cid)
        for k, v in x.arrays().items():
            assert np.array_equal(v, y.arrays()[k]) and np.array_equal(v, z.arrays()[k])
    for s in (one, two, pg_store):
        s.db.close()
    assert len(list((tmp_path / "b" / "chunks").glob("*.npz"))) == 3  # files again


def test_copy_refuses_a_full_destination_and_leaves_nothing(tmp_path: Path) -> None:
    _filled_sqlite(tmp_path / "a" / "prefs.sqlite").db.close()
    a = f"sqlite:///{tmp_path}/a/prefs.sqlite"
    _ok(["store", "copy", a, str(tmp_path / "b.sqlite")])  # a plain path is a SQLite URL
    assert "not empty" in _error(["store", "copy", a, str(tmp_path / "b.sqlite")])
    (tmp_path / "a" / "chunks").joinpath(
        next(iter(sorted((tmp_path / "a" / "chunks").iterdir()))).name
    ).unlink()
    assert "clip chunk" in _error(["store", "copy", a, str(tmp_path / "c" / "prefs.sqlite")])
    assert not (tmp_path / "c" / "prefs.sqlite").exists()  # a failed copy leaves no file
    assert "no store at" in _error(["store", "copy", str(tmp_path / "nope.sqlite"), "x.sqlite"])


def test_clips_in_a_shared_folder_or_in_the_database(tmp_path: Path, store_url: str) -> None:
    shared = tmp_path / "shared"
    with_files = ClipStore.open(store_url, f"file://{shared}")
    cid = with_files.add([_clip("main", 7)])[0]
    assert len(list((shared / "chunks").glob("*.npz"))) == 1
    in_db = ClipStore(None, with_files.db)  # `--clips db`
    did = in_db.add([_clip("main", 8)])[0]
    assert len(with_files.db.db_chunks()) == 1 and len(list(shared.rglob("*.npz"))) == 1
    assert with_files.get(cid).seed == 7 and with_files.get(did).seed == 8  # both places
    assert in_db.get(did).seed == 8
    with pytest.raises(ClipFileError, match="not in the database"):  # no folder named
        in_db.get(cid)
    with_files.db.close()


def test_urls() -> None:
    assert parse_store_url("sqlite:///runs/x/prefs.db").path == Path("runs/x/prefs.db")
    assert parse_store_url("sqlite:////abs/prefs.db").path == Path("/abs/prefs.db")
    assert parse_store_url("postgres://u@h:5433/db").url == "postgresql://u@h:5433/db"
    for bad, what in (("mysql://h/db", "unknown store URL scheme 'mysql'"), ("sqlite://x", "sqlite:///"),
                      ("postgresql://u@h:port/db", "port")):  # fmt: skip
        with pytest.raises(StoreURLError, match=what):
            parse_store_url(bad)
    s = parse_store_url("postgresql://u@h/db")
    assert parse_clips_url(None, s).path is None  # PostgreSQL: in the database
    assert parse_clips_url("file:///mnt/clips", s).path == Path("/mnt/clips")
    assert parse_clips_url(None, parse_store_url("runs/x/p.sqlite")).path == Path("runs/x")
    with pytest.raises(StoreURLError, match="file:///"):
        parse_clips_url("s3://bucket", s)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    assert "unknown store URL scheme 'mysql'" in _error(["store", "info", "mysql://h/db"])
    line = _error(["store", "info", "postgresql://rlhf@127.0.0.1:1/x"])
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/x" in line
    path = tmp_path / "new.sqlite"
    PreferenceDB(path).close()
    c = sqlite3.connect(path)
    c.execute("UPDATE schema_version SET version = 99")
    c.commit()
    c.close()
    assert "schema version [99]" in _error(["store", "migrate", str(path)])


def test_migrate_upgrades_in_place(tmp_path: Path, store_url: str) -> None:
    PreferenceDB.open(store_url).close()
    with PreferenceDB.open(store_url) as db:  # make it look like a version-3 store
        for sql in (
            "UPDATE schema_version SET version = 3",
            "DELETE FROM migrations",
            "DROP TABLE chunks",
        ):
            db._write(lambda c, _, sql=sql: c.execute(sql))
    if store_url.startswith("postgresql"):  # a team's store is upgraded by `store migrate` only
        with pytest.raises(SchemaVersionError, match="store migrate"):
            PreferenceDB.open(store_url)
    assert "schema version 3 -> 5" in _ok(["store", "migrate", store_url])
    assert "nothing to do" in _ok(["store", "migrate", store_url])
    with PreferenceDB.open(store_url) as db:
        assert db.schema_version() == 5 and [v for v, _ in db.migrations()] == [4, 5]
        assert db.db_chunks() == set()  # the chunks table is back
    assert "schema version 5" in _ok(["store", "info", store_url])


def test_migrate_a_version_4_store_keeps_its_rows_and_adds_the_task(
    tmp_path: Path, store_url: str
) -> None:
    """A store of version 4 (no run_tasks, no trainer_beats): SQLite opens it (upgrading
    in place, as before), PostgreSQL asks for `store migrate`; its rows stay, and the
    question and rubric can be set afterwards."""
    with PreferenceDB.open(store_url) as db:
        db.add_run("main", {"lr": 1})
        lid = db.add_label(db.add_query("main", *_two_clips(db)), "alice", "left")
        for sql in (
            "DROP TABLE run_tasks",
            "DROP TABLE trainer_beats",
            "UPDATE schema_version SET version = 4",
            "DELETE FROM migrations WHERE version = 5",
        ):
            db._write(lambda c, _, sql=sql: c.execute(sql))
    if store_url.startswith("postgresql"):
        with pytest.raises(SchemaVersionError, match="store migrate"):
            PreferenceDB.open(store_url)
        assert "schema version 4 -> 5" in _ok(["store", "migrate", store_url])
    with PreferenceDB.open(store_url) as db:
        assert db.schema_version() == 5 and 5 in [v for v, _ in db.migrations()]
        assert [lb.id for lb in db.labels()] == [lid]
        assert db.run_question("main") is None
        db.set_run_question("main", "Which car merges more politely?", "Gaps of 2 s are polite.")
        task = db.run_question("main")
        assert task is not None and task.question.startswith("Which car")
        assert db.trainer_status("main").source == "activity"


def _two_clips(db: PreferenceDB) -> tuple[str, str]:
    from rlhf_sandbox.store.db import ClipRow, utc_now

    rows = [
        ClipRow(c, "main", "0" * 32 + ".npz", "E-v0", {}, 0, 0, 0, 15.0, 5.0, 2, utc_now())
        for c in ("a", "b")
    ]
    db.add_clips(rows)
    return ("a", "b")


def test_queue_and_raters_on_a_shared_store(tmp_path: Path, store_url: str) -> None:
    """`queue --store URL` and `raters --store URL` work on either backend, no run folder."""
    src = _filled_sqlite(tmp_path / "a" / "prefs.sqlite")
    src.db.close()
    if store_url.startswith("postgresql"):
        _ok(["store", "copy", f"sqlite:///{tmp_path}/a/prefs.sqlite", store_url])
    else:
        store_url = f"sqlite:///{tmp_path}/a/prefs.sqlite"
    out = _ok(["queue", "--store", store_url, "--clips", "main", "--pairs", "3",
               "--raters-per-query", "2", "--query-run", "team"])  # fmt: skip
    assert "queued" in out and "rlhf@" not in out
    with PreferenceDB.open(store_url) as db:
        qs = db.queries("team")
        assert qs and {q.raters_wanted for q in qs} == {2}
        db.add_label(qs[0].id, "erin", "left")
    rep = json.loads(_ok(["raters", "--store", store_url, "--json"]))
    assert {r["rater"] for r in rep["raters"]} >= {"alice", "bob", "erin"}
    assert "give --run" in _error(["raters"])
