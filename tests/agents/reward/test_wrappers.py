"""LearnedReward and OracleReward: what PPO sees, what info keeps, one forward per step."""

from __future__ import annotations

import numpy as np

from rlhf_sandbox.agents.reward.wrappers import LearnedReward, OracleReward
from rlhf_sandbox.agents.teachers.oracles import get_oracle
from rlhf_sandbox.envs.vector import make_vec_env

ENV = "rlhf_sandbox/Highway-v0"
KW = {"policy_hz": 5, "duration": 4.0, "vehicles": 10}


class CountingModel:
    """A reward 'model' that scores the first observation entry and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.batch_sizes: list[int] = []

    def predict(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.batch_sizes.append(len(obs))
        return obs[:, 0] * 10 + actions


def test_learned_reward_one_batched_call_per_step_and_env_reward_kept() -> None:
    model = CountingModel()
    venv = LearnedReward(make_vec_env(ENV, 4, 0, **KW))
    venv.reset()
    r0 = venv.step(np.ones(4, dtype=np.int64))[1]
    np.testing.assert_array_equal(r0, 0.0)  # no model yet: zero
    venv.model = model
    for t in range(25):  # crosses episode ends (20 steps)
        actions = np.full(4, t % 5)
        prev = venv._obs.copy()  # type: ignore[union-attr]
        _, reward, _, infos = venv.step(actions)
        np.testing.assert_allclose(reward, prev[:, 0] * 10 + actions, rtol=1e-6)
        assert all("env_reward" in i for i in infos)
        assert not np.allclose([i["env_reward"] for i in infos], reward)
    assert model.calls == 25 and set(model.batch_sizes) == {5}  # 4 envs + the absorbing row


def test_oracle_reward_reads_features() -> None:
    oracle = get_oracle("courteous")
    venv = OracleReward(make_vec_env(ENV, 3, 0, **KW), oracle)
    venv.reset()
    _, reward, _, infos = venv.step(np.full(3, 3))
    feats = {k: np.array([i["features"][k] for i in infos]) for k in oracle.features}
    env_r = np.array([i["env_reward"] for i in infos])
    np.testing.assert_allclose(reward, oracle(feats, env_r), rtol=1e-6)
