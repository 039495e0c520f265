"""Settings, spaces and rewards shared by the arena envs (``arena_v0`` and the single-NPC ids)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlhf_sandbox.config import ConfigError, setting, validate
from rlhf_sandbox.sim.arena.features import obs_dim
from rlhf_sandbox.sim.arena.params import PLAYER_MODES, ROLES, ArenaParams
from rlhf_sandbox.sim.arena.world import MOVES

Role = Literal["companion", "guard", "villager"]
REWARD_NAMES = ("distance", "catch", "blocking")


@dataclass(frozen=True)
class ArenaConfig:
    """Settings of an arena env. Distances in metres, times in seconds."""

    roles: tuple[Role, ...] = setting(
        ("companion", "guard", "villager", "villager"), doc="role of each NPC, in agent order"
    )
    scripted_roles: tuple[Role, ...] = setting(
        (), doc="arena_v0 only: NPCs of these roles follow their script and are not agents"
    )
    layout: Literal["open", "rooms", "corridors", "procedural"] = setting(
        "rooms", doc="room layout; 'procedural' draws a new 3 x 3 grid of rooms per episode"
    )
    player_policy: Literal["waypoints", "random", "evasive", "mixed"] = setting(
        "mixed", doc="the scripted player; 'mixed' draws one of the three per episode"
    )
    max_steps: int = setting(300, lo=1, hi=100_000, doc="steps before truncation")
    dt: float = setting(0.1, lo=0.02, hi=0.5, doc="[s] one policy step")
    npc_speed: float = setting(2.0, lo=0.1, hi=6.0, doc="[m/s] NPC top speed")
    player_speed: float = setting(1.5, lo=0.1, hi=6.0, doc="[m/s] player top speed")
    max_accel: float = setting(10.0, lo=0.5, hi=100.0, doc="[m/s^2] velocity change limit")
    continuous: bool = setting(False, doc="continuous velocity actions instead of 9 moves")
    n_rays: int = setting(8, lo=4, hi=32, doc="lidar rays per NPC")
    ray_range: float = setting(6.0, lo=1.0, hi=17.0, doc="[m] ray length")
    n_neighbours: int = setting(2, lo=0, hi=8, doc="nearest other NPCs in an observation")
    view_range: float = setting(6.0, lo=0.5, hi=17.0, doc="[m] how far a guard sees")
    view_angle: float = setting(60.0, lo=5.0, hi=180.0, doc="[deg] half-angle of a guard's cone")
    lose_time: float = setting(3.0, lo=0.1, hi=60.0, doc="[s] out of sight before a guard gives up")
    catch_distance: float = setting(0.8, lo=0.6, hi=3.0, doc="[m] guard-player centre distance")
    personal_space: float = setting(1.0, lo=0.6, hi=5.0, doc="[m] the player's personal space")
    end_on_catch: bool = setting(True, doc="a catch ends the episode (terminated)")
    backend: Literal["auto", "numba", "numpy"] = setting(
        "auto", doc="world step: compiled with numba, plain numpy, or numba if installed"
    )

    def __post_init__(self) -> None:
        validate(self)
        if not self.roles:
            raise ConfigError("ArenaConfig.roles must name at least one NPC")
        if len(self.roles) > 16:
            raise ConfigError(f"ArenaConfig.roles: at most 16 NPCs, got {len(self.roles)}")


def to_params(c: ArenaConfig) -> ArenaParams:
    """The world's parameters from an env config."""
    mode = -1 if c.player_policy == "mixed" else PLAYER_MODES.index(c.player_policy)
    return ArenaParams(
        roles=tuple(ROLES.index(r) for r in c.roles),
        layout=c.layout,
        player_mode=mode,
        dt=c.dt,
        npc_speed=c.npc_speed,
        player_speed=c.player_speed,
        max_accel=c.max_accel,
        n_rays=c.n_rays,
        ray_range=c.ray_range,
        n_neighbours=c.n_neighbours,
        view_range=c.view_range,
        view_angle=c.view_angle,
        lose_time=c.lose_time,
        catch_distance=c.catch_distance,
        personal_space=c.personal_space,
        backend=c.backend,
    )


def observation_space(c: ArenaConfig) -> gym.spaces.Box:
    """One NPC's observation: a Box in [-1, 1] (layout in ``sim.arena.features.observe``)."""
    n = obs_dim(to_params(c))
    return gym.spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)


def action_space(c: ArenaConfig) -> gym.spaces.Space[Any]:
    """9 moves (0 stay, 1..8 compass from east, counter-clockwise) or a velocity Box."""
    if c.continuous:
        return gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    return gym.spaces.Discrete(9)


def to_velocity(c: ArenaConfig, actions: np.ndarray) -> np.ndarray:
    """Validated actions ``[B, M]`` (or ``[B, M, 2]``) -> desired velocities [m/s]."""
    if c.continuous:
        return np.asarray(actions, dtype=float) * c.npc_speed
    return MOVES[actions] * c.npc_speed


def rewards(
    c: ArenaConfig, features: dict[str, np.ndarray], npcs: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Env reward ``[B, M]`` of the NPCs ``npcs [M]`` and its parts by name.

    companion: minus the distance to the player [m] per step; guard: +1 on a catch;
    villager: -1 per step spent blocking the player's path.
    """
    roles = np.asarray(c.roles)[npcs]
    return role_rewards(
        {k: features[k][:, npcs] for k in ("distance", "caught", "blocking")},
        (roles == "companion").astype(float),
        (roles == "guard").astype(float),
        (roles == "villager").astype(float),
    )


def role_rewards(
    features: dict[str, np.ndarray], companion: np.ndarray, guard: np.ndarray, villager: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`rewards` from features ``[B, M]`` already restricted to the NPCs and their
    role masks ``[M]`` (1.0 where the NPC has the role)."""
    parts = {
        "distance": -features["distance"] * companion,
        "catch": features["caught"] * guard,
        "blocking": -features["blocking"] * villager,
    }
    total = parts["distance"] + parts["catch"] + parts["blocking"]
    return total.astype(np.float32), parts


def agent_names(c: ArenaConfig) -> list[str]:
    """``companion_0``, ``guard_0``, ``villager_0``, ``villager_1``, ... in NPC order."""
    counts: dict[str, int] = {}
    names = []
    for r in c.roles:
        names.append(f"{r}_{counts.get(r, 0)}")
        counts[r] = counts.get(r, 0) + 1
    return names
