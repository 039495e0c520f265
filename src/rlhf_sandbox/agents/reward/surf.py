"""SURF (Park et al. 2022, "SURF: semi-supervised reward learning with data augmentation"):
temporal crops of labelled pairs and pseudo-labels on unlabelled ones.

* **Temporal crop** (``RewardModelConfig.crop``): every time a pair is in a minibatch, each
  of its two segments is summed over one window of the same random length ``L`` in
  ``[ceil((1 - crop) T), T]`` (so both returns count equally many steps), each side at its
  own random start, as SURF's ``get_cropping_mask`` does; the label stays with the pair. Our
  segments carry no extra context steps, so crops only shorten.
* **Pseudo-labels** (``pseudo_weight``, ``pseudo_threshold``; a fit given ``unlabelled``
  pairs): each gradient step adds, per member, a minibatch of ``batch_size`` unlabelled pairs
  drawn at random. A pair whose whole segments give the member itself (no gradient) a
  Bradley-Terry chance of at least ``pseudo_threshold`` for one side gets that side as a
  hard label; the member's loss on the minibatch is the mean over all its pairs of the
  confident pairs' cross-entropy (cropped like the labelled pairs), the others counting 0,
  times ``pseudo_weight``: SURF's ``mean(loss * mask) * lambda_u``. SURF takes its
  unlabelled minibatches in order from a shuffled buffer; we draw them with replacement.
  Early stopping and the reported figures do not look at the unlabelled pairs.

:func:`random_pairs` draws the unlabelled pairs a fit gets from a set of segments.
"""

from __future__ import annotations

import math

import numpy as np

from rlhf_sandbox.agents.reward.batches import SegmentPairs


def crop_windows(
    rng: np.random.Generator, shape: tuple[int, ...], length: int, crop: float
) -> np.ndarray:
    """A boolean mask ``[*shape, 2, length]``: for each pair of ``shape``, the steps each of
    its two segments is summed over. Both sides get one length, drawn uniformly from
    ``[ceil((1 - crop) length), length]``, and each its own uniform start."""
    if not 0.0 <= crop < 1.0:
        raise ValueError(f"crop must be in [0, 1), got {crop!r}")
    shortest = max(1, math.ceil((1.0 - crop) * length - 1e-9))
    n = rng.integers(shortest, length + 1, shape)  # one length per pair
    start = rng.integers(0, length - n[..., None] + 1, (*shape, 2))
    steps = np.arange(length)
    return (steps >= start[..., None]) & (steps < (start + n[..., None])[..., None])


def pseudo_labels(p_left: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The unlabelled pairs confident enough to label, ``(index, target)``: those whose
    chance of left ``p_left`` ``[U]`` is ``>= threshold`` (target 1) or ``<= 1 - threshold``
    (target 0)."""
    if not 0.5 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0.5, 1], got {threshold!r}")
    p = np.asarray(p_left, np.float64)
    left, right = p >= threshold, p <= 1.0 - threshold
    index = np.flatnonzero(left | right)
    return index, left[index].astype(np.float32)


def random_pair_indices(
    m: int, n: int, seed: int | list[int] | np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``(i, j)`` of distinct indices in ``[0, m)``, drawn uniformly (with
    replacement across pairs); none when ``m < 2`` or ``n < 1``. A Generator given as
    ``seed`` is drawn from (the loop's query selection does so)."""
    if m < 2 or n < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, m, n)
    return i, (i + rng.integers(1, m, n)) % m  # never the same segment


def random_pairs(obs: np.ndarray, act: np.ndarray, n: int, seed: int | list[int]) -> SegmentPairs:
    """``n`` pairs of distinct segments drawn by :func:`random_pair_indices` from segments
    ``obs`` ``[M, T, ...]`` and ``act`` ``[M, T, ...]``; no pairs when ``M < 2`` or
    ``n < 1``."""
    i, j = random_pair_indices(int(np.shape(obs)[0]), n, seed)
    return SegmentPairs(obs[i], act[i], obs[j], act[j])
