"""The batched arena world: B copies of a player and N NPCs among walls, one array call per step.

Agent 0 of every copy is the player; agents 1..N are the NPCs, in ``params.roles`` order.
State is a struct of arrays with a leading batch axis (:data:`STATE_FIELDS`);
:meth:`ArenaWorld.get_state` / :meth:`set_state` read and write all of it (layout included),
which is what clips store and what drawing reads.

One step (``params.dt`` [s]): scripted agents choose desired velocities, every disc turns
its velocity toward the desired one within ``max_accel``, moves in ``params.substeps``
substeps with sliding wall collisions, discs are pushed apart, then line of sight, rays,
guards' sight and catches are updated and behaviour features computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlhf_sandbox.sim.arena import features as feats
from rlhf_sandbox.sim.arena import scripted
from rlhf_sandbox.sim.arena.geometry import (
    cast_rays,
    line_of_sight,
    norm,
    push_out_of_boxes,
    ray_directions,
    separate_discs,
)
from rlhf_sandbox.sim.arena.layouts import K_PROCEDURAL, P_PROCEDURAL, get_layout, spawn
from rlhf_sandbox.sim.arena.params import (
    COMPANION,
    GUARD,
    N_FEATURES,
    PLAYER_MODES,
    RADIUS,
    VILLAGER,
    ArenaParams,
)
from rlhf_sandbox.sim.libm import atan2

# Per-agent state [B, A] (A = 1 + N; pos, vel, memory are [B, A, 2])
AGENT_FIELDS = (
    "pos", "vel", "heading", "aim", "wp", "alert", "lost", "memory", "space_time", "los",
    "wall_hit", "role",
)  # fmt: skip
COPY_FIELDS = ("t", "seed", "mode", "caught")  # per copy [B]
# [B, K, 4], [B, P, 2], [B, P], [B, P, P], [B, P, P]
LAYOUT_FIELDS = ("boxes", "waypoints", "valid", "graph", "paths")
STATE_FIELDS = AGENT_FIELDS + COPY_FIELDS + LAYOUT_FIELDS

# The 9-way discrete moves: stay, then E, NE, N, NW, W, SW, S, SE (unit vectors).
_ANG = np.arange(8) * (np.pi / 4)
MOVES = np.concatenate([np.zeros((1, 2)), np.stack([np.cos(_ANG), np.sin(_ANG)], -1)])


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


class ArenaWorld:
    """B copies of one arena with ``params.n_npcs`` NPCs each.

    ``params.backend`` picks how a step runs: ``"numpy"`` (array operations, the
    reference), ``"numba"`` (:mod:`kernel`, one compiled call per step) or ``"auto"``.
    """

    def __init__(self, params: ArenaParams, n_copies: int) -> None:
        if params.n_npcs < 1:
            raise ValueError("the arena needs at least one NPC")
        self.params = params
        if params.backend not in ("auto", "numba", "numpy"):
            raise ValueError(f"unknown backend {params.backend!r}; known: auto, numba, numpy")
        if params.backend == "numba" and not _numba_available():
            raise ImportError("backend 'numba' needs numba: pip install numba")
        self.backend = (
            "numba" if params.backend == "auto" and _numba_available() else params.backend
        )
        if self.backend == "auto":
            self.backend = "numpy"
        self.n = n_copies
        self.a = 1 + params.n_npcs
        self.dt = params.dt
        self.ray_dirs = ray_directions(params.n_rays)
        roles = np.asarray(params.roles, dtype=np.int64)
        self.npc_roles = roles  # [N]
        self._npcs = np.arange(len(roles))
        q = params  # the numba kernel's parameters, in its order
        cos_view = np.cos(np.radians(q.view_angle))
        prm: tuple[float, ...] = (q.dt, q.npc_speed, q.player_speed, q.max_accel, q.substeps)
        prm += (q.ray_range,)
        prm += (q.view_range, cos_view, q.hear_range, q.lose_time, q.catch_distance)
        prm += (q.personal_space, q.follow_distance, q.block_length)
        self._prm = np.array(prm, dtype=float)
        self.is_companion = roles == COMPANION  # [N]
        self.is_guard = roles == GUARD
        self.is_villager = roles == VILLAGER
        self.has_companion = bool(self.is_companion.any())
        self.has_guard = bool(self.is_guard.any())
        self.has_villager = bool(self.is_villager.any())
        self.top_speed = np.full(self.a, params.npc_speed)
        self.top_speed[0] = params.player_speed
        b, a = self.n, self.a
        if params.layout == "procedural":
            k, p = K_PROCEDURAL, P_PROCEDURAL
        else:
            lay = get_layout(params.layout)
            k, p = len(lay.boxes), len(lay.waypoints)
        self.pos = np.zeros((b, a, 2))
        self.vel = np.zeros((b, a, 2))
        self.memory = np.zeros((b, a - 1, 2))
        self.heading = np.zeros((b, a))
        self.aim = np.zeros((b, a))
        self.wp = np.zeros((b, a), dtype=np.int64)
        self.alert = np.zeros((b, a - 1), dtype=bool)
        self.lost = np.zeros((b, a - 1))
        self.space_time = np.zeros((b, a - 1))
        self.los = np.zeros((b, a - 1), dtype=bool)
        self.wall_hit = np.zeros((b, a), dtype=bool)
        self.role = np.broadcast_to(np.concatenate([[-1], roles]), (b, a)).copy()
        self.t = np.zeros(b, dtype=np.int64)
        self.seed = np.zeros(b, dtype=np.int64)
        self.mode = np.zeros(b, dtype=np.int64)
        self.caught = np.zeros(b, dtype=bool)
        self.boxes = np.zeros((b, k, 4))
        self.waypoints = np.zeros((b, p, 2))
        self.valid = np.zeros((b, p), dtype=bool)
        self.graph = np.zeros((b, p, p), dtype=bool)
        self.paths = np.zeros((b, p, p))
        self.rays = np.zeros((b, a - 1, params.n_rays))  # [m] derived from the state
        self.features: dict[str, np.ndarray] = feats.empty(b, a - 1)

    # -- state ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of every state array (a clip stores these per step)."""
        return {name: getattr(self, name).copy() for name in STATE_FIELDS}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the state (shapes must match); derived arrays are recomputed."""
        for name in STATE_FIELDS:
            cur = getattr(self, name)
            new = np.asarray(state[name], dtype=cur.dtype)
            if new.shape != cur.shape:
                raise ValueError(f"state {name!r} has shape {new.shape}, expected {cur.shape}")
            setattr(self, name, new.copy())
        self._perceive()

    # -- episodes ------------------------------------------------------------------------
    def reset(self, mask: np.ndarray, seeds: np.ndarray) -> None:
        """New episodes in the masked copies, everything drawn from ``seeds[i]``."""
        p = self.params
        idx = np.flatnonzero(mask)
        for i in idx:  # reset only: layouts and spawns come from a per-copy generator
            rng = np.random.default_rng(int(seeds[i]))
            lay = get_layout(p.layout, rng)
            self.boxes[i], self.waypoints[i] = lay.boxes, lay.waypoints
            self.valid[i], self.graph[i], self.paths[i] = lay.valid, lay.graph, lay.paths
            self.pos[i] = spawn(rng, lay.boxes, self.a)
            self.heading[i] = rng.uniform(-np.pi, np.pi, size=self.a)
            mode = p.player_mode if p.player_mode >= 0 else rng.integers(len(PLAYER_MODES))
            self.mode[i] = mode
        self.seed[idx] = seeds[idx]
        self.aim[idx] = self.heading[idx]
        self.vel[idx] = 0.0
        self.t[idx] = 0
        self.caught[idx] = False
        self.alert[idx] = False
        self.lost[idx] = 0.0
        self.space_time[idx] = 0.0
        self.wall_hit[idx] = False
        self.memory[idx] = self.pos[idx, :1]
        m = len(idx) * self.a
        self.wp[idx] = scripted.nearest_visible_waypoint(
            self.pos[idx].reshape(m, 2),
            np.repeat(self.waypoints[idx], self.a, axis=0),
            np.repeat(self.valid[idx], self.a, axis=0),
            np.repeat(self.boxes[idx], self.a, axis=0),
        ).reshape(len(idx), self.a)
        self._perceive()
        self.features = feats.reset_rows(self.features, mask)

    # -- dynamics ------------------------------------------------------------------------
    def step(
        self,
        npc_vel: np.ndarray | None = None,
        controlled: np.ndarray | None = None,
        player_vel: np.ndarray | None = None,
    ) -> None:
        """Advance every copy by ``dt``.

        ``npc_vel [B, M, 2]`` [m/s]: desired velocities of the NPCs listed in ``controlled``
        (``[M]`` NPC indices, 0-based over NPCs); the rest follow their role's script.
        ``player_vel [B, 2]`` [m/s]: the player's desired velocity (a person at the
        keyboard), instead of its script; capped at ``player_speed``.
        """
        if self.backend == "numba":
            self._step_numba(npc_vel, controlled, player_vel)
            return
        p = self.params
        scripted.advance_waypoints(self)
        walk = scripted.tour(self)
        desired = np.empty_like(self.vel)
        desired[:, 0] = scripted.player_desired(self, walk)
        if player_vel is not None:
            desired[:, 0] = player_vel
        desired[:, 1:] = scripted.npc_desired(self, walk)
        if controlled is not None and npc_vel is not None and len(controlled):
            desired[:, 1 + np.asarray(controlled)] = npc_vel
        # speed and acceleration limits
        over = norm(desired) / self.top_speed
        desired /= np.maximum(over, 1.0)[..., None]
        dv = desired - self.vel
        dvn = norm(dv)
        vel = (
            self.vel
            + dv * np.minimum(1.0, p.max_accel * self.dt / np.maximum(dvn, 1e-9))[..., None]
        )
        # motion: substeps so that no disc moves more than 0.7 radius between wall checks
        start = self.pos
        pos = start
        h = self.dt / p.substeps
        wall = np.zeros((self.n, self.a), dtype=bool)
        for _ in range(p.substeps):
            pos, touched = push_out_of_boxes(pos + vel * h, self.boxes, RADIUS)
            wall |= touched
        pos, bumped = separate_discs(pos, RADIUS, max_push=0.5 * RADIUS)
        again = bumped | wall  # pushed apart, or in a corner one pass may leave overlapping
        if again.any():
            bi, ai = np.nonzero(again)
            moved, touched = push_out_of_boxes(pos[bi, ai][:, None], self.boxes[bi], RADIUS)
            pos[bi, ai] = moved[:, 0]
            wall[bi, ai] |= touched[:, 0]
        self.wall_hit = wall
        self.pos = pos
        old_heading = self.heading
        self.vel = (pos - start) / self.dt  # [m/s] what actually happened
        speed = norm(self.vel)
        self.heading = np.where(
            speed > 0.05, atan2(self.vel[..., 1], self.vel[..., 0]), old_heading
        )
        self.t += 1
        self._perceive()
        caught_by, escaped = self._update_sight()
        self.features = feats.compute(
            self, speed[:, 1:], old_heading[:, 1:], bumped[:, 1:], caught_by, escaped
        )

    def _step_numba(
        self, npc_vel: np.ndarray | None, controlled: np.ndarray | None, player_vel: Any
    ) -> None:
        from rlhf_sandbox.sim.arena import kernel

        nn = self.a - 1
        mask = np.zeros(nn, dtype=bool)
        if controlled is not None and npc_vel is not None and len(controlled):
            mask[controlled] = True
            in_order = len(controlled) == nn and bool(np.all(np.asarray(controlled) == self._npcs))
            if in_order and npc_vel.shape == (self.n, nn, 2):
                full = np.ascontiguousarray(npc_vel, dtype=float)
            else:
                full = np.zeros((self.n, nn, 2))
                full[:, controlled] = npc_vel
        else:
            full = np.zeros((self.n, nn, 2))
        feat = np.empty((N_FEATURES, self.n, nn))
        kernel.step_kernel(
            self.pos, self.vel, self.heading, self.aim, self.wp, self.alert, self.lost,
            self.memory, self.space_time, self.los, self.wall_hit, self.t, self.seed,
            self.mode, self.caught, self.boxes, self.waypoints, self.valid, self.graph, self.paths,
            self.rays, self.ray_dirs, self.npc_roles, self.top_speed, full, mask,
            self._prm, player_vel is not None,
            np.zeros((self.n, 2)) if player_vel is None else np.asarray(player_vel, dtype=float),
            feat,
        )  # fmt: skip
        self.features = dict(zip(feats.FEATURE_NAMES, feat, strict=True))

    def _perceive(self) -> None:
        """Line of sight NPC -> player and every NPC's rays, from the current positions."""
        if self.backend == "numba":
            from rlhf_sandbox.sim.arena import kernel

            kernel.perceive_all(
                self.pos, self.boxes, self.ray_dirs, self.params.ray_range, self.los, self.rays
            )
            return
        npc = self.pos[:, 1:]
        player = np.broadcast_to(self.pos[:, :1], npc.shape)
        self.los = line_of_sight(npc, player, self.boxes[:, None])
        self.rays = cast_rays(npc, self.ray_dirs, self.boxes, self.params.ray_range)

    def _update_sight(self) -> tuple[np.ndarray, np.ndarray]:
        """Guards notice, pursue and lose the player; companions remember where they saw it.

        Returns (caught_by [B, N], escaped [B, N]) events of this step.
        """
        p = self.params
        rel = self.pos[:, :1] - self.pos[:, 1:]  # [B, N, 2] NPC -> player
        dist = norm(rel)
        h = self.heading[:, 1:]
        facing = (np.cos(h) * rel[..., 0] + np.sin(h) * rel[..., 1]) >= dist * np.cos(
            np.radians(p.view_angle)
        )
        seen = self.los & (((dist < p.view_range) & facing) | (dist < p.hear_range))
        remember = np.where(self.is_guard, seen, self.los)
        self.memory = np.where(remember[..., None], self.pos[:, :1], self.memory)
        self.lost = np.where(seen, 0.0, self.lost + self.dt)
        caught_by = self.is_guard & (dist < p.catch_distance)
        alert = self.is_guard & (seen | (self.alert & (self.lost < p.lose_time)))
        escaped = self.alert & ~alert & ~caught_by
        self.alert = alert
        self.caught = self.caught | caught_by.any(axis=-1)
        if escaped.any():  # back to patrol from the nearest waypoint in sight
            bi, ni = np.nonzero(escaped)
            self.wp[bi, ni + 1] = scripted.nearest_visible_waypoint(
                self.pos[bi, ni + 1], self.waypoints[bi], self.valid[bi], self.boxes[bi]
            )
        return caught_by, escaped

    def observe(self) -> np.ndarray:
        """Every NPC's observation ``[B, N, obs_dim]`` in [-1, 1] (see :mod:`features`)."""
        if self.backend == "numba":
            from rlhf_sandbox.sim.arena import kernel

            p = self.params
            out = np.empty((self.n, self.a - 1, self.obs_dim), dtype=np.float32)
            kernel.observe_kernel(
                self.pos, self.vel, self.heading, self.los, self.rays, self.npc_roles,
                p.npc_speed, p.ray_range, p.n_neighbours, out,
            )  # fmt: skip
            return out
        return feats.observe(self)

    @property
    def obs_dim(self) -> int:
        return feats.obs_dim(self.params)


def discrete_velocity(actions: np.ndarray, speed: float) -> np.ndarray:
    """9-way moves (0 stay, 1..8 the compass from east, counter-clockwise) -> [m/s]."""
    return MOVES[actions] * speed
