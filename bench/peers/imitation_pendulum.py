"""Peer: imitation 1.0.1's PreferenceComparisons (RLHF with synthetic labels) on Pendulum-v1.

Runs inside `.venv-peers/imitation` (see bench/peers/setup.sh and README.md). Builds the pipeline
of imitation's preference-comparisons tutorial (docs/tutorials/5_train_preference_comparisons
.ipynb, the version that ships with 1.0.x), with the benchmark's budget instead of the
tutorial's: `train(total_timesteps=--timesteps, total_comparisons=--comparisons)`.

Per seed it reports the wall time of the whole `PreferenceComparisons.train` call, the mean true
(Pendulum) return of the trained PPO agent over 10 deterministic episodes, the PPO steps actually
trained, and every env step taken (PPO rollouts + the extra rollouts that make query fragments),
counted by a VecEnvWrapper under everything. One JSON line per seed on stdout; with `--json`,
also a file holding the list of per-seed results. imitation's own log goes to stderr.

    .venv-peers/imitation/bin/python bench/peers/imitation_pendulum.py \
        --seeds 0 1 2 3 4 --timesteps 100000 --comparisons 500 --json OUT.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from imitation.algorithms import preference_comparisons as pc
from imitation.policies.base import FeedForward32Policy, NormalizeFeaturesExtractor
from imitation.rewards.reward_nets import BasicRewardNet
from imitation.util import logger as imit_logger
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

ENV_ID = "Pendulum-v1"
N_ENVS = 8  # make_vec_env's default, which the tutorial uses
EVAL_EPISODES = 10

# The tutorial's settings (imitation docs/tutorials/5_train_preference_comparisons.ipynb).
PPO_KWARGS = dict(
    n_steps=2048 // N_ENVS,  # 256 per env -> 2048-step rollouts
    batch_size=64,
    ent_coef=0.01,
    learning_rate=2e-3,
    clip_range=0.1,
    gae_lambda=0.95,
    gamma=0.97,
    n_epochs=10,
)
REWARD_TRAINER_EPOCHS = 3
EXPLORATION_FRAC = 0.05
PC_KWARGS = dict(
    num_iterations=5,  # the tutorial's value (its comment: "Set to 60 for better performance")
    fragment_length=100,
    transition_oversampling=1,
    initial_comparison_frac=0.1,
    allow_variable_horizon=False,
    initial_epoch_multiplier=4,
    query_schedule="hyperbolic",
)


class StepCounter(VecEnvWrapper):
    """Counts every env step (summed over the sub-envs) that goes through it."""

    def __init__(self, venv: VecEnv):
        super().__init__(venv)
        self.steps = 0

    def reset(self):
        return self.venv.reset()

    def step_async(self, actions) -> None:
        self.venv.step_async(actions)

    def step_wait(self):
        self.steps += self.num_envs
        return self.venv.step_wait()


def settings(timesteps: int, comparisons: int) -> dict:
    return {
        "env": ENV_ID,
        "n_envs": N_ENVS,
        "vec_env": "DummyVecEnv (imitation.util.util.make_vec_env)",
        "total_timesteps": timesteps,
        "total_comparisons": comparisons,
        "reward_net": "BasicRewardNet(obs, act; hid_sizes=(32, 32), "
        "normalize_input_layer=RunningNorm)",
        "fragmenter": "RandomFragmenter(warning_threshold=0)",
        "gatherer": "SyntheticGatherer() (true env reward, temperature=1, sample=True)",
        "preference_model": "PreferenceModel(reward_net) (noise_prob=0, discount_factor=1)",
        "reward_trainer": "BasicRewardTrainer(CrossEntropyRewardLoss, "
        f"epochs={REWARD_TRAINER_EPOCHS}, lr=1e-3, batch_size=32)",
        "policy": "FeedForward32Policy (net_arch=[32, 32], "
        "NormalizeFeaturesExtractor(RunningNorm))",
        "ppo": dict(PPO_KWARGS, device="cpu", use_sde=False),
        "exploration_frac": EXPLORATION_FRAC,
        "preference_comparisons": PC_KWARGS,
        "eval": f"evaluate_policy(agent.policy, venv, {EVAL_EPISODES}), deterministic, true reward",
        "torch_threads": torch.get_num_threads(),
    }


def run_seed(seed: int, timesteps: int, comparisons: int, verbose: bool) -> dict:
    torch.set_num_threads(1)
    set_random_seed(seed)  # the reward net is built before PPO seeds torch
    rng = np.random.default_rng(seed)

    venv = make_vec_env(ENV_ID, rng=rng, n_envs=N_ENVS)
    counted = StepCounter(venv)
    # Held-out envs for the mid-training check, so that it leaves the training envs alone.
    eval_venv = make_vec_env(ENV_ID, rng=np.random.default_rng(10_000 + seed), n_envs=N_ENVS)

    with (
        tempfile.TemporaryDirectory(prefix="imitation-peer-") as log_dir,
        contextlib.redirect_stdout(sys.stderr),
    ):
        formats = ["stdout", "log", "csv"] if verbose else ["log", "csv"]
        custom_logger = imit_logger.configure(log_dir, formats)

        reward_net = BasicRewardNet(
            counted.observation_space, counted.action_space, normalize_input_layer=RunningNorm
        )
        fragmenter = pc.RandomFragmenter(warning_threshold=0, rng=rng)
        gatherer = pc.SyntheticGatherer(rng=rng)
        preference_model = pc.PreferenceModel(reward_net)
        reward_trainer = pc.BasicRewardTrainer(
            preference_model=preference_model,
            loss=pc.CrossEntropyRewardLoss(),
            epochs=REWARD_TRAINER_EPOCHS,
            rng=rng,
        )
        agent = PPO(
            policy=FeedForward32Policy,
            policy_kwargs=dict(
                features_extractor_class=NormalizeFeaturesExtractor,
                features_extractor_kwargs=dict(normalize_class=RunningNorm),
            ),
            env=counted,
            seed=seed,
            device="cpu",
            **PPO_KWARGS,
        )
        trainer = pc.AgentTrainer(
            algorithm=agent,
            reward_fn=reward_net,
            venv=counted,
            exploration_frac=EXPLORATION_FRAC,
            rng=rng,
        )
        pref = pc.PreferenceComparisons(
            trainer,
            reward_net,
            fragmenter=fragmenter,
            preference_gatherer=gatherer,
            reward_trainer=reward_trainer,
            custom_logger=custom_logger,
            **PC_KWARGS,
        )

        iterations: list[dict] = []
        checkpoint: dict = {}
        excluded = 0.0  # seconds spent in the checkpoint evaluation, taken out of the timing

        def on_iteration(it: int) -> None:
            nonlocal excluded
            iterations.append(
                {
                    "iteration": it,
                    "ppo_steps": int(agent.num_timesteps),
                    "env_steps": counted.steps,
                    "comparisons": len(pref.dataset),
                }
            )
            if not checkpoint and agent.num_timesteps >= timesteps:
                t = time.perf_counter()
                mean, std = evaluate_policy(
                    agent.policy, eval_venv, EVAL_EPISODES, deterministic=True
                )
                excluded += time.perf_counter() - t
                checkpoint.update(
                    ppo_steps=int(agent.num_timesteps),
                    env_steps=counted.steps,
                    iteration=it,
                    **{"return": float(mean), "return_std": float(std)},
                )

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        metrics = pref.train(
            total_timesteps=timesteps, total_comparisons=comparisons, callback=on_iteration
        )
        seconds = time.perf_counter() - t0 - excluded
        cpu_seconds = time.process_time() - cpu0 - excluded  # approx.: eval is ~1 core too

    ppo_steps = int(agent.num_timesteps)
    env_steps = counted.steps
    # The tutorial's evaluation: the trained agent's policy on the training venv (true reward).
    mean, std = evaluate_policy(agent.policy, venv, EVAL_EPISODES, deterministic=True)
    held_mean, held_std = evaluate_policy(
        agent.policy, eval_venv, EVAL_EPISODES, deterministic=True
    )
    venv.close()
    eval_venv.close()
    return {
        "seed": seed,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "return": float(mean),
        "return_std": float(std),
        "return_heldout_envs": float(held_mean),
        "return_heldout_envs_std": float(held_std),
        "ppo_steps": ppo_steps,
        "env_steps": env_steps,
        "query_env_steps": env_steps - ppo_steps,
        "comparisons": len(pref.dataset),
        "reward_loss": float(metrics["reward_loss"]),
        "reward_accuracy": float(metrics["reward_accuracy"]),
        "at_budget": checkpoint or None,
        "iterations": iterations,
        "settings": settings(timesteps, comparisons),
    }


def versions() -> dict:
    import gymnasium
    import imitation
    import stable_baselines3

    return {
        "imitation": imitation.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--timesteps", type=int, default=100_000)
    ap.add_argument("--comparisons", type=int, default=500)
    ap.add_argument("--json", help="also write the list of per-seed results to this file")
    ap.add_argument("--verbose", action="store_true", help="imitation's log tables on stderr")
    args = ap.parse_args()

    torch.set_num_threads(1)
    vers = versions()
    results = []
    for seed in args.seeds:
        res = run_seed(seed, args.timesteps, args.comparisons, args.verbose)
        res["peer"] = "imitation"
        res["versions"] = vers
        results.append(res)
        print(json.dumps(res), flush=True)
        if args.json:  # rewrite after each seed so a cut-off run keeps what it has
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    if len(results) > 1:
        med = {
            k: statistics.median(r[k] for r in results)
            for k in ("seconds", "return", "ppo_steps", "env_steps")
        }
        print(f"median over seeds {args.seeds}: {json.dumps(med)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
