"""``train --store URL``: a run writes its rows to a shared store under its own run name
(SQLite and, where a server is there, PostgreSQL: the ``store_url`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder
from rlhf_sandbox.store.url import same_store, without_password

ENV = "rlhf_sandbox/Highway-v0"
KW = {"policy_hz": 5, "duration": 8.0, "vehicles": 12, "lanes": 3}
TINY = [
    "--env", ENV, "--teacher", "courteous", "--labels", "10", "--timesteps", "512",
    "--n-envs", "4", "--n-steps", "64", "--env-arg", "policy_hz=5", "--env-arg",
    "duration=8.0", "--clip-seconds", "1",
]  # fmt: skip


def _settings() -> RLHFSettings:
    return RLHFSettings(
        env_id=ENV, env_kwargs=KW, labels=8, timesteps=256, clip_seconds=1.0,
        ppo=PPOSettings(n_envs=4, n_steps=64, batch_size=128, n_epochs=1, net_arch=(16, 16)),
        reward_model=RewardModelConfig(hidden=(16, 16), max_epochs=5),
    )  # fmt: skip


def _train(out: Path, url: str, run: str | None = None) -> RLHFLoop:
    loop = RLHFLoop(_settings(), out, store=url, store_run=run)
    try:
        loop.train(progress=False)
    finally:
        loop.close()
    return loop


def test_cli_train_writes_to_the_shared_store(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "runs" / "hw"
    args = ["train", *TINY, "--out", str(out), "--store", store_url, "--no-baseline"]
    result = CliRunner().invoke(app, [*args, "--eval-episodes", "2"])
    assert result.exit_code == 0, result.output
    assert not (out / "store").exists()  # nothing in the run folder's own store
    assert (out / "settings.json").is_file() and (out / "policy.pt").is_file()
    assert list((out / "reward_models").glob("v*.pt"))
    saved = json.loads(RunFolder(out).store_file.read_text())
    assert saved["run"] == "hw" and saved["password"] is False
    assert same_store(saved["url"], store_url)
    with PreferenceDB.open(store_url) as db:
        assert [r.name for r in db.runs()] == ["hw"]
        assert len(db.queries("hw")) == 10 and db.label_count("hw") == 10
        assert len(db.clip_ids("hw")) >= 2
        assert [v.version for v in db.reward_models("hw")] == [1, 2]
    report = json.loads((out / "report" / "report.json").read_text())
    assert sum(report["labels"].values()) == 10
    assert len(report["reward_model_versions"]) == 2


def test_two_runs_share_one_store_without_colliding(tmp_path: Path, store_url: str) -> None:
    a = _train(tmp_path / "a", store_url)
    b = _train(tmp_path / "other" / "a", store_url, run="b")
    with PreferenceDB.open(store_url) as db:
        assert [r.name for r in db.runs()] == ["a", "b"]
        for loop in (a, b):
            assert len(db.queries(loop.run)) == 8 and db.label_count(loop.run) == 8
            assert loop.state.model_version >= 1
            assert len(db.reward_models(loop.run)) == loop.state.model_version
        assert not set(db.clip_ids("a")) & set(db.clip_ids("b"))
    # a third run named "a": one clear error, and nothing written in its folder
    with pytest.raises(ValueError, match="has a run 'a' already"):
        RLHFLoop(_settings(), tmp_path / "third" / "a", store=store_url)
    assert not (tmp_path / "third").exists()
    result = CliRunner().invoke(
        app,
        ["train", *TINY, "--out", str(tmp_path / "c"), "--store", store_url, "--store-run", "a"],
    )
    assert result.exit_code == 2 and result.output.count("Error:") == 1
    assert "has a run 'a' already" in result.output
    assert not (tmp_path / "c" / "settings.json").exists()


def test_resume_reconnects_to_the_same_store(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "r"
    first = _train(out, store_url, run="resumed")
    again = RLHFLoop(None, out, resume=True)  # the saved URL has no password: it is enough
    try:
        assert again.run == "resumed" and again.where.shared
        assert again.state.labels_asked == first.state.labels_asked == 8
        assert again.db.label_count("resumed") == 8
    finally:
        again.close()
    # the same store given again is accepted; another is refused, in one line
    RLHFLoop(None, out, resume=True, store=store_url).close()
    other = f"sqlite:///{tmp_path}/other.sqlite"
    with pytest.raises(ValueError, match="another store"):
        RLHFLoop(None, out, resume=True, store=other)
    result = CliRunner().invoke(app, ["train", "--out", str(out), "--resume", "--store", other])
    assert result.exit_code == 2 and "another store" in result.output
    with pytest.raises(ValueError, match="is run 'resumed'"):
        RLHFLoop(None, out, resume=True, store_run="x")


def test_a_password_is_never_written(tmp_path: Path) -> None:
    url = "postgresql://rlhf:s3cret@db.example:5433/team?sslmode=require&password=s3cret"
    clean, had = without_password(url)
    assert had and "s3cret" not in clean
    assert clean == "postgresql://rlhf@db.example:5433/team?sslmode=require"
    out = tmp_path / "run"
    out.mkdir()
    saved = {"url": clean, "password": True, "clips": None, "run": "hw"}
    RunFolder(out).store_file.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="needs its password: give --store URL again"):
        RunFolder(out).saved_store()
    assert RunFolder(out).saved_store(url).url == url  # given again: used, never saved
    with pytest.raises(ValueError, match="another store"):
        RunFolder(out).saved_store("postgresql://rlhf:s3cret@db.example:5433/other")


def test_store_options_need_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", *TINY, "--out", str(tmp_path / "x"), "--store-run", "hw"]
    )
    assert result.exit_code == 2 and "--store-run" in result.output
    assert not (tmp_path / "x").exists()
