"""Sweeps: the sweep file's checks, and sweeps of tiny runs on a local Ray."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.sweep.config import SweepConfigError, load_sweep, parse_sweep
from rlhf_sandbox.agents.sweep.run import run_sweep
from rlhf_sandbox.cli import app

# A run of ~3 s once a worker is warm: 2 rollouts of 4 envs x 64 steps, a few labels.
BASE = """
[sweep]
eval_episodes = 2
gif = false

[base]
env_id = "rlhf_sandbox/Highway-v0"
env_kwargs = { policy_hz = 5, duration = 8.0, vehicles = 12, lanes = 3 }
labels = 6
timesteps = 512
clip_seconds = 1.0
ppo = { n_envs = 4, n_steps = 64, batch_size = 128, n_epochs = 1, net_arch = [16, 16] }
reward_model = { hidden = [16, 16], max_epochs = 5 }
"""


def _write(tmp_path: Path, grid: str, base: str = BASE) -> Path:
    p = tmp_path / "sweep.toml"
    p.write_text(base + "\n[grid]\n" + grid)
    return p


def test_grid_makes_every_combination_with_its_settings(tmp_path: Path) -> None:
    grid = 'seeds = [0, 1]\nteacher = ["courteous", "courteous:mistake"]\nppo.n_steps = [64, 128]\n'
    plan = load_sweep(_write(tmp_path, grid))
    assert len(plan.runs) == 8 and plan.keys == ("seeds", "teacher", "ppo.n_steps")
    run = plan.runs[-1]
    assert run.run_id == "seed=1_teacher=courteous-mistake_ppo.n_steps=128"
    s = run.settings
    assert (s.seed, s.ppo.seed, s.teacher, s.rater, s.ppo.n_steps) == (
        1,
        1,
        "courteous",
        "mistake",
        128,
    )
    assert s.ppo.n_envs == 4 and s.env_kwargs["vehicles"] == 12  # the base is kept
    assert len({r.run_id for r in plan.runs}) == 8


def test_env_kwargs_and_rater_overrides_are_swept_by_dotted_keys(tmp_path: Path) -> None:
    grid = "env_kwargs.vehicles = [8, 16]\nrater_overrides.beta = [1.0]\n"
    plan = load_sweep(_write(tmp_path, grid))
    assert [r.settings.env_kwargs["vehicles"] for r in plan.runs] == [8, 16]
    assert all(r.settings.env_kwargs["lanes"] == 3 for r in plan.runs)
    assert all(r.settings.rater_overrides == {"beta": 1.0} for r in plan.runs)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[grids]\nlabels = [1]\n", "unknown table 'grids'"),
        ("[grid]\nlabelz = [1]\n", "[grid] labelz: unknown key"),
        ("[grid]\nppo.n_stepz = [1]\n", "known in ppo:"),
        ("[grid]\nlabels = 5\n", "[grid] labels must be a non-empty list"),
        ("[grid]\nlabels = []\n", "[grid] labels must be a non-empty list"),
        ("[grid]\nlabels = [4, 4]\n", "values must be distinct"),
        ("[grid]\nseed = [0, 1]\n", "seeds = [...]"),
        ("[grid]\nseeds = [-1]\n", "integers >= 0"),
        ("[grid]\nlabels = [-3]\n", "RLHFSettings.labels must be >= 0, got -3"),
        ('[grid]\nlabels = ["5"]\n', "RLHFSettings.labels must be int, got '5'"),
        ("[grid]\nclip_seconds = [true]\n", "clip_seconds must be float, got True"),
        ('[grid]\nteacher = ["courteous:grumpy"]\n', "unknown rater preset 'grumpy'"),
        ('[grid]\nteacher = ["human"]\n', "synthetic teachers only"),
        ('[grid]\nteacher = ["companion"]\n', "reads arena features"),
        ("[sweep]\nepisodes = 3\n", "[sweep] unknown key 'episodes'"),
        ("[sweep]\neval_episodes = 0\n", "eval_episodes must be an integer >= 1"),
        ('[sweep]\ngif = "no"\n', "gif must be true or false"),
        ('[grid]\nteacher = ["courteous", "courteous:perfect"]\n', "are the same"),
    ],
)
def test_bad_sweep_files_name_the_problem(text: str, fragment: str) -> None:
    import tomllib

    base = tomllib.loads(BASE)
    extra = tomllib.loads(text)
    data: dict[str, Any] = {**base, **extra, "sweep": {**base["sweep"], **extra.get("sweep", {})}}
    with pytest.raises(SweepConfigError) as e:
        parse_sweep(data, "s.toml")
    assert fragment in str(e.value) and str(e.value).startswith("s.toml")


@pytest.mark.parametrize(
    ("grid", "fragment"),
    [
        ("labelz = [1]\n", "unknown key"),
        ("env_kwargs.lanez = [2]\n", "lanez"),  # only the env knows: built once per env
        ("labels = [1, 1]\n", "distinct"),
    ],
)
def test_cli_refuses_a_bad_sweep_in_one_line(tmp_path: Path, grid: str, fragment: str) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["sweep", "--config", str(_write(tmp_path, grid)), "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0]
    assert not out.exists()


def test_cli_refuses_a_missing_file_and_an_existing_out(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sweep", "--config", str(tmp_path / "no.toml")])
    assert res.exit_code == 2 and "sweep file not found" in res.stderr
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    res = CliRunner().invoke(
        app, ["sweep", "--config", str(_write(tmp_path, "labels = [2]\n")), "--out", str(out)]
    )
    assert res.exit_code == 2 and "pass --resume" in res.stderr


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # ~30 s on 2 shared cores: two Ray workers start and import torch
def test_a_sweep_of_four_tiny_runs_on_local_ray(ray_local: None, tmp_path: Path) -> None:
    out = tmp_path / "sweeps" / "tiny"
    config = _write(tmp_path, "seeds = [0, 1]\nlabels = [4, 8]\n")
    res = CliRunner().invoke(app, ["sweep", "--config", str(config), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 of 4 runs ok" in res.stdout
    rows = _csv(out / "summary.csv")
    assert [r["run_id"] for r in rows] == [
        "seed=0_labels=4",
        "seed=0_labels=8",
        "seed=1_labels=4",
        "seed=1_labels=8",
    ]
    for r in rows:
        run = out / "runs" / r["run_id"]
        report = json.loads((run / "report" / "report.json").read_text())
        assert r["status"] == "ok" and r["error"] == ""
        assert float(r["oracle_return"]) == pytest.approx(report["scores"]["rlhf"]["oracle_return"])
        assert int(r["labels_given"]) == int(r["labels"])  # the perfect rater answers each query
        assert (run / "report" / "report.md").is_file() and (run / "policy.pt").is_file()
        settings = json.loads((run / "settings.json").read_text())
        assert (settings["seed"], settings["ppo"]["seed"], settings["labels"]) == (
            int(r["seed"]),
            int(r["seed"]),
            int(r["labels"]),
        )
        assert not (run / "checkpoint").exists()  # not sent back from the worker
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 4, "failed": 0, "pending": 0}
    assert (out / "summary.png").stat().st_size > 5_000
    md = (out / "summary.md").read_text()
    assert "[seed=1_labels=8](runs/seed=1_labels=8/report/report.md)" in md
    assert not list((out / "runs").glob(".*"))  # no temporary folders left


def test_a_failing_run_is_a_row_and_resume_skips_finished_runs(
    ray_local: None, tmp_path: Path
) -> None:
    # clips of 50 s do not fit rollouts of 64 steps at 5 Hz: that run fails when it starts
    plan = load_sweep(_write(tmp_path, "clip_seconds = [1.0, 50.0]\n"))
    out = tmp_path / "s"
    rows = run_sweep(plan, out)
    ok, bad = rows
    assert (ok.status, bad.status) == ("ok", "failed")
    assert bad.error is not None and "do not fit a rollout" in bad.error
    csv_rows = {r["run_id"]: r for r in _csv(out / "summary.csv")}
    assert csv_rows["clip_seconds=50.0"]["status"] == "failed"
    assert "do not fit a rollout" in csv_rows["clip_seconds=50.0"]["error"]
    assert csv_rows["clip_seconds=50.0"]["oracle_return"] == ""
    assert "failed: ValueError" in (out / "summary.md").read_text()
    result = json.loads((out / "runs" / "clip_seconds=50.0" / "result.json").read_text())
    assert "Traceback" in result["traceback"]

    done = out / "runs" / "clip_seconds=1.0" / "result.json"
    before = done.stat().st_mtime_ns
    started: list[str] = []
    again = run_sweep(plan, out, resume=True, on_start=lambda spec: started.append(spec.run_id))
    assert started == ["clip_seconds=50.0"]  # the finished run is skipped, the failed one retried
    assert done.stat().st_mtime_ns == before
    assert [r.status for r in again] == ["ok", "failed"]

    other = load_sweep(
        _write(tmp_path, "clip_seconds = [1.0]\n", BASE.replace("labels = 6", "labels = 7"))
    )
    with pytest.raises(ValueError, match="was run with other settings"):
        run_sweep(other, out, resume=True)


def test_a_run_folder_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    from rlhf_sandbox.agents.sweep.run import SweepError, read_result, store_run

    spec = load_sweep(_write(tmp_path, "labels = [2]\n")).runs[0]
    out = tmp_path / "s"
    with pytest.raises(SweepError, match="outside its folder"):
        store_run(out, spec, {"status": "ok", "files": {"a.json": b"{}", "../../evil": b"x"}})
    assert list((out / "runs").iterdir()) == [] and not (tmp_path / "evil").exists()
    store_run(out, spec, {"status": "failed", "error": "boom", "files": {}})
    run = out / "runs" / spec.run_id
    assert json.loads((run / "settings.json").read_text())["labels"] == 2
    assert (read_result(out, spec.run_id) or {})["error"] == "boom"
    store_run(out, spec, {"status": "ok", "files": {"report/report.md": b"# hi"}})  # replaces it
    assert (read_result(out, spec.run_id) or {})["status"] == "ok"
    assert (run / "report" / "report.md").read_bytes() == b"# hi"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [spec.run_id]


def test_long_run_ids_are_cut_and_keep_apart() -> None:
    from rlhf_sandbox.agents.sweep.config import run_id

    a = run_id({"env_kwargs.vehicles": 10, "teacher": "courteous:mistake" + "x" * 120})
    b = run_id({"env_kwargs.vehicles": 10, "teacher": "courteous:mistake" + "x" * 121})
    assert len(a) <= 96 and a != b and ":" not in a


def test_a_plugin_teacher_workers_cannot_import_stops_the_sweep_before_it_starts(
    ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "only_here_teacher.py").write_text(
        "from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable\n"
        "FAST = oracle_from_callable(lambda f: f['speed'], name='fast', features=('speed',))\n"
    )
    monkeypatch.syspath_prepend(str(mine))  # the driver imports it; Ray's workers cannot
    out = tmp_path / "sweeps" / "plugin"
    config = _write(tmp_path, 'teacher = ["only_here_teacher:FAST"]\n')
    res = CliRunner().invoke(app, ["sweep", "--config", str(config), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot load teacher 'only_here_teacher:FAST'" in lines[0]
    assert "must import on every worker" in lines[0]
    assert not out.exists()
