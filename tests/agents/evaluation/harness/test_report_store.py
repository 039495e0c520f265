"""``evaluate --store URL``: the episodes go to a shared store as clips, under the run
names NAME/policy and NAME/baseline (SQLite and, where a server is there, PostgreSQL)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.evaluation.harness import SuiteResult, write_report
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB


def test_episodes_go_to_the_shared_store(
    tmp_path: Path, store_url: str, smoke_runs: dict[str, SuiteResult]
) -> None:
    policy, base = smoke_runs["idm"], smoke_runs["random"]
    out = tmp_path / "reports" / "cmp"
    write_report(out, policy, base, store=store_url, n_boot=200)
    assert not (out / "store").exists() and (out / "report.md").is_file()
    with open(out / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    store = ClipStore.open(store_url)
    try:
        db = store.db
        assert [r.name for r in db.runs()] == ["cmp/policy", "cmp/baseline"]
        for name, run in (("policy", policy), ("baseline", base)):
            ids = db.clip_ids(f"cmp/{name}")
            assert len(ids) == len(run.episodes)
            assert sorted(ids) == sorted(r["clip_id"] for r in rows if r["policy"] == name)
        assert store.get(ids[0]).states  # replayable by the labelling app
        # the same name again: refused before anything is written
        with pytest.raises(ValueError, match="has run 'cmp/policy' already"):
            write_report(tmp_path / "again", policy, store=store_url, store_run="cmp", n_boot=200)
        assert not (tmp_path / "again").exists()
        assert len(db.clip_ids()) == len(policy.episodes) + len(base.episodes)
    finally:
        store.db.close()
    # raters queue them from the shared store
    result = CliRunner().invoke(
        app, ["queue", "--store", store_url, "--policies", "cmp/policy", "cmp/baseline",
              "--query-run", "cmp", "--pairs", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with PreferenceDB.open(store_url) as db:
        assert len(db.queries("cmp")) >= 3


def test_cli_store_run_taken_is_one_line_before_any_episode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/prefs.sqlite"
    with PreferenceDB.open(url) as db:
        db.add_run("e/policy")
    args = ["evaluate", "--policy", "idm", "--suite", "smoke", "--episodes", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e"), "--store", url])
    assert result.exit_code == 2 and result.output.count("Error:") == 1
    assert "has run 'e/policy' already" in result.output and "evaluate:" not in result.output
    assert not (tmp_path / "e").exists()
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "f"), "--store-run", "x"])
    assert result.exit_code == 2 and "go with --store" in result.output
