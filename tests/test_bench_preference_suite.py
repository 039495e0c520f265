"""bench/preference_suite.py: cell keys and filters, a killed grid that resumes, failed
cells, and a summary that never invents numbers for missing cells."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import preference_suite as ps  # noqa: E402
from oracle_levels import Task  # noqa: E402

# A tiny task of the resume test: Pendulum, 1,024 PPO steps, 10 labels, 2 evaluation episodes.
TINY = """
import sys
sys.path.insert(0, {bench!r})
import preference_suite as ps
from oracle_levels import Task
ppo = {{"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": (16, 16)}}
task = ps.SuiteTask(
    "tiny", Task("env", "Pendulum-v1", {{}}, 1024, 0.97, 2, ppo), "env", 0.5, None,
    level=-200.0, reward_model={{"hidden": (16, 16), "n_members": 1, "max_epochs": 2}},
)
grid = ps.Grid({{"tiny": task}}, raters=("perfect",), labels=10, seeds=(0, 1), curve_seeds=(0,))
sys.exit(ps.main(sys.argv[1:], grid))
"""


@pytest.fixture(scope="module")
def grid() -> ps.Grid:
    return ps.Grid(ps.suite_tasks())


def test_every_cell_key_parses_back_to_its_cell(grid: ps.Grid) -> None:
    cells = ps.grid_cells(grid, "all")
    keys = [c.key for c in cells]
    assert len(set(keys)) == len(keys)
    assert all(ps.parse_key(c.key) == c for c in cells)
    # required: 7 tasks x 3 raters x 5 seeds, imitation 2 x 3 x 5, PPO 7 x 5, random 7,
    # constants 5 x 3 (driving) + 9 x 2 (arena) + 3 (Acrobot); all: + curves 7 x 2 x 3
    assert len(ps.grid_cells(grid, "required")) == 105 + 30 + 35 + 7 + 36
    assert len(cells) == 213 + 42
    assert {c.kind for c in ps.grid_cells(grid, "refs")} == {"ppo", "random", "const"}
    assert ps.parse_key("highway__mistake20__500__s3") == ps.Cell(
        "highway", "rlhf", "mistake20", 500, 3
    )
    assert ps.parse_key("acrobot__imitation__perfect__500__s0").kind == "imitation"
    assert ps.parse_key("guard__const8") == ps.Cell("guard", "const", action=8)
    for bad in ("highway", "highway__perfect__500", "highway__nobody__500__s0",
                "highway__ppo__1", "highway__perfect__many__s0", "__random"):  # fmt: skip
        with pytest.raises(ValueError, match="cell key"):
            ps.parse_key(bad)


def test_filters_and_order(grid: ps.Grid) -> None:
    cells = ps.grid_cells(grid, "required", tasks=["guard", "pendulum"], seeds=[1])
    assert {c.task for c in cells} == {"guard", "pendulum"}
    assert {c.seed for c in cells if c.seed is not None} == {1}
    kinds = [c.kind for c in cells]  # PPO references first, then the other references
    assert kinds.index("random") > max(i for i, k in enumerate(kinds) if k == "ppo")
    assert min(i for i, k in enumerate(kinds) if k == "rlhf") > kinds.index("random")
    picked = ps.grid_cells(grid, "all", patterns=["guard__*__100__*", "pendulum__random"])
    assert [c.key for c in picked] == [
        "pendulum__random", "guard__perfect__100__s0", "guard__perfect__100__s1",
        "guard__perfect__100__s2",
    ]  # fmt: skip
    curves = ps.grid_cells(grid, "curves", tasks=["merge"])
    assert {c.labels for c in curves if c.kind == "rlhf"} == {100, 250}
    assert {c.rater for c in curves if c.kind == "rlhf"} == {"perfect"}
    assert {c.seed for c in curves if c.kind == "ppo"} == {0, 1, 2, 3, 4}  # R_PPO's seeds
    job = ps.job_of(ps.parse_key("merge__perfect__100__s2"), grid, Path("x"), 1.0)
    assert job.needs == ("merge__ppo__s2",)  # the RLHF cell's pool uses that policy


def test_tasks_match_their_envs_and_teachers(grid: ps.Grid) -> None:
    import gymnasium as gym

    import rlhf_sandbox  # noqa: F401
    from rlhf_sandbox.agents.teachers.oracles import get_oracle
    from rlhf_sandbox.agents.teachers.raters import rater_config
    from rlhf_sandbox.agents.teachers.teacher import resolve_oracle

    assert list(grid.tasks) == [
        "highway", "merge", "crossing", "companion", "guard", "pendulum", "acrobot"
    ]  # fmt: skip
    for task in grid.tasks.values():
        space = gym.make(task.base.env_id, **task.base.env_kwargs).action_space
        assert task.actions == (space.n if isinstance(space, gym.spaces.Discrete) else None)
    s = ps.rlhf_settings(grid.tasks["highway"], "mistake20", 500, 3)
    assert s.teacher_value.spec == "highway_oracle:HIGHWAY:mistake" and s.teacher_source
    assert resolve_oracle("highway_oracle:HIGHWAY") is get_oracle("highway")  # the plug-in
    highway = grid.tasks["highway"].base  # bench/oracle_levels.py's budget and PPO settings
    assert (s.seed, s.ppo.seed, s.timesteps) == (3, 3, highway.steps) and highway.steps > 0
    assert all(getattr(s.ppo, k) == v for k, v in highway.ppo.items())
    eps = {}
    for rater in ps.RATERS:
        s = ps.rlhf_settings(grid.tasks["pendulum"], rater, 500, 0)
        eps[rater] = rater_config(s.rater, **s.rater_overrides).eps_mistake
    assert eps == {"perfect": 0.0, "mistake10": 0.1, "mistake20": 0.2}
    # Acrobot explores first; a smoke run's budget scales it and keeps a rollout to learn from
    acro = grid.tasks["acrobot"]
    full = ps.rlhf_settings(acro, "perfect", 500, 0)
    assert full.explore_steps == ps.ACROBOT_EXPLORE and 0 < full.explore_rollouts < 20
    for scale in (0.01, 0.02, 0.1):
        s = ps.rlhf_settings(acro, "perfect", 500, 0, scale)
        assert s.explore_rollouts < s.iterations and s.explore_steps <= ps.ACROBOT_EXPLORE


def test_order_interval_and_imitation_rounds() -> None:
    assert ps.order_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, 0.75)
    lo, hi, cover = ps.order_interval([5, 1, 4, 2, 3])
    assert (lo, hi) == (1, 5) and math.isclose(cover, 1 - 2 / 32)
    lo, hi, cover = ps.order_interval(list(range(10)))
    assert (lo, hi) == (1, 8) and cover >= 0.9
    assert ps.imitation_rounds(49) == (6, 7)  # Pendulum: 49 rollouts = 7 rounds of 7
    n, k = ps.imitation_rounds(74)  # Acrobot: 74 rollouts
    assert abs((n + 1) * k - 74) <= 1


def _ok() -> dict:
    return {"R": 1.0}


def _boom() -> dict:
    raise ValueError("boom")


def _die() -> dict:
    os._exit(3)


def test_failed_cells_write_error_files_and_rerun_on_request(tmp_path: Path) -> None:
    jobs = [ps.Job("t__random", _ok), ps.Job("t__const0", _boom), ps.Job("t__const1", _die)]
    lines: list[str] = []
    states = ps.run_jobs(jobs, tmp_path, workers=2, echo=lines.append)
    assert states == {"t__random": "done", "t__const0": "failed", "t__const1": "failed"}
    assert json.loads((tmp_path / "t__random.json").read_text())["R"] == 1.0
    err = json.loads((tmp_path / "t__const0.error.json").read_text())
    assert err["error"] == "ValueError: boom" and "_boom" in err["traceback"]
    assert (
        "exited with code 3" in json.loads((tmp_path / "t__const1.error.json").read_text())["error"]
    )
    assert not (tmp_path / "t__const0.json").exists()
    assert len([ln for ln in lines if "ETA" in ln]) == 3
    before = (tmp_path / "t__random.json").stat().st_mtime_ns
    again = ps.run_jobs([ps.Job(j.key, _ok) for j in jobs], tmp_path, echo=lines.append)
    assert again["t__const0"] == "failed"  # failed cells wait for --retry-failed
    retry = ps.run_jobs([ps.Job(j.key, _ok) for j in jobs], tmp_path, retry_failed=True)
    assert set(retry.values()) == {"done"}
    assert not list(tmp_path.glob("*.error.json"))
    assert (tmp_path / "t__random.json").stat().st_mtime_ns == before  # done: never rerun
    done, failed = ps.load_cells(tmp_path)
    assert set(done) == {"t__random", "t__const0", "t__const1"} and not failed


def _alive(marker: str) -> list[int]:
    """Processes whose command line holds ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL, /proc")
