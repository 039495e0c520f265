"""Runs of the smoke suite, shared by the harness tests (the small suite file and the tiny SB3
model are in ``tests/conftest.py``: the CLI tests use them too)."""

from __future__ import annotations

import pytest

from rlhf_sandbox.agents.evaluation.harness import SuiteResult, load_suite, parse_driver, run_suite


@pytest.fixture(scope="session")
def smoke_runs() -> dict[str, SuiteResult]:
    suite = load_suite("smoke")
    return {name: run_suite(parse_driver(name), suite) for name in ("idm", "random")}
