"""Summaries of a suite run: every metric per scenario and overall, with 95 % intervals.

Rates (collision, off-road) get Wilson intervals; means get percentile bootstrap
intervals over episodes (stratified by scenario for the overall figure). Lane changes
per km are pooled: all lane changes over all kilometres, not a mean of per-episode ratios
(short episodes would dominate). Minimum time-to-collision also gets its quantiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.harness.metrics import METRICS, TTC_CAP
from rlhf_sandbox.agents.evaluation.harness.runner import Episode, SuiteResult
from rlhf_sandbox.agents.evaluation.harness.stats import (
    N_BOOT,
    Interval,
    Stat,
    bootstrap,
    mean_stat,
    ratio_stat,
    wilson,
)

OVERALL = "overall"
TTC_QUANTILES = (0.05, 0.25, 0.5)


def column(episodes: list[Episode], key: str) -> np.ndarray:
    return np.array([e.metrics[key] for e in episodes], dtype=np.float64)


def metric_stat(episodes: list[Episode], key: str) -> Stat:
    """The statistic a metric is summarised by, over resampled episode indices."""
    if key == "lane_changes_per_km":
        return ratio_stat(column(episodes, "lane_changes"), column(episodes, "progress") / 1000.0)
    return mean_stat(column(episodes, key))


def summarize(episodes: list[Episode], n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Interval]:
    """Every metric of these episodes (strata: their scenarios) with its interval."""
    strata = np.array([e.scenario for e in episodes])
    out: dict[str, Interval] = {}
    for m in METRICS:
        if m.rate:
            k = int(column(episodes, m.key).sum())
            out[m.key] = wilson(k, len(episodes))
        else:
            out[m.key] = bootstrap(metric_stat(episodes, m.key), strata, n_boot, seed)
    return out


def ttc_summary(episodes: list[Episode]) -> dict[str, Any]:
    """The distribution of per-episode minimum time-to-collision [s] (capped at 10 s)."""
    v = column(episodes, "min_ttc")
    if v.size == 0:
        return {}
    q = np.quantile(v, TTC_QUANTILES)
    out: dict[str, Any] = {
        f"p{round(p * 100)}": float(x) for p, x in zip(TTC_QUANTILES, q, strict=True)
    }
    out["below_1.5s"] = float(np.mean(v < 1.5))
    out["below_3s"] = float(np.mean(v < 3.0))
    out["no_threat"] = float(np.mean(v >= TTC_CAP))
    return out


def summarize_run(run: SuiteResult, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """``{scenario or "overall": {"episodes": n, "metrics": {...}, "min_ttc": {...}}}``."""
    groups: dict[str, list[Episode]] = {s.scenario.name: list(s.episodes) for s in run.scenarios}
    groups[OVERALL] = run.episodes
    out: dict[str, Any] = {}
    for name, eps in groups.items():
        out[name] = {
            "episodes": len(eps),
            "metrics": {k: v.to_json() for k, v in summarize(eps, n_boot, seed).items()},
            "min_ttc_distribution": ttc_summary(eps),
        }
    return out
