"""PEBBLE's exploration in the loop (``explore_steps``): PPO first learns from a
state-entropy reward, no query is asked until it ends, then the loop runs as ever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.rlhf.loop import RUN, RLHFLoop
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, label_schedule
from rlhf_sandbox.config import ConfigError

PPO = PPOSettings(n_envs=4, n_steps=32, batch_size=64, n_epochs=1, net_arch=(16, 16))
RM = RewardModelConfig(hidden=(16, 16), max_epochs=5)


def _settings(**kw: object) -> RLHFSettings:
    base: dict[str, object] = dict(
        env_id="Pendulum-v1", teacher="env", labels=30, timesteps=128 * 6, clip_seconds=0.5,
        ppo=PPO, reward_model=RM,
    )  # fmt: skip
    base.update(kw)
    return RLHFSettings(**base)  # type: ignore[arg-type]


def test_schedule_waits_for_the_exploration() -> None:
    s = _settings(labels=100, timesteps=128 * 10, explore_steps=300)  # 3 rollouts of 128
    sched = label_schedule(s)
    assert s.explore_rollouts == 3
    assert sched[:3].tolist() == [0, 0, 0] and sched.sum() == 100
    assert sched[3] == 25  # the initial share, on the explored policy's first rollout
    assert sched[4] > sched[-1]
    assert label_schedule(_settings(labels=100, timesteps=128 * 10))[0] == 25  # none: as ever


def test_exploration_must_leave_steps_for_feedback() -> None:
    with pytest.raises(ConfigError, match=r"explore_steps.*leave none"):
        _settings(timesteps=128 * 4, explore_steps=128 * 4)
    _settings(timesteps=128 * 4, explore_steps=128 * 3)  # one rollout left: accepted


def test_ppo_learns_from_state_entropy_until_the_queries_start(tmp_path: Path) -> None:
    s = _settings(explore_steps=256)  # rollouts 0 and 1 explore, 2 to 5 ask
    loop = RLHFLoop(s, tmp_path / "run")
    assert loop.explorer is not None and loop.venv is loop.explorer
    seen: list[tuple[int, int, int, np.ndarray]] = []
    end = loop.on_rollout_end

    def spy(emitted: np.ndarray, locals_: dict[str, object]) -> None:
        it = loop.state.iteration
        end(emitted, locals_)
        rewards = np.array(loop.algo.rollout_buffer.rewards)  # what PPO's update will use
        seen.append((it, loop.state.labels_asked, loop.state.model_version, rewards))

    loop.on_rollout_end = spy  # type: ignore[method-assign]
    state = loop.train(progress=False)
    labelled = loop.db.label_count(RUN)
    loop.close()
    assert [x[0] for x in seen] == list(range(6))
    for _, asked, version, rewards in seen[:2]:  # exploring: no queries, no fit
        assert (asked, version) == (0, 0)
        assert rewards.std() > 0.1 and rewards.min() >= 0.0  # log(1 + d) / std: not 0
    _, asked, version, rewards = seen[2]
    assert asked == round(30 * s.initial_label_share) and version == 1
    assert state.labels_asked == 30 and labelled == 30
    assert loop.explorer.entropy is None  # its memory is freed once the phase is over


def test_resumed_run_knows_the_exploration_is_over(tmp_path: Path) -> None:
    s = _settings(explore_steps=128, timesteps=128 * 3)
    loop = RLHFLoop(s, tmp_path / "run")
    loop.train(progress=False)
    loop.close()
    again = RLHFLoop(None, tmp_path / "run", resume=True)
    try:
        assert again.explorer is not None and not again.explorer.exploring
        assert again.state.labels_asked == 30
    finally:
        again.close()


def test_fits_follow_the_rounds_of_asking_after_exploration(tmp_path: Path) -> None:
    s = _settings(explore_steps=128, timesteps=128 * 5, query_every=2)  # asks at 1 and 3
    assert label_schedule(s).nonzero()[0].tolist() == [1, 3]
    loop = RLHFLoop(s, tmp_path / "run")
    versions: list[int] = []
    end = loop.on_rollout_end

    def spy(emitted: np.ndarray, locals_: dict[str, object]) -> None:
        end(emitted, locals_)
        versions.append(loop.state.model_version)

    loop.on_rollout_end = spy  # type: ignore[method-assign]
    loop.train(progress=False)
    loop.close()
    assert versions == [0, 1, 1, 2, 2]  # each round's labels fitted in the same rollout
