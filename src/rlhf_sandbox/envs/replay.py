"""Draw a stored clip: our worlds from their states (any size), other envs from frames.

``render_clip(clip)`` gives the clip's frames ``[S, H, W, 3]`` at its own rate
(``clip.fps``); ``clip_frame(clip, k)`` one of them. A clip of our driving world re-renders
exactly the frame the env drew live at the same state.

A clip is anything with the fields of :class:`Replayable` (the store's ``Clip`` has them):
this module draws, it does not know where clips are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.pz_game import SUBJECT


class Replayable(Protocol):
    """What drawing a clip reads (``rlhf_sandbox.store.clips.Clip`` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def env_id(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def states(self) -> dict[str, np.ndarray] | None: ...
    @property
    def frames(self) -> np.ndarray | None: ...
    @property
    def T(self) -> int: ...
    @property
    def substeps(self) -> int: ...


Renderer = Callable[[dict[str, np.ndarray], int, int], np.ndarray]


def _driving(config: dict[str, Any]) -> tuple[Renderer, tuple[int, int]]:
    from rlhf_sandbox.envs.driving_config import DrivingConfig
    from rlhf_sandbox.sim.driving import draw
    from rlhf_sandbox.sim.driving.world import VEHICLE_FIELDS, road_of

    c = build_config(DrivingConfig, None, **_tuples(config))
    road = road_of(c.world_params())

    def frame(state: dict[str, np.ndarray], w: int, h: int) -> np.ndarray:
        return draw.render(road, {k: state[k] for k in VEHICLE_FIELDS}, w, h, c.scaling)

    return frame, (c.screen_width, c.screen_height)


def _arena(config: dict[str, Any]) -> tuple[Renderer, tuple[int, int]]:
    from rlhf_sandbox.envs.arena_config import ArenaConfig
    from rlhf_sandbox.envs.arena_v0 import RENDER_SIZE
    from rlhf_sandbox.sim.arena.draw import draw_state

    c = build_config(ArenaConfig, None, **_tuples(config))
    keys = ("boxes", "pos", "heading", "role", "alert")

    def frame(state: dict[str, np.ndarray], w: int, h: int) -> np.ndarray:
        one = {k: np.asarray(state[k])[None] for k in keys}
        return draw_state(one, 0, w, h, c.view_range, c.view_angle)

    return frame, RENDER_SIZE


def _tuples(config: dict[str, Any]) -> dict[str, Any]:
    """The world's settings of a clip's config (lists as tuples); the judged subject's entry
    (:data:`~rlhf_sandbox.envs.pz_game.SUBJECT`, which NPC a slot's clips show) is no setting."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k != SUBJECT}


def state_renderer(env_id: str, config: dict[str, Any]) -> tuple[Renderer, tuple[int, int]]:
    """A function drawing one state of ``env_id``'s world, and the env's frame size."""
    from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS

    if env_id in DRIVING_IDS:
        return _driving(config)
    if env_id in ARENA_IDS or env_id == "arena_v0":
        return _arena(config)
    raise ValueError(f"{env_id}: not one of our worlds; its clips carry frames")


def clip_frame(
    clip: Replayable, k: int, size: tuple[int, int] | None = None, renderer: Renderer | None = None
) -> np.ndarray:
    """Frame ``k`` (of ``T * substeps + 1``) of a clip, ``[H, W, 3]`` uint8."""
    if clip.frames is not None:
        return clip.frames[k]
    if clip.states is None:
        raise ValueError(f"clip {clip.id} has neither states nor frames: nothing to show")
    if renderer is None:
        renderer, default = state_renderer(clip.env_id, clip.config)
        size = size or default
    w, h = size or (600, 150)
    return renderer({name: v[k] for name, v in clip.states.items()}, w, h)


def render_clip(clip: Replayable, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every frame of a clip, ``[S, H, W, 3]`` uint8, at ``clip.fps``."""
    if clip.frames is not None:
        return clip.frames
    renderer, default = state_renderer(clip.env_id, clip.config)
    n = clip.T * clip.substeps + 1
    return np.stack([clip_frame(clip, k, size or default, renderer) for k in range(n)])
