"""The labelling app's speed: key press to the next pair's first frame, and playback rate.

Run: ``.venv/bin/python bench/ui_latency.py`` (headless: SDL dummy driver).

Builds a small run (a synthetic-teacher RLHF run on Highway-v0, clips of 2 s = 31 frames at
15 fps), enqueues pairs, and opens the app with two 480x270 panels. Latency: a "left
better" key press is posted, then frames are run until the next pair has been drawn and
flipped; the time from posting to that flip is one sample (the label's commit included).
Between presses the script waits, as a person would, until the pair after is prefetched.
Playback: frames drawn per second, uncapped, with both clips playing for a few seconds.

Targets (issue 5): median latency <= 50 ms; playback >= 60 fps with two 480x270 clips.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame
from common import save, single_thread

from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.store.db import PreferenceDB


def make_run(out: Path) -> None:
    from rlhf_sandbox.agents.policy.ppo import PPOSettings
    from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
    from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
    from rlhf_sandbox.agents.rlhf.settings import RLHFSettings

    s = RLHFSettings(
        env_id="rlhf_sandbox/Highway-v0",
        env_kwargs={"policy_hz": 5, "duration": 20.0, "vehicles": 20, "lanes": 3},
        labels=40, timesteps=1024, clip_seconds=2.0, query_method="random",
        ppo=PPOSettings(n_envs=4, n_steps=128, batch_size=128, n_epochs=1, net_arch=(32,)),
        reward_model=RewardModelConfig(hidden=(32,), max_epochs=5),
    )  # fmt: skip
    loop = RLHFLoop(s, out)
    loop.train(progress=False)
    loop.close()


def press(name: str) -> None:
    code = pygame.key.key_code(name)
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode=name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=30, help="key presses timed")
    ap.add_argument("--seconds", type=float, default=5.0, help="playback timed [s]")
    args = ap.parse_args()
    single_thread()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        make_run(run)
        with PreferenceDB(run / "store" / "prefs.sqlite") as db:
            ids = db.clip_ids("main")
            for i in range(args.labels + 2):
                db.add_query("main", ids[(2 * i) % len(ids)], ids[(2 * i + 1) % len(ids)])
        app = LabelApp(run, rater="bench", seed=0)
        try:
            app.run_until(app.ready, 60)
            t0, n0 = time.perf_counter(), app.frames
            while time.perf_counter() - t0 < args.seconds:
                app.frame()
            fps = (app.frames - n0) / (time.perf_counter() - t0)

            lat: list[float] = []
            for _ in range(args.labels):
                ctl = app.ctl
                app.run_until(lambda: app.ready() and app.ctl.next_ready(), 60)
                before = ctl.current
                t = time.perf_counter()
                press("1")
                while ctl.current is before or ctl.current is None or ctl.current.shown_at is None:
                    app.frame()
                lat.append((time.perf_counter() - t) * 1000)
        finally:
            app.close()
    med = statistics.median(lat)
    p90 = sorted(lat)[int(0.9 * (len(lat) - 1))]
    print(f"key press -> next pair's first frame: median {med:.1f} ms, p90 {p90:.1f} ms")
    print(f"  (n={len(lat)}; target <= 50 ms)")
    print(f"playback with two 480x270 clips: {fps:.0f} frames/s (target >= 60)")
    path = save(
        "ui_latency",
        {"latency_ms_median": med, "latency_ms_p90": p90, "latency_ms": lat, "playback_fps": fps},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
