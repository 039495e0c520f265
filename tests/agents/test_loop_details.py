"""Small details of the learners: distribution checks off while training, the progress line."""

from __future__ import annotations

import pytest


def test_unchecked_distributions_skips_checks_inside_and_restores_them() -> None:
    import torch

    from rlhf_sandbox.agents.ppo import unchecked_distributions

    bad = (torch.zeros(1), -torch.ones(1))  # a negative scale: invalid
    with pytest.raises(ValueError):
        torch.distributions.Normal(*bad)
    with unchecked_distributions():
        torch.distributions.Normal(*bad)  # not checked
    with pytest.raises(ValueError):
        torch.distributions.Normal(*bad)
    with pytest.raises(RuntimeError), unchecked_distributions():
        raise RuntimeError("restored on the way out too")
    with pytest.raises(ValueError):
        torch.distributions.Normal(*bad)


def test_progress_line_shows_a_dash_for_a_fit_without_held_out_pairs() -> None:
    from rlhf_sandbox.agents.rlhf import accuracy_text

    assert accuracy_text(None) == "-"  # a fit on too few labels for a held-out set
    assert accuracy_text(float("nan")) == "-"
    assert accuracy_text(0.8149) == "0.81"
