"""A user's own teacher (``--teacher MODULE:ATTR``) through the CLI: a run, its resume, its
labels and report, ``evaluate --oracle``, and one clear error for each way it can be wrong.

The plug-in oracles below are defined in this test file; the runs import it by name."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.rlhf.run import open_run
from rlhf_sandbox.agents.rlhf.settings import build_settings
from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN

ENV = "rlhf_sandbox/Highway-v0"


def _calm(f: dict[str, np.ndarray]) -> np.ndarray:
    """Steady driving near 20 m/s; lane changes and collisions cost."""
    return 0.5 - np.abs(f["speed"] - 20.0) / 20.0 - f["lane_change"] - 5.0 * f["collision"]


CALM = oracle_from_callable(_calm, name="calm", features=("speed", "lane_change", "collision"))
STEPS = oracle_from_callable(lambda f: np.ones_like(f["speed"]), name="steps", features=("speed",))
NEEDS_WINGS = oracle_from_callable(lambda f: f["wings"], name="wings", features=("wings",))
NOT_AN_ORACLE = 42
SPEC = f"{__name__}:CALM"

TINY = [
    "--env", ENV, "--labels", "16", "--timesteps", "512", "--n-envs", "4", "--n-steps", "64",
    "--env-arg", "policy_hz=5", "--env-arg", "duration=8.0", "--env-arg", "vehicles=12",
    "--clip-seconds", "1", "--no-baseline", "--eval-episodes", "4",
]  # fmt: skip


def _labellers(out: Path) -> set[str]:
    with PreferenceDB(out / "store" / "prefs.sqlite") as db:
        return {lab.rater for lab in db.labels(RUN)}


def test_a_plugin_teacher_drives_a_run_and_is_named_on_labels_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--teacher", f"{SPEC}:mistake", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"teacher {SPEC}:mistake" in " ".join(r.output.split())
    saved = json.loads((out / "settings.json").read_text())
    assert saved["teacher"] == SPEC and saved["rater"] == "mistake"
    assert saved["teacher_source"] == hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    assert _labellers(out) == {f"{SPEC}:mistake"}
    assert f"teacher {SPEC}:mistake" in (out / "report" / "report.md").read_text()
    data = json.loads((out / "report" / "report.json").read_text())
    assert data["settings"]["teacher"] == SPEC
    # the report's oracle column is the plug-in's: the policy's return under CALM, not 0
    assert data["scores"]["rlhf"]["oracle_return"] is not None


def test_resume_uses_the_plugin_again_and_warns_when_its_source_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = tmp_path / "mine"
    mod.mkdir()
    src = mod / "my_calm_teacher.py"
    body = (
        "import numpy as np\n"
        "from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable\n"
        "CALM = oracle_from_callable(lambda f: -np.abs(f['speed'] - {v}), name='calm',"
        " features=('speed',))\n"
    )
    src.write_text(body.format(v=20.0))
    monkeypatch.syspath_prepend(str(mod))
    spec = "my_calm_teacher:CALM"
    settings = build_settings(
        None,
        {
            "env_id": ENV, "teacher": spec, "labels": 16, "timesteps": 512, "ppo.n_envs": 4,
            "ppo.n_steps": 64, "env_kwargs.policy_hz": 5, "env_kwargs.duration": 8.0,
            "env_kwargs.vehicles": 12, "clip_seconds": 1.0,
        },
    )  # fmt: skip
    out = tmp_path / "run"
    open_run(settings, out).close()  # killed before its first checkpoint: --resume restarts it
    src.write_text(body.format(v=25.0))
    sys.modules.pop("my_calm_teacher", None)
    r = CliRunner().invoke(
        app, ["train", "--resume", "--out", str(out), "--no-baseline", "--eval-episodes", "2"]
    )
    assert r.exit_code == 0, r.output
    assert "has changed since the run began" in " ".join(r.output.split())
    assert _labellers(out) == {f"{spec}:perfect"}  # not the built-in default
    assert f"teacher {spec}:perfect" in (out / "report" / "report.md").read_text()
    # the run keeps the hash it began with (the warning repeats on each resume)
    assert (
        json.loads((out / "settings.json").read_text())["teacher_source"]
        == hashlib.sha256(body.format(v=20.0).encode()).hexdigest()
    )


def test_evaluate_oracle_fills_the_oracle_column_with_the_plugin(
    tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "--policy", "idm", "--suite", str(tiny_suite), "--episodes", "2"]
    r = CliRunner().invoke(app, [*args, "--oracle", f"{__name__}:STEPS", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "metrics.json").read_text())["oracle"] == f"{__name__}:STEPS"
    rows = list(csv.DictReader((out / "episodes.csv").open()))
    assert rows and all(float(row["oracle_return"]) == int(row["steps"]) for row in rows)
    assert f"`{__name__}:STEPS` oracle" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("teacher", "fragment"),
    [
        ("no_such_module_here:CALM", "no module named 'no_such_module_here'"),
        (f"{__name__}:MISSING", "has no attribute 'MISSING'"),
        (f"{__name__}:NOT_AN_ORACLE", "not an oracle"),
        (f"{__name__}:NEEDS_WINGS", "reads feature 'wings'"),
        (f"{__name__}:CALM:grumpy", "unknown rater preset"),
        ("a:b:c:d", "give ORACLE[:RATER]"),
    ],
)
def test_a_bad_plugin_is_one_error_line_and_nothing_written(
    tmp_path: Path, teacher: str, fragment: str
) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", *TINY, "--teacher", teacher, "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize(
    ("oracle", "fragment"),
    [
        ("no_such_module_here:X", "no module named"),
        (f"{__name__}:NEEDS_WINGS", "reads feature 'wings'"),
        ("kind", "unknown oracle 'kind'"),
    ],
)
def test_evaluate_bad_oracle_is_one_line(tmp_path: Path, oracle: str, fragment: str) -> None:
    out = tmp_path / "eval"
    r = CliRunner().invoke(
        app, ["evaluate", "--policy", "idm", "--oracle", oracle, "--out", str(out)]
    )
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not out.exists()
