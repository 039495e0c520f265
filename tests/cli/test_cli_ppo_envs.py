"""The command line: ``ppo`` end to end on a tiny budget, ``envs``, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from typer.testing import CliRunner

from rlhf_sandbox.agents.evaluation.rollouts import evaluate, sb3_policy
from rlhf_sandbox.agents.policy.ppo import load_policy
from rlhf_sandbox.cli import app
from rlhf_sandbox.envs.ids import OUR_IDS
from rlhf_sandbox.files import MARKER

ENV = "rlhf_sandbox/HighwayFast-v0"
runner = CliRunner()


def test_ppo_writes_policy_gif_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["ppo", "--timesteps", "2048", "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "random" in result.output and "PPO" in result.output
    for name in ("policy.pt", "policy.json", "trained.gif", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    assert [p.name for p in out.glob(".*")] == [MARKER], "temporary files left behind"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_id"] == ENV and summary["timesteps"] == 2048
    assert len(summary["trained"]["returns"]) == len(summary["random"]["returns"]) == 20
    for r in (summary["trained"], summary["random"]):
        assert 0.0 <= r["mean"] <= 30.0

    k = summary["gif_seed"] - summary["eval_seed"]
    assert summary["gif_return"] == summary["trained"]["returns"][k]
    # Replays episode k, drawn at the 5 Hz simulation rate of a 1 Hz policy: 5 frames a step.
    assert summary["gif_frames"] == 5 * summary["trained"]["lengths"][k] + 1
    frames = iio.imread(out / "trained.gif", index=None)  # [T, H, W, 3]
    assert frames.ndim == 4 and frames.shape[0] > 1 and frames.shape[1:3] == (150, 600)
    assert all(f.std() > 10 for f in frames), "a blank frame"
    assert np.any(frames[0] != frames[-1]), "nothing moves"

    state = torch.load(out / "policy.pt", map_location="cpu", weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    # The saved policy replays the trained policy's evaluation exactly.
    policy = load_policy(out / "policy.pt", ENV)
    again = evaluate(sb3_policy(policy), ENV, 20, summary["eval_seed"])
    np.testing.assert_allclose(again.returns, summary["trained"]["returns"], rtol=1e-6)


def test_unknown_env_id_is_one_line_and_exit_code_2() -> None:
    result = runner.invoke(app, ["ppo", "--env", "Nope-v0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: unknown env id 'Nope-v0'; known: rlhf_sandbox/")


def test_console_entry_reports_bad_input_without_traceback() -> None:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf_sandbox.cli", "ppo", "--env", "Nope-v0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"Error: unknown env id 'Nope-v0'; known: {', '.join(OUR_IDS)}"
    ]


def test_envs_lists_every_id() -> None:
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0, result.output
    for env_id in OUR_IDS:
        assert env_id in result.output
    assert "lanes=3" in result.output  # HighwayFast-v0's own defaults are shown
