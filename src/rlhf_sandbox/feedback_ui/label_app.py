"""The labelling app: a window, its event loop, and the workers behind it.

``LabelApp(run_dir, rater=..., mode="compare")`` opens the run's store and a window;
:meth:`LabelApp.run` loops until Esc, closing the window or Ctrl-C, then gives back the
claims on what was not answered. Answers are committed as they are given, so stopping
at any point (``kill -9`` included) loses nothing acknowledged. Tests and the latency
benchmark drive it headless (``SDL_VIDEODRIVER=dummy``) by posting pygame events and
calling :meth:`LabelApp.frame`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlhf_sandbox.feedback_ui.controller import LabelController
from rlhf_sandbox.feedback_ui.items import COMPARE, MODES, make_source
from rlhf_sandbox.feedback_ui.label_keys import MAX_TAGS, translate
from rlhf_sandbox.feedback_ui.label_view import LabelView
from rlhf_sandbox.feedback_ui.overlay import RewardOverlay
from rlhf_sandbox.feedback_ui.prefetch import Prefetcher
from rlhf_sandbox.store.db import DEFAULT_LEASE_S, PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder

DEFAULT_TAGS = ("unsafe", "off-task", "unnatural", "boring")


def store_run(db: PreferenceDB, name: str | None) -> str:
    """The run inside the store to label: ``name``, else ``main``, else the only one."""
    names = [r.name for r in db.runs()]
    if name is not None:
        if name not in names:
            raise ValueError(f"the store has no run {name!r} (it has: {', '.join(names)})")
        return name
    if "main" in names or not names:
        return "main"
    if len(names) == 1:
        return names[0]
    raise ValueError(f"the store holds runs {', '.join(names)}: pick one with --store-run")


class LabelApp:
    """One window labelling one run as one rater."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        rater: str,
        mode: str = COMPARE,
        tags: Sequence[str] = DEFAULT_TAGS,
        run: str | None = None,
        seed: int | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
        on_ack: Callable[[str], None] | None = None,
        store: str | None = None,
        clips: str | None = None,
    ) -> None:
        import pygame

        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: compare or rate")
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags, got {len(tags)}")
        self.run_dir = Path(run_dir)
        own = RunFolder(self.run_dir).db
        db_url = store if store is not None else str(own)
        if store is None and not own.is_file():
            raise FileNotFoundError(f"{self.run_dir}: no {own} (not a run folder)")
        self.db = PreferenceDB.open(db_url)  # a shared store: `store` (a URL), `clips`
        self.run_name = store_run(self.db, run)
        self.view = LabelView(mode)
        size = self.view.panel_size
        self.prefetch = Prefetcher(db_url, clips)
        self.overlay = RewardOverlay(self.run_dir, db_url, self.run_name, clips)
        self.ctl = LabelController(
            self.db,
            make_source(mode, self.db, self.run_name, rater, seed, lease_s),
            rater=rater,
            mode=mode,
            tags=tags,
            loader=lambda c: self.prefetch.get(c, size),
            request=lambda c: self.prefetch.request(c, size),
            overlay=self.overlay,
            poll_s=poll_s,
            on_ack=on_ack,
        )
        pygame.display.init()  # no audio: pygame.init() would open the sound card
        pygame.font.init()
        self.screen = pygame.display.set_mode(self.view.window_size)
        pygame.display.set_caption(f"rlhf-sandbox label · {self.run_dir.name} · {rater}")
        self.clock = pygame.time.Clock()
        self._dragging = False
        self._last = time.perf_counter()
        self.frames = 0
        self._closed = False

    # ------------------------------------------------------------------ events
    def handle_event(self, ev: Any) -> None:
        import pygame

        ctl = self.ctl
        if ev.type == pygame.QUIT:
            ctl.handle("quit")
        elif ev.type in (pygame.KEYDOWN, pygame.TEXTINPUT):
            act = translate(ev, ctl.mode, ctl.editing is not None)
            if act is not None:
                ctl.handle(*act)
        elif ev.type == pygame.MOUSEBUTTONDOWN and ev.button == 1:
            act = self.view.hit(ev.pos)
            if act is not None:
                self._dragging = act[0] == "seek"
                ctl.handle(*act)
        elif ev.type == pygame.MOUSEMOTION and self._dragging:
            ctl.handle("seek", self.view.seek_frac(ev.pos))
        elif ev.type == pygame.MOUSEBUTTONUP and ev.button == 1:
            self._dragging = False

    # ------------------------------------------------------------------ loop
    def frame(self, fps: int = 0) -> None:
        """One frame: events, clocks and store work, drawing. ``fps`` caps the rate."""
        import pygame

        for ev in pygame.event.get():
            self.handle_event(ev)
        now = time.perf_counter()
        dt, self._last = min(now - self._last, 0.1), now
        self.ctl.tick(dt)
        self.view.draw(self.screen, self.ctl)
        pygame.display.flip()
        self.frames += 1
        if fps:
            self.clock.tick(fps)

    def run(self, fps: int = 60, max_frames: int | None = None) -> None:
        """Loop until quit (Esc, window closed, Ctrl-C) or ``max_frames``; then close."""
        try:
            while self.ctl.running and (max_frames is None or self.frames < max_frames):
                self.frame(fps)
        except KeyboardInterrupt:
            pass  # every acknowledged answer is committed already
        finally:
            self.close()

    def run_until(self, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
        """Frames (uncapped) until ``done()``; TimeoutError after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > end:
                raise TimeoutError("the app did not get there in time")
            self.frame()
            time.sleep(0.001)  # let the workers run

    def ready(self) -> bool:
        """The current item's clips are drawn (or there is nothing to show)."""
        return self.ctl.current is not None and self.ctl.loaded() is not None

    def screenshot(self, path: str | Path) -> Path:
        import pygame

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.screen, str(path))
        return path

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.ctl.close()
        finally:
            self.prefetch.close()
            self.overlay.close()
            self.db.close()
