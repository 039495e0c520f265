"""Pygame drawing of one arena copy from its state arrays (pygame imported lazily here only).

Walls grey, the player white, companions green, guards red (orange while pursuing) with
their view cone, villagers blue; each disc shows its heading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlhf_sandbox.sim.arena.params import RADIUS, SIZE

ROLE_COLOURS = {-1: (240, 240, 240), 0: (60, 200, 90), 1: (220, 60, 60), 2: (70, 130, 230)}
ALERT_COLOUR = (255, 150, 40)
_FAR = 1e3  # [m] padding boxes live beyond this


def draw_state(
    state: dict[str, np.ndarray],
    slot: int,
    width: int,
    height: int,
    view_range: float = 6.0,
    view_angle: float = 60.0,
) -> np.ndarray:
    """An RGB frame ``[height, width, 3]`` uint8 of copy ``slot`` of a world state."""
    import pygame  # drawing only

    if not pygame.get_init():
        pygame.init()
    surf = pygame.Surface((width, height))
    surf.fill((25, 25, 30))
    scale = min(width, height) / SIZE  # [px/m]
    ox, oy = (width - SIZE * scale) / 2, (height - SIZE * scale) / 2

    def px(x: float, y: float) -> tuple[float, float]:
        return ox + x * scale, oy + (SIZE - y) * scale  # y up in the world, down on screen

    for x0, y0, x1, y1 in state["boxes"][slot]:
        if x0 > _FAR:
            continue
        left, top = px(x0, y1)
        rect = pygame.Rect(
            int(left), int(top), max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        )
        pygame.draw.rect(surf, (120, 120, 130), rect)
    cones = pygame.Surface((width, height), pygame.SRCALPHA)
    pos, heading = state["pos"][slot], state["heading"][slot]
    roles, alert = state["role"][slot], state["alert"][slot]
    for i in range(len(pos)):
        if roles[i] != 1:
            continue
        h, half = heading[i], np.radians(view_angle)
        arc = np.linspace(h - half, h + half, 12)
        pts = [px(*pos[i])] + [
            px(pos[i, 0] + view_range * np.cos(a), pos[i, 1] + view_range * np.sin(a)) for a in arc
        ]
        cone = (255, 150, 40, 60) if alert[i - 1] else (220, 60, 60, 40)
        pygame.draw.polygon(cones, cone, pts)
    surf.blit(cones, (0, 0))
    r = max(2, round(RADIUS * scale))
    for i in range(len(pos)):
        colour: Any = ROLE_COLOURS[int(roles[i])]
        if roles[i] == 1 and alert[i - 1]:
            colour = ALERT_COLOUR
        c = px(*pos[i])
        pygame.draw.circle(surf, colour, (round(c[0]), round(c[1])), r)
        tip = px(pos[i, 0] + RADIUS * np.cos(heading[i]), pos[i, 1] + RADIUS * np.sin(heading[i]))
        pygame.draw.line(surf, (10, 10, 10), c, tip, 2)
    return np.ascontiguousarray(pygame.surfarray.array3d(surf).swapaxes(0, 1), dtype=np.uint8)
