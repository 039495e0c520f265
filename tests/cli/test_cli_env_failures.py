"""Failures that are not bad input: an env that returns NaN, a store holding a chunk that
cannot be read. One ``Error:`` line each, naming what failed; nothing half-written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from typer.testing import CliRunner, Result

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import Clip, ClipStore

runner = CliRunner()


class NanAfter40Env(gym.Env[np.ndarray, int]):
    """Fine for 39 steps, then a NaN in its observation."""

    metadata = {"render_fps": 4}
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        obs = np.full(3, 0.1 * action, np.float32)
        if self.t >= 40:
            obs[1] = np.nan
        return obs, float(action), False, self.t >= 60, {}


def _one_line(r: Result, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1, r.output
    assert "Traceback" not in r.output
    return lines[0]


def test_a_nan_from_the_env_stops_the_run_naming_env_slot_and_step(tmp_path: Path) -> None:
    if "NanAfter40-v0" not in gym.registry:
        gym.register("NanAfter40-v0", entry_point=NanAfter40Env)
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--env", "NanAfter40-v0", "--teacher", "env", "--n-envs",
                            "2", "--n-steps", "16", "--timesteps", "256", "--labels", "8",
                            "--clip-seconds", "1", "--no-report", "--out", str(out)])  # fmt: skip
    line = _one_line(r, 1)
    assert "NanAfter40-v0" in line and "slot 0" in line and "step 40" in line
    state = json.loads((out / "checkpoint" / "loop.json").read_text())  # still resumable
    assert 0 < state["num_timesteps"] < 256 and not state["done"]


def _store_with_a_bad_chunk(tmp_path: Path) -> tuple[str, str]:
    rng = np.random.default_rng(0)

    def clip(seed: int) -> Clip:
        return Clip(
            run="main", env_id="e", config={}, seed=seed, slot=0, start_step=0, fps=5.0,
            policy_hz=5.0, obs=rng.normal(size=(4, 3)).astype(np.float32),
            actions=np.zeros(4), rewards=np.zeros(4, np.float32),
        )  # fmt: skip

    store = ClipStore.open(f"sqlite:///{tmp_path}/a/prefs.sqlite")
    good, bad = store.add([clip(1)])[0], store.add([clip(2)])[0]
    store.db.add_query("main", good, bad)
    store.db.add_rating(bad, "ann", score=3)
    chunk = store.db.get_clip(bad).chunk
    store.db.close()
    (tmp_path / "a" / "chunks" / chunk).write_bytes(b"garbage, not a zip")
    return good, bad


def test_store_copy_refuses_an_unreadable_chunk(tmp_path: Path) -> None:
    _, bad = _store_with_a_bad_chunk(tmp_path)
    src, dst = f"sqlite:///{tmp_path}/a/prefs.sqlite", tmp_path / "b" / "prefs.sqlite"
    line = _one_line(runner.invoke(app, ["store", "copy", src, str(dst)]), 2)
    assert bad in line and "--skip-unreadable" in line
    assert not dst.exists()


def test_store_copy_can_skip_unreadable_chunks_and_says_what(tmp_path: Path) -> None:
    good, bad = _store_with_a_bad_chunk(tmp_path)
    src, dst = f"sqlite:///{tmp_path}/a/prefs.sqlite", tmp_path / "b" / "prefs.sqlite"
    r = runner.invoke(app, ["store", "copy", src, str(dst), "--skip-unreadable"])
    assert r.exit_code == 0, r.output
    assert bad in r.output and "skipped" in r.output
    c = sqlite3.connect(dst)
    assert [row[0] for row in c.execute("SELECT id FROM clips")] == [good]
    assert c.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 0  # it named the bad clip
    assert c.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0
    c.close()
    ok = runner.invoke(app, ["store", "verify", str(dst)])
    assert ok.exit_code == 0, ok.output


def test_training_says_when_it_skipped_unreadable_clips(tmp_path: Path) -> None:
    """An old run folder (tests/data) resumed after one of its chunk files was damaged."""
    import shutil

    run = tmp_path / "old"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "run_7cb5fe5", run)
    chunk = sorted((run / "store" / "chunks").iterdir())[0]
    chunk.write_bytes(b"damaged")
    r = runner.invoke(app, ["train", "--resume", "--out", str(run), "--no-report"])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())  # the console wraps long lines
    assert "could not be read" in said and chunk.name in said.replace(" ", "")
