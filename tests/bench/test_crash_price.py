"""bench/crash_price.py: the measures it reports, on data whose answer is known."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import crash_price as cp  # noqa: E402


def test_exchange_rate_is_the_slope_of_learned_on_oracle() -> None:
    rng = np.random.default_rng(0)
    oracle = rng.normal(size=500)
    slope, corr = cp.exchange_rate(oracle, 7.0 * oracle + 3.0)
    assert math.isclose(slope, 7.0, rel_tol=1e-9) and math.isclose(corr, 1.0, rel_tol=1e-9)
    slope, corr = cp.exchange_rate(oracle, -2.0 * oracle + rng.normal(size=500))
    assert -2.3 < slope < -1.7 and -0.95 < corr < -0.8


def test_crash_price_in_oracle_units_counts_the_tail() -> None:
    oracle = np.array([0.5, 0.5, 0.5, -120.0, 0.5, -120.0])
    crash = oracle < 0
    # a learned reward 10x the oracle on calm steps, whose crash step looks like a calm one:
    # all of its price is in the absorbing tail
    learned = np.where(crash, 5.0, 10.0 * oracle)
    got = cp.crash_prices(oracle, learned, crash, tail_reward=-60.0, slope=10.0)
    assert got is not None
    learned_price, oracle_price = got
    assert math.isclose(oracle_price, -120.5) and math.isclose(learned_price, -6.0)
    assert cp.crash_prices(oracle, learned, np.zeros(6, bool), -60.0, 10.0) is None


def test_clip_range_leaves_out_windows_with_a_collision_and_short_episodes() -> None:
    oracle = np.array([1.0, 2.0, 3.0, 4.0, -50.0, 0.0, 0.0, 9.0])
    crash = oracle < -10
    bounds = np.array([0, 5, 7, 8])  # episodes of 5, 2 and 1 steps
    # windows of 2 in the first episode: 3, 5, 7 (and 4 + -50, which has the collision);
    # the second episode's one window: 0; the third is shorter than a window
    assert cp.clip_range(oracle, crash, bounds, 2) == 7.0
    assert math.isnan(cp.clip_range(oracle, crash, bounds, 6))


def test_term_prices_recover_each_terms_weight_relative_to_the_whole() -> None:
    rng = np.random.default_rng(1)
    terms = {
        "progress": rng.uniform(0.0, 0.5, 2000),
        "jerk": -0.1 * rng.uniform(0.0, 1.0, 2000),
        "headway": -0.2 * rng.uniform(0.0, 1.0, 2000),
        "collision": np.zeros(2000),  # constant: left out
    }
    # progress priced as the oracle does, jerk ignored, headway with the wrong sign
    learned = 3.0 * terms["progress"] + 0.0 * terms["jerk"] - 3.0 * terms["headway"] + 1.0
    got = cp.term_prices(terms, learned)
    assert set(got) == {"progress", "jerk", "headway"}
    slope = np.polyfit(terms["progress"] + terms["jerk"] + terms["headway"], learned, 1)[0]
    assert math.isclose(got["progress"] * slope, 3.0, rel_tol=1e-6)
    assert abs(got["jerk"]) < 1e-6 and got["headway"] < 0
    assert cp.term_prices({"collision": np.zeros(5)}, np.zeros(5)) == {}
