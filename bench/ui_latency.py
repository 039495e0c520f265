"""The labelling app's speed and thrift: answer to the next pair on screen, CPU while idle
and while playing, quitting, and the claims of a killed app.

Run under Xvfb with the real X driver (what the targets are measured with)::

    Xvfb :99 -screen 0 1280x800x24 &
    env -u SDL_VIDEODRIVER DISPLAY=:99 .venv/bin/python bench/ui_latency.py

Without ``DISPLAY`` it runs headless (SDL dummy driver) and skips the measures that need
a window (quit by key, via ``xdotool``).

Builds a small run (a synthetic-teacher RLHF run on Highway-v0, clips of 2 s = 31 frames
at 15 fps), enqueues pairs, and opens the app (two 480x270 panels).

- Latency: a rater who answers as soon as each pair appears. For each of ``--labels``
  answers: wait until the pair is on screen (drawn and shown), post "left better", run
  the app's loop until the next pair is on screen; the time from posting to that flip is
  one sample (the label's commit included). The next pairs are prefetched (first frames
  first), so a pair shows without a loading state.
- CPU: the app's process CPU time (all its threads) over ``--idle-s`` seconds of the real
  loop (``LabelApp.frame`` with its own waits), on the waiting screen, on a paused pair,
  and with a pair playing at 1x.
- Quit: ``label`` as a process; ``xdotool`` presses Esc in its window; the time from the
  key to the process's exit.
- Claims: ``label`` as a process holding a pair and two ahead is killed (SIGKILL); the
  time until another rater can claim all of them.

Targets (issue 19): median latency <= 50 ms over 50 answers; idle CPU < 3% of a core
over 30 s; quit < 0.5 s; a killed app's claims back within 10 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame
from common import save, single_thread

from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.store.db import PreferenceDB

DB = Path("store") / "prefs.sqlite"


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


def add_queries(run: Path, n: int) -> list[str]:
    with PreferenceDB(run / DB) as db:
        ids = db.clip_ids("main")
        return [
            db.add_query("main", ids[(2 * i) % len(ids)], ids[(2 * i + 1) % len(ids)])
            for i in range(n)
        ]


def loop_for(app: LabelApp, seconds: float) -> float:
    """The app's own loop for ``seconds``; the process CPU seconds it used."""
    c0, end = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < end:
        app.frame(0, wait_s=min(app.next_wait(), max(0.001, end - time.monotonic())))
    return time.process_time() - c0


def latency(run: Path, n: int) -> dict[str, object]:
    add_queries(run, n + 3)
    app = LabelApp(run, rater="bench", seed=0)
    lat: list[float] = []
    loading_seen = 0
    try:
        app.run_until(app.ready, 60)
        for _ in range(n):
            ctl = app.ctl
            while not app.ready():  # as soon as the pair is on screen: no waiting for more
                app.frame(0, wait_s=app.next_wait())
            before = ctl.current
            t = time.perf_counter()
            press("1")
            seen_loading = False
            while ctl.current is before or ctl.current is None or ctl.current.shown_at is None:
                app.frame(0, wait_s=app.next_wait())
                seen_loading |= ctl.current is not before and ctl.loading()
            lat.append((time.perf_counter() - t) * 1000)
            loading_seen += seen_loading
        refused = app.ctl.refused
    finally:
        app.close()
    return {
        "latency_ms_median": statistics.median(lat),
        "latency_ms_p90": sorted(lat)[int(0.9 * (len(lat) - 1))],
        "latency_ms_max": max(lat),
        "latency_ms": lat,
        "pairs_seen_loading": loading_seen,
        "answers_refused": refused,
    }


def cpu(run: Path, seconds: float) -> dict[str, float]:
    """CPU share of one core: waiting screen, a paused pair, a pair playing."""
    out: dict[str, float] = {}
    with PreferenceDB(run / DB) as db:  # every query answered: the waiting screen
        for q in db.pending_queries("main", "idle-bench", 10_000):
            db.add_label(q.id, "someone", "left")
    app = LabelApp(run, rater="idle-bench", seed=0)
    try:
        for _ in range(5):
            app.frame()
        out["cpu_waiting_screen"] = loop_for(app, seconds) / seconds
    finally:
        app.close()
    add_queries(run, 1)
    app = LabelApp(run, rater="bench2", seed=0)
    try:
        app.run_until(app.ready, 60)
        loop_for(app, 3.0)  # all frames drawn
        press("space")
        out["cpu_paused_pair"] = loop_for(app, seconds) / seconds
        press("space")
        d0 = app.draws
        out["cpu_playing_pair"] = loop_for(app, min(seconds, 10.0)) / min(seconds, 10.0)
        out["redraws_per_s_playing"] = (app.draws - d0) / min(seconds, 10.0)
    finally:
        app.close()
    return out


