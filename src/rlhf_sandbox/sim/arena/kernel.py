"""The arena step and observation as numba-compiled loops (optional; numpy is the reference).

:mod:`world` runs these when numba is installed (``backend="auto"`` or ``"numba"``): one
compiled call per step instead of a few hundred small numpy calls, which is what a
single world (B = 1) spends its time on. Each copy is computed on its own, so copy i of
a batch is bit for bit a lone world with the same seed here too. The logic mirrors the
numpy modules (``scripted``, ``geometry``, ``features``) line by line; the two backends
agree to rounding (rays here are float64, there float32), which tests check over short
horizons; long trajectories of the two backends are not bit-identical.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rlhf_sandbox.sim.arena.params import (
    F_AGENT,
    F_BLOCK,
    F_CAUGHT,
    F_DIST,
    F_ESCAPED,
    F_INSIDE,
    F_JITTER,
    F_LOS,
    F_SPACE,
    F_SPEED,
    F_WALL,
    RADIUS,
    SIZE,
    TINY,
)
from rlhf_sandbox.sim.rng import GOLDEN, M1, M2


@njit(cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def uniform4(a: int, b: int, c: int, d: int) -> float:
    """Same as ``rlhf_sandbox.sim.rng.uniform(a, b, c, d)``."""
    h = np.uint64(0x1234567)
    h = _mix(np.uint64(a) + h * GOLDEN + GOLDEN)
    h = _mix(np.uint64(b) + h * GOLDEN + GOLDEN)
    h = _mix(np.uint64(c) + h * GOLDEN + GOLDEN)
    h = _mix(np.uint64(d) + h * GOLDEN + GOLDEN)
    return float(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@njit(cache=True)
def _inv(d: float) -> float:
    if abs(d) < TINY:
        d = -TINY if d < 0 else TINY
    return 1.0 / d


@njit(cache=True)
def _blocked(px: float, py: float, qx: float, qy: float, boxes: np.ndarray) -> bool:
    """Segment p -> q crosses a box (slab test), as ``geometry.segment_blocked``."""
    ix, iy = _inv(qx - px), _inv(qy - py)
    for k in range(boxes.shape[0]):
        tx0 = (boxes[k, 0] - px) * ix
        tx1 = (boxes[k, 2] - px) * ix
        ty0 = (boxes[k, 1] - py) * iy
        ty1 = (boxes[k, 3] - py) * iy
        tn = max(min(tx0, tx1), min(ty0, ty1))
        tf = min(max(tx0, tx1), max(ty0, ty1))
        if tn <= tf and tf >= 0.0 and tn <= 1.0:
            return True
    return False


@njit(cache=True)
def _disc_clear(px: float, py: float, qx: float, qy: float, boxes: np.ndarray) -> bool:
    """A disc can move straight from p to q, as ``geometry.disc_path_clear``."""
    dx, dy = qx - px, qy - py
    m = max(math.sqrt(dx * dx + dy * dy), 1e-9)
    nx, ny = -dy / m, dx / m
    for off in (-RADIUS, 0.0, RADIUS):
        ox, oy = off * nx, off * ny
        if _blocked(px + ox, py + oy, qx + ox, qy + oy, boxes):
            return False
    return True


@njit(cache=True)
def _route(
    x: float, y: float, tx: float, ty: float, wps: np.ndarray, valid: np.ndarray,
    paths: np.ndarray, boxes: np.ndarray,
) -> tuple[float, float, bool]:  # fmt: skip
    """Where to head for ``(tx, ty)``, as ``scripted.route``: straight if a disc can,
    else the waypoint that starts the shortest walk (waypoint graph) to the target."""
    if _disc_clear(x, y, tx, ty, boxes):
        return tx, ty, False
    npts = wps.shape[0]
    to_goal = np.full(npts, np.inf)  # [m] from each waypoint on to the target
    for g in range(npts):
        if valid[g] and _disc_clear(wps[g, 0], wps[g, 1], tx, ty, boxes):
            dx, dy = wps[g, 0] - tx, wps[g, 1] - ty
            to_goal[g] = math.sqrt(dx * dx + dy * dy)
    best, bd = -1, np.inf
    for q in range(npts):
        dx, dy = wps[q, 0] - x, wps[q, 1] - y
        dq = math.sqrt(dx * dx + dy * dy)
        if not valid[q] or dq <= 0.5:
            continue
        via = np.inf
        for g in range(npts):
            via = min(via, paths[q, g] + to_goal[g])
        total = dq + via
        if total < bd and _disc_clear(x, y, wps[q, 0], wps[q, 1], boxes):
            best, bd = q, total
    if best < 0 or not bd < np.inf:
        return tx, ty, False
    return wps[best, 0], wps[best, 1], True


@njit(cache=True)
def _push_out(pos: np.ndarray, a: int, boxes: np.ndarray, r: float) -> bool:
    """Disc ``pos[a]`` pushed out of the boxes in place, as ``geometry.push_out_of_boxes``."""
    cx, cy = pos[a, 0], pos[a, 1]
    pxp = pxn = pyp = pyn = 0.0
    touched = False
    for k in range(boxes.shape[0]):
        x0, y0, x1, y1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        dx = cx - min(max(cx, x0), x1)
        dy = cy - min(max(cy, y0), y1)
        dist = math.sqrt(dx * dx + dy * dy)
        pen = r - dist
        if dist <= TINY:  # centre inside: leave by the nearest side
            g = np.array([cx - x0, x1 - cx, cy - y0, y1 - cy]) + r
            side = int(np.argmin(g))
            px = -g[side] if side == 0 else (g[side] if side == 1 else 0.0)
            py = -g[side] if side == 2 else (g[side] if side == 3 else 0.0)
            touched = True
        elif pen > 0.0:
            s = pen / max(dist, TINY)
            px, py = dx * s, dy * s
            if pen > 1e-9:
                touched = True
        else:
            continue
        pxp, pxn = max(pxp, px), min(pxn, px)
        pyp, pyn = max(pyp, py), min(pyn, py)
    pos[a, 0] = cx + (pxp + pxn)
    pos[a, 1] = cy + (pyp + pyn)
    return touched


@njit(cache=True)
def _nearest_visible(
    x: float, y: float, wps: np.ndarray, valid: np.ndarray, boxes: np.ndarray
) -> int:
    best, best_seen = -1, -1
    bd, bds = np.inf, np.inf
    for p in range(wps.shape[0]):
        if not valid[p]:
            continue
        d = math.sqrt((wps[p, 0] - x) ** 2 + (wps[p, 1] - y) ** 2)
        if d < bd:
            bd, best = d, p
        if d < bds and not _blocked(x, y, wps[p, 0], wps[p, 1], boxes):
            bds, best_seen = d, p
    if best_seen >= 0:
        return best_seen
    return max(best, 0)


@njit(cache=True)
def _unit(x: float, y: float) -> tuple[float, float, float]:
    n = math.sqrt(x * x + y * y)
    m = max(n, 1e-9)
    return x / m, y / m, n


@njit(cache=True)
def step_kernel(
    pos: np.ndarray,  # [B, A, 2] [m], updated in place (as are the other state arrays)
    vel: np.ndarray,  # [B, A, 2] [m/s]
    heading: np.ndarray,  # [B, A] [rad]
    aim: np.ndarray,  # [B, A] [rad]
    wp: np.ndarray,  # [B, A]
    alert: np.ndarray,  # [B, N]
    lost: np.ndarray,  # [B, N] [s]
    memory: np.ndarray,  # [B, N, 2] [m]
    space_time: np.ndarray,  # [B, N] [s]
    los: np.ndarray,  # [B, N]
    wall_hit: np.ndarray,  # [B, A]
    t: np.ndarray,  # [B]
    seed: np.ndarray,  # [B]
    mode: np.ndarray,  # [B]
    caught: np.ndarray,  # [B]
    boxes: np.ndarray,  # [B, K, 4]
    waypoints: np.ndarray,  # [B, P, 2]
    valid: np.ndarray,  # [B, P]
    graph: np.ndarray,  # [B, P, P]
    paths: np.ndarray,  # [B, P, P] [m]
    rays: np.ndarray,  # [B, N, R] [m]
    ray_dirs: np.ndarray,  # [R, 2]
    roles: np.ndarray,  # [N] 0 companion, 1 guard, 2 villager
    top_speed: np.ndarray,  # [A] [m/s]
    npc_vel: np.ndarray,  # [B, N, 2] [m/s] desired velocity of controlled NPCs
    controlled: np.ndarray,  # [N] bool
    prm: np.ndarray,  # float64 parameters, in the order of ArenaWorld._prm
    player_override: bool,  # the player follows player_vel instead of its script
    player_vel: np.ndarray,  # [B, 2] [m/s]
    feat: np.ndarray,  # [F, B, N] out: features
) -> None:
    (dt, npc_speed, player_speed, max_accel, substeps, ray_range, view_range, view_cos,
     hear_range, lose_time, catch_distance, personal_space, follow, block_length) = (
        prm[0], prm[1], prm[2], prm[3], int(prm[4]), prm[5], prm[6], prm[7], prm[8],
        prm[9], prm[10], prm[11], prm[12], prm[13])  # fmt: skip
    nb, na = pos.shape[0], pos.shape[1]
    nn = na - 1
    walk = np.empty((na, 2))
    desired = np.empty((na, 2))
    start = np.empty((na, 2))
    newpos = np.empty((na, 2))
    wall = np.empty(na, dtype=np.bool_)
    bumped = np.empty(na, dtype=np.bool_)
    old_heading = np.empty(na)
    speed = np.empty(na)
    for b in range(nb):
        bx = boxes[b]
        # -- waypoints: who reached theirs picks a random neighbour --------------------
        for a in range(na):
            w = wp[b, a]
            if math.sqrt((waypoints[b, w, 0] - pos[b, a, 0]) ** 2
                         + (waypoints[b, w, 1] - pos[b, a, 1]) ** 2) < 0.5:  # fmt: skip
                count = 0
                for q in range(graph.shape[2]):
                    count += graph[b, w, q]
                if count > 0:
                    k = int(uniform4(seed[b], t[b], a, 1) * count)  # >= 0: floor
                    c = 0
                    for q in range(graph.shape[2]):
                        c += graph[b, w, q]
                        if c > k:
                            wp[b, a] = q
                            break
        for a in range(na):
            w = wp[b, a]
            ux, uy, _ = _unit(waypoints[b, w, 0] - pos[b, a, 0], waypoints[b, w, 1] - pos[b, a, 1])
            walk[a, 0], walk[a, 1] = ux, uy
        # -- the player ------------------------------------------------------------------
        ox, oy = walk[0, 0], walk[0, 1]
        if mode[b] == 1:
            u = uniform4(seed[b], t[b], 0, 2)
            turn = np.pi / 2 * _sign(u - 0.5) + (u - 0.5) if wall_hit[b, 0] else 0.0
            aim[b, 0] = aim[b, 0] + 0.6 * (2.0 * u - 1.0) + turn
            ox, oy = math.cos(aim[b, 0]), math.sin(aim[b, 0])
        elif mode[b] == 2:
            near, dn = -1, np.inf
            for n in range(nn):
                rx, ry = pos[b, 0, 0] - pos[b, 1 + n, 0], pos[b, 0, 1] - pos[b, 1 + n, 1]
                d = math.sqrt(rx * rx + ry * ry)
                threat = (roles[n] == 1 and los[b, n] and d < view_range) or (d < personal_space)
                if threat and d < dn:
                    near, dn = n, d
            if near >= 0:
                ax, ay, _ = _unit(
                    pos[b, 0, 0] - pos[b, 1 + near, 0], pos[b, 0, 1] - pos[b, 1 + near, 1]
                )
                side = -1.0 if uniform4(seed[b], 0, 0, 3) < 0.5 else 1.0
                side *= 3.0 if wall_hit[b, 0] else 0.6
                ox, oy, _ = _unit(ax + side * -ay, ay + side * ax)
                mx, my = pos[b, 0, 0], pos[b, 0, 1]
                hx, hy = pos[b, 1 + near, 0], pos[b, 1 + near, 1]
                best, bs = -1, -np.inf
                for q in range(waypoints.shape[1]):  # a waypoint in reach, farther from it
                    wx, wy = waypoints[b, q, 0], waypoints[b, q, 1]
                    reach = math.sqrt((wx - mx) * (wx - mx) + (wy - my) * (wy - my))
                    if not valid[b, q] or reach <= 0.5:
                        continue
                    sc = math.sqrt((wx - hx) * (wx - hx) + (wy - hy) * (wy - hy)) - 0.5 * reach
                    if sc > bs and _disc_clear(mx, my, wx, wy, bx):
                        best, bs = q, sc
                if best >= 0 and bs > math.sqrt((mx - hx) * (mx - hx) + (my - hy) * (my - hy)):
                    ox, oy, _ = _unit(waypoints[b, best, 0] - mx, waypoints[b, best, 1] - my)
        desired[0, 0], desired[0, 1] = ox * player_speed, oy * player_speed
        if player_override:
            desired[0, 0], desired[0, 1] = player_vel[b, 0], player_vel[b, 1]
        # -- NPCs by role ----------------------------------------------------------------
        px, py = pos[b, 0, 0], pos[b, 0, 1]
        pvx, pvy, ps = _unit(vel[b, 0, 0], vel[b, 0, 1])
        for n in range(nn):
            a = 1 + n
            x, y = pos[b, a, 0], pos[b, a, 1]
            if controlled[n]:
                desired[a, 0], desired[a, 1] = npc_vel[b, n, 0], npc_vel[b, n, 1]
            elif roles[n] == 0:
                tx, ty = (px, py) if los[b, n] else (memory[b, n, 0], memory[b, n, 1])
                tx, ty, detour = _route(x, y, tx, ty, waypoints[b], valid[b], paths[b], bx)
                ux, uy, d = _unit(tx - x, ty - y)
                gap = d - follow if (los[b, n] and not detour) else d
                f = npc_speed * min(max(gap, 0.0), 1.0)
                desired[a, 0], desired[a, 1] = ux * f, uy * f
            elif roles[n] == 1:
                if alert[b, n]:
                    tx, ty = memory[b, n, 0], memory[b, n, 1]
                    tx, ty, _ = _route(x, y, tx, ty, waypoints[b], valid[b], paths[b], bx)
                    ux, uy, d = _unit(tx - x, ty - y)
                    f = npc_speed * min(d / 0.3, 1.0)
                    desired[a, 0], desired[a, 1] = ux * f, uy * f
                else:
                    f = 0.6 * npc_speed
                    desired[a, 0], desired[a, 1] = walk[a, 0] * f, walk[a, 1] * f
            else:
                rx, ry = x - px, y - py
                ax, ay, d = _unit(rx, ry)
                side = _sign(pvx * ry - pvy * rx)
                moving = 1.0 if ps > 0.2 else 0.0
                dx, dy, _ = _unit(
                    ax + 2.0 * (-pvy * side) * moving, ay + 2.0 * (pvx * side) * moving
                )
                if d < 2.0 * personal_space and los[b, n]:
                    desired[a, 0], desired[a, 1] = dx * 0.8 * npc_speed, dy * 0.8 * npc_speed
                else:
                    desired[a, 0] = walk[a, 0] * 0.5 * npc_speed
                    desired[a, 1] = walk[a, 1] * 0.5 * npc_speed
        # -- limits and motion -----------------------------------------------------------
        for a in range(na):
            over = max(math.sqrt(desired[a, 0] ** 2 + desired[a, 1] ** 2) / top_speed[a], 1.0)
            dvx = desired[a, 0] / over - vel[b, a, 0]
            dvy = desired[a, 1] / over - vel[b, a, 1]
            s = min(1.0, max_accel * dt / max(math.sqrt(dvx * dvx + dvy * dvy), 1e-9))
            vel[b, a, 0] += dvx * s
            vel[b, a, 1] += dvy * s
            start[a, 0], start[a, 1] = pos[b, a, 0], pos[b, a, 1]
            wall[a] = False
        h = dt / substeps
        for _ in range(substeps):
            for a in range(na):
                pos[b, a, 0] += vel[b, a, 0] * h
                pos[b, a, 1] += vel[b, a, 1] * h
                wall[a] |= _push_out(pos[b], a, bx, RADIUS)
        for i in range(na):  # discs pushed apart, each by at most half a radius
            sx = sy = 0.0
            bumped[i] = False
            for j in range(na):
                if i == j:
                    continue
                dx, dy = pos[b, i, 0] - pos[b, j, 0], pos[b, i, 1] - pos[b, j, 1]
                d = math.sqrt(dx * dx + dy * dy)
                ov = 2.0 * RADIUS - d
                if ov > 1e-9:
                    bumped[i] = True
                    if d < TINY:
                        dx, dy, d = _sign(i - j), 0.0, 1.0
                    f = 0.5 * ov / max(d, TINY)
                    sx += dx * f
                    sy += dy * f
            ln = math.sqrt(sx * sx + sy * sy)
            f = min(1.0, 0.5 * RADIUS / max(ln, TINY))
            newpos[i, 0], newpos[i, 1] = pos[b, i, 0] + sx * f, pos[b, i, 1] + sy * f
        for a in range(na):
            pos[b, a, 0], pos[b, a, 1] = newpos[a, 0], newpos[a, 1]
            if bumped[a] or wall[a]:
                wall[a] |= _push_out(pos[b], a, bx, RADIUS)
            wall_hit[b, a] = wall[a]
            vel[b, a, 0] = (pos[b, a, 0] - start[a, 0]) / dt
            vel[b, a, 1] = (pos[b, a, 1] - start[a, 1]) / dt
            speed[a] = math.sqrt(vel[b, a, 0] ** 2 + vel[b, a, 1] ** 2)
            old_heading[a] = heading[b, a]
            if speed[a] > 0.05:
                heading[b, a] = math.atan2(vel[b, a, 1], vel[b, a, 0])
        t[b] += 1
        # -- perception, sight, features -------------------------------------------------
        perceive(pos[b], bx, ray_dirs, ray_range, los[b], rays[b])
        px, py = pos[b, 0, 0], pos[b, 0, 1]
        pvx, pvy = vel[b, 0, 0], vel[b, 0, 1]
        ps = math.sqrt(pvx * pvx + pvy * pvy)
        ux, uy = pvx / max(ps, 1e-9), pvy / max(ps, 1e-9)
        for n in range(nn):
            a = 1 + n
            rx, ry = px - pos[b, a, 0], py - pos[b, a, 1]
            dist = math.sqrt(rx * rx + ry * ry)
            hd = heading[b, a]
            facing = math.cos(hd) * rx + math.sin(hd) * ry >= dist * view_cos
            seen = los[b, n] and ((dist < view_range and facing) or dist < hear_range)
            guard = roles[n] == 1
            if seen if guard else los[b, n]:
                memory[b, n, 0], memory[b, n, 1] = px, py
            lost[b, n] = 0.0 if seen else lost[b, n] + dt
            caught_by = guard and dist < catch_distance
            new_alert = guard and (seen or (alert[b, n] and lost[b, n] < lose_time))
            escaped = alert[b, n] and not new_alert and not caught_by
            alert[b, n] = new_alert
            if caught_by:
                caught[b] = True
            if escaped:
                wp[b, a] = _nearest_visible(pos[b, a, 0], pos[b, a, 1], waypoints[b], valid[b], bx)
            along = -rx * ux - ry * uy  # player -> NPC along the player's path
            across = abs(-ry * ux + rx * uy)
            inside = dist < personal_space
            space_time[b, n] += dt if inside else 0.0
            dh = heading[b, a] - old_heading[a]
            feat[F_DIST, b, n] = dist
            feat[F_LOS, b, n] = 1.0 if los[b, n] else 0.0
            feat[F_WALL, b, n] = 1.0 if wall[a] else 0.0
            feat[F_AGENT, b, n] = 1.0 if bumped[a] else 0.0
            feat[F_SPEED, b, n] = speed[a]
            feat[F_JITTER, b, n] = abs(math.atan2(math.sin(dh), math.cos(dh)))
            feat[F_BLOCK, b, n] = (
                1.0
                if ps > 0.2 and along > 0 and along < block_length and across < 2 * RADIUS + 0.1
                else 0.0
            )
            feat[F_INSIDE, b, n] = 1.0 if inside else 0.0
            feat[F_SPACE, b, n] = space_time[b, n]
            feat[F_CAUGHT, b, n] = 1.0 if caught_by else 0.0
            feat[F_ESCAPED, b, n] = 1.0 if escaped else 0.0


@njit(cache=True)
def perceive(
    pos: np.ndarray, boxes: np.ndarray, ray_dirs: np.ndarray, ray_range: float,
    los: np.ndarray, rays: np.ndarray,
) -> None:  # fmt: skip
    """One copy: line of sight NPC -> player (``los [N]``) and rays ``[N, R]`` [m], in place."""
    for n in range(pos.shape[0] - 1):
        x, y = pos[1 + n, 0], pos[1 + n, 1]
        los[n] = not _blocked(x, y, pos[0, 0], pos[0, 1], boxes)
        for r in range(ray_dirs.shape[0]):
            ix, iy = _inv(ray_dirs[r, 0]), _inv(ray_dirs[r, 1])
            best = ray_range
            for k in range(boxes.shape[0]):
                nx, fx = (boxes[k, 0], boxes[k, 2]) if ix >= 0 else (boxes[k, 2], boxes[k, 0])
                ny, fy = (boxes[k, 1], boxes[k, 3]) if iy >= 0 else (boxes[k, 3], boxes[k, 1])
                tn = max(max((nx - x) * ix, (ny - y) * iy), 0.0)
                tf = min((fx - x) * ix, (fy - y) * iy)
                if tn <= tf and tn < best:
                    best = tn
            rays[n, r] = best


@njit(cache=True)
def observe_kernel(
    pos: np.ndarray, vel: np.ndarray, heading: np.ndarray, los: np.ndarray,
    rays: np.ndarray, roles: np.ndarray, npc_speed: float, ray_range: float, k: int,
    out: np.ndarray,
) -> None:  # fmt: skip
    """Observations ``out [B, N, D]`` (float32), as ``features.observe``."""
    nb, nn = pos.shape[0], pos.shape[1] - 1
    nr = rays.shape[2]
    m = min(k, nn - 1)
    d = np.empty(nn)
    taken = np.empty(nn, dtype=np.bool_)
    row = np.empty(out.shape[2])
    for b in range(nb):
        for n in range(nn):
            a = 1 + n
            rx, ry = pos[b, 0, 0] - pos[b, a, 0], pos[b, 0, 1] - pos[b, a, 1]
            ln = max(math.sqrt(rx * rx + ry * ry), 1e-9)
            row[:] = 0.0
            row[0], row[1] = vel[b, a, 0] / npc_speed, vel[b, a, 1] / npc_speed
            row[2], row[3] = math.cos(heading[b, a]), math.sin(heading[b, a])
            row[4], row[5] = rx / SIZE, ry / SIZE
            row[6], row[7] = rx / ln, ry / ln
            row[8], row[9] = vel[b, 0, 0] / npc_speed, vel[b, 0, 1] / npc_speed
            row[10] = 1.0 if los[b, n] else 0.0
            for r in range(nr):
                row[11 + r] = rays[b, n, r] / ray_range
            base = 11 + nr
            for j in range(nn):
                dx, dy = pos[b, 1 + j, 0] - pos[b, a, 0], pos[b, 1 + j, 1] - pos[b, a, 1]
                d[j] = math.sqrt(dx * dx + dy * dy) + (1e9 if j == n else 0.0)
                taken[j] = False
            for s in range(m):
                best = -1
                for j in range(nn):
                    if not taken[j] and (best < 0 or d[j] < d[best]):
                        best = j
                taken[best] = True
                o = base + 5 * s
                row[o] = (pos[b, 1 + best, 0] - pos[b, a, 0]) / SIZE
                row[o + 1] = (pos[b, 1 + best, 1] - pos[b, a, 1]) / SIZE
                row[o + 2] = (vel[b, 1 + best, 0] - vel[b, a, 0]) / (2 * npc_speed)
                row[o + 3] = (vel[b, 1 + best, 1] - vel[b, a, 1]) / (2 * npc_speed)
                row[o + 4] = 1.0
            row[base + 5 * k + roles[n]] = 1.0
            for i in range(out.shape[2]):
                out[b, n, i] = min(max(row[i], -1.0), 1.0)


@njit(cache=True)
def perceive_all(
    pos: np.ndarray, boxes: np.ndarray, ray_dirs: np.ndarray, ray_range: float,
    los: np.ndarray, rays: np.ndarray,
) -> None:  # fmt: skip
    """:func:`perceive` for every copy."""
    for b in range(pos.shape[0]):
        perceive(pos[b], boxes[b], ray_dirs, ray_range, los[b], rays[b])


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel by stepping a tiny world once."""
    from rlhf_sandbox.sim.arena.params import ArenaParams
    from rlhf_sandbox.sim.arena.world import ArenaWorld

    w = ArenaWorld(ArenaParams(backend="numba"), 1)
    w.reset(np.ones(1, dtype=bool), np.zeros(1, dtype=np.int64))
    w.step(np.zeros((1, 1, 2)), np.array([0]), np.zeros((1, 2)))
    w.step()
    w.observe()
