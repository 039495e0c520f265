"""What the reward model reads and reports: a batch of labelled segment pairs, unlabelled
pairs (SURF's pseudo-labels), which pairs a fit holds out, a fit's report."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


class PreferenceBatch(NamedTuple):
    """``P`` labelled pairs of segments; every segment is ``T`` steps long.

    ``obs_left``, ``obs_right``: float32 ``[P, T, *obs_shape]``.
    ``act_left``, ``act_right``: float32 ``[P, T, *act_shape]`` for a Box action space,
    int64 ``[P, T]`` for a Discrete one.
    ``target``: float32 ``[P]``, the probability that the LEFT segment is preferred
    (1 left, 0 right, 0.5 equal; values in between are soft labels).
    ``weight``: float32 ``[P]`` per-pair weight in the loss, or None for ones.
    """

    obs_left: np.ndarray
    act_left: np.ndarray
    obs_right: np.ndarray
    act_right: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None = None

    @property
    def n_pairs(self) -> int:
        """``P``"""
        return int(np.shape(self.target)[0])

    @property
    def segment_length(self) -> int:
        """``T``"""
        return int(np.shape(self.obs_left)[1])

    def subset(self, index: Any) -> PreferenceBatch:
        """The pairs ``index`` picks (an index array, a boolean mask or a slice)."""
        return PreferenceBatch(
            *(None if a is None else np.asarray(a)[index] for a in self)  # type: ignore[arg-type]
        )


class SegmentPairs(NamedTuple):
    """``U`` unlabelled pairs of segments, ``T`` steps each, shaped as in
    :class:`PreferenceBatch` (no target): what a fit may pseudo-label
    (:mod:`rlhf_sandbox.agents.reward.surf`)."""

    obs_left: np.ndarray
    act_left: np.ndarray
    obs_right: np.ndarray
    act_right: np.ndarray

    @property
    def n_pairs(self) -> int:
        """``U``"""
        return int(np.shape(self.obs_left)[0])


@dataclass(frozen=True)
class FitReport:
    """How one :meth:`RewardEnsemble.fit` went. Losses are the members' mean Bradley-Terry
    cross-entropy (random-response model included); accuracies are those of the ensemble's
    mean return difference over the pairs whose target is not 0.5 (nan where there are none)."""

    n_pairs: int
    """pairs in the batch"""
    n_train: int
    """pairs trained on (each member draws its bootstrap resample from these)"""
    n_heldout: int
    """pairs held out for early stopping and the held-out metrics"""
    train_loss: float
    """loss over the training pairs, at the restored (best) weights"""
    heldout_loss: float
    """loss over the held-out pairs at the restored weights; nan without held-out pairs"""
    heldout_accuracy: float
    """share of non-equal held-out pairs whose predicted preference has the label's sign"""
    train_accuracy: float
    """the same over the training pairs"""
    epochs: int
    """epochs run (passes over each member's resample), at most ``max_epochs``"""
    seconds: float
    """wall-clock time of the fit [s]"""
    n_dropped: int = 0
    """training pairs RIME left out of the last epoch (``rime``; 0 without it)"""
    n_flipped: int = 0
    """training pairs RIME trained with the label flipped in the last epoch"""
    n_pseudo: int = 0
    """unlabelled pairs the fitted ensemble's mean chance puts at ``pseudo_threshold`` or
    beyond, i.e. that it would pseudo-label (SURF; 0 without unlabelled pairs)"""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (nan becomes None)."""
        d = dataclasses.asdict(self)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FitReport:
        """The inverse of :meth:`to_json` (reports saved before a field existed get its
        default)."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d and f.default is not dataclasses.MISSING:
                continue
            v = d[f.name]
            kw[f.name] = int(v) if f.type in ("int", int) else (math.nan if v is None else float(v))
        return cls(**kw)


def heldout_mask(n_pairs: int, holdout: float, seed: int) -> np.ndarray:
    """Which pairs :meth:`RewardEnsemble.fit` holds out: bool ``[n_pairs]``.

    Pair i is held out when the i-th number of a uniform stream seeded by ``seed`` is below
    ``holdout``, so the mask of a longer batch begins with that of a shorter one. At least
    one pair (the last, if need be) is kept for training.
    """
    held = np.random.default_rng([seed, 1]).random(n_pairs) < holdout
    if n_pairs and held.all():
        held[-1] = False
    return held


def accuracy(diff: np.ndarray, target: np.ndarray) -> float:
    """Share of the pairs with ``target != 0.5`` where ``diff`` has the sign of ``target - .5``."""
    labelled = target != 0.5
    if not labelled.any():
        return math.nan
    return float(np.mean(np.sign(diff[labelled]) == np.sign(target[labelled] - 0.5)))
