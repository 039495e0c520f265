"""The worlds a person plays, one copy each, behind one small interface (no pygame here).

:class:`PlayWorld` wraps a one-slot core of our driving or arena worlds and gives the play
and correction modes what they need: observe, step with the person's (or a policy's)
action, the world states the step went through at the simulation rate, a snapshot of the
whole state and :meth:`PlayWorld.fork` (a second world restored to it, for replaying the
policy from a takeover state), and the frame of a state, drawn by the same renderer that
re-renders stored clips (:func:`rlhf_sandbox.envs.replay.state_renderer`).

Roles: a driving world is always driven through its ego. In the arena, ``role="npc"``
drives NPC 0 (the env's agent: the companion or the guard) and ``role="player"`` drives
the player while every NPC follows its script; the clip then records NPC 0's observations
and, as its actions, the move nearest to what NPC 0 did (the NPC is not the person).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS
from rlhf_sandbox.envs.arena_config import rewards as arena_rewards
from rlhf_sandbox.envs.arena_single import ArenaSingleCore
from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.envs.replay import Renderer, state_renderer
from rlhf_sandbox.sim.arena.world import MOVES

Role = Literal["npc", "player"]
State = dict[str, np.ndarray]  # one copy's world state (no batch axis)
NO_SEED = np.array([-1], dtype=np.int64)


@dataclass(frozen=True)
class StepOut:
    """One policy step of one world."""

    reward: float
    terminated: bool
    truncated: bool
    features: dict[str, float]
    states: list[State]  # the states after each simulation substep (the last: after the step)
    action: np.ndarray  # the action stored in the clip (int64 [] or float32 [2])


def _slot(batched: dict[str, np.ndarray]) -> State:
    return {k: np.array(v[0]) for k, v in batched.items()}


class PlayWorld:
    """One copy of ``env_id``'s world (``env_kwargs`` as in ``gymnasium.make``)."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], role: Role = "npc") -> None:
        if env_id not in DRIVING_IDS + ARENA_IDS:
            known = ", ".join(DRIVING_IDS + ARENA_IDS)
            raise ValueError(f"cannot play {env_id!r}: not one of our worlds; known: {known}")
        if role not in ("npc", "player"):
            raise ValueError(f"role must be 'npc' or 'player', got {role!r}")
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)
        self.driving = env_id in DRIVING_IDS
        if self.driving and role == "player":
            raise ValueError("--role player is for the arena; a driving env is driven by its ego")
        self.role: Role = role
        env = gym.make(env_id, **env_kwargs)  # builds and validates the config
        try:
            self.config: Any = env.unwrapped.config  # type: ignore[attr-defined]
        finally:
            env.close()
        self.core: DrivingCore | ArenaSingleCore
        if self.driving:
            self.core = DrivingCore(self.config, 1)
            self.core.world.record_substeps = True
            self.substeps = int(self.config.sim_hz // self.config.policy_hz)
        else:
            self.core = ArenaSingleCore(self.config, 1)
            self.substeps = 1  # arena clips keep the policy-rate states
        self.policy_hz = float(self.core.policy_hz)
        self.action_space: gym.Space[Any] = self.core.single_action_space
        self.config_dict = config_to_dict(self.config)
        self._renderer: tuple[Renderer, tuple[int, int]] | None = None

    # ------------------------------------------------------------------ episodes
    def reset(self, seed: int | None) -> None:
        s = NO_SEED if seed is None else np.array([int(seed)], dtype=np.int64)
        self.core.reset_slots(np.ones(1, dtype=bool), s)

    @property
    def seed(self) -> int:
        return int(self.core.seeds[0])

    @property
    def t(self) -> int:
        """Policy steps since the episode began."""
        world: Any = self.core.world if self.driving else self.core.batch.world  # type: ignore[union-attr]
        return int(world.t[0])

    def observe(self) -> np.ndarray:
        """The observation of the agent the env trains (the ego, NPC 0), ``[D]`` float32."""
        return np.asarray(self.core.observe()[0], dtype=np.float32)

    def state(self) -> State:
        """The world state now (what a clip stores per frame)."""
        return _slot(self.core.slot_states())

    def step(self, action: Any = None, player_vel: np.ndarray | None = None) -> StepOut:
        """One policy step: ``action`` for the ego or NPC 0, or (``role="player"``) the
        player's desired velocity ``player_vel [2]`` [m/s] with the NPCs scripted."""
        if self.role == "player":
            return self._player_step(np.zeros(2) if player_vel is None else player_vel)
        a = self.core.check_actions(np.asarray(action)[None])
        r = self.core.step(a)
        if self.driving:
            world: Any = self.core.world  # type: ignore[union-attr]
            states = [_slot(s) for s in world.substep_states] + [self.state()]
        else:
            states = [self.state()]
        feats = {k: float(v[0]) for k, v in r.info["features"].items()}
        return StepOut(
            float(r.reward[0]), bool(r.terminated[0]), bool(r.truncated[0]), feats, states, a[0]
        )

    def _player_step(self, player_vel: np.ndarray) -> StepOut:
        core: Any = self.core
        c, w = self.config, core.batch.world
        w.step(None, None, np.asarray(player_vel, dtype=float).reshape(1, 2))
        npc0 = np.array([0])
        reward, _ = arena_rewards(c, w.features, npc0)
        feats = {k: float(v[0, 0]) for k, v in w.features.items()}
        terminated = bool(w.caught[0] and c.end_on_catch)
        truncated = bool(w.t[0] >= c.max_steps) and not terminated
        vel = w.vel[0, 1] / c.npc_speed  # NPC 0's velocity, in units of its top speed
        if c.continuous:
            action: np.ndarray = np.clip(vel, -1.0, 1.0).astype(np.float32)
        else:
            move = int(np.argmax(MOVES[1:] @ vel)) + 1 if np.hypot(*vel) > 0.25 else 0
            action = np.asarray(move, dtype=np.int64)
        return StepOut(float(reward[0, 0]), terminated, truncated, feats, [self.state()], action)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict[str, Any]:
        """Everything the next steps depend on: world state, seed, the last action."""
        snap: dict[str, Any] = {"world": self.core.slot_states(), "seeds": self.core.seeds.copy()}
        if self.driving:
            snap["last_action"] = self.core.last_action.copy()  # type: ignore[union-attr]
        return snap

    def restore(self, snap: dict[str, Any]) -> None:
        self.core.seeds = snap["seeds"].copy()
        if self.driving:
            core: Any = self.core
            core.world.set_state({k: v.copy() for k, v in snap["world"].items()})
            core.last_action = snap["last_action"].copy()
        else:
            batch = self.core.batch  # type: ignore[union-attr]
            batch.world.set_state(snap["world"])
            batch.seeds = snap["seeds"].copy()

    def fork(self, snap: dict[str, Any] | None = None) -> PlayWorld:
        """A new world of the same settings in the state ``snap`` (default: now)."""
        other = PlayWorld(self.env_id, self.env_kwargs, self.role)
        other.reset(self.seed)  # builds the layout arrays; overwritten below
        other.restore(snap if snap is not None else self.snapshot())
        return other

    # ------------------------------------------------------------------ drawing
    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of a frame [px], the env's own render size."""
        return self._render()[1]

    def frame(self, state: State, size: tuple[int, int] | None = None) -> np.ndarray:
        """An RGB frame ``[H, W, 3]`` of one state, as a stored clip re-renders it."""
        fn, default = self._render()
        w, h = size or default
        return fn(state, w, h)

    def _render(self) -> tuple[Renderer, tuple[int, int]]:
        if self._renderer is None:
            self._renderer = state_renderer(self.env_id, self.config_dict)
        return self._renderer

    def ego_speed(self) -> float:
        """[m/s] of the ego (driving) or of the person's figure (arena)."""
        if self.driving:
            return float(self.core.world.speed[0, 0])  # type: ignore[union-attr]
        w = self.core.batch.world  # type: ignore[union-attr]
        i = 0 if self.role == "player" else 1
        return float(np.hypot(*w.vel[0, i]))
