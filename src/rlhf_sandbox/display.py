"""Where pygame draws, decided in one place: off-screen, or a real window.

Every command draws off-screen (GIFs, reports, headless training) unless it is one of the
apps that a person looks at (``label``, ``play``). The user's own ``SDL_VIDEODRIVER`` is
read once, when this module is first imported (before anything of ours sets it), so an app
can go back to it after the off-screen default was set.
"""

from __future__ import annotations

import os

VIDEO, AUDIO = "SDL_VIDEODRIVER", "SDL_AUDIODRIVER"
OFFSCREEN = "dummy"
_USERS_VIDEO = os.environ.get(VIDEO)


def offscreen() -> None:
    """Draw off-screen and play no sound, unless the user chose drivers themselves."""
    os.environ.setdefault(VIDEO, OFFSCREEN)
    os.environ.setdefault(AUDIO, OFFSCREEN)


def windowed(headless: bool = False) -> None:
    """A real window on the user's display (``headless``: off-screen, for tests and
    screenshots); no sound either way."""
    os.environ.setdefault(AUDIO, OFFSCREEN)
    if headless:
        os.environ[VIDEO] = OFFSCREEN
    elif _USERS_VIDEO is None:
        os.environ.pop(VIDEO, None)  # our off-screen default, if it was set: SDL chooses
    else:
        os.environ[VIDEO] = _USERS_VIDEO
