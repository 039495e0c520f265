"""``train``'s settings errors: one line naming what to give."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rlhf_sandbox.cli import app


def test_arena_v0_without_a_role_says_which_setting_to_give(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(
        app, ["train", "--env", "arena_v0", "--teacher", "env", "--out", str(out)]
    )
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "--env-arg role=ROLE" in lines[0] and "companion or guard" in lines[0]
    assert not out.exists()


def test_a_settings_file_naming_a_folder_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["train", "--config", str(tmp_path), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        f"Error: config file {tmp_path} is a folder"
    ]
