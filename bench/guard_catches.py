"""Guard catches (issue 20): the guard trained from feedback against the scripted guard.

Run:

    .venv/bin/python bench/guard_catches.py --jobs 2     # trains what is missing, evaluates
    .venv/bin/python bench/guard_catches.py --no-train   # evaluates the policies there are

Target: the trained guard against the scripted guard on the same evasive-player seeds, at
least 100 episodes per seed, median of 5 seeds: more catches, Wilson intervals not
overlapping.

**The trained guard** of seed k is bench/npc_suite.py's cell ``guard__perfect__500__s<k>``
(RLHF with the ``guard`` oracle as a perfect synthetic rater, 500 labels, 300,000 PPO steps
on ``ArenaGuard-v0``'s defaults, whose player is ``mixed``: waypoints, random or evasive,
drawn per episode); ``--no-train`` skips training and takes the policies there are. Those
cells (and their PPO references) are run here, with ``--jobs``, when missing: the same
cells, files and resume as the suite's.

**The episodes**: ``ArenaGuard-v0``'s world (a guard and two villagers, the ``rooms``
layout, 300 steps of 0.1 s, a catch ends the episode) with ``player_policy="evasive"``;
for seed k the episodes seeded ``SEED0 + k * episodes + i``, i < ``--episodes`` (1,000 by
default). Each guard plays every one of them from the same state (layout, spawns, headings,
villagers; ``same_start`` checks it): the trained one as NPC 0 of the batch, acting
greedily on its observation; the scripted one is NPC 0 left to the world's guard script
(patrol at 60 % speed, sight cone, pursuit, give up after ``lose_time``). Beside them PPO
trained on the oracle itself (the suite's reference cell of seed k), when there.

**The figures** per seed and guard: catches in the episodes (0 or 1 per episode, since a
catch ends it) with the Wilson 95 % interval, catches within 5, 10 and 20 s, the median
time to a catch. Verdict: per seed the two are *separated* when the trained guard's lower
bound is above the scripted guard's upper bound; PASS when the median seed is (the median
over seeds of lower(trained) - upper(scripted) is > 0), which needs the median catch rate
higher too. Results: ``bench/results/guard_catches.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import npc_suite
import numpy as np
import preference_suite as ps
from common import save

SEED0 = 50_000  # first evaluation seed (no training run starts there)
EPISODES = 1000  # per seed (the target asks for at least 100)
WITHIN_S = (5.0, 10.0, 20.0)  # catches within these times are reported too
CHUNK = 250  # worlds stepped at once


def eval_config() -> Any:
    """ArenaGuard-v0's world (its default roles and settings) with the evasive player."""
    from rlhf_sandbox.config import build_config
    from rlhf_sandbox.envs.arena_config import ArenaConfig
    from rlhf_sandbox.envs.arena_single import GUARD_DEFAULTS

    return build_config(ArenaConfig, GUARD_DEFAULTS, player_policy="evasive")


def episode_seeds(seed: int, episodes: int) -> np.ndarray:
    """The evaluation episodes of training seed ``seed``."""
    return SEED0 + seed * episodes + np.arange(episodes, dtype=np.int64)


PolicyFn = Callable[[np.ndarray], np.ndarray]


def _batch(config: Any, policy: PolicyFn | None, seeds: np.ndarray) -> Any:
    from rlhf_sandbox.envs.arena_v0 import ArenaBatch

    controlled = np.zeros(0 if policy is None else 1, dtype=np.int64)  # NPC 0: the guard
    batch = ArenaBatch(config, len(seeds), controlled)
    batch.reset(np.ones(len(seeds), dtype=bool), np.asarray(seeds, dtype=np.int64))
    return batch


def same_start(config: Any, seeds: np.ndarray) -> bool:
    """Whether a batch with the guard controlled and one with it scripted start every episode
    in the same state (every state array of the world)."""
    a = _batch(config, lambda obs: np.zeros(len(obs), dtype=np.int64), seeds).world.get_state()
    b = _batch(config, None, seeds).world.get_state()
    return all(np.array_equal(a[k], b[k]) for k in a)


