"""Wilson and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness.stats import (
    bootstrap,
    difference,
    mean_stat,
    ratio_stat,
    resample,
    wilson,
)


def test_wilson_known_values() -> None:
    # Textbook values (95 %): 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634].
    w = wilson(0, 10)
    assert (w.value, w.lo) == (0.0, 0.0) and w.hi == pytest.approx(0.2775, abs=1e-4)
    w = wilson(5, 10)
    assert w.lo == pytest.approx(0.2366, abs=1e-4) and w.hi == pytest.approx(0.7634, abs=1e-4)
    assert np.isnan(wilson(0, 0).value)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_stratified_resample_keeps_strata() -> None:
    strata = np.array(["a"] * 3 + ["b"] * 5)
    idx = resample(strata, 50, seed=1)
    assert idx.shape == (50, 8)
    assert np.all(idx[:, :3] < 3) and np.all(idx[:, 3:] >= 3)


def test_bootstrap_mean_covers_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(5.0, 1.0, 200)
    s = np.zeros(200)
    a = bootstrap(mean_stat(v), s, seed=3)
    assert a == bootstrap(mean_stat(v), s, seed=3)
    assert a.value == pytest.approx(v.mean())
    assert a.lo < 5.0 < a.hi and a.hi - a.lo < 0.4
    c = bootstrap(mean_stat(np.full(10, 2.0)), np.zeros(10))
    assert (c.value, c.lo, c.hi) == (2.0, 2.0, 2.0)


def test_paired_difference_of_identical_data_is_exactly_zero() -> None:
    v = np.random.default_rng(1).normal(size=30)
    d = bootstrap(difference(mean_stat(v), mean_stat(v.copy())), np.zeros(30))
    assert (d.value, d.lo, d.hi) == (0.0, 0.0, 0.0)


def test_ratio_and_nan_handling() -> None:
    r = bootstrap(ratio_stat(np.array([1.0, 3.0]), np.array([1.0, 1.0])), np.zeros(2))
    assert r.value == pytest.approx(2.0)
    m = bootstrap(mean_stat(np.array([1.0, np.nan, 3.0])), np.zeros(3))
    assert m.value == pytest.approx(2.0)
