"""The worlds a person plays, one copy each, behind one small interface (no pygame here).

:class:`PlayWorld` wraps a one-slot core of our driving or arena worlds and gives the play
and correction modes what they need: observe, step with the person's (or a policy's)
action, the world states the step went through at the simulation rate, a snapshot of the
whole state and :meth:`PlayWorld.fork` (a second world restored to it, for replaying the
policy from a takeover state), and the frame of a state, drawn by the same renderer that
re-renders stored clips (:func:`rlhf_sandbox.envs.replay.state_renderer`).

Roles: a driving world is always driven through its ego. In the arena, ``role="npc"``
drives one NPC (the single-NPC ids: NPC 0, the env's agent; ``arena_v0``: the NPC ``npc``
names, by agent name or index) while the others follow their scripts, and
``role="player"`` drives the player while every NPC follows its script; the clip then
records that NPC's observations and, as its actions, the move nearest to what it did (the
NPC is not the person). Clips carry the NPC in their config (:data:`SUBJECT`), as a
training run's clips do, so the feedback app rings it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlhf_sandbox.config import build_config, config_to_dict
from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS
from rlhf_sandbox.envs.arena_config import ArenaConfig, agent_names
from rlhf_sandbox.envs.arena_config import rewards as arena_rewards
from rlhf_sandbox.envs.arena_single import ArenaAgentsCore
from rlhf_sandbox.envs.arena_v0 import max_cycles_alias
from rlhf_sandbox.envs.driving import DrivingCore
from rlhf_sandbox.envs.ids import ARENA_V0
from rlhf_sandbox.envs.pz_game import SUBJECT
from rlhf_sandbox.envs.replay import Renderer, state_renderer
from rlhf_sandbox.sim.arena.world import MOVES

Role = Literal["npc", "player"]
State = dict[str, np.ndarray]  # one copy's world state (no batch axis)
NO_SEED = np.array([-1], dtype=np.int64)
PLAYABLE = (*DRIVING_IDS, *ARENA_IDS, ARENA_V0)


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


def arena_npc(
    config: ArenaConfig, npc: str | int | None, env_id: str, prefer_roles: tuple[str, ...] = ()
) -> int:
    """The index in ``config.roles`` of the NPC ``npc`` names: an agent name
    (``companion_1``) or an index (``1``); None: the first agent whose role is in
    ``prefer_roles`` (the roles a run trains), else the first agent. A single-NPC id
    (ArenaCompanion-v0, ArenaGuard-v0) trains NPC 0 and takes no other. ValueError naming
    the NPCs there are otherwise."""
    names = agent_names(config)
    agents = [n for n, r in zip(names, config.roles, strict=True) if r not in config.scripted_roles]
    if env_id != ARENA_V0:
        agents = names[:1]
    if not agents:
        raise ValueError(f"every NPC of {env_id} follows its script (scripted_roles)")
    listed = ", ".join(f"{i} {n}" for i, n in enumerate(names) if n in agents)
    if npc is None:
        preferred = [n for n in agents if config.roles[names.index(n)] in prefer_roles]
        return names.index((preferred or agents)[0])
    text = str(npc).strip()
    if text.isdigit():
        i = int(text)
        if i >= len(names):
            raise ValueError(
                f"--npc {text}: {env_id} has NPCs 0 to {len(names) - 1}; pick one of {listed}"
            )
    elif text in names:
        i = names.index(text)
    else:
        raise ValueError(f"--npc {text!r}: no such NPC in {env_id}; pick one of {listed}")
    if names[i] not in agents:
        if env_id != ARENA_V0:
            raise ValueError(
                f"--npc {text}: {env_id} trains NPC 0 ({names[0]}) only; to drive {names[i]},"
                " play arena_v0 with the same roles"
            )
        raise ValueError(
            f"--npc {text}: {names[i]} follows its script (scripted_roles); pick one of {listed}"
        )
    return i


class PlayWorld:
    """One copy of ``env_id``'s world (``env_kwargs`` as in ``gymnasium.make``, or the arena
    settings for ``arena_v0``); ``npc`` picks the arena NPC (see :func:`arena_npc`)."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        role: Role = "npc",
        npc: str | int | None = None,
        *,
        prefer_roles: tuple[str, ...] = (),
    ) -> None:
        if env_id not in PLAYABLE:
            known = ", ".join(PLAYABLE)
            raise ValueError(f"cannot play {env_id!r}: not one of our worlds; known: {known}")
        if role not in ("npc", "player"):
            raise ValueError(f"role must be 'npc' or 'player', got {role!r}")
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)
        self.driving = env_id in DRIVING_IDS
        if self.driving and role == "player":
            raise ValueError("--role player is for the arena; a driving env is driven by its ego")
        if self.driving and npc is not None:
            raise ValueError("--npc picks an arena NPC; a driving env is driven by its ego")
        self.role: Role = role
        if env_id == ARENA_V0:  # arena_v0's settings; the role trained is no world setting
            kw = {k: v for k, v in env_kwargs.items() if k != "role"}
            self.config: Any = build_config(ArenaConfig, None, **max_cycles_alias(kw))
        else:
            env = gym.make(env_id, **env_kwargs)  # builds and validates the config
            try:
                self.config = env.unwrapped.config  # type: ignore[attr-defined]
            finally:
                env.close()
        self.core: DrivingCore | ArenaAgentsCore
        self.npc = 0  # the arena NPC driven (or recorded): its index in config.roles
        if self.driving:
            self.core = DrivingCore(self.config, 1)
            self.core.world.record_substeps = True
            self.substeps = int(self.config.sim_hz // self.config.policy_hz)
        else:
            self.npc = arena_npc(self.config, npc, env_id, prefer_roles)
            self.core = ArenaAgentsCore(self.config, 1, (self.npc,))
            self.substeps = 1  # arena clips keep the policy-rate states
        self.policy_hz = float(self.core.policy_hz)
        self.action_space: gym.Space[Any] = self.core.single_action_space
        self.config_dict = config_to_dict(self.config)
        self.subject: dict[str, Any] = {}  # the arena NPC: {"npc", "agent", "role"}
        if not self.driving:
            core: Any = self.core
            self.subject = core.slot_subjects()[0]
        self._renderer: tuple[Renderer, tuple[int, int]] | None = None

    @property
    def clip_config(self) -> dict[str, Any]:
        """The config stored with a clip: the world's settings and, in the arena, the NPC
        (:data:`SUBJECT`), as a training run's clips of that NPC carry it."""
        if not self.subject:
            return dict(self.config_dict)
        return {**self.config_dict, SUBJECT: dict(self.subject)}

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
        """The observation of the agent driven (the ego, the NPC), ``[D]`` float32."""
        return np.asarray(self.core.observe()[0], dtype=np.float32)

    def state(self) -> State:
        """The world state now (what a clip stores per frame)."""
        return _slot(self.core.slot_states())

    def step(self, action: Any = None, player_vel: np.ndarray | None = None) -> StepOut:
        """One policy step: ``action`` for the ego or the NPC, or (``role="player"``) the
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
        i = self.npc
        reward, _ = arena_rewards(c, w.features, np.array([i]))
        feats = {k: float(v[0, i]) for k, v in w.features.items()}
        terminated = bool(w.caught[0] and c.end_on_catch)
        truncated = bool(w.t[0] >= c.max_steps) and not terminated
        vel = w.vel[0, i + 1] / c.npc_speed  # the NPC's velocity, in units of its top speed
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
        npc = None if self.driving else self.npc
        other = PlayWorld(self.env_id, self.env_kwargs, self.role, npc)
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
        i = 0 if self.role == "player" else self.npc + 1
        return float(np.hypot(*w.vel[0, i]))
