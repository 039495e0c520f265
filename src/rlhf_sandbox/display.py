"""Where pygame draws, decided in one place: off-screen, or a real window.

Every command draws off-screen (GIFs, reports, headless training) unless it is one of the
apps that a person looks at (``label``, ``play``). The user's own ``SDL_VIDEODRIVER`` is
read once, when this module is first imported (before anything of ours sets it), so an app
can go back to it after the off-screen default was set.
"""

from __future__ import annotations

import os
import sys

VIDEO, AUDIO = "SDL_VIDEODRIVER", "SDL_AUDIODRIVER"
OFFSCREEN = "dummy"
_USERS_VIDEO = os.environ.get(VIDEO)


def offscreen() -> None:
    """Draw off-screen and play no sound, unless the user chose drivers themselves."""
    os.environ.setdefault(VIDEO, OFFSCREEN)
    os.environ.setdefault(AUDIO, OFFSCREEN)


class NoDisplayError(RuntimeError):
    """An app a person must see has no display to draw on; says what to do."""


_WHAT_TO_DO = (
    "run it where X or Wayland is (DISPLAY=...), or SDL_VIDEODRIVER=dummy for a headless run"
)


def windowed(headless: bool = False) -> None:
    """A real window on the user's display (``headless``: off-screen, for tests and
    screenshots); no sound either way. On Linux with neither ``DISPLAY`` nor
    ``WAYLAND_DISPLAY`` set, and no driver chosen, a NoDisplayError: SDL would fall back
    to drawing off-screen, and the app would run where nobody sees it."""
    os.environ.setdefault(AUDIO, OFFSCREEN)
    if headless:
        os.environ[VIDEO] = OFFSCREEN
        return
    if _USERS_VIDEO is not None:
        os.environ[VIDEO] = _USERS_VIDEO
        return
    os.environ.pop(VIDEO, None)  # our off-screen default, if it was set: SDL chooses
    if sys.platform.startswith("linux"):
        x11, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
        if not x11 and not wayland:
            raise NoDisplayError(
                f"no display (DISPLAY and WAYLAND_DISPLAY are unset): {_WHAT_TO_DO}"
            )
        if x11 and not wayland:
            os.environ[VIDEO] = "x11"  # the one there is: no silent fallback past it


def check_window() -> None:
    """Start pygame's display and refuse SDL's off-screen fallback (a driver that draws
    nowhere, which the user did not choose): a NoDisplayError saying what to do."""
    import pygame

    try:
        pygame.display.init()
    except pygame.error as e:
        raise NoDisplayError(
            f"no usable display: cannot open a window ({e}); {_WHAT_TO_DO}"
        ) from None
    driver = pygame.display.get_driver()
    if driver in ("offscreen", OFFSCREEN) and os.environ.get(VIDEO) != driver:
        pygame.display.quit()
        raise NoDisplayError(f"no usable display (SDL fell back to '{driver}'): {_WHAT_TO_DO}")
