"""People judge fault (issue 21, part 4): an evaluation's collisions queued for rating with
the fault tags and question, and `raters` setting people's calls beside the rules'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.feedback.fault_calls import FAULT_TAGS, QUESTION, RULES
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "faster"
    args = ["evaluate", "--policy", "constant:FASTER", "--suite", "critical", "--episodes", "2"]
    r = CliRunner().invoke(app, [*args, "--worst", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_collisions_are_queued_for_rating_with_the_rules_verdicts(
    crashes: Path, tmp_path: Path
) -> None:
    judge = tmp_path / "judge"
    r = CliRunner().invoke(app, ["queue", "--run", str(judge), "--collisions", str(crashes)])
    assert r.exit_code == 0, r.output
    rows = [
        row
        for runs in json.loads((crashes / "metrics.json").read_text())["collisions"].values()
        for row in runs
    ]
    assert rows  # always FASTER runs into someone
    with PreferenceDB(judge / "store" / "prefs.sqlite") as db:
        assert db.run_question(RUN).question == QUESTION  # type: ignore[union-attr]
        assert set(db.unrated_clips(RUN, "ann", limit=1000)) == {row["clip_id"] for row in rows}
        rules = {x.clip: x.tags for x in db.ratings() if x.rater == RULES}
        assert rules == {row["clip_id"]: [FAULT_TAGS[row["fault"]]] for row in rows}
        # ann calls each as the rules do but the first; bob can't tell once
        clips = sorted(rules)
        other = {t: next(u for u in FAULT_TAGS.values() if u != t) for t in FAULT_TAGS.values()}
        for k, c in enumerate(clips):
            db.add_rating(c, "ann", tags=[other[rules[c][0]] if k == 0 else rules[c][0]])
        db.add_rating(clips[0], "bob", tags=["can't tell"])
    r = CliRunner().invoke(app, ["raters", "--run", str(judge), "--json"])
    assert r.exit_code == 0, r.output
    fault = {f["rater"]: f for f in json.loads(r.stdout)["fault"]}
    assert fault["ann"]["called"] == len(clips) and fault["ann"]["agree"] == len(clips) - 1
    assert fault["bob"]["called"] == 0 and fault["bob"]["cant_tell"] == 1
    table = CliRunner().invoke(app, ["raters", "--run", str(judge)])
    assert "fault calls against the rules" in table.stdout


def test_a_report_without_collision_clips_is_one_line_and_nothing_written(
    tmp_path: Path, tiny_suite: Path
) -> None:
    out = tmp_path / "idm"
    args = ["evaluate", "--policy", "idm", "--suite", str(tiny_suite), "--episodes", "1"]
    assert CliRunner().invoke(app, [*args, "--clips", "none", "--out", str(out)]).exit_code == 0
    judge = tmp_path / "judge"
    r = CliRunner().invoke(app, ["queue", "--run", str(judge), "--collisions", str(out)])
    assert r.exit_code == 2
    assert "no collision has a stored clip" in r.stderr and not judge.exists()
