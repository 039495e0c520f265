"""Scripted pygame events for the labelling app's tests (SDL dummy driver)."""

from __future__ import annotations

from typing import Any

import pygame

from rlhf_sandbox.feedback_ui.label_app import LabelApp


def key(name: str, ctrl: bool = False) -> None:
    """Post a key press by pygame key name ("1", "q", "return", "z", ...)."""
    code = pygame.key.key_code(name)
    mod = pygame.KMOD_CTRL if ctrl else 0
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=mod, unicode="", scancode=0))
    pygame.event.post(pygame.event.Event(pygame.KEYUP, key=code, mod=mod, unicode="", scancode=0))


def type_text(s: str) -> None:
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=s))


def click(pos: tuple[int, int]) -> None:
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1))


def button_at(app: LabelApp, action: str, value: Any = None) -> tuple[int, int]:
    """The centre of the button doing ``action`` (``value``), as last drawn (in the
    window's pixels: the canvas may be scaled to the window)."""
    for b in app.view.buttons:
        if b.action == action and (value is None or b.value == value):
            x, y, w, h = b.rect
            return app.to_window((x + w // 2, y + h // 2))
    raise LookupError(f"no button for {action} {value}")


def settle(app: LabelApp, timeout_s: float = 30.0) -> None:
    """Process posted events, then frames until the current item is drawn."""
    app.frame()
    app.run_until(app.ready, timeout_s)
    app.frame()
