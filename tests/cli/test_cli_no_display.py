"""Without a usable display, ``label`` and ``play`` stop at once with one ``Error:`` line:
SDL's silent off-screen fallback would run the app invisibly, holding claims other raters
cannot get, and ``play`` would store input it never received (issue 19, first part)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "run_7cb5fe5"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland")


def _run(args: list[str], display: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "DISPLAY",
                                                           "WAYLAND_DISPLAY")}  # fmt: skip
    if display is not None:
        env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, "-m", "rlhf_sandbox.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("display", [None, ":4242"])  # none at all; one nobody serves
def test_label_and_play_refuse_to_run_invisibly(tmp_path: Path, display: str | None) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    played = ["play", "Highway-v0", "--run", str(tmp_path / "played"), "--max-steps", "3"]
    for args in (["label", "--run", str(run), "--rater", "z"], played):
        r = _run(args, display, tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error: ")]
        assert len(errors) == 1 and "display" in errors[0], r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "played").exists()  # nothing stored that nobody played