def play(config: Any, policy: PolicyFn | None, seeds: np.ndarray) -> np.ndarray:
    """The step of each episode's catch (1-based; 0: no catch in ``config.max_steps``), the
    guard (NPC 0) acting by ``policy(obs [n, obs_dim]) -> actions [n]``, or by its script
    when ``policy`` is None."""
    out = np.zeros(len(seeds), dtype=np.int64)
    for lo in range(0, len(seeds), CHUNK):
        part = seeds[lo : lo + CHUNK]
        batch = _batch(config, policy, part)
        n = len(part)
        caught_at = np.zeros(n, dtype=np.int64)
        for t in range(1, config.max_steps + 1):
            if policy is None:
                actions = np.zeros((n, 0), dtype=np.int64)
            else:
                actions = np.asarray(policy(batch.observe()[:, 0])).reshape(n, 1)
            _, terminated, _, _ = batch.step(actions)
            caught = np.asarray(batch.world.features["caught"][:, 0]) > 0
            assert np.array_equal(caught & (caught_at == 0), terminated & (caught_at == 0))
            caught_at[(caught_at == 0) & caught] = t  # a world that ended steps on, unread
            if (caught_at > 0).all():
                break
        out[lo : lo + n] = caught_at
    return out


@dataclass(frozen=True)
class Catches:
    """One guard's catches in ``n`` episodes."""

    caught: int
    n: int
    lo: float  # Wilson 95 % interval of the catch rate
    hi: float
    within: dict[str, float]  # "5s": share of episodes with a catch within 5 s
    median_s: float | None  # median time to a catch [s], over the episodes with one

    @property
    def rate(self) -> float:
        return self.caught / self.n

    @classmethod
    def of(cls, caught_at: np.ndarray, dt: float) -> Catches:
        from rlhf_sandbox.agents.evaluation.intervals import wilson_bounds

        n, k = len(caught_at), int((caught_at > 0).sum())
        lo, hi = wilson_bounds(k, n)
        times = np.where(caught_at > 0, caught_at * dt, np.inf)  # [s]; inf: no catch
        within = {f"{s:g}s": float((times <= s + 1e-9).mean()) for s in WITHIN_S}
        med = float(np.median(times[caught_at > 0])) if k else None
        return cls(k, n, lo, hi, within, med)

    def to_json(self) -> dict[str, Any]:
        return {
            "caught": self.caught, "n": self.n, "rate": self.rate, "wilson95": [self.lo, self.hi],
            "within": self.within, "median_time_s": self.median_s,
        }  # fmt: skip

    def text(self) -> str:
        return f"{self.caught}/{self.n} = {self.rate:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def verdict(seeds: dict[int, dict[str, Catches]]) -> dict[str, Any]:
    """Per seed the gap lower(trained) - upper(scripted) (> 0: separated); PASS when the
    median gap is > 0; the median catch rates."""
    gaps = {k: g["trained"].lo - g["scripted"].hi for k, g in seeds.items()}
    if not gaps:
        return {"verdict": "missing", "gaps": {}}
    med_gap = statistics.median(gaps.values())
    rate = {
        who: statistics.median(g[who].rate for g in seeds.values())
        for who in ("trained", "scripted")
    }
    separated = sum(gap > 0 for gap in gaps.values())
    v = "PASS" if med_gap > 0 else "FAIL"
    if len(seeds) < 5:
        v = f"incomplete ({len(seeds)}/5 seeds, {v} so far)"
    return {
        "verdict": v, "median_gap": med_gap, "gaps": gaps, "separated_seeds": separated,
        "median_rate": rate, "more_catches": rate["trained"] > rate["scripted"],
    }  # fmt: skip


def load_guard(path: Path) -> PolicyFn:
    from rlhf_sandbox.agents.evaluation.rollouts import sb3_policy
    from rlhf_sandbox.agents.policy.ppo import load_policy

    return sb3_policy(load_policy(path, "rlhf_sandbox/ArenaGuard-v0"))


