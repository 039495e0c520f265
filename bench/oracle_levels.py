"""Oracle levels: does any constant action score as well as PPO trained on the oracle?

Run: ``.venv/bin/python bench/oracle_levels.py --jobs 2`` (all six oracles, seeds 0 1 2;
17 min on 2 cores shared with other work). ``--tasks highway guard`` picks oracles,
``--seeds`` the PPO seeds, ``--jobs N`` the processes (one torch thread each), ``--scale 3``
three times every PPO budget. Results go to ``bench/results/oracle_levels.json``
(``--out NAME`` for another name; ``--update`` replaces only the ``--tasks`` measured in
it); docs/ORACLES.md has the table.

For each driving and arena oracle (``courteous``, ``highway``, ``merge``, ``crossing``,
``companion``, ``guard``) on its env (``tasks()`` below: env settings, PPO step budget,
discount and other PPO settings), measured as the mean oracle return R over the task's
evaluation episodes on seeds 10,000 onward (no training run starts there; its later
episodes draw seeds from its own generator):

* R_random: a uniformly random policy;
* R_PPO: PPO (``agents.rlhf.run.train_oracle_ppo``, ``PPOSettings`` with the task's
  discount) trained on the oracle's reward itself for the task's step budget, deterministic
  at evaluation; one per seed, and their median;
* each constant action a: R_a, and normalised = (R_a - R_random) / (R_PPO - R_random).

Checks: every constant action scores at most 0.6 normalised; R_PPO beats the best
constant action (by the median of seeds). For ``guard`` also the catches (feature
``caught``) per episode of every policy, and the 0-catch bound: the largest return of an
episode without a catch (``GuardOracle.no_catch_bound``: the time cost is never fully
given back) normalised the same way, which must be at most 0.5; so a guard that catches no
one in 100 episodes scores at most 0.5, whatever else it does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from common import ROOT, save, single_thread

SEED0 = 10_000  # first evaluation seed
CONSTANT_MAX = 0.6  # a constant action may score at most this, normalised
NO_CATCH_MAX = 0.5  # a guard that never catches may score at most this, normalised
MERGE_ID, CROSSING_ID = "rlhf_sandbox/Merge-v0", "rlhf_sandbox/Intersection-v0"
COMPANION_ID, GUARD_ID = "rlhf_sandbox/ArenaCompanion-v0", "rlhf_sandbox/ArenaGuard-v0"
# PPO beside PPOSettings() off the demo: longer rollouts and an entropy bonus. With the
# defaults PPO settled on one constant action on 2 of 3 crossing seeds and on merge.
EXPLORE = {"n_steps": 128, "ent_coef": 0.01}


@dataclass(frozen=True)
class Task:
    oracle: str
    env_id: str
    env_kwargs: dict[str, Any]
    steps: int  # PPO's env step budget per seed
    gamma: float  # PPO's discount per decision
    episodes: int  # evaluation episodes per policy
    ppo: dict[str, Any] = field(default_factory=dict)  # other PPOSettings fields


def tasks() -> dict[str, Task]:
    from rlhf_sandbox.agents.rlhf.presets import (
        COURTEOUS_ENV_KWARGS,
        DEMO_ENV,
        DEMO_ENV_KWARGS,
        DEMO_GAMMA,
        DEMO_PPO,
    )

    return {
        # the demo's run until the highway oracle: 3 lanes, 20 vehicles, 5 Hz, 20 s; 100k
        "courteous": Task("courteous", DEMO_ENV, COURTEOUS_ENV_KWARGS, 100_000, DEMO_GAMMA, 50),
        # the demo's run: 30 vehicles at half the spawn density, observed by lane
        "highway": Task("highway", DEMO_ENV, DEMO_ENV_KWARGS, 150_000, DEMO_GAMMA, 50, DEMO_PPO),
        # Merge-v0's defaults: 2 lanes, 14 vehicles, 1 Hz, 25 s; 0.8 per 1 s decision
        "merge": Task("merge", MERGE_ID, {}, 500_000, 0.8, 50, EXPLORE),
        # Intersection-v0's defaults: 5 Hz, 13 s; 0.8 per second as the demo
        "crossing": Task("crossing", CROSSING_ID, {}, 200_000, DEMO_GAMMA, 50, EXPLORE),
        # the arena at 10 Hz, 30 s episodes: a 2 s horizon for the companion, 5 s to hunt
        "companion": Task("companion", COMPANION_ID, {}, 500_000, 0.95, 50, EXPLORE),
        "guard": Task("guard", GUARD_ID, {}, 300_000, 0.98, 100, EXPLORE),
    }


def policy_levels(task: Task, learner: str, seed: int) -> dict[str, Any]:
    """Train (PPO) or build (random, const<a>) one policy; its mean oracle return and more."""
    single_thread()
    import gymnasium as gym
    import numpy as np

    import rlhf_sandbox  # noqa: F401  (registers the ids)
    from rlhf_sandbox.agents.evaluation.rollouts import evaluate, random_policy
    from rlhf_sandbox.agents.policy.ppo import PPOSettings
    from rlhf_sandbox.agents.rlhf.run import train_oracle_ppo
    from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
    from rlhf_sandbox.agents.teachers.oracles import get_oracle

    oracle = get_oracle(task.oracle)
    t0 = time.perf_counter()
    if learner == "ppo":
        ppo = PPOSettings(seed=seed, gamma=task.gamma, **task.ppo)
        s = RLHFSettings(
            env_id=task.env_id, env_kwargs=task.env_kwargs, teacher=task.oracle,
            timesteps=task.steps, seed=seed, ppo=ppo,
        )  # fmt: skip
        policy = train_oracle_ppo(progress=False)(s, oracle)
    elif learner == "random":
        space = gym.make(task.env_id, **task.env_kwargs).action_space
        policy = random_policy(space, seed)
    else:
        a = int(learner.removeprefix("const"))
        policy = lambda obs: np.full(len(obs), a)  # noqa: E731
    train_s = time.perf_counter() - t0
    n = task.episodes
    ret, catches, counts = np.zeros(n), np.zeros(n), np.zeros(9)

    def observer(
        obs: np.ndarray,
        actions: np.ndarray,
        reward: np.ndarray,
        info: dict[str, Any],
        episode: np.ndarray,
    ) -> None:
        live = episode >= 0
        feats = info["features"]
        f = {k: np.asarray(feats[k], dtype=np.float64) for k in oracle.features}
        r = oracle(f, np.asarray(reward, np.float64))
        np.add.at(ret, episode[live], r[live])
        if "caught" in feats:
            np.add.at(catches, episode[live], np.asarray(feats["caught"], float)[live])
        np.add.at(counts, np.asarray(actions)[live].astype(int), 1.0)

    res = evaluate(
        policy, task.env_id, n, SEED0, n_envs=min(16, n), observer=observer, **task.env_kwargs
    )
    out = {
        "task": task.oracle, "learner": learner, "seed": seed,
        "R": float(ret.mean()), "R_std": float(ret.std()),
        "terminated": int(res.terminated.sum()), "episodes": n,
        "mean_length": float(np.mean(res.lengths)),
        "action_share": (counts / max(counts.sum(), 1.0)).round(3).tolist(),
        "seconds": round(time.perf_counter() - t0, 1), "train_seconds": round(train_s, 1),
    }  # fmt: skip
    if task.oracle == "guard":
        out["catches_per_episode"] = float(catches.mean())
        out["episodes_with_catch"] = int((catches > 0).sum())
    return out


def n_actions(task: Task) -> int:
    import gymnasium as gym

    import rlhf_sandbox  # noqa: F401

    space = gym.make(task.env_id, **task.env_kwargs).action_space
    assert isinstance(space, gym.spaces.Discrete)
    return int(space.n)


def main() -> None:
    all_tasks = tasks()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(all_tasks), choices=list(all_tasks))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="policies built at once, one process each")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every PPO step budget")
    ap.add_argument(
        "--update", action="store_true", help="replace only these tasks in an existing --out file"
    )
    ap.add_argument("--out", default="oracle_levels", help="results file name under bench/results")
    args = ap.parse_args()
    from rlhf_sandbox.sim.driving.kernels import warm_up

    warm_up()  # compile (or load) the kernels once, before the workers start
    if args.scale != 1.0:
        all_tasks = {
            k: dataclasses.replace(t, steps=max(1024, int(t.steps * args.scale)))
            for k, t in all_tasks.items()
        }
    t0 = time.perf_counter()
    jobs: list[tuple[Task, str, int]] = []
    for name in args.tasks:  # the PPO runs first: the longest jobs
        jobs += [(all_tasks[name], "ppo", seed) for seed in args.seeds]
    for name in args.tasks:
        task = all_tasks[name]
        jobs.append((task, "random", 0))
        jobs += [(task, f"const{a}", 0) for a in range(n_actions(task))]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(policy_levels, *job) for job in jobs]
            results = [f.result() for f in futures]
    else:
        results = [policy_levels(*job) for job in jobs]
    minutes = (time.perf_counter() - t0) / 60
    report = {name: summarise(all_tasks[name], results, args.seeds) for name in args.tasks}
    print_table(report)
    print(f"\n{minutes:.1f} min, {args.jobs} jobs, seeds {args.seeds}")
    saved: dict[str, Any] = {"minutes": round(minutes, 1), "seeds": args.seeds, "tasks": report}
    old = ROOT / "bench" / "results" / f"{args.out}.json"
    if args.update and old.exists():  # keep the other tasks' entries of an earlier run
        before = json.loads(old.read_text())
        report = {**before["tasks"], **report}
        saved = {
            **before,
            "tasks": report,
            "updated": {"tasks": args.tasks, "minutes": round(minutes, 1)},
        }
    path = save(args.out, saved)
    print(f"saved {path}")


def summarise(task: Task, results: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    mine = [r for r in results if r["task"] == task.oracle]
    ppo = sorted((r for r in mine if r["learner"] == "ppo"), key=lambda r: r["seed"])
    rnd = next(r for r in mine if r["learner"] == "random")
    consts = [r for r in mine if r["learner"].startswith("const")]
    r_ppo = statistics.median(r["R"] for r in ppo)
    r_rnd = rnd["R"]
    span = r_ppo - r_rnd

    def norm(x: float) -> float | None:
        return (x - r_rnd) / span if span > 0 else None

    const_norm = {r["learner"]: norm(r["R"]) for r in consts}
    worst = max((v for v in const_norm.values() if v is not None), default=None)
    best_const = max(r["R"] for r in consts)
    out: dict[str, Any] = {
        "env_id": task.env_id, "env_kwargs": task.env_kwargs, "steps": task.steps,
        "gamma": task.gamma, "ppo": task.ppo, "episodes": task.episodes, "seeds": seeds,
        "R_random": r_rnd, "R_ppo": {r["seed"]: r["R"] for r in ppo}, "R_ppo_median": r_ppo,
        "R_const": {r["learner"]: r["R"] for r in consts}, "normalised": const_norm,
        "ppo_norm_per_seed": {r["seed"]: norm(r["R"]) for r in ppo},
        "check_constants": span > 0 and worst is not None and worst <= CONSTANT_MAX,
        "check_ppo_beats_constants": r_ppo > best_const,
        "policies": mine,
    }  # fmt: skip
    if task.oracle == "guard":
        from rlhf_sandbox.agents.teachers.oracles import get_oracle

        bound = get_oracle("guard").no_catch_bound(300)  # type: ignore[attr-defined]
        out["no_catch_bound"] = bound
        out["no_catch_bound_norm"] = norm(bound)
        out["check_no_catch"] = span > 0 and (norm(bound) or 0.0) <= NO_CATCH_MAX
        out["catches"] = {
            f"{r['learner']}{'' if r['learner'] != 'ppo' else r['seed']}": r["catches_per_episode"]
            for r in mine
        }
    return out


def print_table(report: dict[str, dict[str, Any]]) -> None:
    for name, t in report.items():
        ppo = ", ".join(f"{v:.2f}" for v in t["R_ppo"].values())
        print(
            f"\n{name} on {t['env_id'].split('/')[-1]} {t['env_kwargs'] or '(defaults)'}, "
            f"PPO {t['steps']:,} steps, gamma {t['gamma']:.3f}, {t['episodes']} episodes"
        )
        print(
            f"  R_random {t['R_random']:.2f}; R_PPO per seed {ppo}; median {t['R_ppo_median']:.2f}"
        )
        cells = [f"{k[5:]}: {t['R_const'][k]:.2f} ({_f(v)})" for k, v in t["normalised"].items()]
        print("  constant action: R (normalised): " + "; ".join(cells))
        verdict = "PASS" if t["check_constants"] else "FAIL"
        print(f"  every constant action <= {CONSTANT_MAX} normalised: {verdict}")
        verdict = "PASS" if t["check_ppo_beats_constants"] else "FAIL"
        print(f"  PPO (median) beats the best constant action: {verdict}")
        if name == "guard":
            cells = [f"{k} {v:.2f}" for k, v in t["catches"].items()]
            print("  catches per episode: " + ", ".join(cells))
            verdict = "PASS" if t["check_no_catch"] else "FAIL"
            print(
                f"  0-catch bound: R <= {t['no_catch_bound']:.2f}, normalised "
                f"{_f(t['no_catch_bound_norm'])} (<= {NO_CATCH_MAX}): {verdict}"
            )


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    main()
