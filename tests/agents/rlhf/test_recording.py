"""RecordClips: segments stay inside one episode, clips replay what the env showed live."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.agents.rlhf.recording import ClipSource, RecordClips
from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.replay import clip_frame, render_clip
from rlhf_sandbox.envs.vector import core_of, make_vec_env
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB

HIGHWAY = "rlhf_sandbox/Highway-v0"
SMALL = {"policy_hz": 5, "duration": 6.0, "vehicles": 12, "lanes": 3}


def _recorder(n_envs: int = 3, capacity: int = 40, **kw: object) -> RecordClips:
    base = core_of(make_vec_env(HIGHWAY, n_envs, 0, **{**SMALL, **kw}))
    assert base is not None
    rec = RecordClips(base, capacity=capacity)
    rec.reset()
    return rec


def _source(rec: RecordClips) -> ClipSource:
    assert rec.base is not None
    core = rec.base.core
    return ClipSource("r", HIGHWAY, config_to_dict(core.config), core.policy_hz)  # type: ignore[attr-defined]


def test_segments_stay_inside_one_episode() -> None:
    rec = _recorder()
    rng = np.random.default_rng(0)
    for _ in range(70):  # wraps the ring; episodes of 30 steps end inside it
        rec.step(rng.integers(0, 5, size=3))
    seg = rec.segments(8, stride=4)
    assert len(seg.slot) > 10
    ending = 0
    for s, st in zip(seg.slot, seg.start, strict=True):
        w = (st + np.arange(8)) % rec.capacity
        assert not rec.done[w[:-1], s].any()  # an episode may end only on the last step
        assert np.all(np.diff(rec.ep_step[w, s]) == 1)  # consecutive steps of one episode
        ending += bool(rec.done[w[-1], s])
    assert ending > 0  # episode endings (time-outs, crashes) are kept


def test_clip_states_rerender_the_live_frames(tmp_path) -> None:
    rec = _recorder(n_envs=2)
    core = rec.base.core  # type: ignore[union-attr]
    w, h = core.render_size
    live = []
    actions = [3, 1, 0, 1, 2, 1]
    for a in actions:
        rec.step(np.array([a, 1]))
        live.append(core.render_slot(0, w, h))
    clip = rec.clip(0, int(rec.order()[0]), len(actions), _source(rec))
    assert clip.substeps == core.config.sim_hz // core.config.policy_hz
    assert clip.fps == core.config.sim_hz
    # store round trip, then the state after each policy step draws the live frame
    with PreferenceDB(tmp_path / "p.sqlite") as db:
        store = ClipStore(tmp_path, db)
        store.add([clip])
        back = store.get(clip.id)
    for t, frame in enumerate(live):
        again = clip_frame(back, (t + 1) * back.substeps)
        assert frame.std() > 5  # not blank
        np.testing.assert_array_equal(again, frame)
    frames = render_clip(back)
    assert frames.shape == (len(actions) * back.substeps + 1, h, w, 3)
    assert np.abs(np.diff(frames.astype(int), axis=0)).sum(axis=(1, 2, 3)).min() > 0  # moves


def test_clip_ending_in_a_crash_keeps_the_terminal_state() -> None:
    rec = _recorder(n_envs=4, capacity=60, vehicles=30, duration=12.0)
    for _ in range(60):
        rec.step(np.full(4, 3))  # always faster: crashes
    seg = rec.segments(5, stride=5)
    crash = [
        (s, st)
        for s, st in zip(seg.slot, seg.start, strict=True)
        if rec.features["collision"][(st + 4) % rec.capacity, s] > 0
    ]
    assert crash, "no crash in 60 steps of flat-out driving"
    s, st = crash[0]
    clip = rec.clip(int(s), int(st), 5, _source(rec))
    assert clip.features["collision"][-1] == 1.0
    assert clip.states is not None
    crashed = clip.states["crashed"][-1]
    assert crashed[0]  # the ego is shown crashed, not the next episode's start


def test_foreign_env_frames_or_none() -> None:
    venv = make_vec_env("Pendulum-v1", 2, 0, render_mode="rgb_array")
    rec = RecordClips(venv, capacity=20, frames=True)
    rec.reset()
    for _ in range(12):
        rec.step(np.zeros((2, 1), dtype=np.float32))
    src = ClipSource("r", "Pendulum-v1", {}, 30.0)
    seg = rec.segments(5)
    clip = rec.clip(int(seg.slot[0]), int(seg.start[0]), 5, src)
    assert clip.frames is not None and clip.frames.shape[0] == 6
    assert max(clip.frames.shape[1:3]) <= 160 and clip.frames.std() > 1
    plain = RecordClips(make_vec_env("Pendulum-v1", 2, 0), capacity=20)
    plain.reset()
    for _ in range(6):
        plain.step(np.zeros((2, 1), dtype=np.float32))
    c = plain.clip(0, int(plain.order()[0]), 5, src)
    assert c.frames is None and c.states is None and c.rewards.shape == (5,)
    with pytest.raises(ValueError, match="nothing to show"):
        clip_frame(c, 0)
