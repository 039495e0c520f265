"""RLHF training wall time of the demo's configuration, A/B against a baseline commit.

Run: ``.venv/bin/python bench/rlhf_train_ab.py`` (``--baseline 7cb5fe5 --rounds 2
--growth 0.1``; about 4 minutes a round on 2 cores).

Issue 17's target: the RLHF training of the demo's configuration at 7cb5fe5 (Highway-v0,
``courteous``, 400 labels, 100,000 steps; the report not counted) in at most 0.6x that
commit's wall time, side by side. Each run is a fresh ``.venv/bin/python`` on one tree
(``PYTHONPATH=<tree>/src``), one torch thread, ``RLHFLoop(demo_settings(0)).train()``
timed, after an untimed short run per tree (numba compiles or loads its cache). "old" is a
``git worktree`` of ``--baseline``, "new" this working tree with ``refit_growth =
--growth`` (0: refit after every rollout with new labels, as the baseline). Rounds
interleave old and new (ABBA). Reported: each side's median, the median of the paired
ratios new/old, and each run's reward-model versions. Raw figures:
``bench/results/rlhf_train_ab.json``.
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

from ab_baseline import git
from common import ROOT, save

PYTHON = ROOT / ".venv" / "bin" / "python"
TARGET = 0.6

CHILD = r"""
import dataclasses, json, sys, tempfile, time

import torch

torch.set_num_threads(1)
tree, growth, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
try:  # the layout since the refactor, then 7cb5fe5's
    from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
    from rlhf_sandbox.agents.policy.ppo import PPOSettings
    from rlhf_sandbox.agents.rlhf.presets import COURTEOUS_ENV_KWARGS, DEMO_GAMMA, demo_settings

    # 7cb5fe5's demo: the courteous oracle on its world, PPO's default settings
    s = dataclasses.replace(
        demo_settings(0), timesteps=steps, teacher="courteous", env_kwargs=COURTEOUS_ENV_KWARGS,
        ppo=PPOSettings(seed=0, gamma=DEMO_GAMMA),
    )  # fmt: skip
    if growth:
        s = dataclasses.replace(s, refit_growth=growth)
except ModuleNotFoundError:
    from rlhf_sandbox.agents.rlhf import RLHFLoop
    from rlhf_sandbox.cli_train import demo_settings

    s = demo_settings(0, "perfect", steps, 400)
with tempfile.TemporaryDirectory() as out:
    loop = RLHFLoop(s, out)
    t0 = time.perf_counter()
    state = loop.train(progress=False)
    seconds = time.perf_counter() - t0
    loop.close()
print(json.dumps({"seconds": seconds, "versions": state.model_version}))
"""


def child(tree: Path, growth: float, cwd: str, steps: int = 100_000) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "SDL_VIDEODRIVER": "dummy"}
    cmd = [str(PYTHON), "-c", CHILD, str(tree), str(growth), str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{tree} failed ({proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--baseline", default="7cb5fe5")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--growth", type=float, default=0.1, help="the new side's refit_growth")
    args = ap.parse_args()
    commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="ab"))
    old = tmp / "tree"
    git("worktree", "add", "--detach", str(old), commit)
    sides = {"old": (old, 0.0), "new": (ROOT, args.growth)}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    try:
        for tree, growth in sides.values():  # untimed: numba compiles or loads its cache
            child(tree, growth, str(tmp), steps=2048)
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for side in order:
                tree, growth = sides[side]
                runs[side].append(child(tree, growth, str(tmp)))
                print(f"round {r + 1} {side}: {runs[side][-1]}", flush=True)
    finally:
        git("worktree", "remove", "--force", str(old))
        shutil.rmtree(tmp, ignore_errors=True)
    o = [x["seconds"] for x in runs["old"]]
    n = [x["seconds"] for x in runs["new"]]
    paired = [b / a for b, a in zip(n, o, strict=True)]
    med = statistics.median(paired)
    print(
        f"\nold {commit[:10]}: median {statistics.median(o):.0f} s; new (refit_growth"
        f" {args.growth}): median {statistics.median(n):.0f} s"
    )
    print(
        f"paired new/old: median {med:.3f} [{min(paired):.3f}, {max(paired):.3f}];"
        f" target <= {TARGET}: {'met' if med <= TARGET else 'NOT met'}"
    )
    save("rlhf_train_ab", {"baseline": commit, "growth": args.growth, "runs": runs,
                           "paired": paired, "paired_median": med,
                           "load": [round(v, 2) for v in os.getloadavg()]})  # fmt: skip


if __name__ == "__main__":
    main()
