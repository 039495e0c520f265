"""Drawing pieces of the labelling app: text, buttons, the timeline, the reward curve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BG = (30, 32, 38)
PANEL_BG = (24, 26, 30)
TEXT = (230, 232, 236)
DIM = (150, 154, 162)
ACCENT = (90, 160, 250)
GOOD = (80, 200, 120)
WARN = (240, 180, 60)
BUTTON = (58, 62, 72)
BUTTON_ON = (70, 120, 200)
BUTTON_OFF = (44, 46, 52)
CURVE = (250, 200, 70)

Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Button:
    """A clickable box: ``action`` (with ``value``) when clicked; ``on`` draws it lit."""

    rect: Rect
    text: str
    action: str
    value: Any = None
    hint: str = ""  # the key, shown in the corner
    on: bool = False
    enabled: bool = True  # drawn dim while it cannot act (a pair still loading)

    def contains(self, pos: tuple[int, int]) -> bool:
        x, y, w, h = self.rect
        return x <= pos[0] < x + w and y <= pos[1] < y + h


class Fonts:
    """The app's fonts (pygame's default font, four sizes)."""

    def __init__(self) -> None:
        import pygame

        pygame.font.init()
        self.small = pygame.font.Font(None, 20)
        self.normal = pygame.font.Font(None, 24)
        self.question = pygame.font.Font(None, 32)
        self.big = pygame.font.Font(None, 40)


def text(
    surf: Any, font: Any, s: str, pos: tuple[int, int], colour: Any = TEXT, centre: bool = False
) -> int:
    """Draw ``s``; returns its width. ``centre``: ``pos`` is the text's centre."""
    img = font.render(s, True, colour)
    x, y = pos
    if centre:
        x, y = x - img.get_width() // 2, y - img.get_height() // 2
    surf.blit(img, (x, y))
    return int(img.get_width())


def draw_button(surf: Any, fonts: Fonts, b: Button) -> None:
    import pygame

    r = pygame.Rect(b.rect)
    fill = BUTTON_ON if b.on else BUTTON if b.enabled else BUTTON_OFF
    pygame.draw.rect(surf, fill, r, border_radius=6)
    pygame.draw.rect(surf, ACCENT if b.on else (90, 94, 104), r, width=1, border_radius=6)
    below_hint = r.h >= 40 and b.hint  # tall buttons: the key above the text, not beside it
    colour = TEXT if b.enabled else DIM
    centre = (r.centerx, r.centery + (5 if below_hint else 0))
    text(surf, fonts.normal, b.text, centre, colour, centre=True)
    if b.hint:
        text(surf, fonts.small, b.hint, (r.x + 6, r.y + 4), DIM)


def wrap(font: Any, s: str, width: int) -> list[str]:
    """``s`` broken into lines of at most ``width`` pixels (at spaces; its own line
    breaks kept; a word wider than a line is cut)."""
    out: list[str] = []
    for para in s.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = word if not line else f"{line} {word}"
            if font.size(cand)[0] <= width:
                line = cand
                continue
            if line:
                out.append(line)
            while font.size(word)[0] > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and font.size(word[:cut])[0] > width:
                    cut -= 1
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    return out


def fit(font: Any, s: str, width: int) -> str:
    """``s`` cut to ``width`` pixels, ending in an ellipsis when cut."""
    if font.size(s)[0] <= width:
        return s
    while s and font.size(s + "...")[0] > width:
        s = s[:-1]
    return s.rstrip() + "..."


def draw_timeline(surf: Any, rect: Rect, frac: float, ticks: int, paused: bool) -> None:
    """A track with the played share filled, ``ticks`` step marks and the playhead."""
    import pygame

    x, y, w, h = rect
    pygame.draw.rect(surf, BUTTON, rect, border_radius=4)
    pygame.draw.rect(surf, WARN if paused else ACCENT, (x, y, int(w * frac), h), border_radius=4)
    for i in range(1, max(ticks, 1)):
        tx = x + w * i // ticks
        pygame.draw.line(surf, PANEL_BG, (tx, y + h - 5), (tx, y + h - 1))
    px = x + int(w * frac)
    pygame.draw.rect(surf, TEXT, (px - 2, y - 3, 4, h + 6))


def draw_curve(
    surf: Any,
    fonts: Fonts,
    rect: Rect,
    values: np.ndarray | None,
    span: tuple[float, float],
    frac: float,
    label: str,
) -> None:
    """The per-step reward ``values`` over ``rect`` (y range ``span``), with a playhead at
    ``frac`` of the clip; ``values`` None draws only ``label`` (why there is no curve)."""
    import pygame

    x, y, w, h = rect
    pygame.draw.rect(surf, PANEL_BG, rect)
    if values is None or len(values) == 0:
        text(surf, fonts.small, label, (x + w // 2, y + h // 2), DIM, centre=True)
        return
    lo, hi = span
    top = 18  # the label's strip
    scale = (h - top - 6) / max(hi - lo, 1e-6)

    def ypx(v: float) -> int:
        return int(y + h - 4 - (v - lo) * scale)

    if lo < 0 < hi:
        pygame.draw.line(surf, (80, 84, 94), (x, ypx(0.0)), (x + w, ypx(0.0)))
    n = len(values)
    pts = [(x + int((i + 0.5) * w / n), ypx(float(v))) for i, v in enumerate(values)]
    if n > 1:
        pygame.draw.lines(surf, CURVE, False, pts, 2)
    for p in pts:
        pygame.draw.circle(surf, CURVE, p, 3)
    px = x + int(w * min(max(frac, 0.0), 1.0))
    pygame.draw.line(surf, TEXT, (px, y + top), (px, y + h), 2)
    text(surf, fonts.small, label, (x + 4, y + 2), DIM)
