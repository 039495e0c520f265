"""Processes for the durability tests: a headless labelling app and a query-making trainer.

``python label_procs.py app RUN RATER TARGET``: label (always "left", via key presses)
until the store holds TARGET labels in all; prints ``ack <id>`` once each label is
committed. ``python label_procs.py trainer RUN N K2``: enqueue N queries in batches, the
last K2 of them wanting two raters.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def app(run: Path, rater: str, target: int) -> None:
    import pygame

    from rlhf_sandbox.feedback_ui.label_app import LabelApp
    from rlhf_sandbox.store.db import PreferenceDB

    la = LabelApp(run, rater=rater, poll_s=0.02, on_ack=lambda i: print("ack", i, flush=True))
    watch = PreferenceDB(run / "store" / "prefs.sqlite")
    print("ready", flush=True)
    end = time.monotonic() + 300
    pressed: object = None
    while time.monotonic() < end and la.ctl.running:  # SIGTERM arrives as a QUIT
        cur = la.ctl.current
        if la.ready() and cur is not pressed:  # one key press per pair shown
            code = pygame.key.key_code("1")
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="1"))
            pressed = cur
        la.frame()
        time.sleep(0.001)  # as a capped frame rate would: the prefetch thread gets the GIL
        if cur is None and watch.label_count("main") >= target:
            break
    la.close()
    watch.close()


def hold(run: Path, rater: str) -> None:
    """Show the first pair and answer nothing, until killed; "holding" once it is shown
    and the claims ahead are taken."""
    from rlhf_sandbox.feedback_ui.label_app import LabelApp

    la = LabelApp(run, rater=rater, poll_s=0.05)
    la.run_until(lambda: la.ready() and la.ctl.next_ready(), 60)
    print("holding", flush=True)
    while la.ctl.running:
        la.frame()
        time.sleep(0.01)


def trainer(run: Path, n: int, k2: int) -> None:
    from rlhf_sandbox.store.db import PreferenceDB

    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        ids = db.clip_ids("main")
        for i in range(n):
            a, b = ids[i % len(ids)], ids[(i + 1) % len(ids)]
            db.add_query("main", a, b, "random", None, 2 if i >= n - k2 else 1)
            if i % 50 == 49:
                time.sleep(0.05)  # the trainer asks in rounds
    print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "app":
        app(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "hold":
        hold(Path(sys.argv[2]), sys.argv[3])
    else:
        trainer(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
