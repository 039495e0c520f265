"""A/B comparison of two suite runs: per-metric differences, intervals and verdicts.

The difference is always *policy minus baseline*. Where both runs played a scenario's
same seeds (the usual case: same suite), episodes are paired by seed and the interval is a
paired bootstrap: each resample draws seeds (within each scenario) and takes both
policies' episodes of those seeds, which cancels the traffic both met. Otherwise the two
runs are resampled independently. The verdict reads the 95 % interval with the metric's
direction: an interval wholly on the good side is "better", wholly on the bad side "worse",
one that holds 0 "no significant difference". Verdicts are per metric, with no
correction for testing many metrics at once (see docs/HARNESS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.harness.aggregate import OVERALL, metric_stat
from rlhf_sandbox.agents.evaluation.harness.metrics import METRICS
from rlhf_sandbox.agents.evaluation.harness.runner import Episode, SuiteResult
from rlhf_sandbox.agents.evaluation.harness.stats import (
    N_BOOT,
    Interval,
    bootstrap,
    difference,
    resample,
)

BETTER, WORSE, SAME, UNKNOWN = "better", "worse", "no significant difference", "n/a"


@dataclass(frozen=True)
class Comparison:
    """One metric of one scenario (or overall): policy - baseline with its interval."""

    metric: str
    diff: Interval
    verdict: str
    paired: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.diff.to_json(), "verdict": self.verdict, "paired": self.paired}


def verdict(diff: Interval, better: str) -> str:
    """better / worse / no significant difference, from the interval and the direction."""
    if not (np.isfinite(diff.lo) and np.isfinite(diff.hi)):
        return UNKNOWN
    if diff.lo > 0 or diff.hi < 0:
        up = diff.lo > 0
        return BETTER if up == (better == "higher") else WORSE
    return SAME


def _paired(a: list[Episode], b: list[Episode]) -> bool:
    return [(e.scenario, e.seed) for e in a] == [(e.scenario, e.seed) for e in b]


def _unpaired(a: list[Episode], b: list[Episode], key: str, n_boot: int, seed: int) -> Interval:
    sa, sb = metric_stat(a, key), metric_stat(b, key)
    value = float(sa(np.arange(len(a))[None])[0] - sb(np.arange(len(b))[None])[0])
    ia = resample(np.array([e.scenario for e in a]), n_boot, seed)
    ib = resample(np.array([e.scenario for e in b]), n_boot, seed + 1)
    reps = sa(ia) - sb(ib)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return Interval(value, np.nan, np.nan)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return Interval(value, float(lo), float(hi))


def compare(
    a: list[Episode], b: list[Episode], n_boot: int = N_BOOT, seed: int = 0
) -> list[Comparison]:
    """Every metric of episodes ``a`` (policy) against ``b`` (baseline)."""
    a = sorted(a, key=lambda e: (e.scenario, e.seed))
    b = sorted(b, key=lambda e: (e.scenario, e.seed))
    paired = _paired(a, b)
    out = []
    for m in METRICS:
        if paired:
            stat = difference(metric_stat(a, m.key), metric_stat(b, m.key))
            diff = bootstrap(stat, np.array([e.scenario for e in a]), n_boot, seed)
        else:
            diff = _unpaired(a, b, m.key, n_boot, seed)
        out.append(Comparison(m.key, diff, verdict(diff, m.better), paired))
    return out


def compare_runs(
    policy: SuiteResult, baseline: SuiteResult, n_boot: int = N_BOOT, seed: int = 0
) -> dict[str, list[Comparison]]:
    """Comparisons per scenario both runs played, and overall (those scenarios pooled)."""
    pa = {s.scenario.name: list(s.episodes) for s in policy.scenarios}
    pb = {s.scenario.name: list(s.episodes) for s in baseline.scenarios}
    common = [n for n in pa if n in pb]
    if not common:
        raise ValueError("the two runs share no scenario: nothing to compare")
    out = {n: compare(pa[n], pb[n], n_boot, seed) for n in common}
    out[OVERALL] = compare(
        [e for n in common for e in pa[n]], [e for n in common for e in pb[n]], n_boot, seed
    )
    return out


def comparisons_json(comps: dict[str, list[Comparison]]) -> dict[str, Any]:
    return {name: {c.metric: c.to_json() for c in cs} for name, cs in comps.items()}
