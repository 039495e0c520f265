"""``rlhf-sandbox play``: the pygame window of play and correction mode.

The window shows the world at the simulation rate (driving: ``sim_hz`` frames a second;
the arena: one frame per step), a decision every ``substeps`` frames, so the game runs at
the env's policy rate with a steady frame rate. In the arena the NPC the person drives is
ringed in yellow, as the feedback app rings the judged NPC, and the HUD names it. The keys
pressed while a decision's frames are shown, and those held at its end, make the person's action
(:mod:`rlhf_sandbox.feedback_ui.keys`). The logic lives in
:class:`~rlhf_sandbox.feedback_ui.session.PlaySession`; this module draws and reads keys.

``script`` maps a frame number to the pygame events posted before that frame: tests (and
screenshots) drive the app headless under ``SDL_VIDEODRIVER=dummy`` with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.feedback_ui import play_keys as keys
from rlhf_sandbox.feedback_ui.session import PlaySession, Saved
from rlhf_sandbox.feedback_ui.worlds import State

HUD_HEIGHT = 78  # [px]
MAX_VIEW = (1200, 720)  # [px] the world is scaled up to fit this
BG, FG, DIM, ACCENT = (18, 18, 24), (235, 235, 235), (160, 160, 170), (255, 200, 60)


class PlayApp:
    """The window around a :class:`PlaySession`."""

    def __init__(
        self,
        session: PlaySession,
        *,
        realtime: bool = True,
        script: Mapping[int, Sequence[Any]] | None = None,
        title: str = "rlhf-sandbox play",
    ) -> None:
        import pygame  # the UI only

        self.pg = pygame
        self.session = session
        self.realtime = realtime
        self.script = dict(script or {})
        w, h = session.world.frame_size
        self.scale = min(MAX_VIEW[0] / w, MAX_VIEW[1] / h, 2.0)
        self.view = (round(w * self.scale), round(h * self.scale))
        pygame.init()
        self.screen = pygame.display.set_mode((self.view[0], self.view[1] + HUD_HEIGHT))
        pygame.display.set_caption(title)
        self.font = pygame.font.Font(None, 24)
        self.small = pygame.font.Font(None, 20)
        self.clock = pygame.time.Clock()
        self.fps = session.world.policy_hz * session.world.substeps
        self.frame_no = 0
        self.paused = False
        self.quit = False
        self.pressed: list[str] = []
        self.held: set[str] = set()
        self._state: State = session.world.state()
        self._ring: Any = None  # where the driven NPC is in a frame (the arena, role npc)
        world = session.world
        if world.subject and world.role == "npc":
            from rlhf_sandbox.feedback_ui.subject import subject_for

            self._ring = subject_for(world.env_id, world.clip_config).locate

    # ------------------------------------------------------------------ events
    def _events(self) -> None:
        pg = self.pg
        for ev in self.script.pop(self.frame_no, ()):
            pg.event.post(ev)
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                self.quit = True
            elif ev.type == pg.KEYDOWN:
                name = pg.key.name(ev.key)
                if name in keys.QUIT:
                    self.quit = True
                elif name in keys.PAUSE:
                    self.paused = not self.paused
                elif name in keys.TAKE_OVER:
                    self.session.request_takeover()
                elif name in keys.NEW_EPISODE:
                    self.session.end_episode()
                    self._state = self.session.world.state()
                else:
                    self.held.add(keys.arrow(name))
                    self.pressed.append(name)
            elif ev.type == pg.KEYUP:
                self.held.discard(keys.arrow(pg.key.name(ev.key)))

    # ------------------------------------------------------------------ drawing
    def draw(self, state: State) -> None:
        pg, s = self.pg, self.session
        frame = s.world.frame(state)
        surf = pg.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        if self.view != (frame.shape[1], frame.shape[0]):
            surf = pg.transform.smoothscale(surf, self.view)
        self.screen.fill(BG)
        self.screen.blit(surf, (0, 0))
        if self._ring is not None:
            from rlhf_sandbox.feedback_ui.subject import draw_mark

            try:
                x, y0, r = self._ring(state, self.view)
                draw_mark(self.screen, (x, y0, r))
            except (KeyError, IndexError, ValueError):
                pass
        y = self.view[1] + 6
        w = s.world
        mode = "CORRECT" if s.correct else "PLAY"
        role = ""
        if w.subject:
            agent = w.subject["agent"]
            role = (
                f"  you: the player (white); clips of {agent}"
                if w.role == "player"
                else f"  you drive {agent} ({w.subject['role']}, ringed in yellow)"
            )
        head = f"{mode}  {w.env_id.split('/')[-1]}{role}  rater {s.rater}"
        if self.paused:
            head += "   [PAUSED]"
        self._text(head, (8, y), self.font, ACCENT)
        self._text(s.status(), (8, y + 22), self.small, FG)
        if s.message:
            right = self.small.size(s.message)[0]
            self._text(s.message, (self.view[0] - right - 8, y), self.small, ACCENT)
        road = str(getattr(w.config, "road", ""))
        cont = bool(
            getattr(w.config, "continuous", False)
            or (w.driving and w.config.action == "continuous")
        )
        for i, line in enumerate(keys.help_lines(w.driving, road, cont, s.correct)):
            self._text(line, (8, y + 40 + 17 * i), self.small, DIM)
        pg.display.flip()

    def _text(self, text: str, at: tuple[int, int], font: Any, color: tuple[int, int, int]) -> None:
        self.screen.blit(font.render(text, True, color), at)

    def screenshot(self, path: str | Path) -> Path:
        """Save the window as a PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.pg.image.save(self.screen, str(path))
        return path

    # ------------------------------------------------------------------ the loop
    def _show(self, state: State) -> None:
        """One frame: events, drawing, pacing (and waiting while paused)."""
        self._state = state
        while True:
            self._events()
            self.draw(self._state)
            self.frame_no += 1
            if self.realtime:
                self.clock.tick(self.fps)
            if not self.paused or self.quit:
                return

    def run(
        self, max_steps: int | None = None, screenshot_at: tuple[int, Path] | None = None
    ) -> Saved:
        """Play until the window closes, Esc/Q, or ``max_steps`` decisions; then store what
        was played and return what was saved. ``screenshot_at`` = (decision, path)."""
        steps = 0
        try:
            self._show(self._state)
            while not self.quit and (max_steps is None or steps < max_steps):
                pressed, self.pressed = self.pressed, []
                states = self.session.step(pressed, set(self.held))
                steps += 1
                for state in states:
                    self._show(state)
                    if self.quit:
                        break
                if screenshot_at is not None and steps == screenshot_at[0]:
                    self.screenshot(screenshot_at[1])
        finally:
            saved = self.session.finish()
            self.pg.display.quit()
        return saved
