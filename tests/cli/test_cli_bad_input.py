"""Bad input is one ``Error:`` line, exit 2, checked before the first file is written; a
failure of the machine or of a file (a corrupt store) is one ``Error:`` line, exit 1,
naming the file. Inputs found by attacking 7cb5fe5 from outside (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rlhf_sandbox.cli import app

runner = CliRunner()
TINY = ["--env", "rlhf_sandbox/HighwayFast-v0", "--teacher", "courteous", "--n-envs", "2",
        "--n-steps", "16", "--timesteps", "64", "--labels", "4", "--no-report"]  # fmt: skip


def _one_line(r: Result, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--timesteps", str(10**23)], "timesteps"),
        (["--timesteps", str(2**63 - 1)], "timesteps"),
        (["--labels", str(10**12)], "labels"),
        (["--clip-seconds", "nan"], "clip_seconds"),
        (["--clip-seconds", "inf"], "clip_seconds"),
        (["--clip-seconds", "100"], "do not fit a rollout"),
        (["--human-wait", "nan"], "human_wait_s"),
        (["--beta", "nan"], "beta"),
        (["--eps-mistake", "2"], "eps_mistake"),
    ],
)
def test_bad_train_input_leaves_no_folder(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "run"
    line = _one_line(runner.invoke(app, ["train", *TINY, *args, "--out", str(out)]), 2)
    assert fragment in line
    assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_a_corrupt_store_is_one_line_naming_the_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "store").mkdir(parents=True)
    db = run / "store" / "prefs.sqlite"
    db.write_bytes(b"not a database, not at all" * 100)
    for args in (["raters", "--run", str(run)], ["queue", "--run", str(run), "--demos"],
                 ["label", "--run", str(run), "--rater", "ann"],
                 ["play", "Highway-v0", "--run", str(run), "--headless", "--max-steps", "1"],
                 ["store", "info", str(db)], ["store", "verify", str(db)],
                 ["store", "export", str(db), str(tmp_path / "x.jsonl")],
                 ["store", "copy", str(db), str(tmp_path / "copy.sqlite")]):  # fmt: skip
        line = _one_line(runner.invoke(app, args), 1)
        assert str(db) in line and "not a readable SQLite store" in line, args
    assert not (tmp_path / "copy.sqlite").exists() and not (tmp_path / "x.jsonl").exists()


def test_no_password_in_a_malformed_url_message() -> None:
    for url in ("postgresql://rlhf:s3cret@db:port/team", "postgresql://rlhf:s3cret@db:5x/team"):
        line = _one_line(runner.invoke(app, ["store", "info", url]), 2)
        assert "s3cret" not in line and "port" in line


def test_an_old_run_with_a_corrupt_store_does_not_resume_with_a_traceback(tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "old"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "run_7cb5fe5", run)
    (run / "store" / "prefs.sqlite").write_bytes(b"damaged" * 500)
    line = _one_line(runner.invoke(app, ["train", "--resume", "--out", str(run)]), 1)
    assert "not a readable SQLite store" in line


def test_out_of_memory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlhf_sandbox.agents.rlhf import loop

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(loop, "label_schedule", no_memory)
    line = _one_line(runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "r")]), 1)
    assert "out of memory" in line
