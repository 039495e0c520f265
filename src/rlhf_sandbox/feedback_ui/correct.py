"""Corrections: what the policy does from the state where a person took over.

A correction is a pair of segments from one start state: the person's, played live, and
the policy's, obtained by restoring a second world to the takeover snapshot
(:meth:`PlayWorld.fork`) and letting the policy drive it for as many steps. Both become
clips; the person's is stored as a ``correction`` that ``replaces`` the policy's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.feedback_ui.episode import Segment
from rlhf_sandbox.feedback_ui.worlds import PlayWorld
from rlhf_sandbox.store.run_folder import RunFolder

PolicyFn = Callable[[np.ndarray], Any]
"""``policy(obs [D]) -> action`` of one world."""


def replay_policy(world: PlayWorld, policy: PolicyFn, n_steps: int) -> Segment:
    """Let ``policy`` drive ``world`` from its state now for up to ``n_steps`` steps."""
    seg = Segment.begin(world)
    for _ in range(n_steps):
        obs = world.observe()
        out = world.step(policy(obs))
        seg.add(obs, out)
        if out.terminated or out.truncated:
            break
    return seg


def policy_file(path: str | Path) -> Path:
    """A run folder means its ``policy.pt``; a file is taken as it is."""
    p = Path(path)
    if p.is_dir():
        p = RunFolder(p).policy
    if not p.is_file():
        raise ValueError(f"no policy at {path} (a run folder with policy.pt, a .pt or a .zip)")
    return p


def load_policy_fn(path: str | Path, world: PlayWorld) -> PolicyFn:
    """A greedy policy function from a saved policy (``.pt`` + ``.json``, or an SB3
    ``.zip``, which unpickles: trusted input only). Its spaces must be the world's."""
    import torch

    from rlhf_sandbox.agents.policy.ppo import load_policy
    from rlhf_sandbox.envs.spaces import spaces_match

    torch.set_num_threads(1)
    p = policy_file(path)
    model: Any
    try:
        if p.suffix == ".zip":
            from stable_baselines3 import PPO

            model = PPO.load(p, device="cpu")  # SB3 zips unpickle part of the file: trusted only
        else:
            model = load_policy(p)
    except Exception as e:  # a corrupt or foreign file raises many kinds of errors
        msg = " ".join(str(e).split()).removeprefix("Error: ")
        raise ValueError(f"{p}: cannot load the policy ({msg})") from None
    obs_space, act_space = model.observation_space, model.action_space
    core = world.core
    if not (
        spaces_match(obs_space, core.single_observation_space)
        and spaces_match(act_space, core.single_action_space)
    ):
        raise ValueError(
            f"{p}: the policy's spaces ({obs_space}, {act_space}) differ from "
            f"{world.env_id}'s ({core.single_observation_space}, {core.single_action_space})"
        )

    def act(obs: np.ndarray) -> Any:
        action, _ = model.predict(obs, deterministic=True)
        return action

    return act
