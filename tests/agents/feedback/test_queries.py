"""Query selection: disagreement and entropy pick the pairs they promise."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.agents.feedback.queries import pair_scores, random_pairs, select_pairs


def _returns(k: int = 5, m: int = 200, seed: int = 0) -> np.ndarray:
    """Per-member returns [K, M]: members agree on some segments and not on others."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 3, size=m)
    spread = rng.uniform(0, 3, size=m)  # how much the members disagree on each segment
    return base[None, :] + spread[None, :] * rng.normal(size=(k, m))


def test_random_pairs_are_distinct_and_uniform() -> None:
    a, b = random_pairs(20_000, 7, np.random.default_rng(0))
    assert np.all(a != b)
    counts = np.bincount(np.concatenate([a, b]), minlength=7) / 40_000
    np.testing.assert_allclose(counts, 1 / 7, atol=0.01)
    with pytest.raises(ValueError, match="at least 2"):
        random_pairs(1, 1, np.random.default_rng(0))


def test_disagreement_picks_higher_ensemble_variance_than_random() -> None:
    r = _returns()
    rng = np.random.default_rng(1)
    chosen = select_pairs("disagreement", 50, r.shape[1], rng, r, oversample=8)
    rand = select_pairs("random", 50, r.shape[1], np.random.default_rng(2), r)
    var_chosen = pair_scores("disagreement", r, chosen.left, chosen.right) ** 2
    var_random = pair_scores("disagreement", r, rand.left, rand.right) ** 2
    assert var_chosen.mean() > 1.5 * var_random.mean()
    assert np.all(np.isnan(rand.score))
    np.testing.assert_allclose(chosen.score, np.sqrt(var_chosen))
    assert np.all(np.diff(chosen.score) <= 0)  # best first


def test_entropy_picks_uncertain_pairs() -> None:
    r = _returns()
    chosen = select_pairs("entropy", 40, r.shape[1], np.random.default_rng(3), r, oversample=10)
    p = (1 / (1 + np.exp(-(r[:, chosen.left] - r[:, chosen.right])))).mean(axis=0)
    a, b = random_pairs(40, r.shape[1], np.random.default_rng(4))
    p_rand = (1 / (1 + np.exp(-(r[:, a] - r[:, b])))).mean(axis=0)
    assert np.abs(p - 0.5).mean() < 0.5 * np.abs(p_rand - 0.5).mean()


def test_fallbacks_and_errors() -> None:
    rng = np.random.default_rng(0)
    no_model = select_pairs("disagreement", 5, 10, rng, None)
    assert len(no_model.left) == 5 and np.all(np.isnan(no_model.score))
    one_member = select_pairs("disagreement", 5, 10, rng, np.zeros((1, 10)))
    assert np.all(np.isnan(one_member.score))
    with pytest.raises(ValueError, match="unknown query method 'best'"):
        select_pairs("best", 5, 10, rng, None)
    with pytest.raises(ValueError, match="oversample"):
        select_pairs("entropy", 5, 10, rng, np.zeros((3, 10)), oversample=0)
