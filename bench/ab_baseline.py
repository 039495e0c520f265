"""A/B against a baseline commit: a refactor must change no speed.

Run: ``.venv/bin/python bench/ab_baseline.py`` (``--baseline 7cb5fe5 --rounds 5 --seconds 4
--episodes 10``; ``--only env_speed`` or ``--only eval_speed`` for one group).

Two trees in one invocation: "old", a ``git worktree`` of ``--baseline`` in a temp folder
(removed at the end), and "new", this working tree as it is on disk. Every measurement runs
in a fresh ``.venv/bin/python -c CHILD`` with ``PYTHONPATH=<tree>/src`` (the child checks that
``rlhf_sandbox`` comes from that tree) and ``SDL_VIDEODRIVER=dummy``; both trees run the very
same child code, through the public API both have:

- env_speed (what ``bench/env_speed.py`` measures, numba backend, random actions, resets
  inside the timed loop, steps/s over ``--seconds``): ``env_single``, one env through
  ``gymnasium.make``; ``env_vec256``, ``gymnasium.make_vec`` with 256 envs. No torch.
- eval_speed (what ``bench/eval_speed.py`` measures, "batched"): ``eval_idm``, episodes per
  minute of ``run_suite`` for the ``idm`` driver on the ``standard`` suite, ``n_envs=64``,
  default workers, ``--episodes`` per scenario, run again and again for ``--seconds``; only
  the ``run_suite`` calls are timed, one torch thread. The harness moved
  (``rlhf_sandbox.agents.harness`` at the baseline, ``rlhf_sandbox.agents.evaluation.harness``
  since the layout refactor): the child tries the new path, then the old one. Each run also
  hashes its episodes (seeds, observations, actions, rewards, metrics): old and new must
  play bit-identical episodes (asserted).

Each tree runs every measurement once untimed first (numba compiles, or loads its cache, per
source file). Then ``--rounds`` rounds, old and new interleaved, in ABBA order (old first in
even rounds, new first in odd ones), since timings on this shared 2-core machine move by
~15%. Reported per measurement: the median of each side and the median of the paired ratios
new/old (each new run over the old run of the same round), which load from other jobs hits
about equally. Target: median paired ratio within [0.95, 1.05]. Raw figures:
``bench/results/ab_baseline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, save

PYTHON = ROOT / ".venv" / "bin" / "python"
LOW, HIGH = 0.95, 1.05
# measurement -> (group, what the child measures, unit)
MEASURES = {
    "env_single": ("env_speed", "gymnasium.make, 1 env", "steps/s"),
    "env_vec256": ("env_speed", "gymnasium.make_vec, N=256", "steps/s"),
    "eval_idm": ("eval_speed", "run_suite idm, standard, n_envs=64", "episodes/min"),
}

# The one child program both trees run: argv = tree, measurement, seconds, episodes.
CHILD = r"""
import hashlib, json, os, struct, sys, time

tree, what, seconds, episodes = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if what == "eval_idm":
    import torch  # one torch thread, as bench/eval_speed.py sets it

    torch.set_num_threads(1)
import numpy as np

import rlhf_sandbox  # registers the ids

src = os.path.realpath(os.path.join(tree, "src")) + os.sep
if not os.path.realpath(rlhf_sandbox.__file__).startswith(src):
    raise SystemExit(f"rlhf_sandbox imported from {rlhf_sandbox.__file__}, not under {src}")
from rlhf_sandbox.sim.threads import set_threads

set_threads(True)  # the library's default, whatever RLHF_SANDBOX_THREADS says
ENV_ID = "rlhf_sandbox/HighwayFast-v0"
out = {"file": rlhf_sandbox.__file__}


def rate(fn, seconds, warmup=1):  # bench/common.py's rate; also per second of CPU time
    for _ in range(warmup):
        fn()
    n = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    while True:
        n += fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            out["cpu_value"] = n / (time.process_time() - cpu0)
            return n / elapsed


if what == "env_single":  # bench/env_speed.py's single(backend="numba")
    import gymnasium as gym

    env = gym.make(ENV_ID, backend="numba")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def chunk():
        for _ in range(100):
            _, _, term, trunc, _ = env.step(int(rng.integers(5)))
            if term or trunc:
                env.reset()
        return 100

    out["value"] = rate(chunk, seconds)
