"""Escort: NPC escorts keep a walking VIP safe from chasers. A PettingZoo ``ParallelEnv``
that the sandbox does not ship (pure numpy; pygame-ce draws the ``rgb_array`` frames).

    rlhf-sandbox train --env escort --teacher teacher:GUARDIAN ...   # from examples/escort/

The field is the square [-1, 1]^2 (y up). The **VIP** walks a route of waypoints drawn per
episode, round and round. **Chasers** come in from the edge and run at the VIP; one that
reaches it (a *hit*) goes back to a random point of the edge and waits there a moment. An
**escort** that touches a chaser *tackles* it: the chaser is knocked back and stunned for
a while. Escorts are faster than chasers, which are faster than the VIP. Nothing ends an
episode early: everyone is truncated after ``max_cycles`` steps.

Agents and roles (role = the name before the last ``_``):

* ``escort_0 .. escort_{n_escorts-1}``, role ``escort``: always agents.
* ``chaser_0 .. chaser_{n_chasers-1}``, role ``chaser``: scripted inside the game by default
  (``scripted_chasers=True``: straight at the VIP, with a little seeded wobble), so a plain
  run has one role. With ``scripted_chasers=False`` they are agents too, and a run of two
  roles trains both (``--teacher escort=...,chaser=...``).

**Everything an agent sees and does is in its VIP frame**: *forward* points from the agent
to the VIP, *left* is a quarter turn counter-clockwise from it (:func:`vip_frame`).

Actions: ``Discrete(9)``: 0 stay, 1..8 eight directions at the agent's speed, counter-
clockwise from forward: 1 towards the VIP, 3 left (circling it counter-clockwise), 5 away,
7 right.

Observations (``Box``, float32, every entry in [-3, 3]; distances in field units): vectors
relative to the agent, in its VIP frame; nothing says where on the field it is.

Why the frame: a reward model learned from preferences scores (observation, action) pairs,
the action one-hot. With compass actions (1 = east, whatever the VIP's bearing) and a few
hundred labels it learned a bonus per direction that no teacher gives (probing a model of
ours over random states: up to 1.3 apart, as much as the whole distance term), and PPO
took it: a policy that walks one way into a wall, worse than random, while the model ranked
clips as the teacher does on 90 % of pairs. In the VIP frame a direction means the same
thing wherever the VIP is (1 closes in, 5 backs off), so what the model learns about an
action is true of it everywhere (examples/escort/README.md has the figures).

* escort: own velocity / speed (2), VIP relative (2), VIP velocity / its speed (2), for
  each of the ``n_seen`` chasers nearest the VIP: relative position (2) and 1 when it is
  active (not stunned or waiting) (1), the nearest other escort relative (2; zeros with one
  escort). 17 numbers with the defaults.
* chaser: own velocity / speed (2), VIP relative (2), each escort relative, nearest first
  (2 each), 1 when stunned or waiting (1). 9 with the defaults.

``info`` of an escort (numbers, so a plug-in teacher can read them):

=================== ======================================================================
``vip_distance``    distance escort - VIP
``threat_distance`` distance from the VIP to the nearest active chaser (``FAR`` with none)
``blocking``        1 when the escort stands between the VIP and that chaser: within
                    ``block_width`` of the segment from the VIP to it, in front of the
                    VIP by more than ``bump_radius`` (not on top of it, not behind it)
``vip_hit``         1 when a chaser reached the VIP this step (the same for every escort)
``tackle``          1 when this escort tackled a chaser this step
``bump``            1 when this escort is in the VIP's way (closer than ``bump_radius``)
``escort_gap``      distance to the nearest other escort (``FAR`` with one escort)
``screen_x/_y``     the escort's place in the frame, fractions of width and height
=================== ======================================================================

``info`` of a chaser: ``vip_distance``, ``vip_hit`` (this chaser reached the VIP),
``tackled``, ``stunned``, ``screen_x``, ``screen_y``.

Rewards (the ``env`` teacher): an escort gets -1 per hit on the VIP, +0.3 per tackle,
-0.2 per step it bumps the VIP and -0.05 x how far beyond 0.3 it is from the VIP; a chaser
+1 for its hit, -0.3 when tackled, -0.02 x its distance to the VIP.

:func:`subject_position` places an agent in a frame from its ``info`` (the feedback app
rings the judged escort with it).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

HALF = 1.0  # the field is [-HALF, HALF]^2
FAR = 2.0 * np.sqrt(2.0) * HALF  # longer than any distance on the field
_DIAG = np.sqrt(0.5)
MOVES = np.array(
    [[0, 0], [1, 0], [_DIAG, _DIAG], [0, 1], [-_DIAG, _DIAG], [-1, 0], [-_DIAG, -_DIAG],
     [0, -1], [_DIAG, -_DIAG]],
    dtype=np.float64,
)  # fmt: skip

# colours of the frame
GRASS, LINE, ROUTE = (222, 232, 214), (200, 212, 192), (170, 170, 170)
VIP_C, ESCORT_C, CHASER_C, STUN_C = (240, 180, 20), (40, 90, 220), (210, 40, 40), (150, 150, 150)
INK = (30, 30, 30)


def vip_frame(p: np.ndarray, vip: np.ndarray) -> np.ndarray:
    """The agent at ``p``'s frame as a rotation (rows: *forward*, the unit vector from ``p``
    to the VIP, and *left*, forward turned a quarter counter-clockwise): ``frame @ v`` is a
    field vector in the frame, ``frame.T @ m`` a move of the frame on the field. On the
    VIP itself, forward is east."""
    v = np.asarray(vip, dtype=np.float64) - np.asarray(p, dtype=np.float64)
    d = float(np.hypot(*v))
    fx, fy = (v / d) if d > 1e-9 else (1.0, 0.0)
    return np.array([[fx, fy], [-fy, fx]])


class EscortEnv(ParallelEnv):  # type: ignore[misc]  (pettingzoo is untyped)
    """The escort game; see the module's text. Every setting is a keyword of
    :func:`parallel_env` (``--env-arg k=v`` on the command line)."""

    metadata = {"name": "escort_v0", "render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        n_escorts: int = 2,
        n_chasers: int = 3,
        scripted_chasers: bool = True,
        max_cycles: int = 200,
        n_waypoints: int = 4,
        escort_speed: float = 0.05,
        chaser_speed: float = 0.02,
        vip_speed: float = 0.012,
        tackle_radius: float = 0.1,
        hit_radius: float = 0.08,
        bump_radius: float = 0.08,
        block_width: float = 0.12,
        knockback: float = 0.25,
        stun_steps: int = 15,
        respawn_steps: int = 10,
        n_seen: int | None = None,
        render_mode: str | None = None,
        render_size: int = 320,
    ) -> None:
        _check_settings(locals())
        self.n_escorts, self.n_chasers = int(n_escorts), int(n_chasers)
        self.scripted_chasers = bool(scripted_chasers)
        self.max_cycles, self.n_waypoints = int(max_cycles), int(n_waypoints)
        self.escort_speed, self.chaser_speed = float(escort_speed), float(chaser_speed)
        self.vip_speed = float(vip_speed)
        self.tackle_radius, self.hit_radius = float(tackle_radius), float(hit_radius)
        self.bump_radius, self.block_width = float(bump_radius), float(block_width)
        self.knockback, self.stun_steps = float(knockback), int(stun_steps)
        self.respawn_steps = int(respawn_steps)
        self.n_seen = min(self.n_chasers, 3 if n_seen is None else int(n_seen))
        self.render_mode, self.render_size = render_mode, int(render_size)

        self.escorts = [f"escort_{i}" for i in range(self.n_escorts)]
        self.chasers = [f"chaser_{i}" for i in range(self.n_chasers)]
        self.possible_agents = self.escorts + ([] if self.scripted_chasers else self.chasers)
        self.agents: list[str] = []
        n_esc_obs = 8 + 3 * self.n_seen  # egocentric: no absolute position (see the module)
        n_cha_obs = 5 + 2 * self.n_escorts
        self._obs_space = {
            a: gym.spaces.Box(-3.0, 3.0, (n_esc_obs if a in self.escorts else n_cha_obs,),
                              np.float32)
            for a in self.possible_agents
        }  # fmt: skip
        self._act_space = {a: gym.spaces.Discrete(9) for a in self.possible_agents}
        self._rng = np.random.default_rng()
        self._font: Any = None
        self._zero_state()

    # ------------------------------------------------------------------ PettingZoo API
    def observation_space(self, agent: str) -> gym.Space[Any]:
        return self._obs_space[agent]

    def action_space(self, agent: str) -> gym.Space[Any]:
        return self._act_space[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng = self._rng
        route = rng.uniform(-0.6, 0.6, (self.n_waypoints, 2))  # a loop that never crosses
        self.route = route[np.argsort(np.arctan2(route[:, 1], route[:, 0]))]
        self.next_wp = 1
        self.vip = self.route[0].copy()
        self.vip_vel = np.zeros(2)
        angles = rng.uniform(0, 2 * np.pi, self.n_escorts)
        near = 0.15 + 0.15 * rng.random(self.n_escorts)
        self.esc = self.vip + near[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
        self.esc = np.clip(self.esc, -HALF, HALF)
        self.esc_vel = np.zeros((self.n_escorts, 2))
        self.cha = np.stack([self._edge_point() for _ in range(self.n_chasers)])
        self.cha_vel = np.zeros((self.n_chasers, 2))
        self.wait = np.zeros(self.n_chasers, dtype=np.int64)  # steps a chaser stays put
        self.t = 0
        self.hits_total = 0
        self._events = self._no_events()
        self.agents = list(self.possible_agents)
        return self._all_obs(), self._all_infos()

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        if not self.agents:
            raise RuntimeError("step() after the episode ended: call reset()")
        for i, a in enumerate(self.escorts):  # moves are in the escort's VIP frame
            move = vip_frame(self.esc[i], self.vip).T @ MOVES[int(actions.get(a, 0))]
            self.esc_vel[i] = self.escort_speed * move
        self.esc = np.clip(self.esc + self.esc_vel, -HALF, HALF)

        active = self.wait == 0
        for j, a in enumerate(self.chasers):
            if not active[j]:
                self.cha_vel[j] = 0.0
            elif self.scripted_chasers:
                to = self.vip - self.cha[j]
                angle = np.arctan2(to[1], to[0]) + self._rng.normal(0.0, 0.35)
                self.cha_vel[j] = self.chaser_speed * np.array([np.cos(angle), np.sin(angle)])
            else:
                move = vip_frame(self.cha[j], self.vip).T @ MOVES[int(actions.get(a, 0))]
                self.cha_vel[j] = self.chaser_speed * move
        self.wait = np.maximum(self.wait - 1, 0)
        self.cha = np.clip(self.cha + self.cha_vel, -HALF, HALF)

        to_wp = self.route[self.next_wp] - self.vip
        d_wp = float(np.hypot(*to_wp))
        if d_wp <= self.vip_speed:
            self.vip_vel = to_wp
            self.next_wp = (self.next_wp + 1) % self.n_waypoints
        else:
            self.vip_vel = self.vip_speed * to_wp / d_wp
        self.vip = self.vip + self.vip_vel

        ev = self._no_events()
        for j in range(self.n_chasers):  # tackles first: an escort beside the VIP saves it
            if not active[j]:
                continue
            d = np.hypot(*(self.cha[j] - self.esc).T)
            i = int(np.argmin(d))
            if d[i] < self.tackle_radius:
                away = self.cha[j] - self.esc[i]
                norm = float(np.hypot(*away))
                away = away / norm if norm > 1e-9 else np.array([1.0, 0.0])
                self.cha[j] = np.clip(self.cha[j] + self.knockback * away, -HALF, HALF)
                self.wait[j] = self.stun_steps
                ev["tackle"][i] = 1.0
                ev["tackled"][j] = 1.0
                active[j] = False
        for j in range(self.n_chasers):
            if active[j] and np.hypot(*(self.cha[j] - self.vip)) < self.hit_radius:
                ev["hit"][j] = 1.0
                self.cha[j] = self._edge_point()
                self.wait[j] = self.respawn_steps
        self.hits_total += int(ev["hit"].sum())
        ev["bump"] = (np.hypot(*(self.esc - self.vip).T) < self.bump_radius).astype(float)
        self._events = ev
        self.t += 1

        obs, infos = self._all_obs(), self._all_infos()
        rewards = {a: self._reward(a, infos[a]) for a in self.agents}
        done = self.t >= self.max_cycles
        term = {a: False for a in self.agents}
        trunc = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, term, trunc, infos

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._draw()

    def close(self) -> None:
        pass

    def state(self) -> np.ndarray:
        """Everything's position: VIP, escorts, chasers (x, y each)."""
        return np.concatenate([self.vip, self.esc.ravel(), self.cha.ravel()]).astype(np.float32)

    # ------------------------------------------------------------------ the game's parts
    def _zero_state(self) -> None:
        self.route = np.zeros((self.n_waypoints, 2))
        self.next_wp, self.t, self.hits_total = 1, 0, 0
        self.vip, self.vip_vel = np.zeros(2), np.zeros(2)
        self.esc, self.esc_vel = np.zeros((self.n_escorts, 2)), np.zeros((self.n_escorts, 2))
        self.cha, self.cha_vel = np.zeros((self.n_chasers, 2)), np.zeros((self.n_chasers, 2))
        self.wait = np.zeros(self.n_chasers, dtype=np.int64)
        self._events = self._no_events()

    def _no_events(self) -> dict[str, np.ndarray]:
        return {
            "tackle": np.zeros(self.n_escorts),
            "bump": np.zeros(self.n_escorts),
            "tackled": np.zeros(self.n_chasers),
            "hit": np.zeros(self.n_chasers),
        }

    def _edge_point(self) -> np.ndarray:
        side, along = int(self._rng.integers(4)), float(self._rng.uniform(-HALF, HALF))
        return np.array([[HALF, along], [-HALF, along], [along, HALF], [along, -HALF]][side])

    def _threat(self) -> tuple[int | None, float]:
        """The active chaser nearest the VIP and its distance (None, FAR with none)."""
        d = np.where(self.wait == 0, np.hypot(*(self.cha - self.vip).T), np.inf)
        j = int(np.argmin(d))
        return (j, float(d[j])) if np.isfinite(d[j]) else (None, FAR)

    def _blocking(self, p: np.ndarray, j: int | None) -> float:
        """1 when ``p`` is within ``block_width`` of the segment VIP -> chaser j, more than
        ``bump_radius`` out from the VIP along it."""
        if j is None:
            return 0.0
        seg = self.cha[j] - self.vip
        length2 = float(seg @ seg)
        if length2 < 1e-12:
            return 0.0
        s = float((p - self.vip) @ seg) / length2
        if s * np.sqrt(length2) <= self.bump_radius or s > 1.0:
            return 0.0
        return float(np.hypot(*(self.vip + s * seg - p)) < self.block_width)

    def _screen(self, p: np.ndarray) -> tuple[float, float]:
        return float((p[0] + HALF) / (2 * HALF)), float((HALF - p[1]) / (2 * HALF))

    def _all_infos(self) -> dict[str, dict[str, float]]:
        ev = self._events
        hit = float(ev["hit"].sum() > 0)
        j, threat = self._threat()
        out: dict[str, dict[str, float]] = {}
        for i, a in enumerate(self.escorts):
            p = self.esc[i]
            others = np.delete(self.esc, i, axis=0)
            gap = float(np.hypot(*(others - p).T).min()) if len(others) else FAR
            x, y = self._screen(p)
            out[a] = {
                "vip_distance": float(np.hypot(*(p - self.vip))),
                "threat_distance": threat,
                "blocking": self._blocking(p, j),
                "vip_hit": hit,
                "tackle": float(ev["tackle"][i]),
                "bump": float(ev["bump"][i]),
                "escort_gap": gap,
                "screen_x": x,
                "screen_y": y,
            }
        if not self.scripted_chasers:
            for k, a in enumerate(self.chasers):
                x, y = self._screen(self.cha[k])
                out[a] = {
                    "vip_distance": float(np.hypot(*(self.cha[k] - self.vip))),
                    "vip_hit": float(ev["hit"][k]),
                    "tackled": float(ev["tackled"][k]),
                    "stunned": float(self.wait[k] > 0),
                    "screen_x": x,
                    "screen_y": y,
                }
        return {a: out[a] for a in self.agents}

    def _reward(self, agent: str, info: dict[str, float]) -> float:
        if agent.startswith("escort"):
            return (
                -1.0 * float(self._events["hit"].sum())
                + 0.3 * info["tackle"]
                - 0.2 * info["bump"]
                - 0.05 * max(info["vip_distance"] - 0.3, 0.0)
            )
        return info["vip_hit"] - 0.3 * info["tackled"] - 0.02 * info["vip_distance"]

    def _all_obs(self) -> dict[str, np.ndarray]:
        vip_v = self.vip_vel / self.vip_speed
        order = np.argsort(np.hypot(*(self.cha - self.vip).T), kind="stable")[: self.n_seen]
        out: dict[str, np.ndarray] = {}
        for i, a in enumerate(self.escorts):
            p = self.esc[i]
            frame = vip_frame(p, self.vip)  # every vector below in the escort's VIP frame
            parts = [frame @ (self.esc_vel[i] / self.escort_speed), frame @ (self.vip - p),
                     frame @ vip_v]  # fmt: skip
            for j in order:
                parts += [frame @ (self.cha[j] - p), [float(self.wait[j] == 0)]]
            others = np.delete(self.esc, i, axis=0)
            if len(others):
                parts.append(frame @ (others[int(np.argmin(np.hypot(*(others - p).T)))] - p))
            else:
                parts.append(np.zeros(2))
            out[a] = np.clip(np.concatenate(parts), -3, 3).astype(np.float32)
        if not self.scripted_chasers:
            for k, a in enumerate(self.chasers):
                p = self.cha[k]
                frame = vip_frame(p, self.vip)
                parts = [frame @ (self.cha_vel[k] / self.chaser_speed), frame @ (self.vip - p)]
                for i in np.argsort(np.hypot(*(self.esc - p).T), kind="stable"):
                    parts.append(frame @ (self.esc[i] - p))
                parts.append([float(self.wait[k] > 0)])
                out[a] = np.clip(np.concatenate(parts), -3, 3).astype(np.float32)
        return {a: out[a] for a in self.agents}

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> np.ndarray:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        n = self.render_size
        surf = pygame.Surface((n, n))
        surf.fill(GRASS)

        def px(p: np.ndarray) -> tuple[int, int]:
            x, y = self._screen(p)
            return round(x * (n - 1)), round(y * (n - 1))

        def r(world: float) -> int:
            return max(2, round(world / (2 * HALF) * n))

        for k in range(1, 4):  # a light grid, quarters of the field
            pygame.draw.line(surf, LINE, (k * n // 4, 0), (k * n // 4, n))
            pygame.draw.line(surf, LINE, (0, k * n // 4), (n, k * n // 4))
        route = [px(w) for w in self.route]
        pygame.draw.lines(surf, ROUTE, True, route, max(1, n // 160))
        for w in route:
            pygame.draw.circle(surf, ROUTE, w, r(0.025))
        pygame.draw.circle(surf, VIP_C, route[self.next_wp], r(0.035), max(1, n // 160))

        ev = self._events
        vip_at = px(self.vip)
        if ev["hit"].any():  # a red flash around the VIP
            pygame.draw.circle(surf, CHASER_C, vip_at, r(0.2), max(2, n // 80))
        pygame.draw.circle(surf, VIP_C, vip_at, r(0.07))
        pygame.draw.circle(surf, INK, vip_at, r(0.07), max(1, n // 160))
        pygame.draw.circle(surf, INK, vip_at, r(0.02))

        for j in range(self.n_chasers):  # triangles pointing where they run
            c = px(self.cha[j])
            v = self.cha_vel[j] if np.any(self.cha_vel[j]) else self.vip - self.cha[j]
            ang = float(np.arctan2(-v[1], v[0]))  # screen y is down
            size = r(0.065)
            pts = [
                (c[0] + size * np.cos(ang + k), c[1] + size * np.sin(ang + k))
                for k in (0.0, 2.5, -2.5)
            ]
            colour = CHASER_C if self.wait[j] == 0 else STUN_C
            pygame.draw.polygon(surf, colour, pts)
            pygame.draw.polygon(surf, INK, pts, 1)

        for i in range(self.n_escorts):
            c = px(self.esc[i])
            if ev["tackle"][i]:
                pygame.draw.circle(surf, (255, 255, 255), c, r(0.11), max(2, n // 80))
            pygame.draw.circle(surf, ESCORT_C, c, r(0.055))
            pygame.draw.circle(surf, INK, c, r(0.055), max(1, n // 160))
            if not self._number(surf, pygame, str(i), c):  # escort_i shows i
                pygame.draw.circle(surf, (255, 255, 255), c, r(0.018))

        self._hud(surf, pygame)
        return np.ascontiguousarray(pygame.surfarray.array3d(surf).transpose(1, 0, 2))

    def _fonts(self, pygame: Any) -> tuple[Any, Any] | None:
        """(HUD font, sprite-number font), or None where pygame has no font module."""
        if self._font is None:
            try:
                pygame.font.init()
                n = self.render_size
                self._font = (pygame.font.Font(None, max(12, n // 16)),
                              pygame.font.Font(None, max(10, n // 20)))  # fmt: skip
            except Exception:  # a pygame built without its font module
                self._font = False
        return self._font or None

    def _number(self, surf: Any, pygame: Any, text: str, centre: tuple[int, int]) -> bool:
        """``text`` in white, centred on ``centre``; False where it cannot be drawn."""
        fonts = self._fonts(pygame)
        if fonts is None:
            return False
        img = fonts[1].render(text, True, (255, 255, 255))
        surf.blit(img, img.get_rect(center=centre))
        return True

    def _hud(self, surf: Any, pygame: Any) -> None:
        """Hits so far and the step, top left (no text where pygame has no font)."""
        fonts = self._fonts(pygame)
        if fonts is not None:
            surf.blit(fonts[0].render(f"hits {self.hits_total}   t {self.t}", True, INK), (4, 3))


_INTS = {  # setting: smallest value
    "n_escorts": 1, "n_chasers": 1, "max_cycles": 1, "n_waypoints": 2, "stun_steps": 0,
    "respawn_steps": 0, "render_size": 32,
}  # fmt: skip
_POSITIVE = (
    "escort_speed", "chaser_speed", "vip_speed", "tackle_radius", "hit_radius",
    "bump_radius", "block_width",
)  # fmt: skip


def _check_settings(given: dict[str, Any]) -> None:
    """ValueError naming the first setting of the wrong type or out of range (``--env-arg``
    values are TOML: ``scripted_chasers=false``, not ``False``, which would be a string)."""
    for name, low in _INTS.items():
        v = given[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {v!r}")
    for name in _POSITIVE:
        v = given[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 2 * HALF:
            raise ValueError(f"{name} must be a number in (0, {2 * HALF:g}), got {v!r}")
    k = given["knockback"]
    if isinstance(k, bool) or not isinstance(k, int | float) or not 0 <= k <= 2 * HALF:
        raise ValueError(f"knockback must be a number in [0, {2 * HALF:g}], got {k!r}")
    if not isinstance(given["scripted_chasers"], bool):
        raise ValueError(
            f"scripted_chasers must be true or false, got {given['scripted_chasers']!r}"
        )
    seen = given["n_seen"]
    if seen is not None and (isinstance(seen, bool) or not isinstance(seen, int) or seen < 1):
        raise ValueError(f"n_seen must be a whole number >= 1, got {seen!r}")
    if given["render_mode"] not in (None, "rgb_array"):
        raise ValueError(f"render_mode {given['render_mode']!r}: only 'rgb_array' (or None)")


def parallel_env(**kwargs: Any) -> EscortEnv:
    """The escort game (``--env escort`` means this); keywords: :class:`EscortEnv`'s."""
    return EscortEnv(**kwargs)


def subject_position(agent: str, info: dict[str, float]) -> tuple[float, float, float] | None:
    """Where ``agent`` is in a frame (fractions of width and height) and a ring radius (a
    fraction of the width), from its info: the feedback app rings the judged agent here."""
    if "screen_x" not in info or "screen_y" not in info:
        return None
    return float(info["screen_x"]), float(info["screen_y"]), 0.06


def env(**kwargs: Any) -> Any:
    """The same game as a PettingZoo AEC env (for PettingZoo's own tests: ``api_test``,
    ``max_cycles_test``); training uses :func:`parallel_env`."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(**kwargs))
