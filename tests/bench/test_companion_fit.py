"""bench/companion_fit.py: which labels a term decides, the transition inputs, and the pairs
it labels being the ones ``reward_ideas.labelled_batch`` labels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import companion_fit as cf  # noqa: E402
import reward_ideas as ri  # noqa: E402


def test_a_term_decides_the_pairs_whose_order_it_flips() -> None:
    # three segments of two steps; returns: big 10 + small 0 = 10, 9 + 2 = 11, 0 + 1 = 1
    big = np.array([[5.0, 5.0], [4.5, 4.5], [0.0, 0.0]])
    small = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    i, j = np.array([0, 0, 1, 1]), np.array([1, 2, 2, 0])
    share = cf.deciding_share({"big": big, "small": small}, i, j)
    # without "small" (10 vs 9 vs 0): (0, 1) and (1, 0) flip, (0, 2) and (1, 2) stay
    assert share["small"] == 0.5
    # without "big" (0 vs 2 vs 1): only (0, 2) flips (10 > 1 but 0 < 1)
    assert share["big"] == 0.25


def test_transitions_pair_each_step_with_the_next() -> None:
    x = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)  # D = 2, flag last
    t = cf.transitions(x)
    assert t.shape == (2, 3, 5)
    np.testing.assert_array_equal(t[:, :, :2], x[:, :-1, :2])
    np.testing.assert_array_equal(t[:, :, 2:4], x[:, 1:, :2])
    np.testing.assert_array_equal(t[:, :, 4], x[:, :-1, 2])


def test_label_pairs_are_the_labelled_batchs_pairs() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5, 3)).astype(np.float32)
    a = rng.integers(0, 4, (40, 5))
    r = rng.normal(size=(40, 5))
    batch, _ = ri.labelled_batch(x, a, r, 30, 0.0, seed=2)
    i, j = ri.label_pairs(40, 30, seed=2)
    assert np.all(i != j)
    np.testing.assert_array_equal(batch.obs_left, x[i])
    np.testing.assert_array_equal(batch.obs_right, x[j])
    np.testing.assert_array_equal(batch.target, (r[i].sum(1) > r[j].sum(1)).astype(np.float32))
