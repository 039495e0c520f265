"""Clips stored before critical events existed (a run folder of commit 7cb5fe5) still
replay (issue 21): every frame draws, and the world re-simulates each clip to its stored
states, now that the world has the event machinery."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.envs.replay import render_clip
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "run_7cb5fe5"


def test_old_clips_draw_and_re_simulate(tmp_path: Path) -> None:
    run = tmp_path / "old"
    shutil.copytree(FIXTURE, run)
    folder = RunFolder(run)
    with PreferenceDB(folder.db) as db:
        store = ClipStore(folder.store_dir, db)
        ids = store.ids()
        assert ids
        for clip_id in ids[:3]:
            clip = store.get(clip_id)
            assert clip.states is not None
            assert not any(k.startswith("ev_") for k in clip.states)  # stored before events
            frames = render_clip(clip)
            assert frames.shape[0] == clip.T * clip.substeps + 1 and frames.std() > 0
            config = build_config(
                DrivingConfig, None,
                **{k: tuple(v) if isinstance(v, list) else v for k, v in clip.config.items()},
            )  # fmt: skip
            start = {k: v[0] for k, v in clip.states.items()}
            again = DrivingCore(config, 1).replay(start, clip.actions)
            for k in ("x", "y", "speed", "lane", "crashed"):
                np.testing.assert_allclose(again[k], clip.states[k], atol=1e-6, err_msg=k)
