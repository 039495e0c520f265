"""``arena_v0``: the NPC arena as a PettingZoo ParallelEnv, and its batched multi-agent form.

:class:`ArenaBatch` is B arena worlds with M controlled NPCs each, arrays in and out; the
benchmark and the shared-policy SB3 route use it directly. :class:`ArenaParallelEnv` is
its B = 1 view with PettingZoo's dict API.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.arena_config import (
    ArenaConfig,
    action_space,
    agent_names,
    observation_space,
    role_rewards,
    to_params,
    to_velocity,
)
from rlhf_sandbox.envs.core import NO_SEED, next_seed
from rlhf_sandbox.sim.arena.draw import draw_state
from rlhf_sandbox.sim.arena.world import ArenaWorld

RENDER_SIZE = (480, 480)


class ArenaBatch:
    """B arena worlds; the NPCs listed in ``controlled`` take actions, the rest are scripted.

    ``step`` takes validated actions ``[B, M]`` (``[B, M, 2]`` continuous) and returns
    rewards ``[B, M]``, terminated ``[B]``, truncated ``[B]`` and info with ``rewards`` and
    ``features`` dicts of ``[B, M]`` arrays. It never resets on its own, except in
    :meth:`step_autoreset`. ``seeds[b]`` is world b's episode seed.
    """

    def __init__(
        self, config: ArenaConfig, n_worlds: int, controlled: np.ndarray | None = None
    ) -> None:
        self.config = config
        self.world = ArenaWorld(to_params(config), n_worlds)
        n = len(config.roles)
        self.controlled = np.arange(n) if controlled is None else np.asarray(controlled)
        self._all = np.array_equal(self.controlled, np.arange(n))  # no slicing needed
        roles = np.asarray(config.roles)[self.controlled]
        self._masks = [(roles == r).astype(float) for r in ("companion", "guard", "villager")]
        self.n_worlds = n_worlds
        self.seeds = np.zeros(n_worlds, dtype=np.int64)
        self.observation_space = observation_space(config)
        self.action_space = action_space(config)

    def reset(self, mask: np.ndarray, seeds: np.ndarray) -> None:
        """New episodes in the masked worlds; ``seeds[b] == NO_SEED`` continues b's chain."""
        seeds = np.where(seeds >= 0, seeds, next_seed(self.seeds))
        self.seeds = np.where(mask, seeds, self.seeds)
        self.world.reset(mask, self.seeds)

    def observe(self) -> np.ndarray:
        """Observations of the controlled NPCs ``[B, M, obs_dim]`` float32."""
        obs = self.world.observe()
        return obs if self._all else obs[:, self.controlled]

    def step(
        self, actions: np.ndarray, player_vel: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step; ``player_vel [B, 2]`` [m/s] drives the player instead of its script."""
        w, c = self.world, self.config
        w.step(to_velocity(c, actions), self.controlled, player_vel)
        feats = w.features
        if not self._all:
            feats = {k: v[:, self.controlled] for k, v in feats.items()}
        reward, parts = role_rewards(feats, *self._masks)
        terminated = w.caught & c.end_on_catch
        truncated = (w.t >= c.max_steps) & ~terminated
        return reward, terminated, truncated, {"rewards": parts, "features": feats}

    def step_autoreset(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step, then reset the worlds that ended (same step). Returns (obs, reward, done)."""
        reward, terminated, truncated, _ = self.step(actions)
        done = terminated | truncated
        if done.any():
            self.reset(done, np.full(self.n_worlds, NO_SEED, dtype=np.int64))
        return self.observe(), reward, done

    def render(
        self, world: int, width: int = RENDER_SIZE[0], height: int = RENDER_SIZE[1]
    ) -> np.ndarray:
        """An RGB frame of one world."""
        c = self.config
        state = {k: getattr(self.world, k) for k in ("boxes", "pos", "heading", "role", "alert")}
        return draw_state(state, world, width, height, c.view_range, c.view_angle)


class ArenaParallelEnv(ParallelEnv[str, np.ndarray, Any]):
    """The NPC arena: a scripted player among walls, NPCs as agents (PettingZoo ParallelEnv).

    ## Action Space
    Per agent ``Discrete(9)``: 0 stay, 1..8 move at ``npc_speed`` toward E, NE, N, NW, W,
    SW, S, SE. With ``continuous=True``: ``Box(-1, 1, (2,))``, desired velocity /
    ``npc_speed`` (its norm is capped at 1).

    ## Observation Space
    Per agent ``Box(-1, 1, (11 + n_rays + 5 n_neighbours + 3,))`` float32, world frame: own
    velocity, own heading (cos, sin), the player's relative position and velocity, line of
    sight to the player, ray distances to walls, the nearest other NPCs (relative position,
    relative velocity, present), own role one-hot. See ``sim.arena.features.observe``.

    ## Rewards
    Kept simple: companion ``-distance`` [m] to the player per step; guard ``+1`` on a
    catch; villager ``-1`` per step blocking the player's path. Parts by name in
    ``info["rewards"]``, behaviour features in ``info["features"]``.

    ## Starting State
    A layout (fixed, or procedural from the seed); the player and NPCs spawned at free
    places at least 1 m apart, at rest with random headings; the player's script drawn
    from the seed when ``player_policy="mixed"``.

    ## Episode End
    Terminated for all agents when a guard catches the player (``end_on_catch``);
    truncated after ``max_steps`` steps.

    ## Arguments
    ``render_mode`` (``"human"`` or ``"rgb_array"``), ``config: ArenaConfig`` and any of
    its fields as keywords (roles, scripted_roles, layout, player_policy, ...).

    ## Version History
    * v0: initial version.
    """

    metadata = {
        "render_modes": ["human", "rgb_array"],
        "name": "arena_v0",
        "render_fps": 10,
        "is_parallelizable": True,
    }

    def __init__(
        self, render_mode: str | None = None, config: ArenaConfig | None = None, **kwargs: Any
    ) -> None:
        modes = ["human", "rgb_array"]
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode must be one of {modes}, got {render_mode!r}")
        self.config = cfg = build_config(ArenaConfig, config, **max_cycles_alias(kwargs))
        names = agent_names(cfg)
        ctrl = [i for i, r in enumerate(cfg.roles) if r not in cfg.scripted_roles]
        if not ctrl:
            raise ValueError("every NPC is scripted (scripted_roles); arena_v0 needs an agent")
        self.batch = ArenaBatch(cfg, 1, np.asarray(ctrl))
        self.possible_agents = [names[i] for i in ctrl]
        self.agents: list[str] = []
        self.render_mode = render_mode
        obs_space, act_space = self.batch.observation_space, self.batch.action_space
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self._started = False
        self._window: Any = None

    def observation_space(self, agent: str) -> gym.spaces.Space[Any]:
        return self.observation_spaces[agent]

    def batched(self, n_copies: int) -> ArenaBatch:
        """``n_copies`` worlds of this env's settings and agents as one :class:`ArenaBatch`:
        the batched form a :class:`~rlhf_sandbox.envs.pz_joint.JointGame` steps its copies
        through (world c plays what copy c would, seed for seed)."""
        return ArenaBatch(self.config, n_copies, self.batch.controlled)

    def action_space(self, agent: str) -> gym.spaces.Space[Any]:
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            s = int(seed)
        elif not self._started:
            s = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(2))
        else:
            s = NO_SEED
        self._started = True
        self.batch.reset(np.ones(1, dtype=bool), np.array([s], dtype=np.int64))
        self.agents = list(self.possible_agents)
        obs = self.batch.observe()[0]
        if self.render_mode == "human":
            self.render()
        return dict(zip(self.agents, obs, strict=True)), {a: {} for a in self.agents}

    def _actions(self, actions: dict[str, Any]) -> np.ndarray:
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action for agents {missing}")
        space = self.batch.action_space
        out = [actions[a] for a in self.agents]
        if isinstance(space, gym.spaces.Discrete):  # fast path: integers in [0, n)
            arr = np.asarray(out)
            ok = arr.shape == (len(out),) and bool(np.all((arr >= 0) & (arr < space.n)))
            ok = ok and (np.issubdtype(arr.dtype, np.integer) or bool(np.all(arr % 1 == 0)))
            if ok:
                return arr.astype(np.int64)[None]
        for a, act in zip(self.agents, out, strict=True):
            if not space.contains(np.asarray(act, dtype=space.dtype)):
                raise ValueError(f"action {act!r} of agent {a!r} is outside {space}")
        return np.asarray(out, dtype=space.dtype)[None]

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("call reset() before step() (and after the episode ends)")
        reward, term, trunc, info = self.batch.step(self._actions(actions))
        obs = self.batch.observe()[0]
        agents = self.agents
        r = reward[0].tolist()
        parts = {k: v[0].tolist() for k, v in info["rewards"].items()}
        feats = {k: v[0].tolist() for k, v in info["features"].items()}
        infos = {
            a: {
                "rewards": {k: v[i] for k, v in parts.items()},
                "features": {k: v[i] for k, v in feats.items()},
            }
            for i, a in enumerate(agents)
        }
        t, u = bool(term[0]), bool(trunc[0])
        out = (
            dict(zip(agents, obs, strict=True)),
            dict(zip(agents, r, strict=True)),
            dict.fromkeys(agents, t),
            dict.fromkeys(agents, u),
            infos,
        )
        if t or u:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return out

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        frame = self.batch.render(0)
        if self.render_mode == "rgb_array":
            return frame
        import pygame  # drawing only

        if self._window is None:
            pygame.init()
            pygame.display.init()
            self._window = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            pygame.display.set_caption("arena_v0")
        pygame.event.pump()
        self._window.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
        pygame.display.flip()
        return None

    def state(self) -> np.ndarray:
        """The world's positions and velocities ``[(1 + N) * 4]`` (PettingZoo's global state)."""
        w = self.batch.world
        return np.concatenate([w.pos[0], w.vel[0]], axis=-1).ravel().astype(np.float32)

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None


def max_cycles_alias(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with PettingZoo's ``max_cycles`` read as ``max_steps`` (steps before
    truncation); both given and different is a ValueError."""
    if "max_cycles" not in kwargs:
        return kwargs
    kw = dict(kwargs)
    cycles = kw.pop("max_cycles")
    if "max_steps" in kw and kw["max_steps"] != cycles:
        raise ValueError(
            f"max_cycles={cycles!r} and max_steps={kw['max_steps']!r}: the same setting, give one"
        )
    kw["max_steps"] = cycles
    return kw


def parallel_env(
    render_mode: str | None = None, config: ArenaConfig | None = None, **kwargs: Any
) -> ArenaParallelEnv:
    """``arena_v0`` as a ParallelEnv; keywords are :class:`ArenaConfig` fields, and
    PettingZoo's ``max_cycles`` (an alias of ``max_steps``)."""
    return ArenaParallelEnv(render_mode=render_mode, config=config, **kwargs)


def env(render_mode: str | None = None, config: ArenaConfig | None = None, **kwargs: Any) -> Any:
    """``arena_v0`` as a PettingZoo AEC env (the ParallelEnv through ``parallel_to_aec``)."""
    return parallel_to_aec(parallel_env(render_mode=render_mode, config=config, **kwargs))
