"""Scripted behaviour, part of the world: the player's policies and the NPC roles.

Each function returns desired velocities [m/s] for every copy at once. Randomness comes
from :func:`rlhf_sandbox.sim.rng.uniform` keyed by (episode seed, step, agent, stream), so
copy i of a batch behaves exactly as a lone world with the same seed.

* player ``waypoints``: walks a random tour of the layout's waypoint graph.
* player ``random``: a random walk that turns away from walls it touches.
* player ``evasive``: tours, but runs from guards that see it and from NPCs too close.
* companion: closes in on the player (or where it last saw it), stops at follow distance.
* guard: patrols the waypoint graph at 60 % speed; pursues the player once seen.
* villager: wanders the waypoints at half speed, steps aside when the player comes close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlhf_sandbox.sim.arena.geometry import disc_path_clear, norm, segment_blocked
from rlhf_sandbox.sim.arena.params import RADIUS
from rlhf_sandbox.sim.rng import uniform

if TYPE_CHECKING:
    from rlhf_sandbox.sim.arena.world import ArenaWorld

_TOUR, _WANDER, _SIDE = 1, 2, 3  # rng streams
REACHED = 0.5  # [m] a waypoint counts as reached this close


def unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v / |v|`` (zero where ``v`` is zero) and ``|v|``, over the last axis."""
    n = norm(v)
    return v / np.maximum(n, 1e-9)[..., None], n


def nearest_visible_waypoint(
    pos: np.ndarray, waypoints: np.ndarray, valid: np.ndarray, boxes: np.ndarray
) -> np.ndarray:
    """Index ``[M]`` of the nearest valid waypoint in sight of ``pos [M, 2]`` (else nearest)."""
    d = norm(waypoints - pos[:, None, :])  # [M, P]
    seen = ~segment_blocked(pos[:, None, :] + 0 * waypoints, waypoints, boxes[:, None])
    d = np.where(valid, d, np.inf)
    seen_d = np.where(seen, d, np.inf)
    any_seen = np.isfinite(seen_d).any(axis=-1, keepdims=True)
    return np.where(any_seen, seen_d, d).argmin(axis=-1)


