"""Behaviour features and observations of the NPCs, computed from the world's arrays.

Features, per NPC per step (``[B, N]`` each), for teachers and evaluation:

=====================  =====  ====================================================
name                   unit   meaning
=====================  =====  ====================================================
distance               m      centre distance to the player
line_of_sight          0/1    no wall between the NPC and the player
wall_collision         0/1    pushed out of a wall or obstacle this step
agent_collision        0/1    overlapped another disc (NPC or player) this step
speed                  m/s    speed actually moved this step
jitter                 rad    absolute heading change this step (0 when standing)
blocking               0/1    in the player's way: ahead of a moving player, within
                              ``block_length`` along and two radii across its path
in_personal_space      0/1    closer to the player than ``personal_space``
personal_space_time    s      time inside the personal space so far this episode
caught                 0/1    a guard reached the player this step
escaped                0/1    a guard gave up a pursuit this step (player out of sight)
=====================  =====  ====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlhf_sandbox.sim.arena.geometry import norm
from rlhf_sandbox.sim.arena.params import RADIUS, SIZE, ArenaParams

if TYPE_CHECKING:
    from rlhf_sandbox.sim.arena.world import ArenaWorld

FEATURE_NAMES = (
    "distance", "line_of_sight", "wall_collision", "agent_collision", "speed", "jitter",
    "blocking", "in_personal_space", "personal_space_time", "caught", "escaped",
)  # fmt: skip
FEATURE_UNITS = dict(
    zip(
        FEATURE_NAMES,
        ("m", "0/1", "0/1", "0/1", "m/s", "rad", "0/1", "0/1", "s", "0/1", "0/1"),
        strict=True,
    )
)


def empty(b: int, n: int) -> dict[str, np.ndarray]:
    """Zeroed features ``[B, N]``."""
    return {k: np.zeros((b, n)) for k in FEATURE_NAMES}


def reset_rows(features: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """Features with the masked copies zeroed (a new episode has done nothing yet)."""
    return {k: np.where(mask[:, None], 0.0, v) for k, v in features.items()}


def compute(
    w: ArenaWorld,
    speed: np.ndarray,
    old_heading: np.ndarray,
    bumped: np.ndarray,
    caught_by: np.ndarray,
    escaped: np.ndarray,
) -> dict[str, np.ndarray]:
    """This step's features ``[B, N]`` (and the personal-space clock advanced)."""
    p = w.params
    rel = w.pos[:, 1:] - w.pos[:, :1]  # [B, N, 2] player -> NPC
    dist = norm(rel)
    turn = np.abs(np.angle(np.exp(1j * (w.heading[:, 1:] - old_heading))))
    pv = w.vel[:, 0]
    ps = norm(pv)[:, None]  # [B, 1] player speed
    ux, uy = pv[:, None, 0] / np.maximum(ps, 1e-9), pv[:, None, 1] / np.maximum(ps, 1e-9)
    along = rel[..., 0] * ux + rel[..., 1] * uy
    across = np.abs(rel[..., 1] * ux - rel[..., 0] * uy)
    blocking = (ps > 0.2) & (along > 0) & (along < p.block_length) & (across < 2 * RADIUS + 0.1)
    inside = dist < p.personal_space
    w.space_time = w.space_time + inside * w.dt
    return {
        "distance": dist,
        "line_of_sight": w.los.astype(float),
        "wall_collision": w.wall_hit[:, 1:].astype(float),
        "agent_collision": bumped.astype(float),
        "speed": speed,
        "jitter": turn,
        "blocking": blocking.astype(float),
        "in_personal_space": inside.astype(float),
        "personal_space_time": w.space_time,
        "caught": caught_by.astype(float),
        "escaped": escaped.astype(float),
    }


PLAYER_OFFSET = 4  # the observation's entries PLAYER_OFFSET, +1: the player's offset / SIZE


def obs_dim(p: ArenaParams) -> int:
    """Length of one NPC's observation."""
    return 11 + p.n_rays + 5 * p.n_neighbours + 3


def observe(w: ArenaWorld) -> np.ndarray:
    """Observations ``[B, N, obs_dim]`` float32 in [-1, 1], world frame:

    own velocity / npc_speed (2), own heading (cos, sin) (2), player position relative to
    the NPC / SIZE (2), unit vector toward the player (2), player velocity / npc_speed (2),
    line of sight (1), ray distances / ray_range (n_rays), then for each of the
    ``n_neighbours`` nearest other NPCs: relative position / SIZE (2), relative velocity /
    (2 npc_speed) (2), present (1); then own role one-hot (companion, guard, villager) (3).
    """
    p = w.params
    b, n = w.n, w.a - 1
    npc, vel = w.pos[:, 1:], w.vel[:, 1:]
    rel = w.pos[:, :1] - npc  # [B, N, 2] [m] NPC -> player
    length = norm(rel)[..., None]
    parts = [
        vel / p.npc_speed,
        np.stack([np.cos(w.heading[:, 1:]), np.sin(w.heading[:, 1:])], axis=-1),
        rel / SIZE,
        rel / np.maximum(length, 1e-9),
        np.broadcast_to(w.vel[:, :1] / p.npc_speed, (b, n, 2)),
        w.los[..., None],
        w.rays / p.ray_range,
    ]
    k = p.n_neighbours
    if k:
        rel = npc[:, None, :, :] - npc[:, :, None, :]  # [B, N, N, 2] i -> j
        d = norm(rel) + np.eye(n) * 1e9
        order = np.argsort(d, axis=-1, kind="stable")[:, :, : min(k, n - 1)]
        bi, ii = np.arange(b)[:, None, None], np.arange(n)[None, :, None]
        nb = np.zeros((b, n, k, 5))
        m = order.shape[-1]
        nb[:, :, :m, :2] = rel[bi, ii, order] / SIZE
        nb[:, :, :m, 2:4] = (vel[bi, order] - vel[:, :, None]) / (2 * p.npc_speed)
        nb[:, :, :m, 4] = 1.0
        parts.append(nb.reshape(b, n, 5 * k))
    roles = np.zeros((n, 3))
    roles[w.is_companion, 0] = 1.0
    roles[w.is_guard, 1] = 1.0
    roles[w.is_villager, 2] = 1.0
    parts.append(np.broadcast_to(roles, (b, n, 3)))
    obs = np.concatenate(parts, axis=-1)
    return np.clip(obs, -1.0, 1.0).astype(np.float32)
