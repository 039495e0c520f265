"""Peer benchmark: highway-env's highway-fast-v0 (and EnvPool's HighwayFast-v0), SB3 PPO on it.

Runs inside .venv-peers/highway (made by bench/peers/setup.sh), never in the project's venv.
Prints ONE line of JSON on stdout; notes go to stderr. Exits 2 when the environment's config is
not the one we compare against.

    .venv-peers/highway/bin/python bench/peers/highway_peer.py --what env --seconds 15
    .venv-peers/highway/bin/python bench/peers/highway_peer.py --what ppo --seconds 15 --n-envs 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import gymnasium as gym
import highway_env  # noqa: F401  (registers highway-fast-v0)
import numpy as np

ENV_ID = "highway-fast-v0"
ENVPOOL_TASK = "HighwayFast-v0"
# The settings of highway-fast-v0 that our comparison relies on.
EXPECTED = {
    "lanes_count": 3,
    "vehicles_count": 20,
    "simulation_frequency": 5,
    "policy_frequency": 1,
    "duration": 30,
}


def checked_config(config: Any, source: str) -> dict[str, Any]:
    """The EXPECTED keys of `config` (a dict or an object); exits 2 if they differ."""
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k, None)
    found = {key: get(key) for key in EXPECTED}
    if found != EXPECTED:
        print(f"highway_peer: {source} config differs: {found} != {EXPECTED}", file=sys.stderr)
        sys.exit(2)
    print(f"highway_peer: {source} config OK: {found}", file=sys.stderr)
    return found


def highway_env_speed(seconds: float, seed: int) -> dict[str, Any]:
    """Steps/s of one highway-fast-v0 with random actions; resets count in wall time only."""
    env = gym.make(ENV_ID)
    config = checked_config(env.unwrapped.config, ENV_ID)  # type: ignore[attr-defined]
    env.action_space.seed(seed)
    env.reset(seed=seed)
    steps = episodes = 0
    cpu, start = time.process_time(), time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
            episodes += 1
    env.close()
    return {
        "env": ENV_ID,
        "steps": steps,
        "episodes": episodes,
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu,
        "steps_per_s": steps / elapsed,
        "config": config,
    }


def envpool_speed(seconds: float, seed: int) -> dict[str, Any] | None:
    """EnvPool's HighwayFast-v0 with 1 env / 1 thread and 2 envs / 2 threads; None without EnvPool.

    EnvPool resets a finished env on the next step() call; those reset calls are not counted as
    steps (their info["elapsed_step"] is 0) but their time is, as for highway-env above.
    """
    try:
        import envpool  # type: ignore[import-not-found]
    except ImportError:
        print("highway_peer: envpool is not installed", file=sys.stderr)
        return None
    result: dict[str, Any] = {"version": version("envpool"), "task": ENVPOOL_TASK}
    if ENVPOOL_TASK not in envpool.list_all_envs():
        result["error"] = f"envpool {result['version']} has no {ENVPOOL_TASK} task"
        print(f"highway_peer: {result['error']}", file=sys.stderr)
        return result
    runs = []
    for n in (1, 2):
        env = envpool.make_gymnasium(ENVPOOL_TASK, num_envs=n, num_threads=n, seed=seed)
        result["config"] = checked_config(env.spec.config, f"envpool {ENVPOOL_TASK}")
        rng = np.random.default_rng(seed)
        env.reset()
        steps = 0
        cpu, start = time.process_time(), time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            _, _, _, _, info = env.step(rng.integers(0, env.action_space.n, size=n))
            steps += int(np.count_nonzero(info["elapsed_step"]))
        cpu = time.process_time() - cpu
        env.close()
        runs.append(
            {
                "num_envs": n,
                "num_threads": n,
                "steps": steps,
                "cpu_seconds": cpu,
                "steps_per_s": steps / elapsed,
            }
        )
    result["runs"] = runs
    return result


def ppo_speed(seconds: float, n_envs: int, seed: int) -> dict[str, Any]:
    """SB3 PPO timesteps/s on highway-fast-v0: wall time of learn() over >= 2 whole rollouts."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    venv = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    config = checked_config(venv.envs[0].unwrapped.config, ENV_ID)  # type: ignore[attr-defined]
    n_steps = 64
    model = PPO(
        "MlpPolicy", venv, n_steps=n_steps, batch_size=256, n_epochs=4, device="cpu", seed=seed
    )
    rollout = n_steps * n_envs
    # One rollout (and its update) as warm-up, which also sizes the measured run.
    start = time.perf_counter()
    model.learn(total_timesteps=rollout)
    per_rollout = time.perf_counter() - start
    rollouts = max(2, round(seconds / per_rollout))
    cpu, start = time.process_time(), time.perf_counter()
    model.learn(total_timesteps=rollouts * rollout, reset_num_timesteps=True)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    venv.close()
    return {
        "env": ENV_ID,
        "n_envs": n_envs,
        "algo": {
            "name": "PPO",
            "policy": "MlpPolicy",
            "n_steps": n_steps,
            "batch_size": 256,
            "n_epochs": 4,
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
        },
        "rollouts": rollouts,
        "timesteps": model.num_timesteps,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "timesteps_per_s": model.num_timesteps / elapsed,
        "config": config,
        "versions": {"stable-baselines3": version("stable-baselines3"), "torch": torch.__version__},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=["env", "ppo"], required=True)
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement time (each run)")
    parser.add_argument("--n-envs", type=int, default=1, help="PPO's number of envs (ppo only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "peer": "highway-env",
        "version": version("highway-env"),
        "gymnasium": version("gymnasium"),
        "what": args.what,
    }
    if args.what == "env":
        out |= highway_env_speed(args.seconds, args.seed)
        out["envpool"] = envpool_speed(args.seconds, args.seed)
    else:
        out |= ppo_speed(args.seconds, args.n_envs, args.seed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
