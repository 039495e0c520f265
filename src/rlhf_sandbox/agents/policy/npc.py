"""Training arena NPCs with stable-baselines3: one shared PPO policy per role.

:func:`role_vec_env` turns the batched arena into an SB3 ``VecEnv`` whose slots are every
NPC of one role in every world (``n_worlds x n_role`` slots); they all act through one
policy, the other NPCs follow their scripts. :func:`train_companions` trains companions
that way, compares the policy with random actions on the env reward, and writes
``policy.pt`` (a torch state dict), ``settings.json`` and ``companions.gif``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from rlhf_sandbox.agents.policy.ppo import RichProgress, unchecked_distributions
from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import role_vec_env
from rlhf_sandbox.files import check_out_folder, replacing_folder, write_gif
from rlhf_sandbox.store.run_folder import RunFolder

TRAIN_DEFAULTS = ArenaConfig(roles=("companion", "companion", "villager", "villager"))


ARENA_TRAIN = "arena train"  # the command whose marker an output folder carries


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters that learn companions in a few tens of thousands of steps."""

    n_steps: int = 128  # rollout length per slot
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 1e-3
    gamma: float = 0.95  # a short horizon: the reward is immediate
    normalize_reward: bool = True  # VecNormalize on rewards only (observations are in [-1, 1])


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_companions` measured and wrote."""

    timesteps: int
    seconds: float  # [s] wall time of training
    mean_reward_trained: float  # env reward per companion per step, greedy policy
    mean_reward_random: float  # the same with uniformly random actions
    mean_distance_trained: float  # [m] to the player
    mean_distance_random: float  # [m]
    policy_path: str
    gif_path: str


def make_model(env: VecEnv, seed: int, ppo: PPOSettings) -> PPO:
    venv: VecEnv = env
    if ppo.normalize_reward:
        venv = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=ppo.gamma)
    return PPO(
        "MlpPolicy",
        venv,
        n_steps=ppo.n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        learning_rate=ppo.learning_rate,
        gamma=ppo.gamma,
        seed=seed,
        device="cpu",
        verbose=0,
    )


def evaluate(
    policy: Any, config: ArenaConfig, seed: int, n_worlds: int = 8, steps: int = 300
) -> tuple[float, float]:
    """Mean env reward and distance [m] per companion per step; ``policy(obs) -> actions``,
    or ``None`` for uniformly random actions (seeded)."""
    env = role_vec_env("companion", n_worlds, config)
    env.seed(seed)
    obs = env.reset()
    rng = np.random.default_rng(seed)
    rew, dist = 0.0, 0.0
    for _ in range(steps):
        act = rng.integers(0, 9, env.num_envs) if policy is None else policy(obs)
        if config.continuous and policy is None:
            act = rng.uniform(-1, 1, (env.num_envs, 2))
        obs, r, _, infos = env.step(act)
        rew += float(r.mean())
        dist += float(np.mean([i["features"]["distance"] for i in infos]))
    env.close()
    return rew / steps, dist / steps


def companions_gif(
    model: PPO, config: ArenaConfig, seed: int, path: Path, steps: int = 120
) -> None:
    """A GIF of one world with the trained companions (greedy), 240 x 240 at 10 fps."""
    env = role_vec_env("companion", 1, config)
    env.seed(seed)
    obs = env.reset()
    core = env.core
    frames = [core.render_slot(0, 240, 240)]
    for _ in range(steps):
        obs, _, _, _ = env.step(model.predict(obs, deterministic=True)[0])
        frames.append(core.render_slot(0, 240, 240))
    write_gif(path, frames, 100)


def train_companions(
    out_dir: str | Path,
    timesteps: int = 50_000,
    seed: int = 0,
    n_worlds: int = 8,
    config: ArenaConfig | None = None,
    ppo: PPOSettings | None = None,
    progress: bool = False,
    gif: bool = True,
    overwrite: bool = False,
) -> TrainResult:
    """Train every companion of ``config.roles`` with one shared PPO policy, evaluate it
    against random actions, write ``policy.pt``, ``settings.json`` and ``companions.gif``
    into ``out_dir``: a new (or empty) folder, or with ``overwrite`` an earlier output of
    this function (its marker says so; anything else is a FolderError, checked before
    training)."""
    cfg = config if config is not None else TRAIN_DEFAULTS
    ppo = ppo or PPOSettings()
    out = Path(out_dir)
    check_out_folder(out, ARENA_TRAIN, overwrite=overwrite)
    env = role_vec_env("companion", n_worlds, cfg)
    env.seed(seed)
    model = make_model(env, seed, ppo)
    start = time.perf_counter()
    bar = RichProgress(timesteps, "training companions") if progress else None
    with unchecked_distributions():
        model.learn(timesteps, callback=bar)
    seconds = time.perf_counter() - start

    def greedy(obs: Any) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    r_trained, d_trained = evaluate(greedy, cfg, seed + 10_000)
    r_random, d_random = evaluate(None, cfg, seed + 10_000)
    policy_path, gif_path = RunFolder(out).policy, out / "companions.gif"
    result = TrainResult(
        timesteps, seconds, r_trained, r_random, d_trained, d_random, str(policy_path),
        str(gif_path) if gif else "",
    )  # fmt: skip
    settings = {
        "env": config_to_dict(cfg),
        "ppo": asdict(ppo),
        "seed": seed,
        "n_worlds": n_worlds,
        "policy": "stable_baselines3 MlpPolicy state dict (torch.load weights_only=True)",
        "result": asdict(result),
    }
    with replacing_folder(out, ARENA_TRAIN, overwrite=overwrite) as folder:
        torch.save(model.policy.state_dict(), folder / policy_path.name)
        if gif:
            companions_gif(model, cfg, seed + 20_000, folder / gif_path.name)
        RunFolder(folder).settings.write_text(json.dumps(settings, indent=2))
    env.close()
    return result
