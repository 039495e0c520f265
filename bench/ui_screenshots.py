"""Screenshots of the labelling app for the README and docs/FEEDBACK_APP.md.

Run under Xvfb with the real X driver (the screenshots are taken from the X server with
ImageMagick's ``import``)::

    Xvfb :99 -screen 0 1280x900x24 &
    env -u SDL_VIDEODRIVER DISPLAY=:99 .venv/bin/python bench/ui_screenshots.py [--out docs/img]

Without ``DISPLAY`` the app draws headless (SDL dummy driver) and its canvas is saved.
Makes a small run (as bench/ui_latency.py does) with a question and a rubric, then saves
compare mode with the reward overlay, tags and a comment; rate mode; and the waiting
screen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame
from common import single_thread
from ui_latency import make_run, press

from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.store.db import PreferenceDB

QUESTION = "Which car merges into traffic more politely?"
RUBRIC = (
    "A polite driver keeps a gap of about 2 s to the car ahead and does not cut in so"
    " close that someone behind must brake.\n"
    "Changing lanes is fine when the gap is there; weaving for a few metres is not.\n"
    "A crash is always worse than any slow drive. If both are alike, answer Equal."
)


def shot(app: LabelApp, path: Path) -> Path:
    """The app's window as the X server shows it (or its canvas, headless)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if pygame.display.get_driver() != "x11" or shutil.which("import") is None:
        return app.screenshot(path)
    wid = subprocess.run(
        ["xdotool", "search", "--sync", "--pid", str(os.getpid())],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout.split()[-1]  # fmt: skip
    subprocess.run(["import", "-window", wid, str(path)], check=True, timeout=30)
    return path


def settle(app: LabelApp, frames: int = 20) -> None:
    """Turns of the app's own loop (it redraws only what changed)."""
    for _ in range(frames):
        app.frame(0, wait_s=min(app.next_wait(), 0.05))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args()
    single_thread()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        make_run(run)
        with PreferenceDB(run / "store" / "prefs.sqlite") as db:
            ids = db.clip_ids("main")
            db.add_query("main", ids[4], ids[5])
            db.set_run_question("main", QUESTION, RUBRIC)
        app = LabelApp(run, rater="alice", seed=3)
        try:
            app.run_until(app.ready, 60)
            for k in ("q", "o", "return"):
                press(k)
            app.frame()
            pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text="merges without looking"))
            app.frame()
            press("return")  # keep the comment
            cur = app.ctl.current
            assert cur is not None
            app.run_until(lambda: all(app.overlay.get(c) is not None for c in cur.clips), 60)
            app.run_until(lambda: not app.prefetch.busy(), 60)
            for _ in range(25):
                app.frame(0, wait_s=1 / 15)
            press("space")
            settle(app)
            print(shot(app, args.out / "label_compare.png"))
        finally:
            app.close()
        app = LabelApp(run, rater="alice", mode="rate")
        try:
            app.run_until(app.ready, 60)
            app.run_until(lambda: not app.prefetch.busy(), 60)
            press("e")
            for _ in range(12):
                app.frame(0, wait_s=1 / 15)
            press("space")
            settle(app)
            print(shot(app, args.out / "label_rate.png"))
        finally:
            app.close()
        with PreferenceDB(run / "store" / "prefs.sqlite") as db:
            for q in db.pending_queries("main", "bob", 100):
                db.add_label(q.id, "carol", "left")
        app = LabelApp(run, rater="bob")
        try:
            app.run_until(lambda: app.keeper.status is not None, 30)
            settle(app)
            print(shot(app, args.out / "label_waiting.png"))
        finally:
            app.close()


if __name__ == "__main__":
    main()
