"""Synthetic raters: each B-Pref teacher's labels on many random pairs, against its definition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rlhf_sandbox.agents.teachers.raters import (
    CHOICES,
    PRESETS,
    RaterConfig,
    SyntheticRater,
    rater_config,
)

P, T = 20_000, 10


def pairs(seed: int = 0, mu: float = 0.0, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """P random pairs of T-step rewards, each step normal(mu, sigma)."""
    rng = np.random.default_rng(seed)
    return rng.normal(mu, sigma, (P, T)), rng.normal(mu, sigma, (P, T))


def label(preset: str, left: np.ndarray, right: np.ndarray, mean: float = 5.0, **kw: float):
    return SyntheticRater(rater_config(preset, **kw), seed=1).label(left, right, mean)


def test_presets_are_b_prefs_teachers() -> None:
    assert PRESETS["perfect"] == RaterConfig()
    assert PRESETS["perfect"].beta == math.inf
    assert PRESETS["stochastic"].beta == 1.0
    assert PRESETS["mistake"].eps_mistake == 0.1
    assert PRESETS["skip"].skip == 0.1
    assert PRESETS["equal"].equal == 0.1
    assert PRESETS["myopic"].gamma == 0.9


def test_perfect_follows_the_sign_of_the_return_difference() -> None:
    left, right = pairs()
    labels = label("perfect", left, right)
    assert labels.shape == (P,) and set(np.unique(labels)) <= set(CHOICES)
    diff = left.sum(1) - right.sum(1)
    np.testing.assert_array_equal(labels, np.where(diff > 0, "left", "right"))
    # An exact tie is "equal" (B-Pref's deterministic rule would say the first segment).
    assert list(label("perfect", left[:3], left[:3])) == ["equal"] * 3


def test_mistake_flips_about_a_tenth() -> None:
    left, right = pairs()
    perfect = label("perfect", left, right)
    noisy = label("mistake", left, right)
    assert set(np.unique(noisy)) == {"left", "right"}
    assert np.mean(noisy != perfect) == pytest.approx(0.1, abs=0.015)
    assert np.all(label("mistake", left, right, eps_mistake=1.0) != perfect)


def test_equal_marks_exactly_the_pairs_under_the_threshold() -> None:
    left, right = pairs()
    diff = left.sum(1) - right.sum(1)
    perfect = label("perfect", left, right)
    for mean in (5.0, -5.0):  # the threshold uses |mean| = 5: 0.1 * 5 = 0.5
        labels = label("equal", left, right, mean=mean)
        under = np.abs(diff) < 0.5
        assert 0.05 < under.mean() < 0.2
        np.testing.assert_array_equal(labels == "equal", under)
        np.testing.assert_array_equal(labels[~under], perfect[~under])
    # "equal" overrides a mistake, and a stochastic choice.
    for kw in ({"eps_mistake": 1.0}, {"beta": 1.0}):
        labels = label("equal", left, right, **kw)
        np.testing.assert_array_equal(labels == "equal", np.abs(diff) < 0.5)


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_skip_marks_the_right_share() -> None:
    mu, sigma = 0.5, 1.5
    left, right = pairs(mu=mu, sigma=sigma)
    mean = T * mu  # 5: threshold 0.1 * 5 = 0.5
    labels = label("skip", left, right, mean=mean)
    skipped = np.maximum(left.sum(1), right.sum(1)) <= 0.5
    np.testing.assert_array_equal(labels == "cant_tell", skipped)
    # Both returns (normal(5, 1.5 sqrt(10))) at most 0.5: Phi(z)^2.
    expected = normal_cdf((0.5 - mean) / (sigma * math.sqrt(T))) ** 2
    assert np.mean(labels == "cant_tell") == pytest.approx(expected, abs=0.005)
    perfect = label("perfect", left, right)
    np.testing.assert_array_equal(labels[~skipped], perfect[~skipped])
    # B-Pref's rule literally: a threshold <= 0 (mean return <= 0) skips nothing.
    for non_positive in (0.0, -5.0):
        assert not np.any(label("skip", left, right, mean=non_positive) == "cant_tell")
    # Skip comes first: it overrides "equal".
    both = label("skip", left, right, mean=mean, equal=0.1)
    np.testing.assert_array_equal(both == "cant_tell", skipped)


def test_stochastic_matches_the_bradley_terry_probability() -> None:
    rng = np.random.default_rng(2)
    n = 2 * P
    diff = rng.uniform(-6.0, 6.0, n)
    left = np.repeat(diff[:, None] / T, T, axis=1)
    right = np.zeros((n, T))
    for beta in (1.0, 0.5):
        labels = SyntheticRater(rater_config("stochastic", beta=beta), seed=3).label(
            left, right, 5.0
        )
        assert set(np.unique(labels)) == {"left", "right"}
        edges = np.linspace(-6.0, 6.0, 9)
        for lo, hi in itertools.pairwise(edges):
            inside = (diff >= lo) & (diff < hi)
            expected = np.mean(1.0 / (1.0 + np.exp(-beta * diff[inside])))
            assert np.mean(labels[inside] == "left") == pytest.approx(expected, abs=0.025)
    # A tie is a fair coin, not "equal".
    ties = SyntheticRater(PRESETS["stochastic"], seed=4).label(right, right, 5.0)
    assert np.mean(ties == "left") == pytest.approx(0.5, abs=0.015)


@pytest.mark.parametrize("t", range(T))
def test_myopic_weighs_step_t_by_gamma_to_the_steps_after_it(t: int) -> None:
    gamma = PRESETS["myopic"].gamma
    weight = gamma ** (T - 1 - t)
    # Left gains 1 at step t; right gains just under / over its weight at the last step.
    left = np.zeros((2, T))
    left[:, t] = 1.0
    right = np.zeros((2, T))
    right[:, -1] = [weight * 0.99, weight * 1.01]
    assert list(label("myopic", left, right)) == ["left", "right"]
    if t < T - 1:  # undiscounted, left's 1 beats right's < 1 in both
        assert list(label("perfect", left, right)) == ["left", "left"]


def test_myopic_flips_a_preference_for_an_early_larger_difference() -> None:
    left, right = np.zeros((1, T)), np.zeros((1, T))
    left[0, 0], right[0, -1] = 1.0, 0.5  # 0.9 ** 9 = 0.387 < 0.5
    assert label("perfect", left, right)[0] == "left"
    assert label("myopic", left, right)[0] == "right"
    # Skip and equal still read the undiscounted returns: a tie there is "equal".
    right[0, -1] = 1.0
    assert label("myopic", left, right, equal=0.01)[0] == "equal"
    assert label("myopic", left, right)[0] == "right"


def test_labels_are_reproducible_per_seed() -> None:
    left, right = pairs()
    cfg = rater_config("stochastic", eps_mistake=0.2)
    a = SyntheticRater(cfg, seed=7).label(left, right, 5.0)
    b = SyntheticRater(cfg, seed=7).label(left, right, 5.0)
    c = SyntheticRater(cfg, seed=8).label(left, right, 5.0)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_overrides() -> None:
    cfg = rater_config("mistake", eps_mistake=0.25, gamma=0.95)
    assert (cfg.eps_mistake, cfg.gamma, cfg.beta) == (0.25, 0.95, math.inf)
    assert rater_config("perfect") == RaterConfig()
    assert PRESETS["mistake"].eps_mistake == 0.1  # the preset itself is untouched
    with pytest.raises(ValueError, match="nope"):
        rater_config("nope")
    with pytest.raises(ValueError, match="temperature"):
        rater_config("perfect", temperature=1.0)
    with pytest.raises(ValueError, match="gamma"):
        rater_config("myopic", gamma=0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beta", 0.0), ("beta", -1.0), ("beta", math.nan),
        ("gamma", 0.0), ("gamma", 1.5), ("gamma", math.nan),
        ("eps_mistake", -0.1), ("eps_mistake", 1.1),
        ("skip", -0.1), ("equal", -0.1), ("equal", math.nan),
    ],
)  # fmt: skip
def test_bad_config_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"RaterConfig.{field}"):
        RaterConfig(**{field: value})


def test_bad_inputs() -> None:
    rater = SyntheticRater(RaterConfig())
    with pytest.raises(ValueError, match=r"\[P, T\]"):
        rater.label(np.zeros((2, 3)), np.zeros((2, 4)), 1.0)
    with pytest.raises(ValueError, match=r"\[P, T\]"):
        rater.label(np.zeros(3), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="mean_segment_return"):
        rater.label(np.zeros((2, 3)), np.zeros((2, 3)), math.nan)
