"""Screenshots of the labelling app for docs/FEEDBACK_APP.md (headless, SDL dummy driver).

Run: ``.venv/bin/python bench/ui_screenshots.py [--out docs/img]``. Makes a small run
(as bench/ui_latency.py does), then saves compare mode with the reward overlay, tags and
a comment, rate mode, and the waiting screen.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame
from common import single_thread
from ui_latency import make_run, press

from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.store.db import PreferenceDB


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
        app = LabelApp(run, rater="alice", seed=3)
        try:
            app.run_until(app.ready, 60)
            for k in ("q", "o", "return"):
                press(k)
            app.frame()
            pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text="merges without looking"))
            cur = app.ctl.current
            assert cur is not None
            app.run_until(lambda: all(app.overlay.get(c) is not None for c in cur.clips), 60)
            for _ in range(25):
                app.frame()
            press("space")
            app.frame()
            print(app.screenshot(args.out / "label_compare.png"))
        finally:
            app.close()
        app = LabelApp(run, rater="alice", mode="rate")
        try:
            app.run_until(app.ready, 60)
            press("e")
            for _ in range(12):
                app.frame()
            print(app.screenshot(args.out / "label_rate.png"))
        finally:
            app.close()
        with PreferenceDB(run / "store" / "prefs.sqlite") as db:
            for q in db.pending_queries("main", "bob", 100):
                db.add_label(q.id, "carol", "left")
        app = LabelApp(run, rater="bob")
        try:
            for _ in range(3):
                app.frame()
            print(app.screenshot(args.out / "label_waiting.png"))
        finally:
            app.close()


if __name__ == "__main__":
    main()