elif what.startswith("env_vec"):  # bench/env_speed.py's batched(n, backend="numba")
    import gymnasium as gym

    n = int(what[len("env_vec"):])
    env = gym.make_vec(ENV_ID, num_envs=n, backend="numba")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def chunk():
        for _ in range(10):
            env.step(rng.integers(5, size=n))
        return 10 * n

    out["value"] = rate(chunk, seconds)
elif what == "eval_idm":  # bench/eval_speed.py's episodes_per_minute(idm, suite, 64, None)
    try:
        from rlhf_sandbox.agents.evaluation.harness import load_suite, parse_driver, run_suite

        out["harness"] = "rlhf_sandbox.agents.evaluation.harness"
    except ModuleNotFoundError as e:
        if e.name not in ("rlhf_sandbox.agents.evaluation",
                          "rlhf_sandbox.agents.evaluation.harness"):
            raise
        from rlhf_sandbox.agents.harness import load_suite, parse_driver, run_suite

        out["harness"] = "rlhf_sandbox.agents.harness"
    suite = load_suite("standard").with_episodes(episodes)
    driver = parse_driver("idm")
    run_suite(driver, suite.with_episodes(2), 64)  # warm up: compile, load
    # one run of the suite takes well under a second: repeat it for `seconds` (as rate()
    # does for the env measures), so that one descheduled moment does not decide the figure
    runs, played, t0, cpu0 = [], 0, time.perf_counter(), time.process_time()
    while not runs or time.perf_counter() - t0 < seconds:
        runs.append(run_suite(driver, suite, 64, workers=None))
        played += len(runs[-1].episodes)
    dt = time.perf_counter() - t0
    out["value"] = played / dt * 60.0
    out["cpu_value"] = played / (time.process_time() - cpu0) * 60.0
    res = runs[0]
    BASE_METRICS = (  # the episode metrics 7cb5fe5 had
        "collision", "off_road", "mean_speed", "progress", "short_headway", "min_ttc",
        "mean_abs_jerk", "hard_brakes_per_min", "lane_changes_per_km", "forced_brake_share",
        "max_forced_braking", "oracle_return", "env_return", "steps", "duration_s",
        "lane_changes",
    )
    h = hashlib.sha256()
    for e in res.episodes:  # arrays as float64 (exact for float32 and ints): dtype-proof
        h.update(f"{e.scenario}|{e.index}|{e.seed}|{bool(e.terminated)}|".encode())
        for a in (e.obs, e.actions, e.rewards):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        for k in sorted(BASE_METRICS):  # the baseline's metrics: later ones are new, not a change
            h.update(k.encode() + struct.pack("<d", float(e.metrics[k])))
    out["checksum"] = h.hexdigest()
    out["episodes"] = len(res.episodes)
    out["reward_sum"] = float(sum(float(np.sum(e.rewards, dtype=np.float64)) for e in res.episodes))
    out["oracle_return_sum"] = float(sum(e.metrics.get("oracle_return", 0.0) for e in res.episodes))
else:
    raise SystemExit(f"unknown measurement {what}")
if what.startswith("env_") and "torch" in sys.modules:
    raise SystemExit("torch was imported by the env_speed child")
