"""bench/gpu.sh: its CPU path runs end to end (the CUDA path is the same code on a GPU)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_script_cpu_path_runs() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu.sh"), "cpu", "--ppo-steps", "1024", "--pairs", "64"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["device"] == "cpu"
    assert row["fit_seconds"] > 0 and row["ppo_timesteps_per_s"] > 50
    assert 0.0 <= row["heldout_accuracy"] <= 1.0
