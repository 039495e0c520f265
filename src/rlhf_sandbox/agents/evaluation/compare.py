"""PPO on an env's own reward against a random policy on the same seeded episodes, with a
GIF of the median episode: what ``rlhf-sandbox ppo`` runs.

The output folder is new (or empty), or with ``overwrite`` an earlier output of ``ppo``
(:mod:`rlhf_sandbox.files`); it is checked before training and written whole at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.rollouts import (
    EvalResult,
    evaluate,
    random_policy,
    record_gif,
    sb3_policy,
)
from rlhf_sandbox.agents.policy.ppo import PPOSettings, save_policy, train_ppo
from rlhf_sandbox.envs.ids import check_env_id
from rlhf_sandbox.files import atomic_path, check_out_folder, replacing_folder
from rlhf_sandbox.store.run_folder import RunFolder

COMMAND = "ppo"  # the command whose marker the output folder carries
EVAL_EPISODES = 20
EVAL_SEED_OFFSET = 10_000  # evaluation episodes are seeded apart from the training slots
FILES = ("policy.pt", "policy.json", "trained.gif", "summary.json")


@dataclass(frozen=True)
class Comparison:
    """What :func:`ppo_against_random` measured and wrote (``summary`` is summary.json)."""

    out: Path
    trained: EvalResult
    random: EvalResult
    summary: dict[str, Any]


def check_ppo_run(env_id: str, out: Path, overwrite: bool) -> None:
    """Every input of :func:`ppo_against_random`, before any training: a ValueError."""
    check_env_id(env_id)
    check_out_folder(out, COMMAND, overwrite=overwrite)


def ppo_against_random(
    env_id: str,
    timesteps: int,
    out: Path,
    *,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Comparison:
    """Train PPO for ``timesteps``, evaluate it and a random policy on the same
    ``EVAL_EPISODES`` episodes, and write ``out``: the policy, a GIF of the episode with
    the median return, and ``summary.json``."""
    check_ppo_run(env_id, out, overwrite)
    settings = PPOSettings(seed=seed)
    t0 = time.perf_counter()
    model = train_ppo(env_id, timesteps, settings, progress=progress)
    train_s = time.perf_counter() - t0
    eval_seed = seed + EVAL_SEED_OFFSET
    trained = evaluate(sb3_policy(model), env_id, EVAL_EPISODES, eval_seed, settings.n_envs)
    rand = evaluate(
        random_policy(model.action_space, seed), env_id, EVAL_EPISODES, eval_seed, settings.n_envs
    )
    # The GIF replays a representative evaluation episode: the one with the median return.
    median = int(np.argsort(trained.returns, kind="stable")[EVAL_EPISODES // 2])
    gif_seed = eval_seed + median
    with replacing_folder(out, COMMAND, overwrite=overwrite) as tmp:
        save_policy(model, RunFolder(tmp).policy, settings, env_id=env_id)
        frames = record_gif(sb3_policy(model), env_id, tmp / "trained.gif", seed=gif_seed)
        wall_s = time.perf_counter() - t0
        summary = {
            "env_id": env_id,
            "timesteps": timesteps,
            "seed": seed,
            "settings": settings.to_json(),
            "train_seconds": round(train_s, 2),
            "timesteps_per_second": round(timesteps / train_s, 1),
            "wall_seconds": round(wall_s, 2),
            "eval_seed": eval_seed,
            "trained": trained.to_json(),
            "random": rand.to_json(),
            "ratio": trained.mean / rand.mean if rand.mean > 0 else None,  # None: undefined
            "gif_seed": gif_seed,
            "gif_return": float(trained.returns[median]),
            "gif_frames": frames,
            "files": list(FILES),
        }
        with atomic_path(tmp / "summary.json") as f:
            f.write_text(json.dumps(summary, indent=2) + "\n")
    return Comparison(out, trained, rand, summary)