print(json.dumps(out))
"""


def child(tree: Path, what: str, seconds: float, episodes: int, cwd: str) -> dict:
    """One fresh process of ``CHILD`` on ``tree``; its JSON line."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
    }
    cmd = [str(PYTHON), "-c", CHILD, str(tree), what, str(seconds), str(episodes)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(
            f"{what} on {tree} failed ({proc.returncode}):\n{proc.stderr.strip()[-2000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--baseline", default="7cb5fe5", help="commit of the old side")
    ap.add_argument("--rounds", type=int, default=5, help="old/new pairs per measurement")
    ap.add_argument("--seconds", type=float, default=4.0, help="per env_speed run")
    ap.add_argument("--episodes", type=int, default=10, help="per scenario, eval_speed")
    ap.add_argument("--only", choices=("env_speed", "eval_speed"), help="one group only")
    args = ap.parse_args()
    names = [m for m, (g, _, _) in MEASURES.items() if args.only in (None, g)]
    commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="ab"))
    old = tmp / "tree"
    git("worktree", "add", "--detach", str(old), commit)
    trees = {"old": old, "new": ROOT}
    head = git("rev-parse", "HEAD")
    print(f"old: {commit[:10]} in {old}; new: the working tree {ROOT} (HEAD {head[:10]})")
    res: dict = {
        "baseline": commit,
        "head": head,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "episodes": args.episodes,
        "load_before": [round(v, 2) for v in os.getloadavg()],
        "measures": {},
    }
    try:
        info: dict[str, dict] = {"old": {}, "new": {}}
        for side in ("old", "new"):  # untimed: numba compiles or loads its cache per tree
            for m in names:
                print(f"warm-up {side} {m} ...", flush=True)
                info[side][m] = child(trees[side], m, 0.2, 1, str(tmp))
        runs = {m: {"old": [], "new": []} for m in names}
        cpu = {m: {"old": [], "new": []} for m in names}
        sums: dict[str, list[dict]] = {"old": [], "new": []}
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for m in names:
                for side in order:
                    out = child(trees[side], m, args.seconds, args.episodes, str(tmp))
                    runs[m][side].append(out["value"])
                    cpu[m][side].append(out["cpu_value"])
                    if "checksum" in out:
                        sums[side].append(
                            {k: out[k] for k in ("checksum", "reward_sum", "oracle_return_sum")}
                        )
                    if "harness" in out:
                        info[side]["harness"] = out["harness"]
            print(f"round {r + 1}/{args.rounds} done ({order[0]} first)", flush=True)
        res["load_after"] = [round(v, 2) for v in os.getloadavg()]
        print()
        print("| measure | old (median) | new (median) | paired new/old: median [min, max] | ok |")
        print("| --- | ---: | ---: | --- | --- |")
        all_ok = True
        for m in names:
            group, desc, unit = MEASURES[m]
            o, n = runs[m]["old"], runs[m]["new"]
            paired = [b / a for b, a in zip(n, o, strict=True)]
            med = statistics.median(paired)
            mo, mn = statistics.median(o), statistics.median(n)
            ok = LOW <= med <= HIGH
            all_ok &= ok
            res["measures"][m] = {
                "group": group,
                "what": desc,
                "unit": unit,
                "old": o,
                "new": n,
                "old_median": mo,
                "new_median": mn,
                "paired_ratios": paired,
                "paired_ratio_median": med,
                "within_target": ok,
            }
            print(
                f"| {m} ({desc}, {unit}) | {mo:,.0f} | {mn:,.0f}"
                f" | {med:.3f} [{min(paired):.3f}, {max(paired):.3f}]"
                f" | {'within' if ok else 'OUTSIDE'} [{LOW}, {HIGH}] |"
            )
        res["all_within_target"] = all_ok
        # The same runs per second of the child's CPU time (user + system, all its threads):
        # a run descheduled by the host's other jobs loses wall time, not CPU time.
        print("\nper CPU second (the same runs):")
        print("| measure | old (median) | new (median) | paired new/old: median [min, max] | ok |")
        print("| --- | ---: | ---: | --- | --- |")
        for m in names:
            o, n = cpu[m]["old"], cpu[m]["new"]
            paired = [b / a for b, a in zip(n, o, strict=True)]
            med = statistics.median(paired)
            res["measures"][m]["cpu"] = {"old": o, "new": n, "paired_ratios": paired}
            res["measures"][m]["cpu"]["paired_ratio_median"] = med
            print(
                f"| {m} | {statistics.median(o):,.0f} | {statistics.median(n):,.0f}"
                f" | {med:.3f} [{min(paired):.3f}, {max(paired):.3f}]"
                f" | {'within' if LOW <= med <= HIGH else 'OUTSIDE'} [{LOW}, {HIGH}] |"
            )
        res["harness_module"] = {s: info[s].get("harness") for s in ("old", "new")}
        res["imported_from"] = {s: info[s][names[0]]["file"] for s in ("old", "new")}
        same = None
        if "eval_idm" in names:
            checks = {s["checksum"] for side in ("old", "new") for s in sums[side]}
            same = len(checks) == 1
            res["episodes_checksums"] = sums
            res["same_episodes"] = same
            h = res["harness_module"]
            print(f"\neval harness: old {h['old']}, new {h['new']}")
            first = sums["old"][0]
            print(
                f"episodes: {'bit-identical' if same else 'DIFFERENT'} in old and new"
                f" (sha256 {first['checksum'][:16]}..., reward sum {first['reward_sum']:.6f},"
                f" oracle_return sum {first['oracle_return_sum']:.6f};"
                f" {len(checks)} distinct checksum(s) over {sum(map(len, sums.values()))} runs)"
            )
        print(f"load average before {res['load_before']}, after {res['load_after']}")
        print(f"all paired medians within [{LOW}, {HIGH}]: {all_ok}")
        print("saved", save("ab_baseline", res))
        if same is False:
            raise SystemExit("old and new played different episodes")
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
