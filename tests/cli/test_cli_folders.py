"""No command deletes or overwrites a folder it did not make: ``demo`` replaces only its
own earlier demo folder, ``ppo`` and ``evaluate`` replace only their own output and only
with ``--overwrite``; anything else is one ``Error:`` line and nothing touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()


def _error(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _users_folder(tmp_path: Path) -> Path:
    """A user's own folder that happens to hold a settings.json and a policy.pt."""
    d = tmp_path / "mine"
    d.mkdir()
    (d / "settings.json").write_text('{"my": "settings"}\n')
    (d / "policy.pt").write_bytes(b"my own policy")
    (d / "thesis.tex").write_text("\\chapter{Results}\n")
    return d


def _labelled_run(tmp_path: Path) -> Path:
    """A run folder of `train` with a person's label in its store."""
    d = tmp_path / "run"
    (d / "store").mkdir(parents=True)
    (d / "settings.json").write_text('{"env_id": "rlhf_sandbox/Highway-v0"}\n')
    with PreferenceDB(d / "store" / "prefs.sqlite") as db:
        db._write(
            lambda c, _: c.execute(
                "INSERT INTO runs (name, created, config) VALUES ('main', 'now', '{}')"
            )
        )
    return d


@pytest.mark.parametrize("make", [_users_folder, _labelled_run])
def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, make: object) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    before = _snapshot(folder)
    line = _error(["demo", "--out", str(folder), "--timesteps", "2048", "--labels", "8"])
    assert str(folder) in line and "demo" in line
    assert _snapshot(folder) == before


def test_demo_twice_in_a_row_replaces_its_own_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--timesteps", "2048", "--labels", "8"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (out / "policy.pt").write_bytes(b"stale")  # the second run must not keep the first's files
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert (out / "policy.pt").read_bytes() != b"stale"
    assert (out / "report" / "report.md").is_file()
    assert not list(tmp_path.glob(".*")), "a temporary folder left behind"


def test_ppo_refuses_a_users_folder_even_with_overwrite(tmp_path: Path) -> None:
    folder = _users_folder(tmp_path)
    before = _snapshot(folder)
    for extra in ([], ["--overwrite"]):
        line = _error(["ppo", "--timesteps", "64", "--out", str(folder), *extra])
        assert str(folder) in line
    assert _snapshot(folder) == before


def test_ppo_replaces_its_own_output_only_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ppo"
    args = ["ppo", "--timesteps", "2048", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    first = (out / "summary.json").read_bytes()
    assert "--overwrite" in _error(args)
    assert (out / "summary.json").read_bytes() == first
    again = runner.invoke(app, [*args, "--seed", "1", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "summary.json").read_text())["seed"] == 1
    assert not list(tmp_path.glob(".*")), "a temporary folder left behind"


EVAL = ["evaluate", "--policy", "idm", "--suite", "smoke", "--episodes", "1", "--worst", "0"]


@pytest.mark.parametrize("make", [_users_folder, _labelled_run])
def test_evaluate_overwrite_refuses_a_folder_it_did_not_make(tmp_path: Path, make: object) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    before = _snapshot(folder)
    line = _error([*EVAL, "--clips", "none", "--out", str(folder), "--overwrite"])
    assert str(folder) in line
    assert _snapshot(folder) == before


def test_evaluate_overwrite_replaces_its_own_report(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = [*EVAL, "--clips", "none", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert (out / "report.md").is_file()
    res = runner.invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file()


def test_an_empty_folder_is_as_good_as_a_new_one(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    res = runner.invoke(app, [*EVAL, "--clips", "none", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file()


def test_arena_train_refuses_a_users_folder_before_training(tmp_path: Path) -> None:
    folder = _users_folder(tmp_path)
    before = _snapshot(folder)
    for extra in ([], ["--overwrite"]):
        line = _error(["arena", "train", "--timesteps", "64", "--out", str(folder), *extra])
        assert str(folder) in line and "arena train" in line
    assert _snapshot(folder) == before


def test_train_refuses_a_folder_holding_a_policy_of_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "policy.pt").write_bytes(b"my own policy")
    line = _error(["train", "--env", "rlhf_sandbox/HighwayFast-v0", "--teacher", "courteous",
                   "--timesteps", "256", "--labels", "4", "--out", str(folder)])  # fmt: skip
    assert "policy.pt" in line
    assert sorted(p.name for p in folder.iterdir()) == ["policy.pt"]
