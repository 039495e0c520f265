"""What the labelling app looks like: a controller's state drawn onto a pygame Surface.

:class:`LabelView` draws and remembers where its buttons and timeline went, so that
:meth:`LabelView.hit` turns a click into the same action as the button's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhf_sandbox.feedback_ui.controller import LabelController
from rlhf_sandbox.feedback_ui.items import COMPARE
from rlhf_sandbox.feedback_ui.label_keys import TAG_KEYS, key_for
from rlhf_sandbox.feedback_ui.label_widgets import (
    BG,
    DIM,
    GOOD,
    PANEL_BG,
    TEXT,
    WARN,
    Button,
    Fonts,
    Rect,
    draw_button,
    draw_curve,
    draw_timeline,
    text,
)

WINDOW = (1020, 640)
MARGIN = 20
COMPARE_PANEL = (480, 270)
RATE_PANEL = (560, 315)
CURVE_H = 56


@dataclass(frozen=True)
class Layout:
    panels: list[Rect]
    curves: list[Rect]
    timeline: Rect
    rows: tuple[int, int, int, int]  # y of the transport, answer, tag and comment rows


def layout(mode: str) -> Layout:
    w = WINDOW[0]
    if mode == COMPARE:
        pw, ph = COMPARE_PANEL
        xs = [MARGIN, w - MARGIN - pw]
    else:
        pw, ph = RATE_PANEL
        xs = [(w - pw) // 2]
    top = 40
    panels = [(x, top, pw, ph) for x in xs]
    curves = [(x, top + ph + 6, pw, CURVE_H) for x in xs]
    y = top + ph + 6 + CURVE_H + 12
    timeline = (MARGIN, y, w - 2 * MARGIN, 16)
    return Layout(panels, curves, timeline, (y + 28, y + 72, y + 126, y + 166))


def _row(y: int, h: int, specs: list[tuple[str, str, Any, str, bool]]) -> list[Button]:
    """Buttons spread over the window's width: (text, action, value, hint, on)."""
    n, gap = len(specs), 10
    bw = (WINDOW[0] - 2 * MARGIN - gap * (n - 1)) // max(n, 1)
    return [
        Button((MARGIN + i * (bw + gap), y, bw, h), t, a, v, hint, on)
        for i, (t, a, v, hint, on) in enumerate(specs)
    ]


