"""What the learned reward costs PPO: timesteps/s with ``LearnedReward`` vs the env reward.

Run: ``.venv/bin/python bench/wrapper_overhead.py`` (part of ``make bench``).

Both sides: SB3 PPO, MlpPolicy (256, 256), n_steps=64, batch_size=256, n_epochs=4, 16 envs
of Highway-v0 at 5 Hz, one torch thread. The learned side wraps the same vector env in
``LearnedReward`` with a fitted 3-member ensemble (64, 64) on the CPU: one batched forward
per vector step. Runs are interleaved (env, learned, env, learned, ...) so that machine
noise hits both alike; the ratio is of the medians. A third side adds ``RecordClips``
(what the RLHF loop also runs) for information. Reward-model retraining (500 pairs of
10-step clips) is timed on its own: the loop does it once per rollout, outside PPO's steps.

Target (issue 4): learned-reward PPO timesteps/s >= 0.90x env-reward PPO.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
from common import save, single_thread

import rlhf_sandbox  # noqa: F401
from rlhf_sandbox.agents.policy.ppo import PPOSettings, make_model
from rlhf_sandbox.agents.reward.absorbing import reward_space
from rlhf_sandbox.agents.reward.batches import PreferenceBatch
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
from rlhf_sandbox.agents.reward.wrappers import LearnedReward
from rlhf_sandbox.agents.rlhf.recording import RecordClips
from rlhf_sandbox.envs.vector import make_vec_env

ENV = "rlhf_sandbox/Highway-v0"
KW = {"policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 20}
SETTINGS = PPOSettings(n_envs=16, n_steps=64, batch_size=256, n_epochs=4)


def fitted_model(pairs: int = 500, length: int = 10) -> tuple[RewardEnsemble, float]:
    """A reward ensemble fitted on random-policy segments (labels from a linear rule)."""
    venv = make_vec_env(ENV, 1, 0, **KW)
    space = reward_space(venv.observation_space)  # the observation plus the absorbing flag
    model = RewardEnsemble(space, venv.action_space, RewardModelConfig())
    rng = np.random.default_rng(0)
    dim = space.shape[0]
    obs = rng.uniform(-1, 1, size=(2, pairs, length, dim)).astype(np.float32)
    obs[..., -1] = 0.0
    act = rng.integers(0, 5, size=(2, pairs, length))
    w = rng.normal(size=dim)
    ret = (obs @ w).sum(axis=2)
    batch = PreferenceBatch(
        obs[0], act[0], obs[1], act[1], (ret[0] > ret[1]).astype(np.float32),
        np.ones(pairs, dtype=np.float32),
    )  # fmt: skip
    t0 = time.perf_counter()
    model.fit(batch)
    return model, time.perf_counter() - t0


def ppo_rate(kind: str, model: RewardEnsemble, steps: int) -> float:
    venv = make_vec_env(ENV, SETTINGS.n_envs, 0, **KW)
    if kind == "recorded":
        venv = RecordClips(venv, capacity=SETTINGS.n_steps)
    if kind in ("learned", "recorded"):
        venv = LearnedReward(venv, model, gamma=SETTINGS.gamma)
    algo = make_model(venv, SETTINGS)
    algo.learn(total_timesteps=SETTINGS.n_envs * SETTINGS.n_steps)  # warm-up
    t0 = time.perf_counter()
    algo.learn(total_timesteps=steps, reset_num_timesteps=False)
    rate = steps / (time.perf_counter() - t0)
    venv.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_480, help="PPO steps per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    single_thread()
    model, fit_s = fitted_model()
    fits = [fitted_model()[1] for _ in range(2)] + [fit_s]
    kinds = ("env", "learned", "recorded")
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(args.repeats):
        for k in kinds:
            rates[k].append(ppo_rate(k, model, args.steps))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {rates[k][-1]:,.0f}" for k in kinds))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = med["learned"] / med["env"]
    print(f"PPO timesteps/s (median of {args.repeats}, interleaved, 16 envs):")
    for k in kinds:
        print(f"  {k:9s} {med[k]:8,.0f}   ({med[k] / med['env']:.3f}x env reward)")
    verdict = "PASS" if ratio >= 0.90 else "FAIL"
    print(f"learned / env = {ratio:.3f} (target >= 0.90: {verdict})")
    print(f"reward-model retraining, 500 pairs x 10 steps: median {statistics.median(fits):.2f} s")
    path = save(
        "wrapper_overhead",
        {"rates": rates, "median": med, "ratio": ratio, "fit_seconds": fits, "steps": args.steps},
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
