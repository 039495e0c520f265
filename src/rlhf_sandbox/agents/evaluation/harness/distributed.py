"""A suite's scenarios spread over Ray workers, with the single-process results.

Each (driver, scenario) pair is one Ray task that calls the same
:func:`~rlhf_sandbox.agents.evaluation.harness.runner.run_scenario` the single-process run
calls, with the same scenario, seeds and ``n_envs``: the episodes, metrics, ``metrics.json``
numbers and ``episodes.csv`` rows are identical. Scenarios are not cut into episode chunks: a chunk
would play its seeds on fewer slots, which the core reproduces only to floating-point
closeness, not bit for bit.

A worker needs no shared filesystem: a policy given by file (an SB3 ``.zip`` or a run
folder's ``policy.pt``, ``policy.json`` and ``settings.json``) travels to it as bytes and
is rebuilt there from a temporary folder. A worker returns its scenario's episodes without
the batched core (replays build a one-slot core, as they do for a loaded result).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlhf_sandbox.agents.evaluation.harness.drivers import Driver, parse_driver
from rlhf_sandbox.agents.evaluation.harness.runner import (
    DEFAULT_N_ENVS,
    ScenarioResult,
    SuiteResult,
    run_scenario,
)
from rlhf_sandbox.agents.evaluation.harness.suites import Scenario, Suite
from rlhf_sandbox.store.run_folder import SETTINGS, RunFolder


@dataclass(frozen=True)
class DriverSource:
    """What a worker needs to rebuild a driver: its spec, or the files behind it as bytes."""

    spec: str  # a built-in spec, or the file name (in ``files``) to parse
    name: str  # the driver's name on the machine that asked
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def driver(self, folder: Path) -> Driver:
        """The driver, its files written into ``folder`` (which must outlive its use)."""
        if not self.files:
            return parse_driver(self.spec)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return dataclasses.replace(parse_driver(str(folder / self.spec)), name=self.name)


def driver_source(spec: str) -> DriverSource:
    """The source of the driver ``spec`` names (a DriverError if it names none)."""
    d = parse_driver(spec)
    path = Path(spec)
    if d.kind == "sb3":
        return DriverSource(path.name, d.name, {path.name: path.read_bytes()})
    if d.kind == "run":
        pt = RunFolder(path).policy if path.is_dir() else path
        files = {pt.name: pt.read_bytes(), f"{pt.stem}.json": pt.with_suffix(".json").read_bytes()}
        settings = RunFolder(pt.parent).settings
        if settings.is_file():
            files[SETTINGS] = settings.read_bytes()
        return DriverSource(pt.name, d.name, files)
    return DriverSource(spec, d.name)


def play_scenario(source: DriverSource, scenario: Scenario, n_envs: int) -> ScenarioResult:
    """One scenario with the driver of ``source`` (what a Ray worker runs)."""
    import torch

    from rlhf_sandbox.agents.evaluation.ray_connect import one_core_task

    torch.set_num_threads(1)  # as the single-process evaluate does
    with tempfile.TemporaryDirectory(prefix="rlhf-eval-") as tmp, one_core_task():
        res = run_scenario(source.driver(Path(tmp)), scenario, n_envs)
    return dataclasses.replace(res, core=None)


def run_suites_distributed(
    specs: list[str],
    suite: Suite,
    n_envs: int = DEFAULT_N_ENVS,
    progress: Callable[[int, int], None] | None = None,
    cpus_per_task: float = 1.0,
) -> list[SuiteResult]:
    """Every scenario of ``suite`` for every driver spec, as Ray tasks all submitted at once.

    Ray must be initialised (:func:`rlhf_sandbox.agents.evaluation.ray_connect.connect`).
    ``progress(i, n)``: n more episodes of driver i have ended (a scenario at a time). A
    driver's error inside a worker (a DriverError, for example) is raised here as itself."""
    import ray

    t0 = time.perf_counter()
    task = ray.remote(play_scenario).options(num_cpus=cpus_per_task, max_retries=0)
    sources = [driver_source(s) for s in specs]
    refs: list[list[Any]] = []
    owner: dict[Any, tuple[int, int]] = {}
    for i, src in enumerate(sources):
        src_ref = ray.put(src)
        row = [task.remote(src_ref, sc, n_envs) for sc in suite.scenarios]
        refs.append(row)
        owner.update({r: (i, j) for j, r in enumerate(row)})
    ends = [t0] * len(sources)
    try:
        remaining = [r for row in refs for r in row]
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1)
            i, j = owner[done[0]]
            _get(done[0])  # a failing scenario stops the run at once
            ends[i] = time.perf_counter()
            if progress is not None:
                progress(i, suite.scenarios[j].episodes)
    except BaseException:
        for r in owner:
            ray.cancel(r, force=True)
        raise
    return [
        SuiteResult(src.name, suite.name, tuple(_get(r) for r in row), ends[i] - t0)
        for i, (src, row) in enumerate(zip(sources, refs, strict=True))
    ]


def run_suite_distributed(
    spec: str,
    suite: Suite,
    n_envs: int = DEFAULT_N_ENVS,
    progress: Callable[[int], None] | None = None,
) -> SuiteResult:
    """:func:`~.runner.run_suite` of one driver spec, on Ray."""
    tick = None if progress is None else (lambda i, n: progress(n))
    return run_suites_distributed([spec], suite, n_envs, tick)[0]


def _get(ref: Any) -> ScenarioResult:
    """``ray.get``, raising a task's own exception (a DriverError stays a DriverError)."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        res: ScenarioResult = ray.get(ref)
    except RayTaskError as e:
        cause = e.cause
        if isinstance(cause, Exception):
            raise cause from None
        raise
    return res
