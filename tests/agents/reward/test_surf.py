"""SURF in the reward ensemble: temporal crops, pseudo-labels, unlabelled pairs."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_sandbox.agents.reward.batches import PreferenceBatch, SegmentPairs
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
from rlhf_sandbox.agents.reward.surf import crop_windows, pseudo_labels, random_pairs

torch.set_num_threads(1)

OBS = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
T = 10


def linear_pairs(seed: int, n: int) -> tuple[PreferenceBatch, np.ndarray]:
    """``n`` pairs of random segments labelled by a fixed linear reward, and the true
    return difference of each (as in test_robust)."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(1).normal(size=8)
    o = [rng.uniform(-1, 1, (n, T, d)).astype(np.float32) for d in (6, 2, 6, 2)]
    diff = (np.concatenate(o[:2], -1) @ w).sum(1) - (np.concatenate(o[2:], -1) @ w).sum(1)
    return PreferenceBatch(*o, (diff > 0).astype(np.float32)), diff


def accuracy(model: RewardEnsemble, batch: PreferenceBatch) -> float:
    left = model.segment_returns(batch.obs_left, batch.act_left).mean(0)
    right = model.segment_returns(batch.obs_right, batch.act_right).mean(0)
    return float(np.mean((left > right) == (batch.target > 0.5)))


@pytest.mark.parametrize(("length", "crop"), [(10, 0.0), (10, 0.25), (20, 0.5), (3, 0.9)])
def test_crop_keeps_pairs_aligned_and_within_bounds(length: int, crop: float) -> None:
    mask = crop_windows(np.random.default_rng(0), (4, 300), length, crop)
    assert mask.shape == (4, 300, 2, length) and mask.dtype == bool
    n = mask.sum(-1)
    assert (n[..., 0] == n[..., 1]).all()  # both sides sum equally many steps
    shortest = max(1, math.ceil((1 - crop) * length - 1e-9))
    assert n.min() >= shortest and n.max() <= length
    # one contiguous window per side, inside the segment
    first = mask.argmax(-1)
    steps = np.arange(length)
    window = (steps >= first[..., None]) & (steps < (first + n)[..., None])
    assert (window == mask).all()
    if crop == 0.0:
        assert mask.all()
    elif length >= 10:  # lengths and starts do vary
        assert len(np.unique(n)) > 1 and len(np.unique(first)) > 1


def test_crop_is_refused_outside_its_range() -> None:
    with pytest.raises(ValueError, match="crop"):
        crop_windows(np.random.default_rng(0), (1, 1), 5, 1.0)


def test_pseudo_labels_only_above_the_threshold() -> None:
    p = np.array([0.995, 0.5, 0.004, 0.98, 0.02, 0.99, 0.01])
    index, target = pseudo_labels(p, 0.99)
    assert index.tolist() == [0, 2, 5, 6]
    assert target.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert pseudo_labels(np.array([0.7, 0.3]), 0.9)[0].size == 0
    with pytest.raises(ValueError, match="threshold"):
        pseudo_labels(p, 0.5)


def test_random_pairs_never_pair_a_segment_with_itself() -> None:
    obs = np.arange(5)[:, None, None] * np.ones((5, 3, 2), np.float32)
    act = np.zeros((5, 3), np.int64)
    pairs = random_pairs(obs, act, 200, 0)
    assert pairs.n_pairs == 200 and pairs.obs_left.shape == (200, 3, 2)
    assert (pairs.obs_left[:, 0, 0] != pairs.obs_right[:, 0, 0]).all()
    assert len(np.unique(pairs.obs_left[:, 0, 0])) == 5
    assert random_pairs(obs[:1], act[:1], 10, 0).n_pairs == 0


def _bt_chance(model: RewardEnsemble, pairs: SegmentPairs) -> np.ndarray:
    """The members' mean Bradley-Terry chance of left, without random responses."""
    rr = model.config.random_response
    return (model.preference_probs(*pairs).mean(0) - rr / 2) / (1 - rr)


@pytest.mark.parametrize("seed", [0, 1])
def test_pseudo_labels_add_right_labels_and_do_not_hurt(seed: int) -> None:
    """40 labelled pairs and 400 unlabelled ones of a linear reward: the pairs the fitted
    ensemble is sure of (what the members pseudo-labelled) are many, nearly all on the
    right side, and unseen pairs are ordered at least as well as without them. (At the
    time of writing: 0.863 and 0.845 either way; SURF adds no accuracy here, the labelled
    pairs already pin a linear reward down.) With the pseudo-label taken the wrong way
    round the accuracy falls below 0.8."""
    batch, _ = linear_pairs(seed, 40)
    test, _ = linear_pairs(100 + seed, 1000)
    more, true_diff = linear_pairs(200 + seed, 400)
    unlabelled = SegmentPairs(*more[:4])
    acc = {}
    for given in (None, unlabelled):
        model = RewardEnsemble(OBS, ACT, RewardModelConfig(pseudo_threshold=0.95, seed=seed))
        report = model.fit(batch, unlabelled=given)
        acc[given is not None] = accuracy(model, test)
    index, target = pseudo_labels(_bt_chance(model, unlabelled), 0.95)
    assert report.n_pseudo == index.size >= 20
    assert np.mean(target == (true_diff[index] > 0)) >= 0.97
    assert acc[True] >= acc[False] - 0.01, acc
    assert acc[True] > 0.8


def test_crop_still_learns() -> None:
    batch, _ = linear_pairs(0, 150)
    test, _ = linear_pairs(100, 500)
    model = RewardEnsemble(OBS, ACT, RewardModelConfig(crop=0.25, seed=0, max_epochs=40))
    model.fit(batch)
    assert accuracy(model, test) > 0.85


def test_unlabelled_pairs_change_nothing_without_pseudo_weight() -> None:
    batch, _ = linear_pairs(0, 80)
    more, _ = linear_pairs(200, 100)
    fits = []
    for unlabelled in (None, SegmentPairs(*more[:4])):
        model = RewardEnsemble(OBS, ACT, RewardModelConfig(pseudo_weight=0.0, max_epochs=5))
        report = model.fit(batch, unlabelled=unlabelled)
        fits.append((report.train_loss, model.segment_returns(batch.obs_left, batch.act_left)))
        assert report.n_pseudo == 0
    assert fits[0][0] == fits[1][0]
    np.testing.assert_array_equal(fits[0][1], fits[1][1])


def test_bad_unlabelled_pairs_are_refused() -> None:
    batch, _ = linear_pairs(0, 20)
    model = RewardEnsemble(OBS, ACT, RewardModelConfig(max_epochs=1))
    with pytest.raises(TypeError, match="SegmentPairs"):
        model.fit(batch, unlabelled=batch)  # type: ignore[arg-type]
    short = SegmentPairs(*(a[:, :5] for a in batch[:4]))
    with pytest.raises(ValueError, match="unlabelled segments"):
        model.fit(batch, unlabelled=short)
