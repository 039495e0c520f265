"""Run folders for the labelling app's tests: built once, copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.db import PreferenceDB


@pytest.fixture(scope="session")
def _driving_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic-teacher run on the highway: clips of world states, reward models."""
    from rlhf_sandbox.agents.policy.ppo import PPOSettings
    from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
    from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
    from rlhf_sandbox.agents.rlhf.settings import RLHFSettings

    s = RLHFSettings(
        env_id="rlhf_sandbox/Highway-v0",
        env_kwargs={"policy_hz": 5, "duration": 8.0, "vehicles": 12, "lanes": 3},
        labels=8, timesteps=512, clip_seconds=1.0, query_method="random",
        ppo=PPOSettings(n_envs=4, n_steps=64, batch_size=128, n_epochs=1, net_arch=(16,)),
        reward_model=RewardModelConfig(hidden=(16,), max_epochs=5),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("driving") / "run"
    loop = RLHFLoop(s, out)
    loop.train(progress=False)
    loop.close()
    return out


@pytest.fixture
def driving_run(_driving_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of the driving run (its queries all labelled by the synthetic teacher)."""
    return Path(shutil.copytree(_driving_run, tmp_path / "run"))


def frame_clips(run: str, n: int, t: int = 2, size: tuple[int, int] = (32, 18)) -> list[Clip]:
    """Clips of a foreign env: random coloured frames (``t + 1`` each), no states."""
    rng = np.random.default_rng(0)
    w, h = size
    return [
        Clip(
            run=run,
            env_id="Tiny-v0",
            config={},
            seed=0,
            slot=i,
            start_step=0,
            fps=10.0,
            policy_hz=10.0,
            obs=rng.normal(size=(t, 3)).astype(np.float32),
            actions=np.zeros(t, np.int64),
            rewards=np.zeros(t, np.float32),
            frames=rng.integers(0, 255, (t + 1, h, w, 3), dtype=np.uint8),
        )
        for i in range(n)
    ]


@pytest.fixture
def frames_run(tmp_path: Path) -> Callable[[int], tuple[Path, list[str]]]:
    """``make(n)``: a run folder holding ``n`` frame clips (no reward model); their ids."""

    def make(n: int) -> tuple[Path, list[str]]:
        out = tmp_path / "frames"
        with PreferenceDB(out / "store" / "prefs.sqlite") as db:
            db.add_run("main")
            ids = ClipStore(out / "store", db).add(frame_clips("main", n))
        return out, ids

    return make
