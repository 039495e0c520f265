"""Episodes per minute of the harness on the ``standard`` suite: batched vs one env at a time.

Run: ``.venv/bin/python bench/eval_speed.py``.

Two drivers: ``idm`` (the world drives the ego; no policy call) and a small SB3 policy
(PPO MlpPolicy, 64x64, untrained weights from a fixed seed, saved as a zip and loaded the
way ``evaluate --policy model.zip`` loads it). Each runs every episode of the standard
suite (6 scenarios x 20 seeded episodes) through :func:`run_suite`:

- "batched": as ``evaluate`` runs it. Each scenario's episodes in one batched core
  (``n_envs=64``: 20 slots), scenarios side by side on one worker thread per core (the
  compiled steps release the GIL), each world serial.
- "one worker": one scenario at a time, each world's kernel serial or on numba's threads,
  whichever it measures faster (``sim/threads.py``).
- "serial": one scenario at a time, no threads at all: the gain of batching on one core.
- "one at a time": ``n_envs=1``, ``workers=1``: the same episodes one env at a time,
  always serial. The baseline of every ratio.
- "gym loop": what a hand-written loop does: ``gymnasium.make`` one env per scenario,
  ``reset(seed=s)`` per episode, ``step`` until it ends, features from ``info``, the same
  metrics. Slower than the runner at ``n_envs=1`` (Gymnasium's per-step checks and info
  dicts), so its ratio is the larger one; both are reported.

All give the same episodes (checked). Timed: simulation, policy and metrics (fault of
collisions and the score included); not the report. Median of ``--repeats`` interleaved
runs, one torch thread. Target (issue 6): batching >= 8x. The machine's load average is
saved with the figures: on a shared machine it decides how much they move. The kept
serial/threaded choice of each (road, batch size) in the one-worker runs is saved too.

``--ab COMMIT`` (issue 21): instead, the "batched" figure of ``idm`` on ``standard`` for
this working tree against a git worktree of ``COMMIT`` (default 7cb5fe5), in one
invocation: each measurement a fresh process (``bench/ab_baseline.py``'s child program,
``eval_idm``), the two trees interleaved ABBA over ``--rounds`` rounds of ``--seconds``
each. Reported: the median of the paired ratios new/old (target >= 0.90 with the event
machinery in the world) and whether both played the same episodes (their reward and
oracle-return sums; the episode checksums differ, since new metrics were added). Saved as
``eval_speed_ab``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
from common import save, single_thread

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.agents.evaluation.harness import (
    Driver,
    Suite,
    load_suite,
    parse_driver,
    run_suite,
)
from rlhf_sandbox.agents.evaluation.harness.runner import default_workers
from rlhf_sandbox.sim import threads

TARGET = 8.0
WAYS = ("batched", "one_worker", "serial", "one_at_a_time", "gym_loop")


def small_sb3_zip(folder: Path) -> Path:
    from rlhf_sandbox.agents.policy.ppo import PPOSettings, make_model
    from rlhf_sandbox.envs.vector import make_vec_env

    env = make_vec_env("rlhf_sandbox/Highway-v0", 1, 0)
    model = make_model(env, PPOSettings(net_arch=(64, 64), n_envs=1, batch_size=64, seed=0))
    path = folder / "small_ppo.zip"
    model.save(path)
    env.close()
    return path


def episodes_per_minute(
    driver: Driver, suite: Suite, n_envs: int, workers: int | None, threaded: bool = True
) -> float:
    before = threads.set_threads(threaded)
    try:
        t0 = time.perf_counter()
        res = run_suite(driver, suite, n_envs, workers=workers)
        return len(res.episodes) / (time.perf_counter() - t0) * 60.0
    finally:
        threads.set_threads(before)


def thread_choices() -> dict[str, str]:
    """The way each (road, batch size) ran in the end: serial or threaded."""
    from rlhf_sandbox.sim.driving.world import _CHOICES

    way = {threads.SERIAL: "serial", threads.THREADED: "threaded"}
    return {f"{road}:{n}": way[c.way] for (road, n), c in sorted(_CHOICES.items()) if n > 3}


def gym_loop_per_minute(driver: Driver, suite: Suite, repeats: int) -> list[float]:
    """The same episodes through a plain Gymnasium loop over one env."""
    import gymnasium as gym

    from rlhf_sandbox.agents.evaluation.harness.drivers import check_driver_config
    from rlhf_sandbox.agents.evaluation.harness.metrics import episode_metrics

    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = 0
        for sc in suite.scenarios:
            config = check_driver_config(driver, sc.config)
            env = gym.make(sc.env_id, config=config)
            act = driver.bind(env.observation_space, env.action_space)
            for seed in sc.seeds:
                obs, _ = env.reset(seed=seed)
                feats: dict[str, list[float]] = {}
                rewards, t, done = [], 0, False
                while not done:
                    a = act(obs[None], np.array([seed]), np.array([t]))[0]
                    obs, r, term, trunc, info = env.step(a)
                    for k, v in info["features"].items():
                        feats.setdefault(k, []).append(v)
                    rewards.append(r)
                    t += 1
                    done = term or trunc
                f = {k: np.asarray(v) for k, v in feats.items()}
                episode_metrics(f, np.asarray(rewards), float(config.policy_hz))
                n += 1
            env.close()
        out.append(n / (time.perf_counter() - t0) * 60.0)
    return out


def numba_threads() -> str:
    import numba

    return f"{numba.get_num_threads()} ({numba.threading_layer()})"


def same_episodes(driver: Driver, suite: Suite) -> bool:
    """Batched (side by side and one worker) and one at a time play the same episodes."""
    alone = run_suite(driver, suite, 1, workers=1)
    for batched in (run_suite(driver, suite, 64), run_suite(driver, suite, 64, workers=1)):
        for x, y in zip(batched.episodes, alone.episodes, strict=True):
            if x.seed != y.seed or not np.array_equal(x.actions, y.actions):
                return False
            if not all(np.isclose(x.metrics[k], y.metrics[k], equal_nan=True) for k in x.metrics):
                return False
    return True


AB_TARGET = 0.90


def ab(commit: str, rounds: int, seconds: float, episodes: int) -> None:
    """The batched figure of this tree against ``commit``'s, interleaved (see the docstring)."""
    import shutil
    import subprocess

    from ab_baseline import ROOT, child, git

    full = git("rev-parse", "--verify", f"{commit}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="ab-eval"))
    old = tmp / "tree"
    git("worktree", "add", "--detach", str(old), full)
    trees = {"old": old, "new": ROOT}
    res: dict[str, object] = {"baseline": full, "head": git("rev-parse", "HEAD"),
                              "load_before": [round(v, 2) for v in os.getloadavg()]}  # fmt: skip
    try:
        for side in ("old", "new"):  # untimed: numba compiles or loads its cache per tree
            child(trees[side], "eval_idm", 0.2, 1, str(tmp))
        runs: dict[str, list[float]] = {"old": [], "new": []}
        sums: dict[str, set[tuple[float, float]]] = {"old": set(), "new": set()}
        for r in range(rounds):
            for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
                out = child(trees[side], "eval_idm", seconds, episodes, str(tmp))
                runs[side].append(out["value"])
                sums[side].add((round(out["reward_sum"], 6), round(out["oracle_return_sum"], 6)))
            print(f"round {r + 1}/{rounds}: old {runs['old'][-1]:,.0f}, new {runs['new'][-1]:,.0f}"
                  " episodes/min", flush=True)  # fmt: skip
        paired = [n / o for n, o in zip(runs["new"], runs["old"], strict=True)]
        med = statistics.median(paired)
        same = len(sums["old"] | sums["new"]) == 1
        res.update(
            rounds=rounds, seconds=seconds, episodes=episodes, runs=runs,
            paired_ratios=[round(p, 4) for p in paired], paired_ratio_median=round(med, 4),
            old_median=statistics.median(runs["old"]), new_median=statistics.median(runs["new"]),
            same_episodes=same, load_after=[round(v, 2) for v in os.getloadavg()],
        )  # fmt: skip
        print(
            f"batched idm on standard: old {res['old_median']:,.0f}, new {res['new_median']:,.0f}"
            f" episodes/min; paired new/old median {med:.3f} [{min(paired):.3f},"
            f" {max(paired):.3f}] (target >= {AB_TARGET}); same episodes: {same}"
        )
        print(f"load average before {res['load_before']}, after {res['load_after']}")
        print("saved", save("eval_speed_ab", res))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                       check=False)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="median over this many")
    ap.add_argument("--episodes", type=int, default=None, help="episodes per scenario")
    ap.add_argument(
        "--ab",
        metavar="COMMIT",
        nargs="?",
        const="7cb5fe5",
        default=None,
        help="A/B of the batched idm figure against this commit (default 7cb5fe5)",
    )
    ap.add_argument("--rounds", type=int, default=8, help="--ab: old/new pairs")
    ap.add_argument("--seconds", type=float, default=6.0, help="--ab: per measurement")
    args = ap.parse_args()
    if args.ab:
        ab(args.ab, args.rounds, args.seconds, args.episodes or 20)
        return
    single_thread()
    suite = load_suite("standard")
    if args.episodes:
        suite = suite.with_episodes(args.episodes)
    results: dict[str, object] = {"load_before": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        drivers = {
            "idm": parse_driver("idm"),
            "sb3_small": parse_driver(str(small_sb3_zip(Path(tmp)))),
        }
        for name, d in drivers.items():
            run_suite(d, suite.with_episodes(2), 64)  # warm up: compile, load
            ok = same_episodes(d, suite.with_episodes(3))
            runs: dict[str, list[float]] = {k: [] for k in WAYS}
            for _ in range(args.repeats):  # interleaved: load from other jobs hits them all
                runs["batched"].append(episodes_per_minute(d, suite, 64, None))
                runs["one_worker"].append(episodes_per_minute(d, suite, 64, 1))
                runs["serial"].append(episodes_per_minute(d, suite, 64, 1, threaded=False))
                runs["one_at_a_time"].append(episodes_per_minute(d, suite, 1, 1))
                runs["gym_loop"] += gym_loop_per_minute(d, suite, 1)
            med = {k: statistics.median(v) for k, v in runs.items()}
            alone = med["one_at_a_time"]
            paired = [b / a for b, a in zip(runs["batched"], runs["one_at_a_time"], strict=True)]
            results[name] = {
                "episodes": suite.episodes,
                "workers": default_workers(len(suite.scenarios)),
                "episodes_per_min": {k: round(v, 1) for k, v in med.items()},
                "ratio": {k: round(v / alone, 2) for k, v in med.items()},
                "ratio_vs_gym_loop": round(med["batched"] / med["gym_loop"], 2),
                # each batched run against the one-at-a-time run next to it: steadier on a
                # shared machine, where both halves of a pair see about the same load
                "paired_ratios": [round(r, 2) for r in paired],
                "paired_ratio_median": round(statistics.median(paired), 2),
                "same_episodes": ok,
                "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
            }
            r = results[name]["ratio"]
            print(
                f"{name:10s} batched {med['batched']:7.0f} ep/min ({r['batched']:4.1f}x;"
                f" one worker {r['one_worker']:4.1f}x, serial {r['serial']:4.1f}x)"
                f" | one at a time {alone:6.0f} ep/min, gym loop {med['gym_loop']:6.0f}"
                f" ({med['batched'] / med['gym_loop']:4.1f}x)"
                f" | paired: {results[name]['paired_ratio_median']:4.1f}x"
                f" | target >= {TARGET:g}x | same episodes: {ok}"
            )
    results["load_after"] = [round(v, 2) for v in os.getloadavg()]
    results["numba_threads"] = numba_threads()
    results["kept_ways"] = thread_choices()
    print(f"numba threads: {results['numba_threads']}; kept: {results['kept_ways']}")
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    print("saved", save("eval_speed", {"suite": suite.name, "repeats": args.repeats, **results}))


if __name__ == "__main__":
    main()
