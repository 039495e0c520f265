"""From the store's judgements to training pairs: orientation, ratings, thumbs, demos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlhf_sandbox.agents.feedback.pairs import preference_batch
from rlhf_sandbox.store.db import ClipRow, PreferenceDB, utc_now

T = 4
# each clip's observations hold its own number, so a pair can be read back from the batch
NUMBER = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "demo": 9.0, "fix": 8.0, "short": 7.0}


def arrays(clip_id: str) -> tuple[np.ndarray, np.ndarray]:
    t = 2 if clip_id == "short" else T
    return np.full((t, 1), NUMBER[clip_id], np.float32), np.zeros(t, np.int64)


def _row(cid: str) -> ClipRow:
    return ClipRow(
        id=cid, run="r", chunk="0" * 32 + ".npz", env_id="e", config={}, seed=0, slot=0,
        start_step=0, fps=1.0, policy_hz=1.0, T=T, created=utc_now(),
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path):
    d = PreferenceDB(tmp_path / "p.db")
    d.add_run("r")
    d.add_clips([_row(c) for c in NUMBER])
    yield d
    d.close()


def pairs_of(batch) -> set[tuple[float, float, float]]:
    return {
        (float(l_[0, 0]), float(r_[0, 0]), float(t))
        for l_, r_, t in zip(batch.obs_left, batch.obs_right, batch.target, strict=True)
    }


def test_labels_are_oriented_by_the_clip_shown_left(db: PreferenceDB) -> None:
    q1 = db.add_query("r", "a", "b")
    q2 = db.add_query("r", "c", "d")
    q3 = db.add_query("r", "a", "c")
    db.add_label(q1, "alice", "left")  # a shown left: a preferred
    db.add_label(q2, "alice", "left", shown_left="d")  # d shown left and chosen
    db.add_label(q3, "alice", "equal")
    db.add_label(q3, "bob", "cant_tell")  # a skip: trains nothing
    batch, counts = preference_batch(db, "r", arrays, T)
    assert batch is not None
    assert pairs_of(batch) == {(1.0, 2.0, 1.0), (3.0, 4.0, 0.0), (1.0, 3.0, 0.5)}
    assert counts.choices == {"left": 2, "equal": 1, "cant_tell": 1}


def test_ratings_thumbs_and_demonstrations_become_pairs(db: PreferenceDB) -> None:
    db.add_rating("a", "alice", score=2)
    db.add_rating("b", "alice", score=5)
    db.add_rating("c", "bob", score=2)  # a tie with a: no pair between them
    db.add_rating("d", "bob", thumb=1)
    db.add_rating("c", "carol", thumb=-1)
    db.add_demonstration("r", "demo", "dan")
    db.add_demonstration("r", "fix", "dan", kind="correction", replaces="b")
    db.add_demonstration("r", "short", "dan")  # wrong length: skipped
    batch, counts = preference_batch(db, "r", arrays, T)
    assert batch is not None
    got = pairs_of(batch)
    assert (2.0, 1.0, 1.0) in got or (2.0, 3.0, 1.0) in got  # b (5) over a lower score
    assert (1.0, 3.0, 1.0) not in got and (3.0, 1.0, 1.0) not in got
    assert (4.0, 3.0, 1.0) in got  # thumbs up over thumbs down
    assert (8.0, 2.0, 1.0) in got  # the correction over the clip it replaces
    demo_pairs = {p for p in got if p[0] == 9.0}
    assert demo_pairs and all(p[1] in (1.0, 2.0, 3.0, 4.0) for p in demo_pairs)
    assert counts.rating_pairs == 1 and counts.thumb_pairs == 1
    assert counts.demo_pairs >= 2 and counts.skipped >= 1
    assert np.all(batch.target == 1.0)


def test_nothing_to_learn_gives_none(db: PreferenceDB) -> None:
    q = db.add_query("r", "a", "b")
    db.add_label(q, "alice", "cant_tell")
    batch, counts = preference_batch(db, "r", arrays, T)
    assert batch is None and counts.choices["cant_tell"] == 1
