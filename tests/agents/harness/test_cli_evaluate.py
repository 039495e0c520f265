"""``rlhf-sandbox evaluate`` end to end, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.cli import app


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--policy", "idm", "--suite", "nope"], "unknown suite 'nope'"),
        (["--policy", "idm", "--baseline", "constant:JUMP"], "unknown action"),
        (["--policy", "idm", "--clips", "some"], "--clips must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["evaluate", *args, "--out", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0]
    assert not out.exists()


def test_bad_suite_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[scenario]]\nname = "x"\nenv = "rlhf_sandbox/Highway-v0"\nepisodes = -1\n')
    res = CliRunner().invoke(
        app, ["evaluate", "--policy", "idm", "--suite", str(bad), "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2 and "episodes must be an integer >= 1" in res.stderr


def test_evaluate_with_baseline_and_sb3_zip(
    sb3_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rep"
    args = ["evaluate", "--policy", str(sb3_model / "model.zip"), "--baseline", "idm"]
    args += ["--suite", str(tiny_suite), "--episodes", "2", "--worst", "1", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "report:" in res.stdout
    data = json.loads((out / "metrics.json").read_text())
    assert data["drivers"] == {"policy": "model", "baseline": "idm"}
    assert data["ab"]["overall"]["collision"]["paired"] is True
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.stderr
    assert CliRunner().invoke(app, [*args, "--overwrite"]).exit_code == 0
