"""Synthetic raters: the imperfect teachers of B-Pref (Lee et al. 2021) over oracle rewards.

A rater compares two clips by their per-step oracle rewards (``[P, T]`` each, P pairs of
T steps) and answers "left", "right", "equal" or "cant_tell" per pair, in B-Pref's order:

1. skip: "cant_tell" when ``max(R_left, R_right) <= skip * mean_segment_return`` (the
   undiscounted returns), applied only when that threshold is > 0, as in B-Pref;
2. equal: "equal" when ``|R_left - R_right| < equal * |mean_segment_return|``
   (undiscounted); this overrides everything below;
3. myopia: the returns compared from here on weigh step t of T by ``gamma ** (T - 1 - t)``;
4. choice: with finite ``beta``, "left" with probability
   ``sigmoid(beta * (R_left - R_right))``; with ``beta = inf``, the larger return, and
   "equal" on an exact tie (B-Pref's deterministic rule gives ties to the first segment);
5. mistake: the choice flipped left <-> right with probability ``eps_mistake``.

``mean_segment_return`` is the mean oracle return of a segment of this length (B-Pref:
the mean episode return times segment length / episode length), a scale for the
thresholds. Presets and their B-Pref names are in :data:`PRESETS` and ``docs/ORACLES.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

CHOICES = ("left", "right", "equal", "cant_tell")
LEFT, RIGHT, EQUAL, CANT_TELL = range(4)


@dataclass(frozen=True)
class RaterConfig:
    """One B-Pref teacher.

    Attributes:
        beta: Boltzmann rationality, > 0; ``inf`` = deterministic (B-Pref's beta <= 0).
        gamma: myopia, in (0, 1]: step t of T weighs ``gamma ** (T - 1 - t)``.
        eps_mistake: probability, in [0, 1], that a left/right choice is flipped.
        skip: eps_skip >= 0: "cant_tell" when both undiscounted returns are at most
            ``skip * mean_segment_return`` (only when that is > 0).
        equal: eps_equal >= 0: "equal" when the undiscounted returns differ by less than
            ``equal * |mean_segment_return|``.
    """

    beta: float = math.inf
    gamma: float = 1.0
    eps_mistake: float = 0.0
    skip: float = 0.0
    equal: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "beta": self.beta > 0,
            "gamma": 0 < self.gamma <= 1,
            "eps_mistake": 0 <= self.eps_mistake <= 1,
            "skip": self.skip >= 0,
            "equal": self.equal >= 0,
        }
        rules = {
            "beta": "> 0 (inf: deterministic)",
            "gamma": "in (0, 1]",
            "eps_mistake": "in [0, 1]",
            "skip": ">= 0",
            "equal": ">= 0",
        }
        for name, ok in checks.items():
            if not ok:  # NaN fails every comparison, so it lands here too
                value = getattr(self, name)
                raise ValueError(f"RaterConfig.{name} must be {rules[name]}, got {value!r}")


# B-Pref's teachers: Oracle, Stoc, Mistake, Skip, Equal, Myopic.
PRESETS: dict[str, RaterConfig] = {
    "perfect": RaterConfig(),
    "stochastic": RaterConfig(beta=1.0),
    "mistake": RaterConfig(eps_mistake=0.1),
    "skip": RaterConfig(skip=0.1),
    "equal": RaterConfig(equal=0.1),
    "myopic": RaterConfig(gamma=0.9),
}


def rater_config(preset: str, **overrides: float) -> RaterConfig:
    """The config of ``preset`` with ``overrides`` (fields of :class:`RaterConfig`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown rater preset {preset!r}; known: {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(RaterConfig)}
    for key in overrides:
        if key not in fields:
            raise ValueError(f"unknown RaterConfig field {key!r}; known: {', '.join(fields)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class SyntheticRater:
    """Labels pairs of clips like a B-Pref teacher; one seeded generator per rater."""

    def __init__(self, config: RaterConfig, seed: int = 0) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)

    def label(self, left: np.ndarray, right: np.ndarray, mean_segment_return: float) -> np.ndarray:
        """Choices ``[P]`` (strings of :data:`CHOICES`) for per-step rewards ``[P, T]`` each.

        ``mean_segment_return`` scales the skip and equal thresholds (same units as a
        segment's summed reward). Each call draws 2 P uniforms from the rater's generator,
        whatever the answers, so a pair's label depends only on the seed and its position.
        """
        left = np.asarray(left, dtype=np.float64)
        right = np.asarray(right, dtype=np.float64)
        if left.ndim != 2 or left.shape != right.shape or left.shape[1] == 0:
            raise ValueError(
                f"left and right must both be [P, T] with T >= 1; got {left.shape} "
                f"and {right.shape}"
            )
        if not math.isfinite(mean_segment_return):
            raise ValueError(f"mean_segment_return must be finite, got {mean_segment_return!r}")
        c = self.config
        p, t = left.shape
        u_choice, u_mistake = self.rng.random(p), self.rng.random(p)

        r_left, r_right = left.sum(axis=1), right.sum(axis=1)
        skip_at = c.skip * mean_segment_return
        skipped = np.zeros(p, dtype=bool)
        if skip_at > 0:
            skipped = np.maximum(r_left, r_right) <= skip_at
        equal = np.abs(r_left - r_right) < c.equal * abs(mean_segment_return)

        weights = c.gamma ** np.arange(t - 1, -1, -1, dtype=np.float64)
        diff = (left - right) @ weights
        if math.isinf(c.beta):
            choice = np.where(diff > 0, LEFT, RIGHT)
            equal |= diff == 0
        else:
            choice = np.where(u_choice < _sigmoid(c.beta * diff), LEFT, RIGHT)
        flip = u_mistake < c.eps_mistake
        choice = np.where(flip, LEFT + RIGHT - choice, choice)
        choice = np.where(equal, EQUAL, choice)
        choice = np.where(skipped, CANT_TELL, choice)
        return np.asarray(CHOICES)[choice]
