"""The plug-in teacher of docs/ORACLES.md: the page shows the example file as it is, and
the example drives a run from its own folder, as the page says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "teachers" / "calm_driver.py"


def test_oracles_md_shows_the_example_file_verbatim() -> None:
    doc = (ROOT / "docs" / "ORACLES.md").read_text()
    assert EXAMPLE.read_text().strip() in doc


def test_the_example_teacher_drives_a_run_from_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "calm"
    args = [
        str(Path(sys.executable).parent / "rlhf-sandbox"), "train", "--env",
        "rlhf_sandbox/Highway-v0",
        "--teacher", "calm_driver:CALM:mistake", "--labels", "12", "--timesteps", "512",
        "--n-envs", "4", "--n-steps", "64", "--env-arg", "policy_hz=5", "--env-arg",
        "duration=8.0", "--clip-seconds", "1", "--no-report", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    env.pop("PYTHONPATH", None)  # the console script: found in the current folder, as said
    r = subprocess.run(args, cwd=EXAMPLE.parent, env=env, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads((out / "settings.json").read_text())["teacher"] == "calm_driver:CALM"