def evaluate_seed(seed: int, episodes: int, out: Path) -> dict[str, Catches]:
    """Every guard there is for ``seed`` on that seed's episodes."""
    config = eval_config()
    seeds = episode_seeds(seed, episodes)
    if not same_start(config, seeds[:CHUNK]):
        raise RuntimeError("the controlled and the scripted guard's episodes start apart")
    key = ps.Cell("guard", "rlhf", npc_suite.RATER, npc_suite.LABELS, seed).key
    guards: dict[str, PolicyFn | None] = {"scripted": None}
    trained = npc_suite.policy_path(out, key)
    if trained.is_file():
        guards["trained"] = load_guard(trained)
    ppo = ps._policy_path(out, "guard", seed)
    if ppo.is_file():
        guards["ppo_oracle"] = load_guard(ppo)
    return {who: Catches.of(play(config, fn, seeds), config.dt) for who, fn in guards.items()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(npc_suite.SEEDS))
    ap.add_argument("--episodes", type=int, default=EPISODES, help="per seed (>= 100)")
    ap.add_argument("--jobs", type=int, default=1, help="training cells at once")
    ap.add_argument("--no-train", action="store_true", help="evaluate the policies there are")
    ap.add_argument("--out", help="npc_suite's results folder (default: its own)")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else npc_suite.OUT
    t0 = time.perf_counter()
    if not args.no_train:
        grid = npc_suite.npc_grid({"guard": npc_suite.npc_tasks()["guard"]})
        npc_suite.run_cells(grid, out, seeds=args.seeds, jobs=args.jobs)
    train_s = time.perf_counter() - t0
    per: dict[int, dict[str, Catches]] = {}
    for seed in args.seeds:
        res = evaluate_seed(seed, args.episodes, out)
        if "trained" not in res:
            print(f"seed {seed}: no trained guard in {out} (run without --no-train)")
            continue
        per[seed] = res
    v = verdict({k: {w: r[w] for w in ("trained", "scripted")} for k, r in per.items()})
    print(table(per, v, args.episodes))
    path = save(
        "guard_catches",
        {
            "seeds": args.seeds, "episodes": args.episodes, "seed0": SEED0,
            "player_policy": "evasive", "verdict": v,
            "per_seed": {k: {w: c.to_json() for w, c in r.items()} for k, r in per.items()},
            "train_seconds": round(train_s, 1),
            "eval_seconds": round(time.perf_counter() - t0 - train_s, 1),
        },
    )  # fmt: skip
    print(f"saved {path}")
    return 0


def table(per: dict[int, dict[str, Catches]], v: dict[str, Any], episodes: int) -> str:
    lines = [
        f"Catches of the evasive player, {episodes} episodes per seed (Wilson 95 %)", "",
        "| seed | trained (RLHF) | scripted | separated | PPO on the oracle |"
        " within 5 / 10 / 20 s: trained | scripted | median time to catch trained / scripted |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip

    def within(c: Catches) -> str:
        return " / ".join(f"{c.within[f'{s:g}s']:.2f}" for s in WITHIN_S)

    def med(c: Catches) -> str:
        return "-" if c.median_s is None else f"{c.median_s:.1f} s"

    for k, r in sorted(per.items()):
        t, s = r["trained"], r["scripted"]
        ppo = r["ppo_oracle"].text() if "ppo_oracle" in r else "missing"
        sep = "yes" if t.lo > s.hi else "no"
        lines.append(
            f"| {k} | {t.text()} | {s.text()} | {sep} | {ppo} | {within(t)} | {within(s)} |"
            f" {med(t)} / {med(s)} |"
        )
    if per:
        rate = v["median_rate"]
        lines += [
            "",
            f"median catch rate: trained {rate['trained']:.3f}, scripted {rate['scripted']:.3f};"
            f" seeds separated {v['separated_seeds']}/{len(per)}; median gap"
            f" {v['median_gap']:+.3f}: {v['verdict']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