def route(w: ArenaWorld, target: np.ndarray, who: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where NPCs ``who [B, N]`` should head for ``target [B, N, 2]``: straight where a
    disc can go straight, else the waypoint that starts the shortest walk along the
    waypoint graph (reachable straight, not the one they stand on). Returns the new
    targets and where a waypoint was chosen ``[B, N]``."""
    target = target.copy()
    detour = np.zeros(who.shape, dtype=bool)
    bi, ni = np.nonzero(who)
    if len(bi) == 0:
        return target, detour
    pos, tgt, boxes = w.pos[bi, ni + 1], target[bi, ni], w.boxes[bi]
    blocked = ~disc_path_clear(pos, tgt, boxes, RADIUS)
    if not blocked.any():
        return target, detour
    bi, ni, pos, tgt, boxes = bi[blocked], ni[blocked], pos[blocked], tgt[blocked], boxes[blocked]
    wps, valid = w.waypoints[bi], w.valid[bi]  # [M, P, 2], [M, P]
    to_goal = norm(wps - tgt[:, None, :])  # [M, P] from each waypoint on to the target
    to_goal = np.where(valid & disc_path_clear(wps, tgt[:, None, :], boxes[:, None], RADIUS),
                       to_goal, np.inf)  # fmt: skip
    via = (w.paths[bi] + to_goal[:, None, :]).min(axis=-1)  # [M, P]
    dq = norm(wps - pos[:, None, :])
    total = np.where(valid & (dq > REACHED), dq + via, np.inf)
    total = np.where(disc_path_clear(pos[:, None, :], wps, boxes[:, None], RADIUS), total, np.inf)
    pick = total.argmin(axis=-1)
    found = np.isfinite(total.min(axis=-1))
    via_xy = wps[np.arange(len(bi)), pick]
    target[bi, ni] = np.where(found[:, None], via_xy, tgt)
    detour[bi, ni] = found
    return target, detour


def advance_waypoints(w: ArenaWorld) -> None:
    """Agents at their waypoint pick a random neighbour in the walkable graph."""
    b = np.arange(w.n)[:, None]
    target = w.waypoints[b, w.wp]  # [B, A, 2]
    reached = norm(target - w.pos) < REACHED
    if not reached.any():
        return
    nbr = w.graph[b, w.wp]  # [B, A, P]
    count = nbr.sum(axis=-1)
    u = uniform(w.seed[:, None], w.t[:, None], np.arange(w.a)[None, :], _TOUR)
    k = np.floor(u * count).astype(np.int64)
    pick = (np.cumsum(nbr, axis=-1) > k[..., None]).argmax(axis=-1)
    w.wp = np.where(reached & (count > 0), pick, w.wp)


def toward(w: ArenaWorld, target: np.ndarray, speed: np.ndarray | float) -> np.ndarray:
    """Desired velocity ``[B, A, 2]`` straight at ``target`` [m] at ``speed`` [m/s]."""
    u, _ = unit(target - w.pos)
    return u * np.asarray(speed)[..., None] if np.ndim(speed) else u * speed


def tour(w: ArenaWorld) -> np.ndarray:
    """Toward each agent's current waypoint at full speed ``[B, A, 2]`` (before scaling)."""
    return toward(w, w.waypoints[np.arange(w.n)[:, None], w.wp], 1.0)


def player_desired(w: ArenaWorld, walk: np.ndarray) -> np.ndarray:
    """The player's desired velocity ``[B, 2]`` [m/s] by each copy's mode."""
    p = w.params
    out = walk[:, 0]
    if (w.mode == 1).any():  # random walk: the aim drifts; a wall turns it by a right angle
        u = uniform(w.seed, w.t, 0, _WANDER)
        turn = np.where(w.wall_hit[:, 0], np.pi / 2 * np.sign(u - 0.5) + (u - 0.5), 0.0)
        aim = w.aim[:, 0] + 0.6 * (2.0 * u - 1.0) + turn
        w.aim[:, 0] = np.where(w.mode == 1, aim, w.aim[:, 0])
        rnd = np.stack([np.cos(aim), np.sin(aim)], axis=-1)
        out = np.where((w.mode == 1)[:, None], rnd, out)
    if (w.mode == 2).any():  # evasive: flee the nearest threat, veering to one side
        rel = w.pos[:, :1] - w.pos[:, 1:]  # [B, N, 2] from each NPC to the player
        dist = norm(rel)
        threat = (w.is_guard & w.los & (dist < p.view_range)) | (dist < p.personal_space)
        d = np.where(threat, dist, np.inf)
        near = d.argmin(axis=-1)
        away, _ = unit(rel[np.arange(w.n), near])
        side = np.where(uniform(w.seed, 0, 0, _SIDE) < 0.5, -1.0, 1.0)
        side = side * np.where(w.wall_hit[:, 0], 3.0, 0.6)
        flee, _ = unit(away + side[:, None] * np.stack([-away[:, 1], away[:, 0]], axis=-1))
        use = (w.mode == 2) & np.isfinite(d.min(axis=-1))
        if use.any():  # better: run for a waypoint in reach that is farther from the threat
            bi = np.flatnonzero(use)
            me, them = w.pos[bi, 0], w.pos[bi, 1 + near[bi]]
            wps = w.waypoints[bi]
            reach = norm(wps - me[:, None, :])
            ok = w.valid[bi] & (reach > REACHED)
            ok &= disc_path_clear(me[:, None, :], wps, w.boxes[bi][:, None], RADIUS)
            score = np.where(ok, norm(wps - them[:, None, :]) - 0.5 * reach, -np.inf)
            pick = score.argmax(axis=-1)
            better = score.max(axis=-1) > norm(me - them)
            run, _ = unit(wps[np.arange(len(bi)), pick] - me)
            flee[bi] = np.where(better[:, None], run, flee[bi])
        out = np.where(use[:, None], flee, out)
    return out * p.player_speed


def npc_desired(w: ArenaWorld, walk: np.ndarray) -> np.ndarray:
    """Scripted desired velocities ``[B, N, 2]`` [m/s] of every NPC by its role."""
    p = w.params
    pos, player = w.pos[:, 1:], w.pos[:, :1]
    out = np.zeros_like(pos)
    if w.has_companion:
        target = np.where(w.los[..., None], player, w.memory)
        who = np.broadcast_to(w.is_companion, w.los.shape)
        target, detour = route(w, target, who)
        u, d = unit(target - pos)
        gap = np.where(w.los & ~detour, d - p.follow_distance, d)  # [m] still to close
        fc = u * (p.npc_speed * np.minimum(np.maximum(gap, 0.0), 1.0))[..., None]
        out = np.where(w.is_companion[..., None], fc, out)
    if w.has_guard:
        goal, _ = route(w, w.memory, w.is_guard & w.alert)
        chase, d = unit(goal - pos)
        chase = chase * (p.npc_speed * np.minimum(d / 0.3, 1.0))[..., None]
        fg = np.where(w.alert[..., None], chase, walk[:, 1:] * (0.6 * p.npc_speed))
        out = np.where(w.is_guard[..., None], fg, out)
    if w.has_villager:
        rel = pos - player  # [B, N, 2] from the player
        away, d = unit(rel)
        pv, ps = unit(w.vel[:, :1])
        side = np.sign(pv[..., 0] * rel[..., 1] - pv[..., 1] * rel[..., 0])  # which side of path
        perp = np.stack([-pv[..., 1], pv[..., 0]], axis=-1) * side[..., None]
        dodge, _ = unit(away + 2.0 * perp * (ps > 0.2)[..., None])
        near = (d < 2.0 * p.personal_space) & w.los
        fv = np.where(near[..., None], dodge * 0.8, walk[:, 1:] * 0.5) * p.npc_speed
        out = np.where(w.is_villager[..., None], fv, out)
    return out
