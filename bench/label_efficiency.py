"""Label efficiency: how close RLHF with few labels comes to PPO trained on the oracle itself.

Run: ``.venv/bin/python bench/label_efficiency.py`` (part of ``make bench``; ~15 min).

Env: Highway-v0 with the demo's settings (3 lanes, 20 vehicles, 5 Hz decisions, 20 s
episodes). Teacher: the ``courteous`` oracle. Budget per run: STEPS env steps (below), the
same for every learner; RLHF gets LABELS labels. For each seed:

* R_random: mean oracle return of a uniformly random policy;
* R_oracle_ppo: PPO (same settings, same steps) trained on the oracle's reward directly;
* R: our RLHF loop with the ``perfect`` rater, then with the ``mistake`` rater (10% flips).

Score = (R - R_random) / (R_oracle_ppo - R_random), each return the mean over 20
evaluation episodes on seeds no training run saw. Reported: each seed's figures and the
median score of the seeds.

Targets (issue 4): median score >= 0.8 (perfect), >= 0.7 (mistake); PPO on the oracle must
itself beat random clearly (we require R_oracle_ppo - R_random > 10).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym
from common import save, single_thread

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.agents.oracles import get_oracle
from rlhf_sandbox.agents.ppo import load_policy
from rlhf_sandbox.agents.report import score_policy, train_oracle_ppo
from rlhf_sandbox.agents.rlhf import RLHFLoop
from rlhf_sandbox.agents.rollout import random_policy, sb3_policy
from rlhf_sandbox.cli_train import DEMO_ENV, DEMO_ENV_KWARGS, demo_settings

STEPS = 100_000  # env steps of every learner
LABELS = 500
EPISODES = 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--labels", type=int, default=LABELS)
    args = ap.parse_args()
    single_thread()
    oracle = get_oracle("courteous")
    rows = []
    for seed in args.seeds:
        base = demo_settings(seed, "perfect", args.steps, args.labels)
        t0 = time.perf_counter()
        space = gym.make(DEMO_ENV, **DEMO_ENV_KWARGS).action_space
        r_random = score_policy(random_policy(space, seed), base, oracle, None, EPISODES)
        with tempfile.TemporaryDirectory() as tmp:
            policy = train_oracle_ppo(base, oracle, progress=False)
            r_oracle = score_policy(policy, base, oracle, None, EPISODES)
            row = {
                "seed": seed,
                "random": r_random.oracle_return,
                "oracle_ppo": r_oracle.oracle_return,
            }
            for rater in ("perfect", "mistake"):
                s = demo_settings(seed, rater, args.steps, args.labels)
                loop = RLHFLoop(s, f"{tmp}/{rater}")
                loop.train(progress=False)
                loop.close()
                pol = sb3_policy(load_policy(f"{tmp}/{rater}/policy.pt"))
                row[rater] = score_policy(pol, s, oracle, None, EPISODES).oracle_return
        gap = row["oracle_ppo"] - row["random"]
        for rater in ("perfect", "mistake"):
            row[f"score_{rater}"] = (row[rater] - row["random"]) / gap if gap > 0 else None
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(
            f"seed {seed}: random {row['random']:.2f}, PPO on oracle {row['oracle_ppo']:.2f},"
            f" RLHF perfect {row['perfect']:.2f} (score {row['score_perfect']:.2f}),"
            f" mistake {row['mistake']:.2f} (score {row['score_mistake']:.2f})"
            f" [{row['seconds']:.0f} s]"
        )
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in ("random", "oracle_ppo", "perfect", "mistake", "score_perfect", "score_mistake")
    }
    print(
        f"\n{DEMO_ENV} {DEMO_ENV_KWARGS}, {args.steps:,} steps, {args.labels} labels, "
        f"seeds {args.seeds} (medians):"
    )
    print(
        f"  oracle return: random {med['random']:.2f}, PPO on oracle {med['oracle_ppo']:.2f}, "
        f"RLHF perfect {med['perfect']:.2f}, RLHF mistake {med['mistake']:.2f}"
    )
    ok_gap = med["oracle_ppo"] - med["random"] > 10
    print(f"  PPO on oracle beats random clearly (> 10): {'PASS' if ok_gap else 'FAIL'}")
    for rater, target in (("perfect", 0.8), ("mistake", 0.7)):
        sc = med[f"score_{rater}"]
        print(
            f"  score {rater}: {sc:.2f} (target >= {target}: {'PASS' if sc >= target else 'FAIL'})"
        )
    path = save(
        "label_efficiency",
        {"steps": args.steps, "labels": args.labels, "rows": rows, "median": med},
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