def test_a_killed_grid_resumes_where_it_stopped(tmp_path: Path) -> None:
    script = tmp_path / "tiny_suite.py"
    script.write_text(TINY.format(bench=str(BENCH)))
    out = tmp_path / "cells"
    cmd = [sys.executable, str(script), "--out", str(out)]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not [p for p in out.glob("*.json") if not p.name.startswith(".")]:
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    for _ in range(100):  # its cells' processes die with it
        if not _alive(str(script)):
            break
        time.sleep(0.05)
    assert not _alive(str(script))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.json")}
    assert before and len(before) < 5

    listed = subprocess.run([*cmd, "--list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0
    assert f"{len(before)} done" in listed.stdout and f"{5 - len(before)} todo" in listed.stdout

    second = subprocess.run([*cmd, "--jobs", "2"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(before)} cells done already" in second.stdout
    assert f"{5 - len(before)} cells to run" in second.stdout
    for name, (mtime, data) in before.items():  # finished cells were not run again
        path = out / name
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, data)
    done_now, failed = ps.load_cells(out)
    assert not failed
    assert set(done_now) == {
        "tiny__ppo__s0", "tiny__ppo__s1", "tiny__random", "tiny__perfect__10__s0",
        "tiny__perfect__10__s1",
    }  # fmt: skip
    cell = done_now["tiny__perfect__10__s1"]
    assert cell["baseline"] == "reference cell"  # the PPO reference's policy in the pool
    assert cell["report_scores"]["oracle_ppo"] == done_now["tiny__ppo__s1"]["R"]
    assert cell["fidelity"]["pool_policies"] == ["rlhf", "random", "oracle_ppo"]
    assert cell["labels_asked"] == 10 and cell["env_steps"] == cell["ppo_steps"] == 1024
    third = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert third.returncode == 0 and "5 cells done already" in third.stdout


def _tiny_grid() -> ps.Grid:
    task = ps.SuiteTask(
        "tiny", Task("env", "Pendulum-v1", {}, 1000, 0.97, 2), "env", 1.0, None, level=-200.0
    )
    return ps.Grid({"tiny": task}, raters=("perfect",), labels=10, seeds=(0, 1, 2),
                   curve_labels=(5,), curve_seeds=(0, 1))  # fmt: skip


def _cell(out: Path, key: str, r: float, **extra: object) -> None:
    (out / f"{key}.json").write_text(json.dumps({"key": key, "R": r, **extra}))


def test_the_summary_never_invents_numbers_for_missing_cells(tmp_path: Path) -> None:
    grid = _tiny_grid()
    text, num = ps.summarise(grid, tmp_path)  # nothing run yet
    rows = [ln for ln in text.splitlines() if ln.startswith("| tiny |")]
    assert rows and all(not any(ch.isdigit() for ch in ln.split("|")[4]) for ln in rows[1:])
    assert num["rlhf"]["tiny__perfect"]["values"] == []
    assert "| tiny | perfect | 0/3 | missing, missing, missing | missing |" in text

    # an RLHF cell without references: its R, but no normalised score
    _cell(tmp_path, "tiny__perfect__10__s0", 5.0, fidelity={"pool": {"value": 0.8}})
    text, num = ps.summarise(grid, tmp_path)
    assert "R 5.00 (refs missing), missing, missing | refs missing |" in text
    assert num["rlhf"]["tiny__perfect"]["values"] == []

    # references, one more seed failed: 0.50 for seed 0, the rest named
    _cell(tmp_path, "tiny__random", 0.0)
    _cell(
        tmp_path,
        "tiny__ppo__s0",
        10.0,
        checkpoints=[{"share": 0.8, "R": 9.0}, {"share": 1.0, "R": 10.0}],
    )
    (tmp_path / "tiny__perfect__10__s1.error.json").write_text(json.dumps({"error": "E: x"}))
    (tmp_path / ".tiny__perfect__10__s2.json.abc.json").write_text("{")  # a killed write
    text, num = ps.summarise(grid, tmp_path)
    row = num["rlhf"]["tiny__perfect"]
    assert row["values"] == [0.5] and row["n"] == 1
    assert "| 0.50, failed, missing | 0.50 [0.50, 0.50] (0%) |" in text
    assert "incomplete (1/3, below so far)" in text
    assert "* `tiny__perfect__10__s1`: E: x" in text
    assert "10.00, missing, missing | 10.00 | n/a | >= -200 | PASS (1/3 seeds) | 0.10 |" in text
    assert num["refs"]["tiny"]["R_ppo_median"] == 10.0
    assert num["curves"]["tiny__5"]["median_text"] == "missing"
    paths = ps.plots(grid, num, tmp_path / "suite")
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
