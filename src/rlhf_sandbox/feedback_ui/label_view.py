"""What the labelling app looks like: a controller's state drawn onto a pygame Surface.

:class:`LabelView` draws and remembers where its buttons and timeline went, so that
:meth:`LabelView.hit` turns a click into the same action as the button's key. It draws
onto a canvas of one size (:attr:`LabelView.window_size`); the app scales the canvas to
the window. Above the clips: the run's question, its rubric and the legend naming the
judged subject, which is ringed in every clip (:mod:`~rlhf_sandbox.feedback_ui.subject`).
:meth:`LabelView.signature` says what a redraw would show, so that the app draws only
when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    fit,
    text,
    wrap,
)
from rlhf_sandbox.feedback_ui.subject import MARK, draw_mark, legend_icon, legend_of
from rlhf_sandbox.store.db import RunTaskRow, TrainerStatus

WINDOW = (1020, 640)
MARGIN = 20
COMPARE_PANEL = (480, 270)
RATE_PANEL = (560, 315)
CURVE_H = 56
TOP = 36  # below the status line: the question, the rubric, the legend
RUBRIC_LINES = 3  # rubric lines shown above the clips (h shows all of it)
QUESTIONS = {COMPARE: "Which clip is better?", "rate": "How good is this clip?"}
SCALE = "Scale: 1 = very bad, 3 = so-so, 5 = very good (higher is better); thumbs up = good."
SCORE_NAMES = {1: "very bad", 2: "bad", 3: "so-so", 4: "good", 5: "very good"}


@dataclass(frozen=True)
class Layout:
    panels: list[Rect]
    curves: list[Rect]
    timeline: Rect
    rows: tuple[int, int, int, int]  # y of the transport, answer, tag and comment rows


def header_height(mode: str) -> int:
    """The question (28 px), the rubric lines (18 px each), the legend (22 px), and in
    rate mode the scale's meaning (20 px)."""
    return 30 + 18 * RUBRIC_LINES + 24 + (20 if mode != COMPARE else 0) + 4


