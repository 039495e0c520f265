"""Reward-model training and learned-reward PPO on a CUDA device, beside the CPU.

Run: ``bash bench/gpu.sh`` on a CUDA machine (``--device cpu`` runs the same on the CPU).
Prints, per device: reward-model fit time on 2,000 pairs of 20-step highway segments
(3 members, (256, 256)) and its held-out accuracy, ``predict`` latency for a 16-env batch,
and SB3 PPO timesteps/s on ``LearnedReward`` (16 envs, policy and reward model on the
device). The driving world runs on its numpy backend here (no numba compile on a fresh
machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
import torch

import rlhf_sandbox  # noqa: F401
from rlhf_sandbox.agents.policy.ppo import PPOSettings, make_model
from rlhf_sandbox.agents.reward.absorbing import reward_space
from rlhf_sandbox.agents.reward.batches import PreferenceBatch
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
from rlhf_sandbox.agents.reward.wrappers import LearnedReward
from rlhf_sandbox.agents.rlhf.recording import RecordClips
from rlhf_sandbox.envs.vector import make_vec_env

ENV = "rlhf_sandbox/Highway-v0"
KW = {"policy_hz": 5, "duration": 20.0, "backend": "numpy"}


def segments(n_pairs: int, length: int) -> tuple[PreferenceBatch, object, object]:
    """Pairs of random-policy segments labelled by their summed env reward."""
    venv = make_vec_env(ENV, 16, 0, **KW)
    rec = RecordClips(venv, capacity=400)
    rec.reset()
    rng = np.random.default_rng(0)
    for _ in range(400):
        rec.step(rng.integers(0, 5, size=16))
    seg = rec.segments(length)
    obs, act = rec.segment_arrays(seg, length)
    _, env_r, _ = rec.segment_features(seg, length)
    ret = env_r.sum(axis=1)
    a, b = rng.integers(0, len(ret), size=(2, n_pairs))
    batch = PreferenceBatch(
        obs[a], act[a], obs[b], act[b], (ret[a] > ret[b]).astype(np.float32),
        np.ones(n_pairs, np.float32),
    )  # fmt: skip
    return batch, venv.observation_space, venv.action_space


def run(device: str, ppo_steps: int, pairs: int) -> dict:
    batch, obs_space, act_space = segments(pairs, 20)
    cfg = RewardModelConfig(hidden=(256, 256), max_epochs=30, patience=5, device=device)
    model = RewardEnsemble(reward_space(obs_space), act_space, cfg)
    t0 = time.perf_counter()
    report = model.fit(batch)
    fit_s = time.perf_counter() - t0
    x = batch.obs_left[:16, 0]
    a = batch.act_left[:16, 0]
    for _ in range(50):
        model.predict(x, a)
    times = []
    for _ in range(500):
        t = time.perf_counter()
        model.predict(x, a)
        times.append(time.perf_counter() - t)
    settings = PPOSettings(device=device)
    venv = LearnedReward(make_vec_env(ENV, 16, 0, **KW), model, gamma=settings.gamma)
    algo = make_model(venv, settings)
    algo.learn(total_timesteps=1024)
    t0 = time.perf_counter()
    algo.learn(total_timesteps=ppo_steps, reset_num_timesteps=False)
    rate = ppo_steps / (time.perf_counter() - t0)
    return {
        "device": str(model.device),
        "name": torch.cuda.get_device_name(0) if model.device.type == "cuda" else "cpu",
        "fit_seconds": round(fit_s, 2),
        "fit_epochs": report.epochs,
        "heldout_accuracy": round(report.heldout_accuracy, 3),
        "predict_us": round(statistics.median(times) * 1e6, 1),
        "ppo_timesteps_per_s": round(rate, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--ppo-steps", type=int, default=16_384)
    ap.add_argument("--pairs", type=int, default=2_000)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [run(args.device, args.ppo_steps, args.pairs)]
    if args.device == "cuda":
        rows.append(run("cpu", args.ppo_steps, args.pairs))  # the same machine's CPU, beside it
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
