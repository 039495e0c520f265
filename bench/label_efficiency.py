"""Label efficiency: how close RLHF with few labels comes to PPO trained on the oracle itself.

Run: ``.venv/bin/python bench/label_efficiency.py`` (part of ``make bench``; ~15 min on 2
cores). ``--jobs N`` runs the learners in N processes (one torch thread each): on a 16-core
machine ``--seeds 0 1 2 3 4 --jobs 16`` takes about 3 minutes.

Env: Highway-v0 with the demo's settings (3 lanes, 30 vehicles at half the spawn density,
observed by lane, 5 Hz decisions, 20 s episodes; ``agents.rlhf.presets``). Teacher: the
``highway`` oracle (the ``courteous`` one until 2026-12-07: figures in docs/BENCHMARKS.md).
Budget per run: STEPS env steps (below), the same for every learner; RLHF gets LABELS
labels. For each seed:

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
import dataclasses
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from common import save, single_thread

STEPS = 100_000  # env steps of every learner
LABELS = 500
EPISODES = 20
LEARNERS = ("random", "oracle_ppo", "perfect", "mistake")


def learner_return(
    learner: str, seed: int, steps: int, labels: int, refit_growth: float = 0.0
) -> float:
    """Mean oracle return of one learner on EPISODES unseen episodes."""
    single_thread()
    import gymnasium as gym

    import rlhf_sandbox  # noqa: F401  (registers the ids)
    from rlhf_sandbox.agents.evaluation.rollouts import random_policy, sb3_policy
    from rlhf_sandbox.agents.policy.ppo import load_policy
    from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
    from rlhf_sandbox.agents.rlhf.presets import demo_settings
    from rlhf_sandbox.agents.rlhf.report import score_policy
    from rlhf_sandbox.agents.rlhf.run import train_oracle_ppo
    from rlhf_sandbox.agents.teachers.oracles import get_oracle
    from rlhf_sandbox.store.run_folder import RunFolder

    rater = learner if learner in ("perfect", "mistake") else "perfect"
    s = dataclasses.replace(demo_settings(seed, rater, steps, labels), refit_growth=refit_growth)
    oracle = get_oracle(s.teacher)
    if learner == "random":
        space = gym.make(s.env_id, **s.env_kwargs).action_space
        policy = random_policy(space, seed)
    elif learner == "oracle_ppo":
        policy = train_oracle_ppo(progress=False)(s, oracle)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            loop = RLHFLoop(s, tmp)
            loop.train(progress=False)
            loop.close()
            policy = sb3_policy(load_policy(RunFolder(tmp).policy))
    score = score_policy(policy, s, oracle, learner, EPISODES)[0].oracle_return
    assert score is not None
    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--labels", type=int, default=LABELS)
    ap.add_argument("--jobs", type=int, default=1, help="learners run at once, one process each")
    ap.add_argument(
        "--refit-growth", type=float, default=0.0, help="RLHF's refit_growth (0: every rollout)"
    )
    args = ap.parse_args()
    from rlhf_sandbox.agents.rlhf.presets import DEMO_ENV, DEMO_ENV_KWARGS
    from rlhf_sandbox.sim.driving.kernels import warm_up

    warm_up()  # compile (or load) the kernels once, before the workers start
    t0 = time.perf_counter()
    tasks = [(learner, seed) for seed in args.seeds for learner in LEARNERS]
    rest = (args.steps, args.labels, args.refit_growth)
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(learner_return, ln, sd, *rest) for ln, sd in tasks]
            results = [f.result() for f in futures]
    else:
        results = [learner_return(ln, sd, *rest) for ln, sd in tasks]
    got = dict(zip(tasks, results, strict=True))
    rows = []
    for seed in args.seeds:
        row: dict[str, float | int | None] = {"seed": seed}
        row.update({ln: got[(ln, seed)] for ln in LEARNERS})
        lo, hi = got[("random", seed)], got[("oracle_ppo", seed)]
        for rater in ("perfect", "mistake"):
            row[f"score_{rater}"] = (got[(rater, seed)] - lo) / (hi - lo) if hi > lo else None
        rows.append(row)
        print(
            f"seed {seed}: random {lo:.2f}, PPO on oracle {hi:.2f},"
            f" RLHF perfect {row['perfect']:.2f} (score {_f(row['score_perfect'])}),"
            f" mistake {row['mistake']:.2f} (score {_f(row['score_mistake'])})"
        )
    med = {}
    for k in (*LEARNERS, "score_perfect", "score_mistake"):
        vals = [r[k] for r in rows if r[k] is not None]
        med[k] = statistics.median(vals) if vals else None
    print(
        f"\n{DEMO_ENV} {DEMO_ENV_KWARGS}, {args.steps:,} steps, {args.labels} labels, "
        f"refit_growth {args.refit_growth}, "
        f"seeds {args.seeds} (medians; {time.perf_counter() - t0:.0f} s, {args.jobs} jobs):"
    )
    print(
        f"  oracle return: random {_f(med['random'])}, PPO on oracle {_f(med['oracle_ppo'])}, "
        f"RLHF perfect {_f(med['perfect'])}, RLHF mistake {_f(med['mistake'])}"
    )
    gap = (med["oracle_ppo"] or 0.0) - (med["random"] or 0.0)
    print(f"  PPO on oracle beats random clearly (> 10): {'PASS' if gap > 10 else 'FAIL'}")
    for rater, target in (("perfect", 0.8), ("mistake", 0.7)):
        sc = med[f"score_{rater}"]
        ok = sc is not None and sc >= target
        print(f"  score {rater}: {_f(sc)} (target >= {target}: {'PASS' if ok else 'FAIL'})")
    path = save(
        "label_efficiency" + (f"_growth{args.refit_growth:g}" if args.refit_growth else ""),
        {"steps": args.steps, "labels": args.labels, "refit_growth": args.refit_growth,
         "rows": rows, "median": med},
    )  # fmt: skip
    print(f"saved {path}")


def _f(x: float | int | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    main()