def layout(mode: str) -> Layout:
    w = WINDOW[0]
    if mode == COMPARE:
        pw, ph = COMPARE_PANEL
        xs = [MARGIN, w - MARGIN - pw]
    else:
        pw, ph = RATE_PANEL
        xs = [(w - pw) // 2]
    top = TOP + header_height(mode)
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
        self.task: RunTaskRow | None = None  # the run's question and rubric (None: not set)
        self.trainer: TrainerStatus | None = None  # what the store says of the trainer
        self.store_error = ""  # the lease thread cannot reach the store
        self.drew_clips = False  # the last draw showed the current item's frames

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

    # ------------------------------------------------------------------ what changes
    def signature(self, ctl: LabelController) -> tuple[Any, ...]:
        """Everything a redraw would show: the app draws only when this changes."""
        got = ctl.loaded()
        cur = ctl.current
        frames = tuple((c.frame_at(ctl.play.t), c.error) for c in got or ())  # what each shows
        curves: tuple[Any, ...] = ()
        if ctl.overlay_on and cur is not None and ctl.overlay is not None:
            curves = tuple(ctl.overlay.get(c) is not None for c in cur.clips)
        spl = ctl.seconds_per_label()
        return (
            None if cur is None else id(cur), got is not None, frames, curves, ctl.overlay_on,
            ctl.message, frozenset(ctl.tags_on), ctl.comment, ctl.editing, ctl.play.paused,
            ctl.play.speed, ctl.pending, len(ctl.acked), len(ctl.undone),
            None if spl is None else round(spl, 1), self.task, ctl.show_rubric,
            self._trainer_line(ctl)[0] if cur is None else "", self.store_error,
        )  # fmt: skip

    # ------------------------------------------------------------------ drawing
    def draw(self, surf: Any, ctl: LabelController) -> None:
        surf.fill(BG)
        self._status(surf, ctl)
        got = ctl.loaded()
        self.drew_clips = False
        if ctl.current is None:
            self.buttons = self._controls(ctl, answers=False)
            self._waiting(surf, ctl)
            return
        self._task(surf, ctl, got)
        for i, r in enumerate(self.lay.panels):
            self._panel(surf, ctl, i, r, got[i] if got else None)
        period = ctl.period()
        frac = ctl.play.t / period if period > 0 else 0.0
        steps = got[0].T if got else 1
        draw_timeline(surf, self.lay.timeline, frac, steps, ctl.play.paused)
        self.buttons = self._controls(ctl, answers=True, ready=got is not None)
        for b in self.buttons:
            draw_button(surf, self.fonts, b)
        self._comment(surf, ctl)
        if ctl.show_rubric:
            self._whole_rubric(surf)
        self.drew_clips = got is not None

    def question(self) -> str:
        if self.task is not None and self.task.question:
            return self.task.question
        return QUESTIONS[self.mode] if self.mode in QUESTIONS else QUESTIONS[COMPARE]

    def _task(self, surf: Any, ctl: LabelController, got: Any) -> None:
        """The question, the rubric's first lines, the legend (and rate mode's scale)."""
        w = WINDOW[0] - 2 * MARGIN
        y = TOP
        text(surf, self.fonts.question, fit(self.fonts.question, self.question(), w), (MARGIN, y))
        y += 30
        rubric = self.task.rubric if self.task is not None else ""
        lines = wrap(self.fonts.small, rubric, w) if rubric else []
        if not lines:
            lines = ["(no rubric for this run: judge by the question)"]
        shown = lines[:RUBRIC_LINES]
        if len(lines) > RUBRIC_LINES:
            more = f"   (+{len(lines) - RUBRIC_LINES} lines: h shows the whole rubric)"
            shown[-1] = fit(self.fonts.small, shown[-1], w - self.fonts.small.size(more)[0]) + more
        for line in shown:
            text(surf, self.fonts.small, line, (MARGIN, y), DIM)
            y += 18
        y = TOP + 30 + 18 * RUBRIC_LINES + 2
        subjects = [c.subject for c in got or () if c.subject is not None]
        if subjects:
            x = MARGIN
            if all(s.marked for s in subjects):
                legend_icon(surf, (MARGIN + 9, y + 9))
                x += 26
            legend = legend_of(subjects, "both clips" if self.mode == COMPARE else "the clip")
            legend = fit(self.fonts.normal, legend, WINDOW[0] - MARGIN - x)
            text(surf, self.fonts.normal, legend, (x, y + 1), MARK_TEXT)
        else:
            text(surf, self.fonts.normal, "loading the clips...", (MARGIN, y + 1), DIM)
        if self.mode != COMPARE:
            text(surf, self.fonts.small, SCALE, (MARGIN, y + 26), TEXT)

    def _whole_rubric(self, surf: Any) -> None:
        import pygame

        x, y = MARGIN, TOP + 30
        w = WINDOW[0] - 2 * MARGIN
        rubric = self.task.rubric if self.task is not None and self.task.rubric else ""
        lines = wrap(self.fonts.normal, rubric or "(no rubric for this run)", w - 24)
        h = min(22 * len(lines) + 44, self.window_size[1] - y - 20)
        pygame.draw.rect(surf, PANEL_BG, (x, y, w, h), border_radius=6)
        pygame.draw.rect(surf, MARK, (x, y, w, h), 2, border_radius=6)
        text(surf, self.fonts.small, "the whole rubric (h closes it)", (x + 12, y + 8), DIM)
        for i, line in enumerate(lines[: (h - 44) // 22]):
            text(surf, self.fonts.normal, line, (x + 12, y + 30 + 22 * i))

    def _status(self, surf: Any, ctl: LabelController) -> None:
        spl = ctl.seconds_per_label()
        done = len(ctl.acked) - len(ctl.undone)
        line = (
            f"rater {ctl.rater}  ·  {ctl.mode}  ·  labelled {done}  /  pending {ctl.pending}"
            f"  ·  {'-' if spl is None else f'{spl:.1f}'} s per label"
            f"  ·  {ctl.play.speed:g}x{'  paused' if ctl.play.paused else ''}"
        )
        text(surf, self.fonts.normal, line, (MARGIN, 10))
        message = self.store_error or ctl.message
        if message:
            col = GOOD if message.startswith("saved") else WARN
            room = WINDOW[0] - 2 * MARGIN - self.fonts.normal.size(line)[0] - 20
            message = fit(self.fonts.normal, message, room)
            img_w = self.fonts.normal.size(message)[0]
            text(surf, self.fonts.normal, message, (WINDOW[0] - MARGIN - img_w, 10), col)

    def _trainer_line(self, ctl: LabelController) -> tuple[str, Any]:
        """What the waiting screen says of the trainer, and in which colour."""
        st = self.trainer
        if st is None:
            return "Looking for the trainer in the store...", DIM
        ago = _ago(st.age_s)
        if st.state == "finished":
            return "The trainer has finished: no new pairs will come. Esc quits.", GOOD
        if st.state == "running":
            what = "pairs" if ctl.mode == COMPARE else "clips"
            return f"The trainer is running (last seen {ago} ago): new {what} come soon.", GOOD
        if st.state == "quiet":
            return (
                f"The trainer has not been seen for {ago}: it may have stopped"
                " (train --resume starts it again).",
                WARN,
            )
        return "No trainer has written to this run yet (train --teacher human).", WARN

    def _waiting(self, surf: Any, ctl: LabelController) -> None:
        cx, cy = WINDOW[0] // 2, self.window_size[1] // 2 - 80
        finished = self.trainer is not None and self.trainer.state == "finished"
        title = (
            "No clips left to rate"
            if ctl.mode != COMPARE
            else "Nothing left to label"
            if finished
            else "Nothing to label yet"
        )
        text(surf, self.fonts.big, title, (cx, cy), TEXT, centre=True)
        line, colour = self._trainer_line(ctl)
        text(surf, self.fonts.normal, line, (cx, cy + 44), colour, centre=True)
        q = f"This run asks: {self.question()}"
        text(surf, self.fonts.normal, fit(self.fonts.normal, q, 900), (cx, cy + 74), DIM, True)
        msg = f"Checking the store every {ctl.poll_s:g} s. Esc or closing the window quits;"
        text(surf, self.fonts.normal, msg + " nothing is lost.", (cx, cy + 104), DIM, centre=True)
        for b in self.buttons:
            draw_button(surf, self.fonts, b)

    def _panel(self, surf: Any, ctl: LabelController, i: int, r: Rect, clip: Any) -> None:
        import pygame

        pygame.draw.rect(surf, PANEL_BG, r)
        x, y, w, h = r
        if clip is None:
            msg = "loading the clip... (answers wait)"
            text(surf, self.fonts.normal, msg, (x + w // 2, y + h // 2), WARN, True)
        else:
            k = clip.frame_at(ctl.play.t)
            surf.blit(clip.frames[k], (x, y))
            mark = clip.mark_at(k)
            if mark is not None:
                draw_mark(surf, mark, (x, y))
            if clip.error:
                text(surf, self.fonts.small, clip.error[:70], (x + w // 2, y + h // 2), WARN, True)
        name = ("LEFT", "RIGHT")[i] if self.mode == COMPARE else "CLIP"
        text(surf, self.fonts.normal, name, (x + 8, y + 6), TEXT)
        if clip is not None and clip.subject is not None and clip.subject.agent:
            # which agent this clip judges (two clips of one role may judge two NPCs), under
            # the clip's name: in the margin beside the arena's square
            lines = ("judge:", clip.subject.agent)
            cw = max(self.fonts.small.size(t)[0] for t in lines)
            pygame.draw.rect(surf, PANEL_BG, (x + 4, y + 26, cw + 8, 34))
            for j, t in enumerate(lines):
                text(surf, self.fonts.small, t, (x + 8, y + 28 + 16 * j), MARK_TEXT)
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

    def _controls(self, ctl: LabelController, answers: bool, ready: bool = True) -> list[Button]:
        m = self.mode
        y0, y1, y2, _ = self.lay.rows
        k = key_for
        transport = [
            ("play" if ctl.play.paused else "pause", "pause", None, "space", ctl.play.paused),
            ("< step", "step", -1, ",", False),
            ("step >", "step", 1, ".", False),
            (f"speed {ctl.play.speed:g}x", "speed", 1, "[ ]", False),
            ("overlay", "overlay", None, k(m, "overlay"), ctl.overlay_on),
            ("rubric", "rubric", None, k(m, "rubric"), ctl.show_rubric),
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
            specs = [(SCORE_NAMES[s], "score", s) for s in range(1, 6)]
            specs += [
                ("thumbs up", "thumb", 1),
                ("thumbs down", "thumb", -1),
                ("skip", "skip", None),
            ]
        row = _row(y1, 44, [(t, a, v, k(m, a, v), False) for t, a, v in specs])
        out += [b if ready else replace(b, enabled=False) for b in row]
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
        help_ += "  q w e r... tags  ·  z undo  ·  o overlay  ·  h rubric  ·  Esc quit"
        text(surf, self.fonts.small, help_, (MARGIN, y + 44), DIM)


MARK_TEXT = (255, 232, 120)  # the legend, in a lighter shade of the ring's colour


def _ago(seconds: float | None) -> str:
    """A duration for people: "12 s", "4 min", "2 h" (coarse: the screen changes rarely)."""
    if seconds is None:
        return "a while"
    if seconds < 60:
        return f"{int(seconds // 5 * 5)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"
