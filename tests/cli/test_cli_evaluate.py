"""``rlhf-sandbox evaluate`` end to end, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

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


def _one_line_error(res: Result, fragment: str) -> None:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines
    assert res.stdout == ""  # no header, no progress bar


def test_a_policy_that_cannot_act_fails_before_any_episode(
    sb3_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    """A corrupt policy.pt, a file that is not an SB3 zip, or a continuous constant action
    under meta-actions used to fail only once the run had started (header and progress bar
    printed, the torch message over several lines)."""
    bad_run = tmp_path / "corrupt"
    bad_run.mkdir()
    (bad_run / "policy.json").write_text((sb3_model / "run" / "policy.json").read_text())
    (bad_run / "policy.pt").write_bytes((sb3_model / "run" / "policy.pt").read_bytes()[:300])
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    for spec, fragment in (
        (str(bad_run), "cannot load the policy"),
        (str(junk), "not a stable-baselines3 model"),
        ("constant:1,2", "unknown action"),
    ):
        out = tmp_path / "r"
        args = ["evaluate", "--policy", "idm", "--baseline", spec, "--suite", str(tiny_suite)]
        res = CliRunner().invoke(app, [*args, "--out", str(out)])
        _one_line_error(res, fragment)
        assert "scenario 'highway'" in res.stderr
        assert not out.exists()


def test_out_below_a_file_is_one_line(tmp_path: Path) -> None:
    """--out under an existing file used to end in a FileExistsError traceback."""
    f = tmp_path / "file.txt"
    f.write_text("x")
    res = CliRunner().invoke(
        app, ["evaluate", "--policy", "idm", "--suite", "smoke", "--out", str(f / "a" / "b")]
    )
    _one_line_error(res, "is not a folder")


def test_evaluate_critical_suite_end_to_end(tmp_path: Path) -> None:
    """The shipped critical suite from the command line: events happen, collisions get
    their fault, every episode its score, the A/B table a verdict on the score, and the
    worst episodes (at-fault collisions first) their GIFs."""
    out = tmp_path / "crit"
    args = ["evaluate", "--policy", "constant:FASTER", "--baseline", "idm", "--suite", "critical"]
    res = CliRunner().invoke(app, [*args, "--episodes", "2", "--worst", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "metrics.json").read_text())
    assert data["suite"] == "critical" and len(data["scenarios"]) == 6
    assert all(s["overrides"]["events"] for s in data["scenarios"].values())
    rows = data["collisions"]["policy"]
    assert rows and {r["fault"] for r in rows} <= {"ego", "other", "shared"}
    assert "ego" in {r["fault"] for r in rows} and all(r["clip_id"] for r in rows)
    assert data["ab"]["overall"]["score"]["verdict"] == "worse"
    assert data["summary"]["baseline"]["overall"]["metrics"]["score"]["value"] > 0.9
    assert data["worst"][0]["fault"] == "ego"
    assert all((out / w["gif"]).is_file() for w in data["worst"])
    header = (out / "episodes.csv").read_text().splitlines()[0].split(",")
    assert {"score", "at_fault_collision", "fault", "fault_rule", "score_progress"} <= set(header)
    report = (out / "report.md").read_text()
    assert "## Collisions and fault" in report and "driving score" in report
