"""A teacher whose reward turns NaN (a NaN behaviour feature) stops the run with one line
naming the env and the teacher, before a query or label of that round is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.envs.vector import NonFiniteEnvError
from rlhf_sandbox.store.run_folder import RUN

S = RLHFSettings(
    env_id="rlhf_sandbox/HighwayFast-v0", env_kwargs={"vehicles": 8}, labels=12,
    timesteps=256, clip_seconds=4.0,
    ppo=PPOSettings(n_envs=2, n_steps=32, batch_size=64, n_epochs=1, net_arch=(16, 16)),
    reward_model=RewardModelConfig(n_members=2, hidden=(16, 16), max_epochs=5),
)  # fmt: skip


def test_a_nan_teacher_reward_stops_the_run_before_storing_the_round(tmp_path: Path) -> None:
    loop = RLHFLoop(S, tmp_path / "run")
    real = loop.oracle
    assert real is not None

    def nan_oracle(features: dict[str, np.ndarray], env_reward: np.ndarray) -> Any:
        out = np.asarray(real(features, env_reward), dtype=np.float64)
        out[..., 1] = np.nan
        return out

    loop.oracle = nan_oracle  # type: ignore[assignment]
    with pytest.raises(NonFiniteEnvError, match=r"HighwayFast-v0: teacher courteous:perfect"):
        loop.train(progress=False)
    assert loop.db.queries(RUN) == [] and loop.db.label_count(RUN) == 0
    loop.close()
