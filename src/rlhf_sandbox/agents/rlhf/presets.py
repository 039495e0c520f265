"""Ready-made runs: the demo (``rlhf-sandbox demo``, ``make demo``), also the run of the
label-efficiency benchmark."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings

# The demo: a short RLHF run on the highway with the courteous oracle.
DEMO_ENV = "rlhf_sandbox/Highway-v0"
DEMO_ENV_KWARGS: dict[str, Any] = {"policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 20}
DEMO_TIMESTEPS = 100_000
DEMO_LABELS = 400
DEMO_CLIP_SECONDS = 4.0  # 20 decisions: 2 s clips taught the reward model too little
# PPO's discount per decision: 0.8 per second (highway-env's horizon for its 1 Hz
# decisions) spread over 5 decisions a second. At 0.8 per decision PPO looked 1 s ahead, too
# short to see where following at 25 m/s leads. Same 5 seeds, 500 labels: RLHF runs crashed
# in 16% of evaluation episodes instead of 33% (docs/BENCHMARKS.md).
DEMO_GAMMA = 0.8 ** (1 / DEMO_ENV_KWARGS["policy_hz"])
DEMO_EPISODES = 20  # evaluation episodes of the demo's report


def demo_settings(
    seed: int = 0,
    rater: str = "perfect",
    timesteps: int = DEMO_TIMESTEPS,
    labels: int = DEMO_LABELS,
) -> RLHFSettings:
    """The demo's run: the highway, the ``courteous`` oracle with a ``rater`` preset."""
    return RLHFSettings(
        env_id=DEMO_ENV,
        env_kwargs=DEMO_ENV_KWARGS,
        teacher="courteous",
        rater=rater,
        labels=labels,
        timesteps=timesteps,
        clip_seconds=DEMO_CLIP_SECONDS,
        # half the labels on the random policy's first rollout, where all behaviours show:
        # with a quarter, the learned reward told "slower" from "idle" less often
        initial_label_share=0.5,
        seed=seed,
        ppo=dataclasses.replace(PPOSettings(), seed=seed, gamma=DEMO_GAMMA),
    )
