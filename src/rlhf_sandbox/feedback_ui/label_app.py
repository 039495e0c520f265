"""The labelling app: a window, its event loop, and the workers behind it.

``LabelApp(run_dir, rater=..., mode="compare")`` opens the run's store and a window;
:meth:`LabelApp.run` loops until Esc, closing the window or Ctrl-C, then gives back the
claims on what was not answered. Answers are committed as they are given, so stopping
at any point (``kill -9`` included) loses nothing acknowledged; the claims of an app that
was killed lapse within seconds (a :class:`~rlhf_sandbox.feedback_ui.lease.LeaseKeeper`
renews them while it runs). Tests and the latency benchmark drive it headless
(``SDL_VIDEODRIVER=dummy``) by posting pygame events and calling :meth:`LabelApp.frame`.

The window is resizable: the view draws onto a canvas of one size, scaled to fit the
window. The app redraws only when what it would show changes (a clip's next frame, a
key, the store), and between changes it sleeps, looking for events every 10 ms: an idle
app costs next to no CPU, and a key or the window's close button is seen at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlhf_sandbox.feedback_ui.controller import LabelController
from rlhf_sandbox.feedback_ui.items import COMPARE, MODES, make_source
from rlhf_sandbox.feedback_ui.label_keys import MAX_TAGS, translate
from rlhf_sandbox.feedback_ui.label_view import LabelView
from rlhf_sandbox.feedback_ui.label_widgets import BG
from rlhf_sandbox.feedback_ui.lease import LeaseKeeper
from rlhf_sandbox.feedback_ui.overlay import RewardOverlay
from rlhf_sandbox.feedback_ui.prefetch import Prefetcher
from rlhf_sandbox.store.db import DEFAULT_LEASE_S, PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder

DEFAULT_TAGS = ("unsafe", "off-task", "unnatural", "boring")
MAX_WAIT_S = 0.25  # the longest sleep between turns (Ctrl+C is seen within it)
LOOK_S = 0.01  # while asleep, the app looks for events this often (a key waits no longer)
LOADING_WAIT_S = 0.005  # the sleep while clips are being drawn (to show them as they come)


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
        self.view.task = self.db.run_question(self.run_name)
        self.prefetch = Prefetcher(db_url, clips)
        self.overlay = RewardOverlay(self.run_dir, db_url, self.run_name, clips)
        folder_done = (
            (lambda: _loop_done(RunFolder(self.run_dir).loop_state)) if store is None else None
        )
        self.keeper = LeaseKeeper(db_url, rater, lease_s, run=self.run_name, finished=folder_done)
        self.ctl = LabelController(
            self.db,
            make_source(mode, self.db, self.run_name, rater, seed, lease_s),
            rater=rater,
            mode=mode,
            tags=tags,
            loader=lambda c: self.prefetch.get(c, size),
            request=lambda c, urgent: self.prefetch.request(c, size, urgent),
            overlay=self.overlay,
            poll_s=poll_s,
            on_ack=on_ack,
            hold=self.keeper.hold if mode == COMPARE else None,
        )
        pygame.display.init()  # no audio: pygame.init() would open the sound card
        pygame.font.init()
        self.screen = pygame.Surface(self.view.window_size)  # the canvas the view draws on
        self.window = pygame.display.set_mode(_first_size(self.view.window_size), pygame.RESIZABLE)
        pygame.display.set_caption(f"rlhf-sandbox label · {self.run_dir.name} · {rater}")
        self.clock = pygame.time.Clock()
        self._dragging = False
        self._last = time.perf_counter()
        self._shown: tuple[Any, ...] | None = None  # the signature on screen
        self._place = (0, 0, 1.0)  # where the canvas is in the window: x, y, scale
        self.frames = 0  # loop turns
        self.draws = 0  # redraws (frames that changed what is on screen)
        self._closed = False

    # ------------------------------------------------------------------ events
    def to_canvas(self, pos: tuple[int, int]) -> tuple[int, int]:
        """A window position as a position on the canvas the view drew."""
        x, y, scale = self._place
        return (int((pos[0] - x) / scale), int((pos[1] - y) / scale))

    def to_window(self, pos: tuple[int, int]) -> tuple[int, int]:
        """A canvas position as a window position (where a click lands on it)."""
        x, y, scale = self._place
        return (round(x + pos[0] * scale), round(y + pos[1] * scale))

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
            act = self.view.hit(self.to_canvas(ev.pos))
            if act is not None:
                self._dragging = act[0] == "seek"
                ctl.handle(*act)
        elif ev.type == pygame.MOUSEMOTION and self._dragging:
            ctl.handle("seek", self.view.seek_frac(self.to_canvas(ev.pos)))
        elif ev.type == pygame.MOUSEBUTTONUP and ev.button == 1:
            self._dragging = False
        elif ev.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED, pygame.VIDEOEXPOSE):
            self._shown = None  # draw again, at the new size

    # ------------------------------------------------------------------ loop
    def frame(self, fps: int = 0, wait_s: float = 0.0) -> None:
        """One turn: events (waiting up to ``wait_s`` for the first), clocks and store
        work, and a redraw when what is shown changed. ``fps`` caps the rate."""
        import pygame

        if wait_s > 0:
            _sleep_until_event(wait_s)
        events = pygame.event.get()
        for ev in events:
            self.handle_event(ev)
        now = time.perf_counter()
        dt, self._last = min(now - self._last, 0.1), now
        self.ctl.tick(dt)
        view, keeper = self.view, self.keeper
        view.trainer, view.store_error = keeper.status, keeper.error
        if keeper.task is not None:
            view.task = keeper.task
        sig = view.signature(self.ctl)
        if sig != self._shown:
            view.draw(self.screen, self.ctl)
            self._present()
            self._shown = sig
            self.draws += 1
            if view.drew_clips:  # flipped: the pair is on screen, answers count from now
                self.ctl.mark_drawn()
        self.ctl.poll()  # store work after the drawing: a new pair shows first
        self.frames += 1
        if fps:
            self.clock.tick(fps)

    def _present(self) -> None:
        """The canvas onto the window: as it is, or scaled to fit (letterboxed)."""
        import pygame

        win = pygame.display.get_surface()
        if win is None:  # the display was closed
            return
        cw, ch = self.screen.get_size()
        ww, wh = win.get_size()
        if (ww, wh) == (cw, ch):
            win.blit(self.screen, (0, 0))
            self._place = (0, 0, 1.0)
        else:
            scale = min(ww / cw, wh / ch)
            sw, sh = max(1, round(cw * scale)), max(1, round(ch * scale))
            x, y = (ww - sw) // 2, (wh - sh) // 2
            win.fill(BG)
            win.blit(pygame.transform.smoothscale(self.screen, (sw, sh)), (x, y))
            self._place = (x, y, scale)
        pygame.display.flip()

    def next_wait(self) -> float:
        """How long the loop may sleep before something on screen changes [s]."""
        ctl = self.ctl
        if ctl.current is not None and ctl.loaded() is None:
            return LOADING_WAIT_S  # the pair shows as soon as it is drawn
        wait = MAX_WAIT_S
        got = ctl.loaded()
        if got and not ctl.play.paused:
            period = ctl.period()
            for c in got:  # until the next frame of either clip
                t = ctl.play.t % period if period > 0 else 0.0
                nxt = (int(t * c.fps + 1e-9) + 1) / c.fps
                wait = min(wait, max(0.0, (nxt - t) / ctl.play.speed))
        if self.prefetch.busy() or self._dragging:
            wait = min(wait, 0.03)
        return max(wait, 0.001)

    def run(self, fps: int = 60, max_frames: int | None = None) -> None:
        """Loop until quit (Esc, window closed, Ctrl-C) or ``max_frames``; then close.
        ``fps`` caps the redraws; between them the loop sleeps until the next change."""
        try:
            while self.ctl.running and (max_frames is None or self.frames < max_frames):
                t0 = time.perf_counter()
                self.frame(0, wait_s=max(self.next_wait(), 1.0 / fps if fps else 0.0))
                if fps:  # at most fps turns a second, even when events pour in
                    rest = 1.0 / fps - (time.perf_counter() - t0)
                    if rest > 0 and self.ctl.running:
                        time.sleep(rest)
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
        """The current item's clips are on screen: drawn and shown (answers count)."""
        return self.ctl.on_screen()

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
        import pygame

        try:
            self.keeper.close()  # no renewal after the claims are given back
            self.ctl.close()
        finally:
            pygame.display.quit()  # the window goes at once
            self.prefetch.close()
            self.overlay.close()
            self.db.close()


def _sleep_until_event(seconds: float) -> None:
    """Sleep up to ``seconds``, waking within :data:`LOOK_S` of an event. (SDL's own
    ``pygame.event.wait(timeout)`` polls every millisecond: 2-3% of a core for nothing.)"""
    import pygame

    end = time.monotonic() + seconds
    while not pygame.event.peek():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(LOOK_S, left))


def _loop_done(path: Path) -> bool:
    """Whether a run folder's loop state says the training finished."""
    try:
        return bool(json.loads(path.read_text()).get("done", False))
    except (OSError, ValueError, AttributeError):
        return False


def _first_size(size: tuple[int, int]) -> tuple[int, int]:
    """The window's first size: the canvas's, or smaller to fit the desktop (scaled)."""
    import pygame

    if pygame.display.get_driver() in ("dummy", "offscreen"):
        return size  # no desktop: the canvas's size
    try:
        dw, dh = pygame.display.get_desktop_sizes()[0]
    except (pygame.error, IndexError):
        return size
    scale = min(1.0, 0.92 * dw / size[0], 0.88 * dh / size[1])
    return (round(size[0] * scale), round(size[1] * scale))
