"""The Wilson score interval of a proportion, shared by the test harness's rates and the
rater statistics (each wraps it in its own return type)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # standard normal quantile of 0.975


def wilson_bounds(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(lo, hi)`` of ``successes / n`` (``n > 0``; successes
    may be fractional, a tie counting half). All or none: the ends are exactly 1 or 0."""
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # no rounding past p
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi
