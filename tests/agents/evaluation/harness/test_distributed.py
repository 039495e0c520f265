"""``evaluate`` on Ray: the same episodes, metrics.json numbers and episodes.csv rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness import (
    DriverError,
    SuiteResult,
    load_suite,
    parse_driver,
    run_suite,
    write_report,
)
from rlhf_sandbox.agents.evaluation.harness.distributed import driver_source, run_suites_distributed
from rlhf_sandbox.agents.evaluation.harness.metrics import METRIC_KEYS


def _numbers(path: Path) -> dict[str, Any]:
    """metrics.json without what differs between any two runs: when and how long."""
    data = json.loads(path.read_text())
    del data["created"], data["wall_seconds"]
    return data


def _same_episodes(a: SuiteResult, b: SuiteResult) -> None:
    assert [(e.scenario, e.seed) for e in a.episodes] == [(e.scenario, e.seed) for e in b.episodes]
    for x, y in zip(a.episodes, b.episodes, strict=True):
        for k in METRIC_KEYS:  # bit for bit (NaN where undefined on both)
            assert np.array_equal(x.metrics[k], y.metrics[k], equal_nan=True), k
        assert np.array_equal(x.obs, y.obs) and np.array_equal(x.actions, y.actions)


def test_smoke_suite_on_ray_equals_the_single_process_report(
    ray_local: None, smoke_runs: dict[str, SuiteResult], tmp_path: Path
) -> None:
    suite = load_suite("smoke")
    ticks: list[tuple[int, int]] = []
    dist = run_suites_distributed(
        ["random", "idm"], suite, progress=lambda i, n: ticks.append((i, n))
    )
    assert sorted(ticks) == sorted((i, 8) for i in (0, 1) for _ in range(3))
    assert [r.driver for r in dist] == ["random", "idm"]
    _same_episodes(smoke_runs["random"], dist[0])
    _same_episodes(smoke_runs["idm"], dist[1])
    kw: dict[str, Any] = {"worst_k": 1, "clips": "none"}  # clip ids are random: left out
    write_report(tmp_path / "one", smoke_runs["random"], smoke_runs["idm"], **kw)
    write_report(tmp_path / "ray", dist[0], dist[1], **kw)
    assert _numbers(tmp_path / "one" / "metrics.json") == _numbers(
        tmp_path / "ray" / "metrics.json"
    )
    one_csv = (tmp_path / "one" / "episodes.csv").read_text()
    assert one_csv == (tmp_path / "ray" / "episodes.csv").read_text()
    assert len(one_csv.splitlines()) == 1 + 2 * suite.episodes


def test_a_run_folder_and_a_zip_travel_to_the_workers_as_bytes(
    ray_local: None, sb3_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    suite = load_suite(tiny_suite)
    specs = [str(sb3_model / "run"), str(sb3_model / "model.zip")]
    src = driver_source(specs[0])
    assert set(src.files) == {"policy.pt", "policy.json"} and src.name == "run"
    rebuilt = src.driver(tmp_path)
    assert rebuilt.name == "run" and rebuilt.kind == "run"
    dist = run_suites_distributed(specs, suite, n_envs=3)
    for spec, res in zip(specs, dist, strict=True):
        _same_episodes(run_suite(parse_driver(spec), suite, n_envs=3), res)


def test_a_driver_error_in_a_worker_is_raised_as_itself(
    ray_local: None, tiny_suite: Path, tmp_path: Path
) -> None:
    run = tmp_path / "broken"
    run.mkdir()
    (run / "policy.pt").write_bytes(b"not a state dict")
    (run / "policy.json").write_text("{}")
    with pytest.raises(DriverError, match="cannot load the policy"):
        run_suites_distributed([str(run)], load_suite(tiny_suite))


def _evaluate(out: Path, *extra: str) -> None:
    from typer.testing import CliRunner

    from rlhf_sandbox.cli import app

    args = ["evaluate", "--policy", "random", "--baseline", "idm", "--suite", "smoke"]
    args += ["--clips", "none", "--worst", "1", "--out", str(out), *extra]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output


def test_evaluate_ray_writes_the_report_of_the_single_process_run(
    ray_local: None, tmp_path: Path
) -> None:
    _evaluate(tmp_path / "one")
    _evaluate(tmp_path / "ray", "--ray")
    assert _numbers(tmp_path / "one" / "metrics.json") == _numbers(
        tmp_path / "ray" / "metrics.json"
    )
    for name in ("episodes.csv", "report.md"):
        one, ray = (tmp_path / d / name for d in ("one", "ray"))
        assert one.read_text() == ray.read_text(), name


def test_address_without_ray_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rlhf_sandbox.cli import app

    out = tmp_path / "r"
    args = ["evaluate", "--policy", "idm", "--address", "auto", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and res.stderr.startswith("Error: --address needs --ray")
    assert not out.exists()


@pytest.mark.parametrize(
    ("address", "fragment"),
    [("127.0.0.1:1", "cannot reach Ray at 127.0.0.1:1"), ("nowhere", "expected HOST:PORT")],
)
def test_an_unreachable_cluster_is_one_line_at_once(
    tmp_path: Path, address: str, fragment: str
) -> None:
    from typer.testing import CliRunner

    from rlhf_sandbox.cli import app

    pytest.importorskip("ray")
    out = tmp_path / "r"
    args = ["evaluate", "--policy", "idm", "--suite", "smoke", "--ray", "--address", address]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0]
    assert not out.exists()


def test_one_cpu_tasks_keep_the_world_serial(ray_local: None) -> None:
    import numba
    import ray

    from rlhf_sandbox.agents.evaluation.ray_connect import one_core_task
    from rlhf_sandbox.sim import threads

    def usable_in_task() -> bool:  # defined here: Ray ships it by value to the workers
        from rlhf_sandbox.agents.evaluation.ray_connect import one_core_task
        from rlhf_sandbox.sim import threads

        with one_core_task():
            return threads.threads_usable()

    many = numba.config.NUMBA_NUM_THREADS >= 2
    one = ray.remote(num_cpus=1)(usable_in_task)
    two = ray.remote(num_cpus=2)(usable_in_task)
    assert ray.get(one.remote()) is False  # numba's threads would take the other task's core
    assert ray.get(two.remote()) is many  # the default: threads where they pay
    with one_core_task():  # the driver process is not a task: nothing changes
        assert threads.threads_usable() is many
