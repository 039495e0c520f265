"""The labelling app's state and rules, without pygame: actions in, store writes out.

:class:`LabelController` holds the item on screen and the ones claimed ahead (drawn in the
background by a :class:`~rlhf_sandbox.feedback_ui.prefetch.Prefetcher`), the playback
clock, the tags and comment being given, and the undo stack. Every answer is one store
transaction committed inside :meth:`LabelController.handle`, before the next item shows:
what the screen calls done is on disk. An answer counts only for clips that were on
screen: while the item's first frames are not drawn yet, answers are refused, visibly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

from rlhf_sandbox.feedback_ui.items import COMPARE, Item, Source
from rlhf_sandbox.feedback_ui.prefetch import LoadedClip
from rlhf_sandbox.store.db import LabelConflictError, PreferenceDB

SPEEDS = (0.5, 1.0, 2.0)
CHOICE_NAMES = {"left": "left better", "right": "right better", "equal": "equal"}
CHOICE_NAMES["cant_tell"] = "can't tell"
AHEAD = 3  # items claimed and drawn beyond the one on screen
LOADING = "loading this pair: answers wait until both clips are on screen"


class Playback:
    """Where both clips are: one clock (seconds), looping, paused or at a speed."""

    def __init__(self) -> None:
        self.t = 0.0
        self.paused = False
        self.speed = 1.0

    def advance(self, dt: float, period: float) -> None:
        if not self.paused and period > 0:
            self.t = (self.t + dt * self.speed) % period

    def step(self, d: int, fps: float, period: float) -> None:
        """Pause and move ``d`` frames (of a clip at ``fps``)."""
        self.paused = True
        k = int(self.t * fps + 1e-6) + d
        n = max(1, round(period * fps))
        self.t = (k % n) / fps + 1e-9

    def seek(self, frac: float, period: float) -> None:
        self.t = min(max(frac, 0.0), 0.999999) * period

    def cycle_speed(self, d: int = 1) -> None:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else 1
        self.speed = SPEEDS[(i + d) % len(SPEEDS)]


class LabelController:
    """One rater's session on one run; see the module docstring."""

    def __init__(
        self,
        db: PreferenceDB,
        source: Source,
        *,
        rater: str,
        mode: str = COMPARE,
        tags: Sequence[str] = (),
        loader: Callable[[str], LoadedClip | None],
        request: Callable[[str, bool], None],
        overlay: Any = None,
        poll_s: float = 1.0,
        on_ack: Callable[[str], None] | None = None,
        hold: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.db, self.source, self.rater, self.mode = db, source, rater, mode
        self.tags = list(tags)
        self._load, self._request, self.overlay = loader, request, overlay
        self.poll_s, self.on_ack, self._hold = poll_s, on_ack, hold
        self.current: Item | None = None
        self.ahead: deque[Item] = deque()
        # (label or rating id, item, its tags, its comment): undo gives all of it back
        self.undo_stack: list[tuple[str, Item, set[str], str]] = []
        self.acked: list[str] = []  # ids committed this session (undone ones too)
        self.undone: list[str] = []
        self.tags_on: set[str] = set()
        self.comment = ""
        self.editing: str | None = None  # the comment draft while typing one
        self.overlay_on = False
        self.show_rubric = False  # the whole rubric over the clips (key h)
        self.play = Playback()
        self.message = ""
        self.pending = 0
        self.running = True
        self.durations: list[float] = []  # seconds from first frame to answer, per label
        self.refused = 0  # answers refused because the item was not on screen yet
        self._next_poll = 0.0

    # ------------------------------------------------------------------ reading
    def loaded(self) -> list[LoadedClip] | None:
        """The current item's drawn clips, or None while they are not ready."""
        if self.current is None:
            return None
        got = [self._load(c) for c in self.current.clips]
        return None if any(g is None for g in got) else [g for g in got if g is not None]

    def next_ready(self) -> bool:
        """The item after the current one is claimed and drawn (it will show at once)."""
        return bool(self.ahead) and all(self._load(c) is not None for c in self.ahead[0].clips)

    def on_screen(self) -> bool:
        """The current item's clips are drawn and were shown (answers count)."""
        return self.current is not None and self.current.shown_at is not None

    def loading(self) -> bool:
        """An item is current but its clips are not on screen (not drawn, or not shown yet)."""
        return self.current is not None and (self.loaded() is None or not self.on_screen())

    def period(self) -> float:
        got = self.loaded()
        return max((c.duration_s for c in got), default=0.0) if got else 0.0

    def seconds_per_label(self) -> float | None:
        return median(self.durations[-20:]) if self.durations else None

    def mark_drawn(self) -> None:
        """The view drew the current item's frames (the first time starts its timer)."""
        if self.current is not None and self.current.shown_at is None:
            self.current.shown_at = time.perf_counter()

    # ------------------------------------------------------------------ time
    def tick(self, dt: float) -> None:
        """Advance the clips (no store work: see :meth:`poll`). While a clip's frames are
        still being drawn, the playback waits at the last one drawn (no jumps)."""
        self.play.advance(dt, self.period())
        got = self.loaded()
        for c in got or ():
            if not c.complete:
                self.play.t = min(self.play.t, (len(c.frames) - 1) / c.fps)

    def poll(self) -> None:
        """Store work, done after the frame is drawn (so that a new pair shows first):
        claim items ahead when due, and tell the lease keeper what is held."""
        now = time.monotonic()
        if now >= self._next_poll and len(self.ahead) < AHEAD + (self.current is None):
            full = self._refill()
            self._next_poll = now + (0.0 if full else self.poll_s)
        if self._hold is not None:
            self._hold([it.key for it in self._held()])

    def _held(self) -> list[Item]:
        return ([self.current] if self.current is not None else []) + list(self.ahead)

    def _refill(self) -> bool:
        """Claim items ahead; True when there are as many as wanted."""
        held = self._held()
        new = self.source.take(held, 1 + AHEAD)
        self.ahead.extend(new)
        self.pending = self.source.pending()
        for it in new:
            self._prepare(it)
        if self.current is None:
            self._advance()
        return self.current is not None and len(self.ahead) >= AHEAD

    def _prepare(self, item: Item, urgent: bool = False) -> None:
        for c in item.clips:
            self._request(c, urgent)
            if self.overlay_on and self.overlay is not None:
                self.overlay.request(c)

    def _advance(self) -> None:
        self.current = self.ahead.popleft() if self.ahead else None
        self.play.t, self.play.paused = 0.0, False
        self.tags_on, self.comment, self.editing = set(), "", None
        if self.current is not None:
            self.current.shown_at = None
            self._prepare(self.current, urgent=True)

    # ------------------------------------------------------------------ actions
    def handle(self, action: str, value: Any = None) -> None:
        """Apply one action (the table ``KEYS`` in :mod:`rlhf_sandbox.feedback_ui.label_keys`)."""
        getattr(self, f"_do_{action}")(value)

    def _do_quit(self, _: Any) -> None:
        self.running = False

    def _do_pause(self, _: Any) -> None:
        self.play.paused = not self.play.paused

    def _do_step(self, d: int) -> None:
        got = self.loaded()
        if got:
            self.play.step(int(d), got[0].fps, self.period())

    def _do_seek(self, frac: float) -> None:
        self.play.seek(float(frac), self.period())

    def _do_nudge(self, seconds: float) -> None:
        p = self.period()
        if p > 0:
            self.play.seek(((self.play.t + float(seconds)) % p) / p, p)

    def _do_speed(self, d: int) -> None:
        self.play.cycle_speed(int(d or 1))

    def _do_overlay(self, _: Any) -> None:
        self.overlay_on = not self.overlay_on
        if self.overlay_on and self.overlay is not None:
            for it in self._held():
                for c in it.clips:
                    self.overlay.request(c)

    def _do_rubric(self, _: Any) -> None:
        self.show_rubric = not self.show_rubric

    def _do_tag(self, i: int) -> None:
        if 0 <= int(i) < len(self.tags):
            self.tags_on ^= {self.tags[int(i)]}

    def _do_comment(self, _: Any) -> None:
        self.editing = self.comment

    def _do_text(self, s: str) -> None:
        if self.editing is not None:
            self.editing = (self.editing + str(s))[:500]

    def _do_backspace(self, _: Any) -> None:
        if self.editing is not None:
            self.editing = self.editing[:-1]

    def _do_commit(self, _: Any) -> None:
        if self.editing is not None:
            self.comment, self.editing = self.editing.strip(), None

    def _do_cancel(self, _: Any) -> None:
        self.editing = None

    def _tags(self) -> list[str]:
        return [t for t in self.tags if t in self.tags_on]  # in the configured order

    def _ready_item(self) -> Item | None:
        """The item an answer is for: only one whose clips were on screen. While it loads
        (or before its first frame was shown) the answer is refused, and the screen says so."""
        if self.current is None:
            return None
        if self.loaded() is None or self.current.shown_at is None:
            self.refused += 1
            self.message = LOADING
            return None
        return self.current

    def _done(self, row_id: str, item: Item, what: str) -> None:
        """After the commit: count it, make it undoable, show the next item."""
        self.acked.append(row_id)
        self.undo_stack.append((row_id, item, set(self.tags_on), self.comment))
        if item.shown_at is not None:
            self.durations.append(time.perf_counter() - item.shown_at)
        self.message = f"saved: {what}"
        self.pending = max(0, self.pending - 1)
        if self.on_ack is not None:
            self.on_ack(row_id)
        self._advance()

    def _do_answer(self, choice: str) -> None:
        item = self._ready_item()
        if item is None or item.query is None:
            return
        try:
            lid = self.db.add_label(
                item.query.id, self.rater, choice, shown_left=item.clips[0],
                tags=self._tags(), comment=self.comment,
            )  # fmt: skip
        except LabelConflictError:
            self.message = "you labelled this pair already (another window?): skipped"
            self._advance()
            return
        self._done(lid, item, CHOICE_NAMES[choice])

    def _do_score(self, score: int) -> None:
        self._rate(f"score {int(score)}", score=int(score))

    def _do_thumb(self, thumb: int) -> None:
        self._rate("thumbs " + ("up" if int(thumb) > 0 else "down"), thumb=int(thumb))

    def _rate(self, what: str, **kw: int) -> None:
        item = self._ready_item()
        if item is None or item.query is not None:
            return
        rid = self.db.add_rating(
            item.clips[0], self.rater, tags=self._tags(), comment=self.comment, **kw
        )
        self._done(rid, item, what)

    def _do_skip(self, _: Any) -> None:
        """Rate mode: leave this clip for later (nothing is stored)."""
        if self.current is not None and self.current.query is None and self._ready_item():
            skipped = getattr(self.source, "skipped", None)
            if skipped is not None:
                skipped.add(self.current.key)
            self.message = "skipped"
            self._advance()

    def _do_undo(self, _: Any) -> None:
        if not self.undo_stack:
            self.message = "nothing to undo"
            return
        row_id, item, tags, comment = self.undo_stack.pop()
        if item.query is not None:
            self.db.undo_label(row_id, reclaim_s=getattr(self.source, "lease_s", None))
        else:
            self.db.undo_rating(row_id)
        self.undone.append(row_id)
        if self.durations:
            self.durations.pop()
        if self.current is not None:
            self.ahead.appendleft(self.current)
        self.ahead.appendleft(item)
        self.pending += 1
        self._advance()
        self.tags_on, self.comment = tags, comment  # as given: change them or answer again
        self.message = "undone: answer this one again"

    def close(self) -> None:
        """Give back the claims on what was claimed but not answered."""
        if self._hold is not None:
            self._hold([])
        self.source.give_back(self._held())
        self.current, self.ahead = None, deque()