def _label_proc(run: Path, rater: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("rlhf-sandbox")
    return subprocess.Popen(
        [str(exe), "label", "--run", str(run), "--rater", rater, "--seed", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _held(run: Path, rater: str) -> list[str]:
    with PreferenceDB(run / DB) as db:
        return [c.query for c in db.claims("main") if c.rater == rater]


def _wait_for_claims(run: Path, rater: str, n: int, p: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 60
    while len(_held(run, rater)) < n:
        if p.poll() is not None or time.monotonic() > end:
            err = p.stderr.read().decode() if p.stderr else ""
            raise RuntimeError(f"label did not start: {err}")
        time.sleep(0.1)


def quit_time(run: Path, repeats: int) -> list[float]:
    """Seconds from Esc (xdotool, in the app's window) to the process's exit."""
    times = []
    for i in range(repeats):
        add_queries(run, 3)
        p = _label_proc(run, f"quit{i}")
        try:
            _wait_for_claims(run, f"quit{i}", 3, p)
            time.sleep(2.0)  # the pair is on screen and the window idle
            wid = subprocess.run(
                ["xdotool", "search", "--sync", "--pid", str(p.pid)],
                capture_output=True, text=True, timeout=20, check=True,
            ).stdout.split()[-1]  # fmt: skip
            subprocess.run(["xdotool", "windowfocus", "--sync", wid], check=True, timeout=10)
            t = time.perf_counter()
            subprocess.run(["xdotool", "key", "--window", wid, "Escape"], check=True, timeout=10)
            p.wait(timeout=30)
            times.append(time.perf_counter() - t)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    return times


def claims_back(run: Path, repeats: int) -> list[float]:
    """Seconds from SIGKILL of an app holding three queries to another rater having them."""
    times = []
    for i in range(repeats):
        add_queries(run, 3)
        rater = f"killed{i}"
        p = _label_proc(run, rater)
        try:
            _wait_for_claims(run, rater, 3, p)
            time.sleep(3.0)
            held = set(_held(run, rater))
            p.send_signal(signal.SIGKILL)
            p.wait()
            t = time.monotonic()
            got: set[str] = set()
            with PreferenceDB(run / DB) as db:
                while not held <= got and time.monotonic() - t < 60:
                    got |= {q.id for q in db.claim_queries("main", f"taker{i}", 10_000)}
                    time.sleep(0.05)
                times.append(time.monotonic() - t)
                db.release_claims(f"taker{i}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=50, help="answers timed")
    ap.add_argument("--idle-s", type=float, default=30.0, help="seconds of each CPU measure")
    ap.add_argument("--repeats", type=int, default=5, help="quits and kills timed")
    args = ap.parse_args()
    single_thread()
    x11 = bool(os.environ.get("DISPLAY")) and shutil.which("xdotool") is not None
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        make_run(run)
        pygame.display.init()
        driver = pygame.display.get_driver()
        res: dict[str, object] = {"driver": driver}
        res.update(latency(run, args.labels))
        print(
            f"[{driver}] answer -> next pair on screen: median {res['latency_ms_median']:.1f} ms,"
            f" p90 {res['latency_ms_p90']:.1f} ms, max {res['latency_ms_max']:.1f} ms"
            f" (n={args.labels}; pairs seen loading {res['pairs_seen_loading']};"
            f" target median <= 50 ms)"
        )
        res.update(cpu(run, args.idle_s))
        print(
            f"CPU of one core over {args.idle_s:g} s: waiting screen"
            f" {100 * res['cpu_waiting_screen']:.1f}%, paused pair"  # type: ignore[operator]
            f" {100 * res['cpu_paused_pair']:.1f}%, playing pair"  # type: ignore[operator]
            f" {100 * res['cpu_playing_pair']:.1f}%"  # type: ignore[operator]
            f" ({res['redraws_per_s_playing']:.1f} redraws/s); target idle < 3%"
        )
        back = claims_back(run, args.repeats)
        res["claims_back_s"] = back
        print(f"claims of a killed app back after {max(back):.1f} s at most (target <= 10 s)")
        if x11:
            q = quit_time(run, args.repeats)
            res["quit_s"] = q
            print(
                f"Esc -> process exit: median {statistics.median(q):.2f} s, max {max(q):.2f} s"
                " (target < 0.5 s)"
            )
        else:
            print("quit: skipped (needs DISPLAY and xdotool)")
    print(f"wrote {save('ui_latency', res)}")


if __name__ == "__main__":
    main()
