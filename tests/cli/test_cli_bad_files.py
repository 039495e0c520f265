"""Bad files and a failing machine (issue 18, part 2): a refused or corrupt policy, a store
of a future schema, a settings file that is not UTF-8 or has the wrong shape, a full disk.
One ``Error:`` line each: exit 2 for bad input, exit 1 for a failure of the machine."""

from __future__ import annotations

import errno
import json
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner, Result

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()
TINY = ["--env", "rlhf_sandbox/HighwayFast-v0", "--teacher", "courteous", "--n-envs", "2",
        "--n-steps", "16", "--timesteps", "128", "--labels", "6", "--no-report"]  # fmt: skip


def _one_line(r: Result, code: int) -> str:
    """The one ``Error:`` line (a command may have said what it started before it)."""
    assert r.exit_code == code, r.output
    errors = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in r.output, r.output
    return errors[0]


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("p") / "run"
    r = runner.invoke(app, ["train", *TINY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("damage", ["garbage", "pickled"])
def test_a_refused_or_corrupt_policy_is_one_line(
    policy_run: Path, tmp_path: Path, damage: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "policy.json").write_bytes((policy_run / "policy.json").read_bytes())
    if damage == "garbage":
        (run / "policy.pt").write_bytes(b"not a torch file")
    else:  # a pickled object, which weights_only refuses
        torch.save({"w": Fraction(1, 3)}, run / "policy.pt")
    args = ["evaluate", "--policy", str(run), "--suite", "smoke", "--episodes", "1"]
    line = _one_line(runner.invoke(app, [*args, "--out", str(tmp_path / "rep")]), 2)
    assert str(run / "policy.pt") in line
    assert not (tmp_path / "rep").exists()


def test_a_store_of_a_future_schema_is_one_line(policy_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "store").mkdir(parents=True)
    db = run / "store" / "prefs.sqlite"
    PreferenceDB(db).close()
    c = sqlite3.connect(db)
    c.execute("UPDATE schema_version SET version = 99")
    c.commit()
    c.close()
    for args in (["raters", "--run", str(run)], ["queue", "--run", str(run), "--demos"]):
        assert "schema version [99]" in _one_line(runner.invoke(app, args), 2)


def test_settings_files_name_the_file_and_the_field(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes('env_id = "caf\xe9"\n'.encode("latin-1"))
    line = _one_line(runner.invoke(app, ["train", "--config", str(latin), "--out", "x"]), 2)
    assert str(latin) in line and "UTF-8" in line
    shapes = tmp_path / "shape.toml"
    shapes.write_text('env_id = "rlhf_sandbox/HighwayFast-v0"\n[ppo]\nnet_arch = 5\n')
    line = _one_line(runner.invoke(app, ["train", "--config", str(shapes), "--out", "x"]), 2)
    assert "PPOSettings.net_arch" in line
    assert not (tmp_path / "x").exists() and not Path("x").exists()


def test_a_full_disk_is_one_line_and_the_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rlhf_sandbox import files

    out = tmp_path / "run"
    real = files._fsync
    seen: list[Path] = []

    def full(path: Path) -> None:
        seen.append(path)
        checkpointed = (out / "checkpoint" / "loop.json").exists()
        if checkpointed and "reward_models" in str(path):  # a write in the middle of training
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path)

    with monkeypatch.context() as m:
        m.setattr(files, "_fsync", full)
        line = _one_line(runner.invoke(app, ["train", *TINY, "--out", str(out)]), 1)
    assert "No space left on device" in line and str(out) in line
    state = json.loads((out / "checkpoint" / "loop.json").read_text())
    assert not state["done"]
    r = runner.invoke(app, ["train", "--resume", "--out", str(out), "--no-report"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "checkpoint" / "loop.json").read_text())["done"]


def test_a_full_sqlite_store_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlhf_sandbox.store import db_sqlite

    real_init = db_sqlite.SQLiteBackend.__init__

    def small(self: db_sqlite.SQLiteBackend, *args: object, **kw: object) -> None:
        real_init(self, *args, **kw)  # type: ignore[arg-type]
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # full after a little

    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(db_sqlite.SQLiteBackend, "__init__", small)
        line = _one_line(runner.invoke(app, ["train", *TINY, "--out", str(out)]), 1)
    assert "full" in line and str(out / "store" / "prefs.sqlite") in line
