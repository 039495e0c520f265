"""Ready-made runs: the demo (``rlhf-sandbox demo``, ``make demo``), also the run of the
label-efficiency benchmark."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings

# The demo: a short RLHF run on the highway with the highway oracle. Half the default spawn
# density with 30 vehicles: traffic to overtake all episode long. The observation by lane:
# with the nearest five vehicles' kinematics PPO on the oracle crashed in 20-28 of 30
# episodes, by lane in 3-8 (docs/ORACLES.md).
DEMO_ENV = "rlhf_sandbox/Highway-v0"
DEMO_ENV_KWARGS: dict[str, Any] = {
    "policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 30, "density": 0.5,
    "observation": "lanes",
}  # fmt: skip
DEMO_TEACHER = "highway"
DEMO_TIMESTEPS = 100_000
DEMO_LABELS = 400
DEMO_CLIP_SECONDS = 4.0  # 20 decisions: 2 s clips taught the reward model too little
# PPO's discount per decision: 0.8 per second (highway-env's horizon for its 1 Hz
# decisions) spread over 5 decisions a second. At 0.8 per decision PPO looked 1 s ahead, too
# short to see where following at 25 m/s leads. Same 5 seeds, 500 labels: RLHF runs crashed
# in 16% of evaluation episodes instead of 33% (docs/BENCHMARKS.md).
DEMO_GAMMA = 0.8 ** (1 / DEMO_ENV_KWARGS["policy_hz"])
DEMO_EPISODES = 20  # evaluation episodes of the demo's report
# PPO's other settings: longer rollouts and an entropy bonus (bench/oracle_levels.py's
# EXPLORE; with the defaults PPO settled on one constant action on some seeds).
DEMO_PPO: dict[str, Any] = {"n_steps": 128, "ent_coef": 0.01}
# The courteous oracle's world, the demo's until the highway oracle (docs/ORACLES.md).
COURTEOUS_ENV_KWARGS: dict[str, Any] = {
    "policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 20
}  # fmt: skip


def demo_settings(
    seed: int = 0,
    rater: str = "perfect",
    timesteps: int = DEMO_TIMESTEPS,
    labels: int = DEMO_LABELS,
) -> RLHFSettings:
    """The demo's run: the highway, the ``highway`` oracle with a ``rater`` preset."""
    return RLHFSettings(
        env_id=DEMO_ENV,
        env_kwargs=DEMO_ENV_KWARGS,
        teacher=DEMO_TEACHER,
        rater=rater,
        labels=labels,
        timesteps=timesteps,
        clip_seconds=DEMO_CLIP_SECONDS,
        # half the labels on the random policy's first rollout, where all behaviours show:
        # with a quarter, the learned reward told "slower" from "idle" less often
        initial_label_share=0.5,
        seed=seed,
        ppo=dataclasses.replace(PPOSettings(), seed=seed, gamma=DEMO_GAMMA, **DEMO_PPO),
    )
