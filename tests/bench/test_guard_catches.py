"""bench/guard_catches.py: both guards meet the same episodes, a policy's catches match the
package's own evaluation of ArenaGuard-v0, and the intervals and the verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import guard_catches as gc  # noqa: E402


def chase(obs: np.ndarray) -> np.ndarray:
    """Move toward the player (its unit vector is observed, walls or not)."""
    ang = np.arctan2(obs[:, 7], obs[:, 6])
    return (np.round(ang / (np.pi / 4)).astype(int) % 8) + 1


def test_the_episodes_are_the_evasive_players_and_the_same_for_both_guards() -> None:
    cfg = gc.eval_config()
    assert cfg.player_policy == "evasive"
    assert cfg.roles == ("guard", "villager", "villager") and cfg.end_on_catch
    seeds = gc.episode_seeds(1, 40)
    assert seeds[0] == gc.SEED0 + 40 and len(set(seeds) & set(gc.episode_seeds(0, 40))) == 0
    assert gc.same_start(cfg, seeds)


def test_catches_match_the_packages_evaluation_of_the_guard_env() -> None:
    from rlhf_sandbox.agents.evaluation.rollouts import evaluate

    cfg = gc.eval_config()
    n, seed0 = 24, gc.SEED0
    caught_at = gc.play(cfg, chase, seed0 + np.arange(n))
    res = evaluate(chase, "rlhf_sandbox/ArenaGuard-v0", n, seed0, n_envs=8, player_policy="evasive")
    # ArenaGuard-v0 ends an episode on a catch only: terminated episodes are the caught ones
    assert np.array_equal(res.terminated, caught_at > 0)
    assert np.array_equal(res.lengths[caught_at > 0], caught_at[caught_at > 0])
    assert np.array_equal(res.returns, (caught_at > 0).astype(float))  # env reward: +1 a catch
    assert 0 < (caught_at > 0).sum() < n  # the chaser catches some, not all


def test_the_scripted_guard_plays_the_same_way_twice() -> None:
    cfg = gc.eval_config()
    seeds = gc.episode_seeds(0, 12)
    a, b = gc.play(cfg, None, seeds), gc.play(cfg, None, seeds)
    assert np.array_equal(a, b) and (a > 0).any()
    assert ((a >= 0) & (a <= cfg.max_steps)).all()


def test_catches_intervals_and_verdict() -> None:
    from rlhf_sandbox.agents.evaluation.intervals import wilson_bounds

    caught_at = np.array([10, 50, 0, 120, 250, 0, 30, 300])
    c = gc.Catches.of(caught_at, 0.1)
    assert (c.caught, c.n, c.rate) == (6, 8, 0.75)
    assert (c.lo, c.hi) == wilson_bounds(6, 8)
    assert c.within == {"5s": 0.375, "10s": 0.375, "20s": 0.5}  # 1, 5, 3 s; 12 s; 25, 30 s
    assert c.median_s == pytest.approx(8.5)  # of 1, 3, 5, 12, 25, 30 s
    assert gc.Catches.of(np.zeros(5, dtype=int), 0.1).median_s is None

    def pair(trained: int, scripted: int, n: int = 1000) -> dict[str, gc.Catches]:
        return {
            "trained": gc.Catches.of(np.r_[np.ones(trained), np.zeros(n - trained)], 0.1),
            "scripted": gc.Catches.of(np.r_[np.ones(scripted), np.zeros(n - scripted)], 0.1),
        }

    apart, close = pair(1000, 975), pair(990, 975)  # [0.996, 1] vs [0.963, 0.983]: apart
    assert apart["trained"].lo > apart["scripted"].hi and close["trained"].lo < close["scripted"].hi
    v = gc.verdict({0: apart, 1: apart, 2: close, 3: apart, 4: close})
    assert v["verdict"] == "PASS" and v["separated_seeds"] == 3 and v["more_catches"]
    v = gc.verdict({0: apart, 1: close, 2: close, 3: apart, 4: close})
    assert v["verdict"] == "FAIL" and v["median_rate"]["trained"] == 0.99
    assert gc.verdict({0: apart})["verdict"] == "incomplete (1/5 seeds, PASS so far)"
    assert gc.verdict({})["verdict"] == "missing"
