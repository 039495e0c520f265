"""A run folder made at commit 7cb5fe5 (before the layout change) still resumes, evaluates
and labels: ``tests/data/run_7cb5fe5.md`` says how it was made, with that code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN, RunFolder

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "run_7cb5fe5"
runner = CliRunner()


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "old"
    shutil.copytree(FIXTURE, run)
    return run


def test_the_fixture_is_the_old_codes_half_done_run() -> None:
    state = json.loads(RunFolder(FIXTURE).loop_state.read_text())
    assert state["done"] is False and state["num_timesteps"] == 128
    assert json.loads(RunFolder(FIXTURE).settings.read_text())["timesteps"] == 256


def test_an_old_run_folder_resumes_to_its_budget(old_run: Path) -> None:
    r = runner.invoke(app, ["train", "--resume", "--out", str(old_run), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "(resumed)" in r.output and "courteous:perfect" in r.output
    folder = RunFolder(old_run)
    state = json.loads(folder.loop_state.read_text())
    assert state["done"] is True and state["num_timesteps"] >= 256
    with PreferenceDB(folder.db) as db:
        assert len(db.queries(RUN)) == 12  # the 3 labels left in the budget were asked
        assert {lab.rater for lab in db.labels(RUN)} == {"courteous:perfect"}
        assert len(db.reward_models(RUN)) == state["model_version"] > 4


def test_an_old_run_folder_evaluates(old_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["evaluate", "--policy", str(old_run), "--suite", "smoke", "--episodes", "1"]
    r = runner.invoke(app, [*args, "--worst", "0", "--clips", "none", "--out", str(out)])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["drivers"] == {"policy": "old"}


def test_an_old_run_folder_labels(old_run: Path) -> None:
    """The app opens the old store and rates one of its clips (a key press, headless)."""
    import pygame

    from rlhf_sandbox.feedback_ui.label_app import LabelApp

    app = LabelApp(old_run, rater="alice", mode="rate", seed=0)
    try:
        app.frame()
        app.run_until(app.ready, 30.0)
        code = pygame.key.key_code("4")
        for kind in (pygame.KEYDOWN, pygame.KEYUP):
            pygame.event.post(pygame.event.Event(kind, key=code, mod=0, unicode="", scancode=0))
        app.frame()
        app.run_until(app.ready, 30.0)
    finally:
        app.close()
    with PreferenceDB(RunFolder(old_run).db) as db:
        ratings = [r for r in db.ratings() if r.rater == "alice"]
    assert len(ratings) == 1 and ratings[0].score == 4
