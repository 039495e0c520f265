"""`train --question TEXT --rubric FILE`: what raters are asked, stored with the run before
its first clip; the trainer's heartbeat says when it has finished."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN

TINY = [
    "--env", "rlhf_sandbox/Highway-v0", "--teacher", "courteous", "--labels", "8",
    "--timesteps", "512", "--n-envs", "4", "--n-steps", "64", "--env-arg", "policy_hz=5",
    "--env-arg", "duration=8.0", "--clip-seconds", "1", "--no-report",
]  # fmt: skip


def test_question_and_rubric_are_stored_with_the_run(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Keep 2 s to the car ahead.\nA crash is worse than any slow drive.\n")
    out = tmp_path / "run"
    args = ["train", *TINY, "--out", str(out), "--question", "Which car drives better?"]
    r = CliRunner().invoke(app, [*args, "--rubric", str(rubric)])
    assert r.exit_code == 0, r.output
    with PreferenceDB(out / "store" / "prefs.sqlite") as db:
        task = db.run_question(RUN)
        assert task is not None and task.question == "Which car drives better?"
        assert task.rubric.startswith("Keep 2 s") and "crash" in task.rubric
        assert db.trainer_status(RUN).state == "finished"


def test_a_bad_rubric_or_question_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    binary = tmp_path / "rubric.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    for extra, fragment in (
        (["--rubric", str(tmp_path / "missing.txt")], "not found"),
        (["--rubric", str(binary)], "not UTF-8"),
        (["--question", "two\nlines"], "one line"),
    ):
        out = tmp_path / "run"
        r = CliRunner().invoke(app, ["train", *TINY, "--out", str(out), *extra])
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], lines
        assert not out.exists()
