"""A tiny PettingZoo game for the tests, a game of someone else's: chasers close in on a runner.

Roles (by the default role function): ``chaser`` (``chaser_0``, ``chaser_1``) and
``runner`` (``runner_0``). Everyone moves on the square [-1, 1]^2: ``Discrete(5)`` actions
(stay, +x, -x, +y, -y), chasers 0.1 per step, the runner 0.05. A chaser's reward each step
is -0.1 x its distance to the runner before the step, so moving toward the runner pays; one
that comes within ``catch_radius`` has caught it and leaves the game (terminated, no more
cost). The runner's reward is 0. Everyone is truncated after ``max_cycles`` steps.
Observations ``Box(-3, 3, (5,))``: own position, the runner's position relative to it (the
runner: the nearest chaser's) and its distance. ``info``: ``distance`` and ``caught``
(numbers) and ``team`` (a string). ``leave_at=k`` makes ``chaser_0`` leave at step k,
whatever it does.

Also here, for the error tests: factories that fail each check.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

MOVES = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float64)
OBS = gym.spaces.Box(-3.0, 3.0, (5,), np.float32)


class TinyChase(ParallelEnv):  # type: ignore[misc]  (pettingzoo is untyped)
    metadata = {"name": "tiny_chase_v0", "render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        n_chasers: int = 2,
        max_cycles: int = 25,
        catch_radius: float = 0.15,
        leave_at: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.possible_agents = [f"chaser_{i}" for i in range(n_chasers)] + ["runner_0"]
        self.max_cycles = max_cycles
        self.catch_radius = catch_radius
        self.leave_at = leave_at
        self.render_mode = render_mode
        self._act = {a: gym.spaces.Discrete(5) for a in self.possible_agents}  # own rngs
        self.agents: list[str] = []
        self.pos: dict[str, np.ndarray] = {}
        self.t = 0

    def observation_space(self, agent: str) -> gym.Space[Any]:
        return OBS

    def action_space(self, agent: str) -> gym.Space[Any]:
        return self._act[agent]

    def _target(self, agent: str) -> np.ndarray:
        if agent.startswith("chaser"):
            return self.pos["runner_0"]
        chasers = [self.pos[a] for a in self.agents if a.startswith("chaser")]
        if not chasers:
            return self.pos[agent]
        return min(chasers, key=lambda p: float(np.linalg.norm(p - self.pos[agent])))

    def _obs(self, agent: str) -> np.ndarray:
        p = self.pos[agent]
        rel = self._target(agent) - p
        return np.concatenate([p, rel, [np.linalg.norm(rel)]]).astype(np.float32)

    def _info(self, agent: str) -> dict[str, Any]:
        d = float(np.linalg.norm(self._target(agent) - self.pos[agent]))
        caught = agent.startswith("chaser") and d < self.catch_radius
        return {"distance": d, "caught": caught, "team": agent.split("_")[0]}

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.pos = {a: rng.uniform(-1.0, 1.0, 2) for a in self.agents}
        self.t = 0
        return {a: self._obs(a) for a in self.agents}, {a: self._info(a) for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        before = {
            a: float(np.linalg.norm(self.pos["runner_0"] - self.pos[a]))
            for a in self.agents
            if a.startswith("chaser")
        }  # [m]
        for a in self.agents:
            speed = 0.1 if a.startswith("chaser") else 0.05
            self.pos[a] = np.clip(self.pos[a] + speed * MOVES[int(actions[a])], -1.0, 1.0)
        self.t += 1
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: self._info(a) for a in self.agents}
        rewards = {a: 0.0 for a in self.agents}
        term = {a: False for a in self.agents}
        for a, d0 in before.items():
            rewards[a] = -0.1 * d0
            term[a] = bool(infos[a]["caught"]) or (a == "chaser_0" and self.t == self.leave_at)
        trunc = {a: self.t >= self.max_cycles for a in self.agents}
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rewards, term, trunc, infos

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        img = np.full((48, 48, 3), 255, dtype=np.uint8)
        for a in self.agents:
            x, y = ((self.pos[a] + 1.0) / 2.0 * 44).astype(int) + 2
            img[y - 2 : y + 2, x - 2 : x + 2] = (
                (200, 0, 0) if a.startswith("runner") else (0, 0, 200)
            )
        return img

    def close(self) -> None:
        pass


def parallel_env(**kwargs: Any) -> TinyChase:
    """The game (``--env tiny_pz_game`` alone means this)."""
    return TinyChase(**kwargs)


def one_team(agent: str) -> str:
    """A role function: everyone in one role."""
    return "everyone"


# ------------------------------------------------------------------ games that fail a check
NOT_CALLABLE = 42


def not_a_game(**kwargs: Any) -> object:
    return object()


def raises(**kwargs: Any) -> TinyChase:
    raise RuntimeError("the level file is missing")


class _Mixed(TinyChase):
    def observation_space(self, agent: str) -> gym.Space[Any]:
        if agent == "chaser_1":
            return gym.spaces.Box(-3.0, 3.0, (6,), np.float32)
        return OBS


def mixed_spaces(**kwargs: Any) -> TinyChase:
    return _Mixed(**kwargs)


class _MultiDiscrete(TinyChase):
    def action_space(self, agent: str) -> gym.Space[Any]:
        return gym.spaces.MultiDiscrete([3, 3])


def multi_discrete(**kwargs: Any) -> TinyChase:
    return _MultiDiscrete(**kwargs)