class LabelView:
    """Draws a :class:`LabelController`; one per window."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lay = layout(mode)
        self.fonts = Fonts()
        self.buttons: list[Button] = []

    @property
    def window_size(self) -> tuple[int, int]:
        return (WINDOW[0], self.lay.rows[3] + 70)  # the comment row and the help line below

    @property
    def panel_size(self) -> tuple[int, int]:
        return COMPARE_PANEL if self.mode == COMPARE else RATE_PANEL

    def hit(self, pos: tuple[int, int]) -> tuple[str, Any] | None:
        """The action of a click at ``pos``: a button's, or a seek on the timeline."""
        for b in self.buttons:
            if b.contains(pos):
                return (b.action, b.value)
        x, y, w, h = self.lay.timeline
        if x <= pos[0] < x + w and y - 6 <= pos[1] < y + h + 6:
            return ("seek", (pos[0] - x) / w)
        return None

    def seek_frac(self, pos: tuple[int, int]) -> float:
        x, _, w, _ = self.lay.timeline
        return min(max((pos[0] - x) / w, 0.0), 1.0)

    # ------------------------------------------------------------------ drawing
    def draw(self, surf: Any, ctl: LabelController) -> None:
        surf.fill(BG)
        self._status(surf, ctl)
        got = ctl.loaded()
        if ctl.current is None:
            self.buttons = self._controls(ctl, answers=False)
            self._waiting(surf, ctl)
            return
        for i, r in enumerate(self.lay.panels):
            self._panel(surf, ctl, i, r, got[i] if got else None)
        period = ctl.period()
        frac = ctl.play.t / period if period > 0 else 0.0
        steps = got[0].T if got else 1
        draw_timeline(surf, self.lay.timeline, frac, steps, ctl.play.paused)
        self.buttons = self._controls(ctl, answers=True)
        for b in self.buttons:
            draw_button(surf, self.fonts, b)
        self._comment(surf, ctl)
        if got:
            ctl.mark_drawn()

    def _status(self, surf: Any, ctl: LabelController) -> None:
        spl = ctl.seconds_per_label()
        done = len(ctl.acked) - len(ctl.undone)
        line = (
            f"rater {ctl.rater}  ·  {ctl.mode}  ·  labelled {done}  /  pending {ctl.pending}"
            f"  ·  {'-' if spl is None else f'{spl:.1f}'} s per label"
            f"  ·  {ctl.play.speed:g}x{'  paused' if ctl.play.paused else ''}"
        )
        text(surf, self.fonts.normal, line, (MARGIN, 12))
        if ctl.message:
            col = GOOD if ctl.message.startswith("saved") else WARN
            img_w = self.fonts.normal.size(ctl.message)[0]
            text(surf, self.fonts.normal, ctl.message, (WINDOW[0] - MARGIN - img_w, 12), col)

    def _waiting(self, surf: Any, ctl: LabelController) -> None:
        cx, cy = WINDOW[0] // 2, self.window_size[1] // 2 - 60
        title = "Nothing to label yet" if ctl.mode == COMPARE else "No clips left to rate"
        text(surf, self.fonts.big, title, (cx, cy), TEXT, centre=True)
        sub = (
            "Waiting for the trainer to ask for labels (train --teacher human)."
            if ctl.mode == COMPARE
            else "Waiting for new clips in this run."
        )
        text(surf, self.fonts.normal, sub, (cx, cy + 40), DIM, centre=True)
        msg = f"Checking the store every {ctl.poll_s:g} s. Esc or closing the window quits;"
        text(surf, self.fonts.normal, msg + " nothing is lost.", (cx, cy + 70), DIM, centre=True)
        for b in self.buttons:
            draw_button(surf, self.fonts, b)

    def _panel(self, surf: Any, ctl: LabelController, i: int, r: Rect, clip: Any) -> None:
        import pygame

        pygame.draw.rect(surf, PANEL_BG, r)
        x, y, w, h = r
        if clip is None:
            text(
                surf, self.fonts.normal, "drawing the clip...", (x + w // 2, y + h // 2), DIM, True
            )
        else:
            surf.blit(clip.frames[clip.frame_at(ctl.play.t)], (x, y))
            if clip.error:
                text(surf, self.fonts.small, clip.error[:70], (x + w // 2, y + h // 2), WARN, True)
        name = ("LEFT", "RIGHT")[i] if self.mode == COMPARE else "CLIP"
        text(surf, self.fonts.normal, name, (x + 8, y + 6), TEXT)
        if ctl.overlay_on:
            self._curve(surf, ctl, i, clip)

    def _curve(self, surf: Any, ctl: LabelController, i: int, clip: Any) -> None:
        assert ctl.current is not None
        ov = ctl.overlay
        curves = [ov.get(c) if ov is not None else None for c in ctl.current.clips]
        mine = curves[i]
        values = [c.rewards for c in curves if c is not None and c.rewards is not None]
        span = (
            (float(min(v.min() for v in values)), float(max(v.max() for v in values)))
            if values
            else (0.0, 1.0)
        )
        frac = ctl.play.t / clip.duration_s if clip is not None else 0.0
        if mine is None:
            label, vals = "reward overlay: computing...", None
        elif mine.rewards is None:
            label, vals = f"reward overlay: {mine.message}", None
        else:
            vals = mine.rewards
            label = f"reward model v{mine.version}: sum {float(np.sum(vals)):+.2f}"
        draw_curve(surf, self.fonts, self.lay.curves[i], vals, span, frac, label)

    def _controls(self, ctl: LabelController, answers: bool) -> list[Button]:
        m = self.mode
        y0, y1, y2, _ = self.lay.rows
        k = key_for
        transport = [
            ("play" if ctl.play.paused else "pause", "pause", None, "space", ctl.play.paused),
            ("< step", "step", -1, ",", False),
            ("step >", "step", 1, ".", False),
            (f"speed {ctl.play.speed:g}x", "speed", 1, "[ ]", False),
            ("reward overlay", "overlay", None, k(m, "overlay"), ctl.overlay_on),
            ("undo", "undo", None, "z", False),
        ]
        out = _row(y0, 32, transport)
        if not answers:
            return [b for b in out if b.action in ("undo", "overlay")]
        specs: list[tuple[str, str, Any]]
        if m == COMPARE:
            specs = [
                ("Left better", "answer", "left"),
                ("Right better", "answer", "right"),
                ("Equal", "answer", "equal"),
                ("Can't tell", "answer", "cant_tell"),
            ]
        else:
            specs = [(f"{s}", "score", s) for s in range(1, 6)]
            specs += [
                ("thumbs up", "thumb", 1),
                ("thumbs down", "thumb", -1),
                ("skip", "skip", None),
            ]
        out += _row(y1, 44, [(t, a, v, k(m, a, v), False) for t, a, v in specs])
        tags = [(t, "tag", i, TAG_KEYS[i], t in ctl.tags_on) for i, t in enumerate(ctl.tags)]
        if tags:
            out += _row(y2, 30, tags)
        return out

    def _comment(self, surf: Any, ctl: LabelController) -> None:
        import pygame

        y = self.lay.rows[3]
        box = (MARGIN, y, WINDOW[0] - 2 * MARGIN, 30)
        editing = ctl.editing is not None
        pygame.draw.rect(surf, PANEL_BG, box, border_radius=4)
        pygame.draw.rect(surf, GOOD if editing else (90, 94, 104), box, 1, border_radius=4)
        if editing:
            s = f"comment: {ctl.editing}_   (Enter keeps it, Esc drops the edit)"
        elif ctl.comment:
            s = f"comment: {ctl.comment}   (Enter to edit)"
        else:
            s = "comment: press Enter to type one"
        text(surf, self.fonts.normal, s, (MARGIN + 8, y + 8), TEXT if editing else DIM)
        help_ = (
            "keys: 1-4 answer  ·  space pause  ·  , . step  ·  arrows scrub  ·  [ ] speed  ·"
            if self.mode == COMPARE
            else "keys: 1-5 score  ·  up/down thumbs  ·  x skip  ·  space pause  ·  , . step  ·"
        )
        help_ += "  q w e r... tags  ·  z undo  ·  o overlay  ·  Esc quit"
        text(surf, self.fonts.small, help_, (MARGIN, y + 44), DIM)
