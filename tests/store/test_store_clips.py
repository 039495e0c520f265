"""Clip validation, chunk files and their round trips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.store.clips import Clip, ClipFileError, ClipStore
from rlhf_sandbox.store.db import PreferenceDB


def make_clip(t: int = 5, substeps: int = 3, *, use_frames: bool = False, **kw: Any) -> Clip:
    rng = np.random.default_rng(kw.pop("rng_seed", 0))
    s = t * substeps + 1
    args: dict[str, Any] = dict(
        run="r1",
        env_id="rlhf_sandbox/Highway-v0",
        config={"lanes": 3, "nested": {"a": [1, 2]}},
        seed=7,
        slot=2,
        start_step=40,
        fps=10.0 * substeps,
        policy_hz=10.0,
        obs=rng.standard_normal((t, 4, 2)).astype(np.float32),
        actions=rng.integers(0, 5, size=(t,)).astype(np.int64),
        rewards=rng.standard_normal(t).astype(np.float32),
        features={"speed": rng.standard_normal(t).astype(np.float32)},
    )
    if use_frames:
        args["frames"] = rng.integers(0, 256, size=(s, 6, 8, 3), dtype=np.uint8)
    else:
        args["states"] = {
            "x": rng.standard_normal((s, 3)),  # float64 kept
            "lane": rng.integers(0, 3, size=(s, 3)).astype(np.int16),
            "alive": rng.random((s, 3)) > 0.5,
        }
    args.update(kw)
    return Clip(**args)


@pytest.fixture
def store(tmp_path: Path):
    db = PreferenceDB(tmp_path / "prefs.db")
    yield ClipStore(tmp_path / "clips", db)
    db.close()


def assert_same(a: Clip, b: Clip) -> None:
    for name in ("id", "run", "env_id", "config", "seed", "slot", "start_step", "fps"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.policy_hz == b.policy_hz
    for name in ("obs", "actions", "rewards", "frames"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
            continue
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    for name in ("features", "states"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
            continue
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), (name, k)


def test_store_round_trip_states_and_frames(store: ClipStore) -> None:
    clips = [make_clip(), make_clip(use_frames=True, rng_seed=1), make_clip(t=1, substeps=1)]
    ids = store.add(clips)
    assert ids == [c.id for c in clips]
    assert len(list((store.root / "chunks").glob("*.npz"))) == 1  # one chunk per add
    for c in clips:
        assert_same(c, store.get(c.id))
    other = make_clip(run="r2", rng_seed=3)
    store.add([other])
    assert store.ids() == [*ids, other.id]
    assert store.ids("r2") == [other.id]
    assert clips[0].duration_s == pytest.approx(0.5)
    assert clips[0].substeps == 3 and clips[0].T == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"obs": np.zeros((5, 4), np.float64)}, "obs"),
        ({"actions": np.zeros(4)}, "actions"),
        ({"rewards": np.zeros(5, np.float64)}, "rewards"),
        ({"features": {"speed": np.zeros(4, np.float32)}}, "features"),
        ({"states": {"x": np.zeros((15, 3))}}, "states"),
        ({"frames": np.zeros((16, 6, 8, 3), np.uint8)}, "states / Clip.frames"),
        ({"fps": 0.0}, "fps"),
        ({"fps": 20.0}, "fps"),
        ({"config": {"f": object()}}, "config"),
        ({"actions": np.array([None] * 5, dtype=object)}, "actions"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_store_clip_validation_names_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"Clip\.{field}"):
        make_clip(**change)


def test_store_unknown_id_is_key_error(store: ClipStore) -> None:
    with pytest.raises(KeyError, match="nope"):
        store.get("nope")


def test_store_corrupt_or_missing_chunk(store: ClipStore) -> None:
    a, b = make_clip(), make_clip(rng_seed=2)
    store.add([a])
    store.add([b])
    chunk_a = store.db.get_clip(a.id).chunk
    path_a = store.root / "chunks" / chunk_a
    path_a.write_bytes(path_a.read_bytes()[:100])
    with pytest.raises(ClipFileError, match=chunk_a):
        store.get(a.id)
    path_b = store.root / "chunks" / store.db.get_clip(b.id).chunk
    path_b.unlink()
    with pytest.raises(ClipFileError, match=path_b.name):
        store.get(b.id)


def test_store_no_pickle(store: ClipStore) -> None:
    c = make_clip()
    store.add([c])
    path = store.root / "chunks" / store.db.get_clip(c.id).chunk
    arrays = dict(np.load(path))
    arrays[f"{c.id}/obs"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ClipFileError, match=path.name):
        store.get(c.id)


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rlhf_sandbox.store.clips import Clip, ClipStore
    from rlhf_sandbox.store.db import PreferenceDB

    root = sys.argv[1]
    store = ClipStore(root + "/clips", PreferenceDB(root + "/prefs.db"))
    rng = np.random.default_rng(0)
    t, s = 50, 201
    while True:
        c = Clip(run="r", env_id="e", config={}, seed=0, slot=0, start_step=0, fps=40.0,
                 policy_hz=10.0, obs=rng.random((t, 8), dtype=np.float32),
                 actions=np.zeros((t, 2), np.float32), rewards=np.zeros(t, np.float32),
                 frames=rng.integers(0, 256, (s, 48, 64, 3), dtype=np.uint8))
        print(store.add([c])[0], flush=True)
    """
)


def test_store_chunk_write_killed_leaves_only_complete_chunks(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    acked = [proc.stdout.readline().strip() for _ in range(2)]
    time.sleep(0.05)  # most likely inside the next (slow, incompressible) chunk write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = PreferenceDB(tmp_path / "prefs.db")
    store = ClipStore(tmp_path / "clips", db)
    ids = store.ids()
    assert set(acked) <= set(ids)
    for i in ids:
        store.get(i)  # every referenced chunk is complete
    for f in (tmp_path / "clips" / "chunks").glob("*.npz"):
        with np.load(f, allow_pickle=False) as z:  # no partial file under a chunk name
            assert z.files
    assert not store.sweep()  # temp files are young: maybe a write in progress
    store.sweep(older_than_s=0)
    assert not list((tmp_path / "clips" / "chunks").glob(".*.part"))
    assert store.ids() == ids
    db.close()


def test_store_sweep_orphans(store: ClipStore) -> None:
    c = make_clip()
    store.add([c])
    orphan = store.root / "chunks" / "0123.npz"
    np.savez(orphan, x=np.zeros(3))
    assert store.sweep(older_than_s=0) == []
    assert store.sweep(older_than_s=0, delete_orphans=True) == [orphan]
    assert_same(c, store.get(c.id))
