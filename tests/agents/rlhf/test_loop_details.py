"""Small details of the learners: distribution checks off while training, the progress line."""

from __future__ import annotations

import pytest


def test_unchecked_distributions_skips_checks_inside_and_restores_them() -> None:
    import torch

    from rlhf_sandbox.agents.policy.ppo import unchecked_distributions

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
    from rlhf_sandbox.agents.rlhf.loop import accuracy_text

    assert accuracy_text(None) == "-"  # a fit on too few labels for a held-out set
    assert accuracy_text(float("nan")) == "-"
    assert accuracy_text(0.8149) == "0.81"


def test_settings_of_the_wrong_type_name_the_field() -> None:
    from rlhf_sandbox.agents.policy.ppo import PPOSettings
    from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
    from rlhf_sandbox.config import ConfigError

    good = RLHFSettings(env_id="Pendulum-v1", teacher="env").to_json()
    assert RLHFSettings.from_json(good).to_json() == good  # every field fits its type
    with pytest.raises(ConfigError, match=r"RLHFSettings\.labels must be int, got '5'"):
        RLHFSettings.from_json({**good, "labels": "5"})
    assert PPOSettings(net_arch=[32, 32]).net_arch == (32, 32)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"PPOSettings\.gamma must be float"):
        PPOSettings(gamma="0.9")  # type: ignore[arg-type]
