"""Intervals: Wilson score for rates, percentile bootstrap for means and differences.

Bootstrap resampling is over episodes, stratified by scenario where a pooled figure spans
several scenarios (each scenario keeps its episode count in every resample), and paired
where two policies met the same seeds (a resample takes both policies' episode of a seed).
Every function takes an explicit seed: the same data gives the same interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.agents.evaluation.intervals import Z95, wilson_bounds

N_BOOT = 2000
Stat = Callable[[np.ndarray], np.ndarray]
"""``stat(idx [B, n]) -> [B]``: a statistic of each resample of episode indices."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95 % interval."""

    value: float
    lo: float
    hi: float

    def to_json(self) -> dict[str, float | None]:
        return {k: _num(v) for k, v in (("value", self.value), ("lo", self.lo), ("hi", self.hi))}


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """The rate ``k / n`` with its Wilson score interval (NaN for n = 0)."""
    if n <= 0:
        return Interval(np.nan, np.nan, np.nan)
    if not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    lo, hi = wilson_bounds(k, n, z)
    return Interval(k / n, lo, hi)


def resample(strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Indices ``[n_boot, n]``: each resample draws, within every stratum, as many
    episodes as it has, with replacement."""
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    n = strata.shape[0]
    idx = np.empty((n_boot, n), dtype=np.int64)
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        idx[:, members] = members[rng.integers(0, members.size, (n_boot, members.size))]
    return idx


def bootstrap(
    stat: Stat, strata: np.ndarray, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05
) -> Interval:
    """``stat`` on all episodes, with the percentile interval of its resampled values."""
    n = np.asarray(strata).shape[0]
    if n == 0:
        return Interval(np.nan, np.nan, np.nan)
    value = float(stat(np.arange(n)[None, :])[0])
    reps = stat(resample(strata, n_boot, seed))
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return Interval(value, np.nan, np.nan)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return Interval(value, float(lo), float(hi))


def mean_stat(values: np.ndarray) -> Stat:
    """The mean over episodes (episodes with NaN left out)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    v0 = np.where(ok, v, 0.0)

    def stat(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return v0[idx].sum(axis=1) / ok[idx].sum(axis=1)

    return stat


def ratio_stat(num: np.ndarray, den: np.ndarray) -> Stat:
    """Sum of ``num`` over sum of ``den`` (a rate per unit, pooled over episodes)."""
    a, b = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)

    def stat(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b[idx].sum(axis=1) > 0, a[idx].sum(axis=1) / b[idx].sum(axis=1), np.nan)

    return stat


def difference(stat_a: Stat, stat_b: Stat) -> Stat:
    """``stat_a - stat_b`` on the same resampled indices (paired episodes)."""
    return lambda idx: stat_a(idx) - stat_b(idx)
