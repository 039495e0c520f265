"""bench/npc_suite.py: its tasks and cells, the runners it swaps into the preference suite's
jobs, a tiny grid run end to end on a PettingZoo game (policies kept, resumed without
rerunning), and a summary that never invents numbers for missing cells."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import npc_suite as ns  # noqa: E402
import preference_suite as ps  # noqa: E402
from oracle_levels import Task  # noqa: E402

from rlhf_sandbox.agents.rlhf.settings import label_schedule  # noqa: E402


@pytest.fixture(scope="module")
def grid() -> ps.Grid:
    return ns.npc_grid()


def test_tasks_and_cells(grid: ps.Grid) -> None:
    pytest.importorskip("mpe2", reason="mpe2 comes with the [bench] extra")
    from rlhf_sandbox.envs.vector import make_vec_env

    assert list(grid.tasks) == ["companion", "guard", "tag", "spread", "push"]
    pref = ps.suite_tasks()
    # the preference suite's companion, its RLHF cells exploring first, labels spread, fewer fits
    comp = grid.tasks["companion"]
    assert comp == dataclasses.replace(pref["companion"], rlhf=ns.COMPANION_RLHF)
    s = ps.rlhf_settings(comp, ns.RATER, ns.LABELS, 0)
    assert (s.explore_steps, s.initial_label_share, s.label_decay, s.refit_growth) == (
        51_200,
        0.1,
        0.0,
        0.25,
    )
    schedule = label_schedule(s)
    assert s.explore_rollouts == 25 and schedule[:25].sum() == 0 and schedule.sum() == 500
    assert schedule[25] == 50 and schedule[26:].max() - schedule[26:].min() <= 1  # even
    assert ps.rlhf_settings(pref["companion"], ns.RATER, ns.LABELS, 0).explore_steps == 0
    assert grid.tasks["guard"] == pref["guard"]
    steps = {k: t.base.steps for k, t in grid.tasks.items()}
    assert steps == {
        "companion": 500_000, "guard": 300_000, "tag": 200_000, "spread": 200_000, "push": 200_000
    }  # fmt: skip
    tag, spread, push = grid.tasks["tag"], grid.tasks["spread"], grid.tasks["push"]
    assert (tag.base.env_id, tag.teacher) == ("mpe2:simple_tag_v3", "env")
    assert (spread.base.env_id, spread.teacher) == ("mpe2:simple_spread_v3", "env")
    assert (push.base.env_id, push.teacher) == ("mpe2:simple_push_v3", "env")
    # 5 copies x 3 adversaries, 5 x 3 agents, 16 x the one good agent (the adversary random)
    for task, slots in ((tag, 15), (spread, 15), (push, 16)):
        venv = make_vec_env(task.base.env_id, 16, 0, **task.base.env_kwargs)
        try:
            assert venv.num_envs == slots
            assert venv.action_space.n == task.actions == 5
        finally:
            venv.close()
    s = ps.rlhf_settings(tag, ns.RATER, ns.LABELS, 2)
    assert (s.seed, s.labels, s.timesteps, s.env_kwargs["role"]) == (2, 500, 200_000, "adversary")
    assert ps.rlhf_settings(push, ns.RATER, ns.LABELS, 0).env_kwargs["role"] == "agent"

    cells = ps.grid_cells(grid, "required")
    keys = [c.key for c in cells]
    # rlhf, ppo, random, const
    assert len(set(keys)) == len(keys) == 25 + 25 + 5 + (9 + 9 + 5 + 5 + 5)
    assert {c.rater for c in cells if c.kind == "rlhf"} == {"perfect"}
    assert {c.labels for c in cells if c.kind == "rlhf"} == {500}
    assert {c.kind for c in cells[:25]} == {"ppo"}  # the references first
    assert "tag__perfect__500__s4" in keys and "guard__const8" in keys


def test_jobs_use_this_suites_runners(grid: ps.Grid) -> None:
    out = Path("x")
    job = ns.job_of(ps.parse_key("guard__perfect__500__s3"), grid, out, 1.0)
    assert job.fn is ns.run_rlhf and job.needs == ("guard__ppo__s3",)
    assert job.key == "guard__perfect__500__s3" and job.args[1].seed == 3
    assert ns.job_of(ps.parse_key("tag__random"), grid, out, 1.0).fn is ns.run_random
    for key in ("tag__ppo__s0", "companion__const4"):
        assert ns.job_of(ps.parse_key(key), grid, out, 1.0).fn is ps.run_reference
    assert ns.policy_path(out, "guard__perfect__500__s3") == out / "policies" / (
        "guard__perfect__500__s3.pt"
    )


def _tiny_grid() -> ps.Grid:
    """mpe2's simple_v3 (one agent walks to a landmark), 1,024 PPO steps, 10 labels."""
    ppo = {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": (16, 16)}
    task = ps.SuiteTask(
        "simple", Task("env", "mpe2:simple_v3", {}, 1024, 0.9, 2, ppo), "env", 1.0, 5,
        reward_model={"hidden": (16, 16), "n_members": 1, "max_epochs": 2},
    )  # fmt: skip
    return ps.Grid({"simple": task}, raters=("perfect",), labels=10, curve_labels=(),
                   seeds=(0,), curve_seeds=())  # fmt: skip


@pytest.mark.slow
def test_a_tiny_grid_on_a_pettingzoo_game_runs_keeps_policies_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mpe2", reason="mpe2 comes with the [bench] extra")
    from rlhf_sandbox.agents.policy.ppo import load_policy

    grid = _tiny_grid()
    out = tmp_path / "cells"
    keep = ["simple__ppo__s0", "simple__random", "simple__perfect__10__s0"]
    assert ns.main(["--out", str(out), "--cells", *keep], grid) == 0
    done, failed = ps.load_cells(out)
    assert set(done) == set(keep) and not failed
    cell = done["simple__perfect__10__s0"]
    assert cell["labels_asked"] == 10 and cell["baseline"] == "reference cell"
    assert cell["policy"] == "policies/simple__perfect__10__s0.pt"
    policy = load_policy(out / cell["policy"])  # the trained policy, kept
    assert policy.action_space.n == 5
    assert done["simple__random"]["episodes"] == 2  # a game's random reference
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    capsys.readouterr()
    assert ns.main(["--out", str(out), "--cells", *keep], grid) == 0
    assert "3 cells done already" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == before
    assert ns.main(["--out", str(out), "--list"], grid) == 0
    listed = capsys.readouterr().out
    assert "done   simple__perfect__10__s0" in listed and "todo   simple__const0" in listed


def _cell(out: Path, key: str, r: float, **extra: object) -> None:
    (out / f"{key}.json").write_text(json.dumps({"key": key, "R": r, **extra}))


def test_the_summary_never_invents_numbers(tmp_path: Path) -> None:
    grid = ns.npc_grid({"simple": _tiny_grid().tasks["simple"]})
    text, num = ns.summarise(grid, tmp_path)
    row = next(ln for ln in text.splitlines() if ln.startswith("| simple |"))
    assert "| missing, missing, missing, missing, missing | missing |" in row
    assert num["tasks"]["simple"]["verdict"] == "missing"
    _cell(tmp_path, "simple__random", 0.0)
    _cell(tmp_path, "simple__ppo__s0", 10.0)
    _cell(tmp_path, "simple__ppo__s1", 12.0)
    for seed, r in enumerate([9.0, 10.0, 7.0, 12.0]):
        _cell(tmp_path, f"simple__perfect__500__s{seed}", r)
    (tmp_path / "simple__perfect__500__s4.error.json").write_text(json.dumps({"error": "E: x"}))
    text, num = ns.summarise(grid, tmp_path)
    t = num["tasks"]["simple"]
    assert t["refs"]["R_ppo_median"] == 11.0
    assert t["rlhf"]["values"] == pytest.approx([9 / 11, 10 / 11, 7 / 11, 12 / 11])
    assert t["verdict"] == "incomplete (4/5, above so far)"  # median 0.86
    assert "0.82, 0.91, 0.64, 1.09, failed" in text
    assert "* `simple__perfect__500__s4`: E: x" in text
    _cell(tmp_path, "simple__perfect__500__s4", 0.0)
    _, num = ns.summarise(grid, tmp_path)
    assert num["tasks"]["simple"]["verdict"] == "PASS"  # median 9/11 = 0.82 >= 0.8
    _cell(tmp_path, "simple__perfect__500__s0", 0.0)
    _, num = ns.summarise(grid, tmp_path)
    assert num["tasks"]["simple"]["verdict"] == "FAIL"  # median 7/11 = 0.64 < 0.8
