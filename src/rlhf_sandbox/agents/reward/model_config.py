"""Settings of the reward-model ensemble and the Bradley-Terry loss it is trained with.

``P(left) = (1 - rr) * sigmoid(R_left - R_right) + rr / 2``, ``rr`` the chance of a random
answer (``random_response``); see :mod:`rlhf_sandbox.agents.reward.ensemble`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from rlhf_sandbox.config import ConfigError, setting, validate

__all__ = ["RewardModelConfig", "bradley_terry_loss", "pair_nll"]


@dataclass(frozen=True)
class RewardModelConfig:
    """Settings of a reward-model ensemble and of its training."""

    n_members: int = setting(3, lo=1, hi=256, doc="networks in the ensemble (K)")
    hidden: tuple[int, ...] = setting((64, 64), lo=1, doc="hidden layer widths; () is linear")
    activation: Literal["relu", "tanh", "leaky_relu"] = setting("relu", doc="hidden activation")
    lr: float = setting(1e-3, lo=0.0, doc="AdamW step size (> 0)")
    weight_decay: float = setting(
        1e-4, lo=0.0, doc="AdamW's decoupled weight decay (not an L2 term in the loss)"
    )
    batch_size: int = setting(64, lo=1, doc="pairs per gradient step (per member)")
    max_epochs: int = setting(100, lo=1, doc="most passes over each member's resample per fit")
    patience: int = setting(5, lo=1, doc="epochs without a better held-out loss before stopping")
    holdout: float = setting(0.15, lo=0.0, doc="share of pairs held out, in [0, 1)")
    random_response: float = setting(0.1, lo=0.0, doc="chance of a random answer, in [0, 1)")
    bagging: bool = setting(True, doc="each member trains on a bootstrap resample of the pairs")
    normalise: bool = setting(True, doc="rewards scaled to mean 0, std 1 over the fit's steps")
    normalise_inputs: bool = setting(
        False, doc="observations standardised by the first fit's steps (then kept fixed)"
    )
    input_features: Literal["auto", "none", "arena"] = setting(
        "auto",
        doc="inputs computed from each observation and given beside it: arena (the distance"
        " to the player in metres, capped at 6), none; auto: arena on the arena's envs, none"
        " elsewhere (agents.reward.inputs)",
    )
    device: Literal["auto", "cpu", "cuda"] = setting("auto", doc="auto: cuda if available")
    seed: int = setting(0, lo=0, doc="seed of the initial weights, the split and the resamples")
    # --- issue 17's ideas from the literature, each off by default (docs/BENCHMARKS.md)
    rime: bool = setting(
        False,
        doc="RIME: each epoch trains only on pairs whose KL to the ensemble's prediction is"
        " under an adaptive bound, and flips labels it contradicts with near certainty",
    )
    rime_alpha: float = setting(0.5, lo=0.0, doc="RIME: bound = -ln(rho) + alpha rho + ...")
    rime_beta_max: float = setting(3.0, lo=0.0, doc="RIME: weight of the KL variance at first")
    rime_beta_min: float = setting(1.0, lo=0.0, doc="RIME: weight of the KL variance at last")
    rime_decay: int = setting(60, lo=1, doc="RIME: epochs of a fit over which that weight falls")
    rime_flip: float = setting(
        1e-3, lo=0.0, doc="RIME: flip a label the model gives a chance below this (0: never)"
    )
    crop: float = setting(
        0.0,
        lo=0.0,
        doc="SURF temporal crop: pairs are summed over random windows of (1 - crop) T to T"
        " steps, one length for both sides; 0 off, < 1",
    )
    pseudo_threshold: float = setting(
        0.95,
        lo=0.5,
        doc="SURF pseudo-labels, in a fit given unlabelled pairs (fit(unlabelled=...); the loop"
        " gives none): a member's confidence that labels a pair, (0.5, 1]",
    )
    pseudo_weight: float = setting(
        1.0, lo=0.0, doc="SURF: weight of the pseudo-labelled loss (0: unlabelled pairs unused)"
    )
    stop_on: Literal["auto", "loss", "error"] = setting(
        "auto",
        doc="what early stopping minimises on the held-out pairs: loss (cross-entropy) or"
        " error (mean |label - P(left)|, whose ranking of models wrong labels do not change);"
        " auto: error with rime, else loss",
    )

    def __post_init__(self) -> None:
        validate(self)
        name = type(self).__name__
        if self.lr <= 0:
            raise ConfigError(f"{name}.lr must be > 0, got {self.lr!r}")
        for field in ("holdout", "random_response", "crop"):
            if getattr(self, field) >= 1:
                raise ConfigError(f"{name}.{field} must be < 1, got {getattr(self, field)!r}")
        if not 0.5 < self.pseudo_threshold <= 1:
            raise ConfigError(
                f"{name}.pseudo_threshold must be in (0.5, 1], got {self.pseudo_threshold!r}"
            )
        if self.rime_flip >= 1:
            raise ConfigError(f"{name}.rime_flip must be < 1, got {self.rime_flip!r}")
        if self.rime_beta_min > self.rime_beta_max:
            raise ConfigError(
                f"{name}.rime_beta_min must be <= rime_beta_max ({self.rime_beta_max!r}),"
                f" got {self.rime_beta_min!r}"
            )
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"{name}.device is 'cuda' but CUDA is not available to torch "
                f"{torch.__version__}; use 'auto' or 'cpu'"
            )


def pair_nll(diff: torch.Tensor, target: torch.Tensor, random_response: float) -> torch.Tensor:
    """Cross-entropy of each pair, given ``diff = R_left - R_right`` (elementwise)."""
    if random_response == 0.0:
        return -(target * F.logsigmoid(diff) + (1 - target) * F.logsigmoid(-diff))
    keep, half = 1.0 - random_response, 0.5 * random_response
    log_p = torch.log(keep * torch.sigmoid(diff) + half)  # >= log(rr / 2): finite
    log_q = torch.log(keep * torch.sigmoid(-diff) + half)
    return -(target * log_p + (1 - target) * log_q)


def bradley_terry_loss(
    returns_left: torch.Tensor,
    returns_right: torch.Tensor,
    target: torch.Tensor,
    random_response: float = 0.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of the labels under the Bradley-Terry model with random responses.

    ``P(left) = (1 - rr) sigmoid(R_l - R_r) + rr / 2``; ``target`` is the labelled chance of
    left (0.5 for equal). With ``weight``, the weighted mean ``sum(w * ce) / sum(w)``.
    All tensors broadcast together; the result is a scalar.
    """
    if not 0.0 <= random_response < 1.0:
        raise ValueError(f"random_response must be in [0, 1), got {random_response!r}")
    nll = pair_nll(returns_left - returns_right, target, random_response)
    if weight is None:
        return nll.mean()
    weight = torch.broadcast_to(weight, nll.shape)
    return (weight * nll).sum() / weight.sum().clamp_min(1e-12)
