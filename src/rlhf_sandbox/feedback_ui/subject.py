"""The judged subject: which vehicle or agent of a clip the rater judges, and where it is.

A clip shows many things moving; the rater judges one of them (the ego car, the arena NPC
whose slot the clip records, a PettingZoo game's agent). :func:`subject_for` gives a clip's
:class:`Subject`: a legend (what the app says above the clips), the agent's own name (shown
on each clip), and, where the app can find it, where the subject is in each frame, so that
the view rings it in both clips.

The hook: :func:`register` adds a rule ``(match, make)``; the first rule whose
``match(env_id, config)`` is true makes the subject. Built in, in this order:

- driving: the green ego car, found from the world state (``locate``);
- the arena: the NPC named by the clip config's :data:`SUBJECT` entry (``{"npc": i,
  "agent": "companion_1", "role": "companion"}``, one per slot of ``arena_v0``; NPC i is
  figure ``i + 1`` of the state's ``pos``), NPC 0 for clips without one (older clips, the
  single-NPC ids, whose agent is NPC 0);
- a PettingZoo game of the user's: the agent and role of the config's :data:`SUBJECT`
  entry as a caption. A game's clips hold frames, not states, so the app cannot find the
  agent by itself: the game's module may define ``subject_position(agent, info)`` (the
  agent's place in its rendered frame as fractions of the width and height, from the
  numeric entries of the agent's ``info`` at the step that led to the frame, which the clip
  stores as its features), and the app rings it there (``locate_info``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rlhf_sandbox.envs.pz_game import SUBJECT  # a clip config's entry naming its judged agent

MARK = (255, 222, 0)  # the ring's colour: yellow, which no world of ours draws a thing in
MARK_NAME = "yellow"
POSITION_HOOK = "subject_position"  # the attribute a game's module may define

Mark = tuple[float, float, float]  # (centre x, centre y, radius) in pixels of a frame
# where the subject is in one frame: from one frame's state and the frame size (w, h)
Locate = Callable[[dict[str, np.ndarray], tuple[int, int]], Mark | None]
# where the subject is in a game's frame, from the agent's numeric info entries of the step
# that led to it: (x, y) or (x, y, r) as fractions of the frame's width, height (and width)
LocateInfo = Callable[[Mapping[str, float]], Sequence[float] | None]


@dataclass(frozen=True)
class Subject:
    """Who is judged: ``name`` for the legend ("the green car (ego)", "the companion
    companion_1"); ``agent`` and ``role``, the agent's own name and its role where it has
    them (each clip shows ``agent``); and how the app finds it in a frame: ``locate`` (from
    the world state: our worlds) or ``locate_info`` (from the clip's per-step features: a
    game's frames)."""

    name: str
    locate: Locate | None = None
    agent: str = ""
    role: str = ""
    locate_info: LocateInfo | None = None

    @property
    def marked(self) -> bool:
        """Whether the app can ring it (in the frames it can find it in)."""
        return self.locate is not None or self.locate_info is not None

    def legend(self, clips: str = "both clips") -> str:
        """The legend line: who is judged, and where the ring is (``clips``)."""
        where = f", ringed in {MARK_NAME} in {clips}" if self.marked else ""
        return f"Judge {self.name}{where}."


def legend_of(subjects: Sequence[Subject], clips: str = "both clips") -> str:
    """The legend over the clips on screen: one subject's, or, when the clips judge
    different agents (two companions of one ``arena_v0`` run), which one in which clip."""
    if not subjects:
        return ""
    first = subjects[0]
    if len({s.name for s in subjects}) == 1 or not all(s.agent for s in subjects):
        return first.legend(clips)
    roles = {s.role for s in subjects}
    who = f"the {first.role}" if len(roles) == 1 and first.role else "the agent"
    ring = f" ringed in {MARK_NAME}" if all(s.marked for s in subjects) else ""
    sides = ("left", "right") if len(subjects) == 2 else tuple(str(i + 1) for i in range(9))
    each = ", ".join(f"{s.agent} on the {side}" for s, side in zip(subjects, sides, strict=False))
    return f"Judge {who}{ring} in each clip: {each}."


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


def positions(subject: Subject, clip: Any, n: int, size: tuple[int, int]) -> list[Mark | None]:
    """Where ``subject`` is in each of the ``n`` frames of ``clip`` drawn at ``size``
    (w, h): a list of ``(x, y, r)`` in pixels of the drawn frame, or None where unknown."""
    states = getattr(clip, "states", None)
    if subject.locate is not None and states is not None:
        out: list[Mark | None] = []
        for k in range(n):
            try:
                out.append(subject.locate({name: v[k] for name, v in states.items()}, size))
            except (KeyError, IndexError, ValueError, TypeError):
                out.append(None)
        return out
    frames = getattr(clip, "frames", None)
    features = getattr(clip, "features", None)
    if subject.locate_info is not None and frames is not None and features:
        return _info_marks(subject.locate_info, features, frames.shape[1:3], n, size)
    return [None] * n


def _info_marks(
    hook: LocateInfo,
    features: Mapping[str, np.ndarray],
    frame_hw: tuple[int, int],
    n: int,
    size: tuple[int, int],
) -> list[Mark | None]:
    """A game's hook per frame: frame k (k >= 1) follows step k - 1, whose features are
    its info; frame 0 (before any step of the clip) gets no ring. Fractions of the game's
    frame are placed as the app letterboxes it into ``size``."""
    fh, fw = frame_hw
    w, h = size
    scale = min(w / fw, h / fh)
    sw, sh = max(1, round(fw * scale)), max(1, round(fh * scale))
    ox, oy = (w - sw) // 2, (h - sh) // 2
    names = [k for k in features if k != "terminated"]
    steps = min(len(np.asarray(features[k])) for k in names) if names else 0
    out: list[Mark | None] = [None]
    for k in range(1, n):
        if k - 1 >= steps:
            out.append(None)
            continue
        info = {name: float(np.asarray(features[name])[k - 1]) for name in names}
        try:
            got = hook(info)
            if got is None:
                out.append(None)
                continue
            fx, fy = float(got[0]), float(got[1])
            fr = float(got[2]) if len(got) > 2 else 0.04
        except Exception:  # the game's own code: a failure is no ring, never a crash
            out.append(None)
            continue
        if not all(np.isfinite((fx, fy, fr))):
            out.append(None)
            continue
        out.append((ox + fx * sw, oy + fy * sh, max(6.0, fr * sw)))
    return out[:n]


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


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """A clip config's world settings (lists as tuples), without the judged subject."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k != SUBJECT}


def _judged(config: dict[str, Any]) -> dict[str, Any]:
    """The config's :data:`SUBJECT` entry ({} when it has none or it is not a mapping)."""
    sub = config.get(SUBJECT)
    return dict(sub) if isinstance(sub, Mapping) else {}


@lru_cache(maxsize=32)
def _driving_view(config_json: str) -> tuple[bool, float, float]:
    """(the camera is fixed on the crossing, px per m, the ego's length [m])."""
    import json

    from rlhf_sandbox.config import build_config
    from rlhf_sandbox.envs.driving_config import DrivingConfig
    from rlhf_sandbox.sim.driving.params import LENGTH
    from rlhf_sandbox.sim.driving.world import road_of

    c = build_config(DrivingConfig, None, **_settings(json.loads(config_json)))
    return road_of(c.world_params()).kind == "intersection", float(c.scaling), float(LENGTH)


def _driving(env_id: str, config: dict[str, Any]) -> Subject:
    import json

    fixed, scaling, length = _driving_view(json.dumps(config, sort_keys=True))

    def locate(state: dict[str, np.ndarray], size: tuple[int, int]) -> Mark:
        # as sim.driving.draw.render places the camera: on the crossing, or just ahead of
        # the ego (vehicle 0) on a road
        w, h = size
        x, y = float(state["x"][0]), float(state["y"][0])
        cx, cy = (0.0, 0.0) if fixed else (x + 0.15 * w / scaling, y)
        return (x - cx) * scaling + w / 2, (y - cy) * scaling + h / 2, 0.75 * length * scaling

    return Subject("the green car (the ego, the one the policy drives)", locate)


def _arena(env_id: str, config: dict[str, Any]) -> Subject:
    from rlhf_sandbox.envs import ARENA_IDS
    from rlhf_sandbox.sim.arena.params import RADIUS, SIZE

    sub = _judged(config)
    npc = sub.get("npc", 0)
    if isinstance(npc, bool) or not isinstance(npc, int) or npc < 0:
        npc = 0
    agent, role = str(sub.get("agent", "")), str(sub.get("role", ""))
    roles = config.get("roles")
    if not agent and env_id in ARENA_IDS and isinstance(roles, list | tuple) and roles:
        role = str(roles[0])  # a single-NPC id's agent is NPC 0, the first of its role
        agent = f"{role}_0"
    figure = npc + 1  # figure 0 is the player

    def locate(state: dict[str, np.ndarray], size: tuple[int, int]) -> Mark:
        # as sim.arena.draw.draw_state places the square arena
        w, h = size
        scale = min(w, h) / SIZE
        x, y = (float(v) for v in state["pos"][figure])
        ox, oy = (w - SIZE * scale) / 2, (h - SIZE * scale) / 2
        return ox + x * scale, oy + (SIZE - y) * scale, max(6.0, 2.0 * RADIUS * scale)

    if agent:
        name = f"the {role} {agent}" if role else agent
        return Subject(name, locate, agent=agent, role=role)
    return Subject("the env's agent (NPC 0: the companion or the guard)", locate)


def _game(env_id: str, config: dict[str, Any]) -> Subject:
    sub = _judged(config)
    agent, role = str(sub["agent"]), str(sub.get("role", ""))
    hook = _position_hook(env_id)
    locate_info: LocateInfo | None = None
    if hook is not None:

        def locate_info(info: Mapping[str, float]) -> Sequence[float] | None:
            return hook(agent, info)

    name = f"{agent} (role {role})" if role else agent
    return Subject(name, agent=agent, role=role, locate_info=locate_info)


@lru_cache(maxsize=16)
def _position_hook(env_id: str) -> Callable[..., Any] | None:
    """The game module's ``subject_position`` (``MODULE`` of ``MODULE[:FACTORY]``), or None
    when it has none or cannot be imported here (the caption stays, without a ring)."""
    from rlhf_sandbox.envs.pz_game import GameError, game_form, import_module

    if not game_form(env_id):
        return None
    try:
        module = import_module(env_id.partition(":")[0], f"env {env_id!r}")
    except GameError:
        return None
    hook = getattr(module, POSITION_HOOK, None)
    return hook if callable(hook) else None


def _is_driving(env_id: str, config: dict[str, Any]) -> bool:
    from rlhf_sandbox.envs import DRIVING_IDS

    return env_id in DRIVING_IDS


def _is_arena(env_id: str, config: dict[str, Any]) -> bool:
    from rlhf_sandbox.envs import ARENA_IDS

    return env_id in ARENA_IDS or env_id == "arena_v0"


def _is_game(env_id: str, config: dict[str, Any]) -> bool:
    return isinstance(_judged(config).get("agent"), str)


register(_is_driving, _driving)
register(_is_arena, _arena)
register(_is_game, _game)
