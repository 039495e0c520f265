"""The driving policy test harness: scenario suites, safety metrics, A/B comparisons, reports.

Python API::

    from rlhf_sandbox.agents.evaluation.harness import evaluate
    policy, baseline, report = evaluate("runs/demo", "standard", baseline="idm",
                                        out="reports/demo")

or piece by piece: :func:`load_suite`, :func:`parse_driver`, :func:`run_suite`,
:func:`summarize_run`, :func:`compare_runs`, :func:`write_report`. The command line is
``rlhf-sandbox evaluate``; docs in ``docs/HARNESS.md``.
"""

from __future__ import annotations

from pathlib import Path

from rlhf_sandbox.agents.evaluation.harness.ab import compare_runs
from rlhf_sandbox.agents.evaluation.harness.aggregate import summarize_run
from rlhf_sandbox.agents.evaluation.harness.drivers import Driver, DriverError, parse_driver
from rlhf_sandbox.agents.evaluation.harness.report import write_report
from rlhf_sandbox.agents.evaluation.harness.runner import (
    DEFAULT_N_ENVS,
    Progress,
    SuiteResult,
    run_scenario,
    run_suite,
)
from rlhf_sandbox.agents.evaluation.harness.suites import Scenario, Suite, SuiteError, load_suite
from rlhf_sandbox.files import check_out_folder

__all__ = [
    "Driver", "DriverError", "Scenario", "Suite", "SuiteError", "SuiteResult", "compare_runs",
    "evaluate", "load_suite", "parse_driver", "run_scenario", "run_suite", "summarize_run",
    "write_report",
]  # fmt: skip


def evaluate(
    policy: str,
    suite: str | Path | Suite = "standard",
    *,
    baseline: str | None = None,
    out: str | Path | None = None,
    episodes: int | None = None,
    n_envs: int = DEFAULT_N_ENVS,
    worst_k: int = 3,
    clips: str = "all",
    overwrite: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> tuple[SuiteResult, SuiteResult | None, Path | None]:
    """Run ``policy`` (and ``baseline``) over ``suite``; with ``out``, write the report.

    Returns the two runs and the path of ``report.md`` (``None`` without ``out``).
    ``episodes`` overrides every scenario's episode count; ``workers``: scenarios run side by
    side (see :func:`run_suite`).
    """
    if out is not None:  # before any episode: a folder that is not ours is never replaced
        check_out_folder(Path(out), "evaluate", overwrite=overwrite)
    s = suite if isinstance(suite, Suite) else load_suite(suite)
    if episodes is not None:
        s = s.with_episodes(episodes)
    drivers = [parse_driver(policy)] + ([parse_driver(baseline)] if baseline else [])
    runs = [run_suite(d, s, n_envs, progress, workers) for d in drivers]
    base = runs[1] if len(runs) > 1 else None
    path = None
    if out is not None:
        path = write_report(out, runs[0], base, worst_k=worst_k, clips=clips, overwrite=overwrite)
    return runs[0], base, path
