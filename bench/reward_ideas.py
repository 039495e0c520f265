"""Reward-learning ideas of issue 17, measured on the reward model alone (no PPO on the
learned reward).

Run: ``nice -n 5 .venv/bin/python bench/reward_ideas.py`` (the grid; 16 min on this 2-core
machine with others' work beside it; ``--quick`` for a smoke run); ``--pebble`` measures
PEBBLE's state-entropy pre-training instead (about 4 min).

For each task and seed, segments come from two behaviours, recorded the way the RLHF loop
records them (``RecordClips``: windows half a clip apart, terminated ends padded with
absorbing steps): a uniformly random policy and a scripted one (highway: each env slot
keeps one action 80 % of the time, the rest random; Pendulum: an energy-pumping swing-up
with a PD catch at the top, each slot with its own noise). LABELS random pairs of them are
labelled by the B-Pref rater (``SyntheticRater``) with mistake rates 0, 10 % and 20 %; they
arrive in ROUNDS and the ensemble (``RewardModelConfig()`` but the variant's settings) is
refitted, warm-started, on all labels so far after each round, as the loop does. The score
is the agreement with the ORACLE (the true preference, not the noisy labels) on a fixed
pool of POOL pairs of segments from unseen episodes of both behaviours (env seeds no fit
saw; the same pool for every seed and variant), counting pairs whose oracle returns differ
by at least 0.1 x the std of the pool's segment returns (the report's rule).

Tasks: the demo's highway at commit 94b82a1 (``rlhf_sandbox/Highway-v0`` with HIGHWAY_KWARGS,
the ``courteous`` oracle, 20-step clips: 4 s) and ``Pendulum-v1`` (the ``env`` teacher,
40-step clips: 2 s).

Variants: ``base`` (defaults); ``rime`` (``rime=True``, which stops early on the held-out
error); ``rime-loss`` (``rime=True, stop_on="loss"``: RIME as first written, stopping on
the held-out cross-entropy); ``error`` (``stop_on="error"`` alone, no RIME: is the gain
the stopping rule's?); ``crop`` (SURF temporal crop, ``crop=CROP``); ``pseudo`` (SURF
pseudo-labels on PSEUDO_RATIO x labels unlabelled random pairs of the same segments, drawn
afresh each round, threshold PSEUDO_THRESHOLD as SURF's); ``surf`` (crop and pseudo-labels).

Output: per task, mistake rate and variant, the mean and median agreement over the seeds,
each seed's, and the paired difference to ``base`` (mean with a 95 % t interval over the
seeds, and median); for the pseudo-labels the share of the last fit's confident
unlabelled pairs whose side the oracle agrees with. JSON in
``bench/results/reward_ideas.json`` (``--pebble``: ``reward_ideas_pebble.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
from common import ROOT, single_thread

LABELS = 500
ROUNDS = (100, 250, LABELS)  # labels at each refit
POOL = 2000
PSEUDO_RATIO = 4.0
PSEUDO_THRESHOLD = 0.95  # SURF's threshold_u
CROP = 0.25
MISTAKES = (0.0, 0.1, 0.2)
SEEDS = (0, 1, 2)
POOL_SEED = 1000
T_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student t, two-sided 95 %
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {  # config overrides, pseudo-labels
    "base": ({}, False),
    "rime": ({"rime": True}, False),
    "rime-loss": ({"rime": True, "stop_on": "loss"}, False),
    "error": ({"stop_on": "error"}, False),
    "crop": ({"crop": CROP}, False),
    "pseudo": ({"pseudo_threshold": PSEUDO_THRESHOLD}, True),
    "surf": ({"crop": CROP, "pseudo_threshold": PSEUDO_THRESHOLD}, True),
}


@dataclass
class Task:
    name: str
    env_id: str
    env_kwargs: dict[str, Any]
    oracle: str
    length: int  # clip steps
    n_envs: int
    steps: int  # vector steps per behaviour
    extra: dict[str, Any] = field(default_factory=dict)


# The demo's highway world and teacher at commit 94b82a1 (fixed here: the demo's preset moves)
HIGHWAY_KWARGS: dict[str, Any] = {"policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 20}


def tasks() -> list[Task]:
    return [
        Task("highway", "rlhf_sandbox/Highway-v0", HIGHWAY_KWARGS, "courteous", 20, 8, 400),
        Task("pendulum", "Pendulum-v1", {}, "env", 40, 8, 400),
    ]


# ---------------------------------------------------------------------- behaviours
def _highway_scripted(slot_actions: np.ndarray, n_actions: int, rng: np.random.Generator):
    def act(obs: np.ndarray) -> np.ndarray:
        keep = rng.random(len(obs)) < 0.8
        return np.where(keep, slot_actions, rng.integers(0, n_actions, len(obs)))

    return act


def _pendulum_scripted(noise: np.ndarray, rng: np.random.Generator):
    def act(obs: np.ndarray) -> np.ndarray:
        c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
        theta = np.arctan2(s, c)
        energy = 0.5 * w**2 + 10.0 * (c - 1.0)  # 0 at rest upright (g = 10, m = l = 1)
        swing = 2.0 * np.sign(w * -energy + 1e-9)
        catch = -10.0 * theta - 2.0 * w
        u = np.where(c > 0.85, catch, swing) + noise * rng.normal(size=len(obs))
        return np.clip(u, -2.0, 2.0)[:, None].astype(np.float32)

    return act


def segments(
    task: Task, behaviour: str | Callable[[np.ndarray], np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model inputs ``[M, T, D + 1]``, actions ``[M, T, ...]`` and oracle rewards ``[M, T]``
    of one behaviour's recorded segments (``random``, ``scripted`` or a policy of its own:
    a function of the observations ``[n_envs, ...]``)."""
    return segments_and_terms(task, behaviour, seed)[:3]


