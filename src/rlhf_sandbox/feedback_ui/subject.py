"""The judged subject: which vehicle or agent of a clip the rater judges, and where it is.

A clip shows many things moving; the rater judges one of them (the ego car, the arena's
NPC the env trains). :func:`subject_for` gives a clip's :class:`Subject`: a legend (what
the app says above the clips) and, for worlds the app re-renders from states, where the
subject is in each frame, so that the view rings it in both clips.

The hook: :func:`register` adds a rule ``(match, make)``; the first rule whose
``match(env_id, config)`` is true makes the subject. Arena roles other than the env's
agent and games of other projects add their rules here (a foreign game's clips carry
frames only: its subject has a legend and no ``locate``, unless its rule can find it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

MARK = (255, 222, 0)  # the ring's colour: yellow, which no world of ours draws a thing in
MARK_NAME = "yellow"

# where the subject is in one frame: (centre x, centre y, radius) in pixels of a
# ``size`` (w, h) frame, or None when it cannot be told
Locate = Callable[[dict[str, np.ndarray], tuple[int, int]], tuple[float, float, float] | None]


@dataclass(frozen=True)
class Subject:
    """Who is judged: ``name`` ("the green car (ego)") for the legend, and ``locate``
    (one frame's state and the frame size -> where it is) when the app can find it."""

    name: str
    locate: Locate | None = None

    def legend(self, clips: str = "both clips") -> str:
        """The legend line: who is judged, and where the ring is (``clips``)."""
        where = f", ringed in {MARK_NAME} in {clips}" if self.locate is not None else ""
        return f"Judge {self.name}{where}."


Match = Callable[[str, dict[str, Any]], bool]
Make = Callable[[str, dict[str, Any]], Subject]
_RULES: list[tuple[Match, Make]] = []


def register(match: Match, make: Make, *, first: bool = False) -> None:
    """Add a rule: clips for which ``match(env_id, config)`` holds judge ``make(...)``'s
    subject. ``first`` puts it before the built-in rules (to override one)."""
    if first:
        _RULES.insert(0, (match, make))
    else:
        _RULES.append((match, make))


FALLBACK = Subject("the agent whose episode the clip shows")


def subject_for(env_id: str, config: dict[str, Any]) -> Subject:
    """The judged subject of a clip of ``env_id`` with ``config`` (the clip row's)."""
    for match, make in _RULES:
        if match(env_id, config):
            return make(env_id, config)
    return FALLBACK


def positions(
    subject: Subject, states: dict[str, np.ndarray] | None, n: int, size: tuple[int, int]
) -> list[tuple[float, float, float] | None]:
    """Where ``subject`` is in each of ``n`` frames (a list of ``(x, y, r)`` or None)."""
    if subject.locate is None or states is None:
        return [None] * n
    out: list[tuple[float, float, float] | None] = []
    for k in range(n):
        try:
            out.append(subject.locate({name: v[k] for name, v in states.items()}, size))
        except (KeyError, IndexError, ValueError):
            out.append(None)
    return out


def draw_mark(surf: Any, at: tuple[float, float, float], offset: tuple[int, int] = (0, 0)) -> None:
    """The ring around the subject (``at`` in frame pixels; ``offset`` the frame's corner)."""
    import pygame

    x, y, r = at
    centre = (round(offset[0] + x), round(offset[1] + y))
    pygame.draw.circle(surf, (20, 20, 20), centre, round(r) + 2, 2)
    pygame.draw.circle(surf, MARK, centre, round(r), 3)


def legend_icon(surf: Any, centre: tuple[int, int], r: int = 8) -> None:
    """The ring as drawn in the clips, for the legend line."""
    draw_mark(surf, (float(centre[0]), float(centre[1]), float(r)))


# ---------------------------------------------------------------------- built-in rules


@lru_cache(maxsize=32)
def _driving_view(config_json: str) -> tuple[bool, float, float]:
    """(the camera is fixed on the crossing, px per m, the ego's length [m])."""
    import json

    from rlhf_sandbox.config import build_config
    from rlhf_sandbox.envs.driving_config import DrivingConfig
    from rlhf_sandbox.sim.driving.params import LENGTH
    from rlhf_sandbox.sim.driving.world import road_of

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(config_json).items()}
    c = build_config(DrivingConfig, None, **config)
    return road_of(c.world_params()).kind == "intersection", float(c.scaling), float(LENGTH)


def _driving(env_id: str, config: dict[str, Any]) -> Subject:
    import json

    fixed, scaling, length = _driving_view(json.dumps(config, sort_keys=True))

    def locate(state: dict[str, np.ndarray], size: tuple[int, int]) -> tuple[float, float, float]:
        # as sim.driving.draw.render places the camera: on the crossing, or just ahead of
        # the ego (vehicle 0) on a road
        w, h = size
        x, y = float(state["x"][0]), float(state["y"][0])
        cx, cy = (0.0, 0.0) if fixed else (x + 0.15 * w / scaling, y)
        return (x - cx) * scaling + w / 2, (y - cy) * scaling + h / 2, 0.75 * length * scaling

    return Subject("the green car (the ego, the one the policy drives)", locate)


def _arena(env_id: str, config: dict[str, Any]) -> Subject:
    from rlhf_sandbox.sim.arena.params import RADIUS, SIZE

    def locate(state: dict[str, np.ndarray], size: tuple[int, int]) -> tuple[float, float, float]:
        # as sim.arena.draw.draw_state places the square arena; NPC 0 is figure 1
        w, h = size
        scale = min(w, h) / SIZE
        x, y = (float(v) for v in state["pos"][1])
        ox, oy = (w - SIZE * scale) / 2, (h - SIZE * scale) / 2
        return ox + x * scale, oy + (SIZE - y) * scale, max(6.0, 2.0 * RADIUS * scale)

    return Subject("the env's agent (NPC 0: the companion or the guard)", locate)


def _is_driving(env_id: str, config: dict[str, Any]) -> bool:
    from rlhf_sandbox.envs import DRIVING_IDS

    return env_id in DRIVING_IDS


def _is_arena(env_id: str, config: dict[str, Any]) -> bool:
    from rlhf_sandbox.envs import ARENA_IDS

    return env_id in ARENA_IDS or env_id == "arena_v0"


register(_is_driving, _driving)
register(_is_arena, _arena)
