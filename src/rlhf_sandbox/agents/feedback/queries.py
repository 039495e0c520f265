"""Query selection: which pairs of candidate segments to ask a teacher about.

``random`` draws pairs uniformly. ``disagreement`` and ``entropy`` draw ``oversample`` times
as many random pairs, score each by the reward ensemble, and keep the best:

* disagreement: the standard deviation over ensemble members of P(left preferred);
* entropy: the binary entropy of the ensemble-mean P(left preferred).

P(left) of member k is ``sigmoid(R_k(left) - R_k(right))`` with R_k a segment's return.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rlhf_sandbox.agents.reward.surf import random_pair_indices

METHODS = ("random", "disagreement", "entropy")


class Pairs(NamedTuple):
    """Chosen pairs: indices into the candidates ``left``, ``right`` (int ``[Q]``) and the
    score each was chosen by (float ``[Q]``, NaN for random)."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown query method {method!r}; known: {', '.join(METHODS)}")
    return method


def random_pairs(n: int, n_candidates: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``n`` pairs of distinct candidates, drawn uniformly (SURF's unlabelled pairs are
    drawn by the same rule)."""
    if n_candidates < 2:
        raise ValueError(f"need at least 2 candidate segments, got {n_candidates}")
    return random_pair_indices(n_candidates, n, rng)


def pair_scores(method: str, returns: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Scores of pairs ``(a, b)`` from per-member returns ``[K, M]`` of the candidates."""
    p = 0.5 * (1.0 + np.tanh(0.5 * (returns[:, a] - returns[:, b])))  # [K, Q] P(a preferred)
    if method == "disagreement":
        return p.std(axis=0)
    if method == "entropy":
        m = np.clip(p.mean(axis=0), 1e-9, 1 - 1e-9)
        return -(m * np.log(m) + (1 - m) * np.log(1 - m))
    raise ValueError(f"no score for query method {method!r}")


def select_pairs(
    method: str,
    n: int,
    n_candidates: int,
    rng: np.random.Generator,
    returns: np.ndarray | None = None,
    oversample: int = 4,
) -> Pairs:
    """Pick ``n`` pairs among ``n_candidates`` segments (``returns``: ``[K, M]``; without
    them, or with a single member for disagreement, selection falls back to random)."""
    check_method(method)
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    usable = returns is not None and not (method == "disagreement" and returns.shape[0] < 2)
    if method == "random" or not usable or n == 0:
        a, b = random_pairs(n, n_candidates, rng)
        return Pairs(a, b, np.full(n, np.nan))
    assert returns is not None
    a, b = random_pairs(n * oversample, n_candidates, rng)
    score = pair_scores(method, returns, a, b)
    keep = np.argsort(-score, kind="stable")[:n]
    return Pairs(a[keep], b[keep], score[keep])
