"""The report's fidelity section end to end: a healthy run, a constant-reward env's
warnings, `report --run` on an existing folder, and the test queries no fit sees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.feedback.pairs import (
    labels_of_test_queries,
    preference_batch,
    queries_held_out,
)
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, build_settings
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN

HIGHWAY = [
    "--env", "rlhf_sandbox/Highway-v0", "--teacher", "courteous", "--labels", "80",
    "--timesteps", "4096", "--n-envs", "4", "--n-steps", "64", "--env-arg", "policy_hz=5",
    "--env-arg", "duration=8.0", "--env-arg", "vehicles=12", "--clip-seconds", "1",
    "--no-baseline", "--eval-episodes", "20", "--seed", "3",
]  # fmt: skip


@pytest.fixture(scope="module")
def highway_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fid") / "run"
    r = CliRunner().invoke(app, ["train", *HIGHWAY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_a_run_reports_how_far_to_trust_its_reward(highway_run: Path) -> None:
    rep = highway_run / "report"
    f = json.loads((rep / "report.json").read_text())["fidelity"]
    pool = f["pool"]
    assert pool["n_pairs"] == 2000 and f["pool_policies"] == ["rlhf", "random"]
    assert pool["counted"]["judged"] and pool["counted"]["n"] >= 30
    lo, value, hi = pool["counted"]["lo"], pool["counted"]["value"], pool["counted"]["hi"]
    assert lo <= value <= hi and lo > 0.55  # learned from 80 perfect labels: beats chance
    assert f["distance"]["plain"] is not None and f["segment_return_correlation"] > 0.1
    names = {row["name"] for row in f["features"]}
    assert {"speed", "collision", "headway"} <= names and not any(n[0] == "_" for n in names)
    held = f["heldout_labels"]
    assert held["test_share"] == 0.1 and held["n_labels"] >= 1
    assert not held["agreement"]["judged"]  # a handful of test labels: never a number
    assert held["agreement"]["text"].startswith("too few to judge")
    assert [p["version"] for p in f["curve"]] == sorted(p["version"] for p in f["curve"])
    assert len(f["curve"]) >= 2 and (rep / "fidelity.png").stat().st_size > 10_000
    md = (rep / "report.md").read_text()
    assert "## How far to trust the reward model" in md and "too few to judge" in md
    assert "![fidelity as labels grow](fidelity.png)" in md


def test_report_run_recomputes_the_report_of_an_existing_folder(
    highway_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(highway_run, copy)
    shutil.rmtree(copy / "report")
    r = CliRunner().invoke(app, ["report", "--run", str(copy), "--eval-episodes", "20"])
    assert r.exit_code == 0, r.output
    again = json.loads((copy / "report" / "report.json").read_text())["fidelity"]
    first = json.loads((highway_run / "report" / "report.json").read_text())["fidelity"]
    assert again["pool"] == first["pool"]  # the same seeds, the same pool, the same model
    assert (copy / "report" / "fidelity.png").is_file()


def test_report_run_refuses_a_folder_without_a_finished_run(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["report", "--run", str(tmp_path)])
    assert r.exit_code == 2 and "holds no run" in r.stderr
    assert not (tmp_path / "report").exists()


def test_a_constant_reward_env_warns_with_what_to_try(tmp_path: Path) -> None:
    out = tmp_path / "acrobot"
    args = [
        "train", "--env", "Acrobot-v1", "--teacher", "env", "--labels", "40",
        "--timesteps", "1024", "--n-envs", "4", "--n-steps", "128", "--clip-seconds", "2",
        "--no-baseline", "--eval-episodes", "3", "--out", str(out),
    ]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    codes = {w["code"] for w in json.loads((out / "report" / "report.json").read_text())[
        "fidelity"]["warnings"]}  # fmt: skip
    assert {"constant_step_reward", "labels_mostly_equal"} <= codes
    said = " ".join(r.output.split())
    assert "warning: the teacher's reward is the same at every step" in said and "Try:" in said
    assert "### Warnings" in (out / "report" / "report.md").read_text()


def test_no_warning_on_the_healthy_run(highway_run: Path) -> None:
    f = json.loads((highway_run / "report" / "report.json").read_text())["fidelity"]
    assert f["warnings"] == []


def test_test_queries_never_train_and_stay_test_queries_as_the_run_grows(
    highway_run: Path,
) -> None:
    with PreferenceDB(highway_run / "store" / "prefs.sqlite") as db:
        queries = db.queries(RUN)
        held = queries_held_out(queries, 0.1, seed=3)
        assert 0 < len(held) < len(queries) / 4
        rows = labels_of_test_queries(db, RUN, 0.1, seed=3)
        assert len(rows) == len(held)

        def arrays(clip: str) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros((5, 3), np.float32), np.zeros(5, np.int64)

        batch, counts = preference_batch(db, RUN, arrays, 5, test_share=0.1, seed=3)
        assert batch is not None and counts.test_labels == len(held)
        full, _ = preference_batch(db, RUN, arrays, 5)
        assert full is not None and full.n_pairs == batch.n_pairs + len(held)
    half = queries_held_out(queries[: len(queries) // 2], 0.1, seed=3)
    assert half == {q.id for q in queries[: len(queries) // 2]} & held  # a prefix keeps its own
    assert queries_held_out(queries, 0.1, seed=4) != held  # the seed picks them


def test_a_run_saved_before_test_queries_existed_keeps_none() -> None:
    s = build_settings({"env_id": "rlhf_sandbox/HighwayFast-v0"})
    old = s.to_json()
    del old["test_share"]
    assert RLHFSettings.saved(old).test_share == 0.0 and s.test_share == 0.1


def test_people_s_agreement_with_each_other_is_pooled_over_rater_pairs(
    highway_run: Path, tmp_path: Path
) -> None:
    from rlhf_sandbox.agents.rlhf.fidelity_report import raters_agreement
    from rlhf_sandbox.store.run_folder import RunFolder

    copy = tmp_path / "copy"
    shutil.copytree(highway_run, copy)
    clips = RunFolder(copy).open_store()
    try:
        assert raters_agreement(clips, RUN)["agreement"] is None  # one rater per query
        db = clips.db
        teacher = {lab.query: lab.choice for lab in db.labels(RUN)}
        decided = [q for q, c in teacher.items() if c in ("left", "right")][:10]
        flip = {"left": "right", "right": "left"}
        for k, q in enumerate(decided):
            db.add_label(q, "ann", teacher[q])
            db.add_label(q, "bob", flip[teacher[q]] if k < 2 else teacher[q])
        got = raters_agreement(clips, RUN)
    finally:
        clips.db.close()
    # pairs: ann-bob 8/10, ann-teacher 10/10, bob-teacher 8/10
    assert got["rater_pairs"] == 3 and got["shared_answers"] == 30
    assert got["agreement"]["value"] == pytest.approx(26 / 30)