def segments_and_terms(
    task: Task, behaviour: str | Callable[[np.ndarray], np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """:func:`segments` and the oracle's terms of every step (``{name: [M, T]}``, 0 on
    absorbing steps; empty for an oracle without terms)."""
    import gymnasium as gym

    from rlhf_sandbox.agents.rlhf.recording import RecordClips
    from rlhf_sandbox.agents.teachers.oracles import get_oracle
    from rlhf_sandbox.envs.vector import make_vec_env

    venv = make_vec_env(task.env_id, task.n_envs, seed, **task.env_kwargs)
    rec = RecordClips(venv, capacity=task.steps)
    rng = np.random.default_rng([seed, 7])
    space = venv.action_space
    n = task.n_envs
    policy: Callable[[np.ndarray], np.ndarray]
    if callable(behaviour):
        policy = behaviour
    elif behaviour == "random":
        if isinstance(space, gym.spaces.Discrete):
            policy = lambda o: rng.integers(0, space.n, n)  # noqa: E731
        else:
            assert isinstance(space, gym.spaces.Box)
            policy = lambda o: rng.uniform(space.low, space.high, (n, *space.shape)).astype(  # noqa: E731
                np.float32
            )
    elif task.name == "highway":
        assert isinstance(space, gym.spaces.Discrete)
        policy = _highway_scripted(np.arange(n) % int(space.n), int(space.n), rng)
    else:
        policy = _pendulum_scripted(np.linspace(0.1, 2.0, n), rng)
    obs = rec.reset()
    for _ in range(task.steps):
        obs, *_ = rec.step(policy(np.asarray(obs)))
    seg = rec.segments(task.length)
    x, a = rec.segment_arrays(seg, task.length)
    feats, env_r, real = rec.segment_features(seg, task.length)
    oracle = get_oracle(task.oracle)
    r = np.where(real, oracle(feats, env_r.astype(np.float64)), 0.0)
    parts = oracle.terms(feats, env_r.astype(np.float64)) if hasattr(oracle, "terms") else {}
    venv.close()
    return x, a, r, {k: np.where(real, v, 0.0) for k, v in parts.items()}


def task_data(task: Task, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [segments(task, b, seed * 100 + i) for i, b in enumerate(("random", "scripted"))]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def _action_space(task: Task) -> Any:
    import gymnasium as gym

    if task.name == "highway":
        return gym.spaces.Discrete(5)
    return gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


# ---------------------------------------------------------------------- one fit
def label_pairs(m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` pairs of distinct segments (of ``m``) that :func:`labelled_batch` labels."""
    rng = np.random.default_rng([seed, 11])
    i = rng.integers(0, m, n)
    return i, (i + rng.integers(1, m, n)) % m


def labelled_batch(x, a, r, n: int, mistake: float, seed: int):
    from rlhf_sandbox.agents.feedback.pairs import CHOICE_TARGET
    from rlhf_sandbox.agents.reward.batches import PreferenceBatch
    from rlhf_sandbox.agents.teachers.raters import RaterConfig, SyntheticRater

    i, j = label_pairs(len(x), n, seed)
    rater = SyntheticRater(RaterConfig(eps_mistake=mistake), seed=seed)
    choices = rater.label(r[i], r[j], float(r.sum(1).mean()))
    keep = np.array([c in CHOICE_TARGET for c in choices])
    target = np.array([CHOICE_TARGET.get(str(c), 0.5) for c in choices], np.float32)
    i, j, target = i[keep], j[keep], target[keep]
    truth = r[i].sum(1) - r[j].sum(1)
    wrong = (target != 0.5) & ((target > 0.5) != (truth > 0))
    return PreferenceBatch(x[i], a[i], x[j], a[j], target), float(wrong.mean())


def pool_agreement(model, px, pa, pr, left, right) -> tuple[float, int]:
    ret = model.segment_returns(px, pa).mean(0)
    o = pr.sum(1)
    od = o[left] - o[right]
    counted = np.abs(od) >= 0.1 * o.std()
    ld = ret[left] - ret[right]
    agreed = np.where(ld == 0, 0.5, (np.sign(ld) == np.sign(od)).astype(float))
    return float(agreed[counted].mean()), int(counted.sum())


def fit_rounds(
    task: Task, data, pool, overrides: dict[str, Any], pseudo: bool, mistake: float, seed: int
) -> dict[str, Any]:
    """The labels arrive in ROUNDS, as in the loop, and the ensemble is refitted (warm
    start) on all labels so far after each; the pool agreement after each round."""
    import gymnasium as gym

    from rlhf_sandbox.agents.reward.absorbing import reward_space
    from rlhf_sandbox.agents.reward.batches import SegmentPairs
    from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
    from rlhf_sandbox.agents.reward.surf import pseudo_labels, random_pair_indices

    x, a, r = data
    full, wrong = labelled_batch(x, a, r, LABELS, mistake, seed)
    cfg = RewardModelConfig(device="cpu", seed=seed, **overrides)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (x.shape[-1] - 1,), np.float32)
    model = RewardEnsemble(reward_space(obs_space), _action_space(task), cfg)
    curve, seconds, epochs = [], 0.0, []
    pseudo_right = math.nan
    for k, n in enumerate(ROUNDS):
        batch = full.subset(slice(0, n))
        unlabelled = None
        if pseudo:
            ui, uj = random_pair_indices(
                len(x), math.ceil(PSEUDO_RATIO * batch.n_pairs), [seed, 13, k]
            )
            unlabelled = SegmentPairs(x[ui], a[ui], x[uj], a[uj])
        start = time.perf_counter()
        report = model.fit(batch, unlabelled=unlabelled)
        seconds += time.perf_counter() - start
        epochs.append(report.epochs)
        curve.append(pool_agreement(model, *pool)[0])
        pseudo_right = math.nan
        if unlabelled is not None:  # how right the last fit's confident sides are
            rr = cfg.random_response
            p = (model.preference_probs(*unlabelled).mean(0) - rr / 2) / (1 - rr)
            idx, side = pseudo_labels(p, cfg.pseudo_threshold)
            truth = r[ui[idx]].sum(1) - r[uj[idx]].sum(1)
            decided = truth != 0
            if decided.any():
                pseudo_right = float(np.mean((side == 1)[decided] == (truth[decided] > 0)))
    return {
        "mistake": mistake,
        "seed": seed,
        "agreement": curve[-1],
        "curve": dict(zip(ROUNDS, curve, strict=True)),
        "counted": pool_agreement(model, *pool)[1],
        "labels": full.n_pairs,
        "wrong_labels": wrong,
        "epochs": epochs,
        "dropped": report.n_dropped,
        "flipped": report.n_flipped,
        "pseudo": report.n_pseudo,
        "pseudo_right": pseudo_right,
        "fit_s": seconds,
    }


def fit_one(task: Task, data, pool, variant: str, mistake: float, seed: int) -> dict[str, Any]:
    overrides, pseudo = VARIANTS[variant]
    row = fit_rounds(task, data, pool, overrides, pseudo, mistake, seed)
    return {"task": task.name, "variant": variant, **row}


# ---------------------------------------------------------------------- table
def t_interval(values: list[float]) -> tuple[float, float, float]:
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, math.nan, math.nan
    h = T_95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - h, m + h


def table(rows: list[dict[str, Any]], variants: list[str]) -> str:
    out = [
        "| task | mistake | variant | agreement: mean | median | per seed | vs base: mean"
        " [95 % t interval] | median | fit s |",
        "|---|---:|---|---:|---:|---|---|---:|---:|",
    ]
    by: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["task"], r["mistake"], r["variant"]), []).append(r)
    for (task, mistake, variant), rs in sorted(
        by.items(), key=lambda kv: (kv[0][0], kv[0][1], variants.index(kv[0][2]))
    ):
        rs = sorted(rs, key=lambda r: r["seed"])
        vals = [r["agreement"] for r in rs]
        base = {r["seed"]: r["agreement"] for r in by.get((task, mistake, "base"), [])}
        d = [r["agreement"] - base[r["seed"]] for r in rs if r["seed"] in base]
        if variant == "base" or not d:
            diff, med = "-", "-"
        else:
            m, lo, hi = t_interval(d)
            diff, med = f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]", f"{statistics.median(d):+.3f}"
        fit_s = statistics.fmean(r["fit_s"] for r in rs)
        out.append(
            f"| {task} | {mistake:.0%} | {variant} | {statistics.fmean(vals):.3f} |"
            f" {statistics.median(vals):.3f} | {', '.join(f'{v:.3f}' for v in vals)} |"
            f" {diff} | {med} | {fit_s:.1f} |"
        )
    return "\n".join(out)


def pooled(rows: list[dict[str, Any]], variants: list[str]) -> str:
    """Each variant against base over every task, mistake rate and seed (paired)."""
    base = {
        (r["task"], r["mistake"], r["seed"]): r["agreement"] for r in rows if r["variant"] == "base"
    }
    out = [
        "| variant | mistakes | pairs | vs base: mean [95 % t interval] | median | wins/losses |",
        "|---|---|---:|---|---:|---|",
    ]
    for variant in variants:
        if variant == "base":
            continue
        for label, keep in (("0 %", (0.0,)), ("10-20 %", (0.1, 0.2))):
            d = [
                r["agreement"] - base[(r["task"], r["mistake"], r["seed"])]
                for r in rows
                if r["variant"] == variant
                and r["mistake"] in keep
                and (r["task"], r["mistake"], r["seed"]) in base
            ]
            if not d:
                continue
            m, lo, hi = t_interval(d)
            wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
            out.append(
                f"| {variant} | {label} | {len(d)} | {m:+.3f} [{lo:+.3f}, {hi:+.3f}] |"
                f" {statistics.median(d):+.3f} | {wins}/{losses} |"
            )
    return "\n".join(out)


def run_grid(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for task, pool in chosen_tasks(args):
        for seed in args.seeds:
            data = task_data(task, seed)
            for mistake in args.mistakes:
                for variant in args.variants:
                    row = fit_one(task, data, pool, variant, mistake, seed)
                    rows.append(row)
                    print(
                        f"{task.name:9s} seed {seed} mistake {mistake:.0%} {variant:9s}"
                        f" agreement {row['agreement']:.3f} (n {row['counted']})"
                        f" epochs {row['epochs']} dropped {row['dropped']} flipped"
                        f" {row['flipped']} pseudo {row['pseudo']} right {row['pseudo_right']:.3f}"
                        f" {row['fit_s']:.1f}s",
                        flush=True,
                    )
    wall = time.perf_counter() - start
    print()
    print(table(rows, args.variants))
    print()
    print(pooled(rows, args.variants))
    print(f"\nwall time {wall:.0f} s")
    _write("reward_ideas.json", {"rows": rows, "wall_s": wall})


def _write(name: str, data: dict[str, Any]) -> None:
    from rlhf_sandbox.files import atomic_path

    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def chosen_tasks(args: argparse.Namespace) -> Iterator[tuple[Task, tuple[np.ndarray, ...]]]:
    """The tasks ``--tasks`` picks (a quarter of the steps with ``--quick``), each with its
    fixed pool of pairs: segments of seed POOL_SEED and the pair indices."""
    for task in tasks():
        if args.tasks and task.name not in args.tasks:
            continue
        if args.quick:
            task = dataclasses.replace(task, steps=task.steps // 4)
        px, pa, pr = task_data(task, POOL_SEED)
        left, right = _pool_pairs(len(px))
        yield task, (px, pa, pr, left, right)


def _pool_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    from rlhf_sandbox.agents.evaluation.fidelity import pool_pairs

    return pool_pairs(n, POOL, seed=POOL_SEED)


# ---------------------------------------------------------------------- PEBBLE
def pendulum_cells(x: np.ndarray, bins: int = 20) -> int:
    """Distinct cells of a ``bins`` x ``bins`` grid over (angle, angular velocity) that the
    real (not absorbing) steps of Pendulum segments ``x`` ``[M, T, 3 + 1]`` visit."""
    steps = x.reshape(-1, x.shape[-1])
    steps = steps[steps[:, -1] == 0]  # the absorbing flag
    theta = np.arctan2(steps[:, 1], steps[:, 0])
    i = np.clip(((theta + np.pi) / (2 * np.pi) * bins).astype(int), 0, bins - 1)
    j = np.clip(((steps[:, 2] + 8.0) / 16.0 * bins).astype(int), 0, bins - 1)
    return len(set(zip(i.tolist(), j.tolist(), strict=True)))


def explorer(task: Task, seed: int, steps: int) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """PPO (our settings, task.n_envs envs) trained ``steps`` env steps on the k-NN
    state-entropy reward alone (``StateEntropyReward``): its stochastic policy, and the
    seconds it took."""
    import dataclasses as dc

    from rlhf_sandbox.agents.policy.ppo import PPOSettings, make_model
    from rlhf_sandbox.agents.reward.intrinsic import StateEntropyReward
    from rlhf_sandbox.envs.vector import make_vec_env

    venv = StateEntropyReward(
        make_vec_env(task.env_id, task.n_envs, 500 + seed, **task.env_kwargs), steps=steps
    )
    s = dc.replace(PPOSettings(), n_envs=task.n_envs, n_steps=256, seed=seed, device="cpu")
    algo = make_model(venv, s)
    t0 = time.perf_counter()
    algo.learn(steps)
    venv.close()
    return (lambda o: algo.predict(o, deterministic=False)[0]), time.perf_counter() - t0


def pebble(args: argparse.Namespace) -> None:
    """PEBBLE's unsupervised pre-training, measured where it acts on reward learning: the
    first labels come from one policy's segments. For each task and seed, segments of a
    uniformly random policy (the loop's first rollout) and of PPO trained ``--pretrain``
    steps on the state-entropy reward alone are recorded alike (env seeds of their own);
    LABELS pairs of each are labelled by a perfect rater in ROUNDS, fitted as in the grid,
    and scored on the grid's fixed pool. Also: the spread (std) of the oracle returns of
    each set of segments, and on Pendulum the cells of a 20 x 20 (angle, velocity) grid that
    their steps visit."""
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for task, pool in chosen_tasks(args):
        for seed in args.seeds:
            policy, train_s = explorer(task, seed, args.pretrain)
            for source, behaviour in (("random", "random"), ("explore", policy)):
                data = segments(task, behaviour, 2000 + seed)
                row = fit_rounds(task, data, pool, {}, False, 0.0, seed)
                x, _, r = data
                row.update(
                    task=task.name,
                    source=source,
                    return_std=float(r.sum(1).std()),
                    cells=pendulum_cells(x) if task.name == "pendulum" else None,
                    pretrain_s=train_s if source == "explore" else 0.0,
                )
                rows.append(row)
                print(
                    f"{task.name:9s} seed {seed} {source:8s} agreement"
                    f" {' '.join(f'{v:.3f}' for v in row['curve'].values())}"
                    f" return std {row['return_std']:.2f} cells {row['cells']}"
                    f" ({row['pretrain_s']:.0f} s pre-training)",
                    flush=True,
                )
    wall = time.perf_counter() - start
    print()
    print(
        "| task | labels | random: mean | explore: mean | explore - random: mean"
        " [95 % t] | per seed |"
    )
    print("|---|---:|---:|---:|---|---|")
    for name in dict.fromkeys(r["task"] for r in rows):
        for n in ROUNDS:
            by = {(r["source"], r["seed"]): r["curve"][n] for r in rows if r["task"] == name}
            seeds = sorted({s for _, s in by})
            d = [by[("explore", s)] - by[("random", s)] for s in seeds]
            m, lo, hi = t_interval(d)
            rnd = statistics.fmean(by[("random", s)] for s in seeds)
            exp = statistics.fmean(by[("explore", s)] for s in seeds)
            print(
                f"| {name} | {n} | {rnd:.3f} | {exp:.3f} | {m:+.3f} [{lo:+.3f}, {hi:+.3f}] |"
                f" {', '.join(f'{v:+.3f}' for v in d)} |"
            )
    print(f"\nwall time {wall:.0f} s")
    _write("reward_ideas_pebble.json", {"rows": rows, "wall_s": wall, "pretrain": args.pretrain})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--mistakes", type=float, nargs="+", default=list(MISTAKES))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--tasks", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="a quarter of the steps")
    ap.add_argument("--pebble", action="store_true", help="PEBBLE's pre-training instead")
    ap.add_argument("--pretrain", type=int, default=20_000, help="--pebble: PPO steps")
    args = ap.parse_args()
    if "base" not in args.variants:
        args.variants = ["base", *args.variants]
    single_thread()
    import rlhf_sandbox  # noqa: F401  (registers the ids)

    if args.pebble:
        pebble(args)
    else:
        run_grid(args)


if __name__ == "__main__":
    main()
