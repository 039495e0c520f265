"""Fidelity measures of a learned reward on constructed cases with known answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.fidelity import (
    MIN_JUDGED,
    Agreement,
    RewardDistance,
    agreement_trend,
    cut_segments,
    feature_table,
    fidelity_warnings,
    label_agreement,
    pearson,
    pool_agreement,
    pool_pairs,
    shaping_free_distance,
)
from rlhf_sandbox.agents.evaluation.intervals import wilson_bounds

GAMMA = 0.99


def _rollouts(seed: int = 0, n_episodes: int = 60, d: int = 4) -> dict[str, np.ndarray]:
    """Random-walk episodes of varying length; every other one ends by termination. The
    oracle reward depends on the action (not in the observation), so it is not shaping."""
    rng = np.random.default_rng(seed)
    obs, nxt, valid, act, ep = [], [], [], [], []
    for e in range(n_episodes):
        s = rng.normal(size=d)
        length = int(rng.integers(20, 80))
        for t in range(length):
            a = rng.normal()
            s2 = 0.9 * s + 0.4 * rng.normal(size=d) + 0.3 * a
            obs.append(s)
            nxt.append(s2)
            act.append(a)
            valid.append(not (t == length - 1 and e % 2 == 0))
            ep.append(e)
            s = s2
    o, o2, a_ = np.array(obs), np.array(nxt), np.array(act)
    oracle = a_ * o[:, 1] - 0.5 * a_**2 + 0.3 * o2[:, 2]
    return {"obs": o, "next_obs": o2, "valid": np.array(valid), "oracle": oracle,
            "episode": np.array(ep)}  # fmt: skip


def _shaping(r: dict[str, np.ndarray], phi: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return GAMMA * phi(r["next_obs"]) * r["valid"] - phi(r["obs"])


def _distance(
    r: dict[str, np.ndarray], learned: np.ndarray, keep: np.ndarray | None = None
) -> RewardDistance:
    return shaping_free_distance(
        learned, r["oracle"], r["obs"], r["next_obs"], r["valid"], GAMMA, keep=keep
    )


PHIS = {
    "linear": lambda s: 3.0 * s @ np.array([1.0, -0.5, 0.2, 0.8]),
    "sin": lambda s: 3.0 * np.sin(s[:, 0]),
    "sin+cos": lambda s: 2.0 * np.sin(1.5 * s[:, 0]) + np.cos(s[:, 1]),
}


@pytest.mark.parametrize("name", list(PHIS))
def test_potential_shaping_is_ignored(name: str) -> None:
    r = _rollouts(seed=1)
    d = _distance(r, r["oracle"] + _shaping(r, PHIS[name]))
    assert d.distance is not None and d.plain is not None
    assert d.distance < 0.1, d
    assert d.plain > 0.25 and d.plain > 3 * d.distance, d
    assert d.shaping_r2_learned is not None and d.shaping_r2_learned > 0.5


def test_terminal_convention_matters() -> None:
    # Phi(s') = 0 after termination: telling the fit otherwise leaves shaping behind.
    r = _rollouts(seed=2)
    learned = r["oracle"] + _shaping(r, PHIS["linear"])
    right = _distance(r, learned).distance
    wrong = shaping_free_distance(
        learned, r["oracle"], r["obs"], r["next_obs"], np.ones_like(r["valid"]), GAMMA
    ).distance
    assert right is not None and wrong is not None and wrong > right + 0.1


def test_dropped_transitions_are_not_read() -> None:
    r = _rollouts(seed=3)
    learned = 2.0 * r["oracle"] + 1.0
    r["next_obs"][~r["valid"]] = np.nan  # nothing after termination
    keep = np.ones(learned.size, bool)
    keep[::7] = False
    learned[~keep] = np.random.default_rng(0).normal(0, 100, (~keep).sum())
    d = _distance(r, learned, keep=keep)
    assert d.n_transitions == keep.sum() and d.distance is not None and d.distance < 1e-6


def test_opposite_affine_and_independent_rewards() -> None:
    r = _rollouts(seed=4)
    neg = _distance(r, -r["oracle"])
    assert neg.distance == pytest.approx(1.0, abs=1e-6) and neg.plain == pytest.approx(1.0)
    aff = _distance(r, 2.0 * r["oracle"] + 5.0)
    assert aff.distance == pytest.approx(0.0, abs=1e-6) and aff.plain == pytest.approx(0.0)
    noise = _distance(r, np.random.default_rng(9).normal(size=r["oracle"].size))
    assert noise.distance == pytest.approx(np.sqrt(0.5), abs=0.04)
    assert noise.plain == pytest.approx(np.sqrt(0.5), abs=0.04)


def test_distance_undefined_for_constant_or_all_shaping_reward() -> None:
    r = _rollouts(seed=5)
    const = shaping_free_distance(
        r["oracle"], np.full(r["oracle"].size, -1.0), r["obs"], r["next_obs"], r["valid"], GAMMA
    )
    assert const.distance is None and const.plain is None and "oracle" in str(const.reason)
    shaped = _distance(r, _shaping(r, PHIS["linear"]))
    assert shaped.distance is None and "learned" in str(shaped.reason)
    few = _distance(r, r["oracle"], keep=np.arange(r["oracle"].size) < 100)
    assert few.distance is None and "too few" in str(few.reason)
    for res in (const, shaped, few):
        json.dumps(res.to_json(), allow_nan=False)


def test_segment_agreement_on_constructed_rewards() -> None:
    r = _rollouts(seed=6)
    ends = np.flatnonzero(np.diff(r["episode"])) + 1
    oracle_eps = np.split(r["oracle"], ends)
    pol = ["random" if e % 3 else "ppo" for e in range(len(oracle_eps))]

    def agreement(learned: np.ndarray) -> tuple[float | None, float | None]:
        seg = cut_segments(np.split(learned, ends), oracle_eps, pol, 10)
        left, right = pool_pairs(len(seg.oracle), seed=0)
        pa = pool_agreement(seg.learned, seg.oracle, left, right)
        assert pa.counted.judged and pa.all_pairs.n >= pa.counted.n >= 0.8 * pa.n_pairs
        return pa.counted.value, pearson(seg.learned, seg.oracle)

    assert agreement(-r["oracle"]) == (0.0, pytest.approx(-1.0))
    assert agreement(2.0 * r["oracle"] + 5.0) == (1.0, pytest.approx(1.0))
    noisy, _ = agreement(np.random.default_rng(1).normal(size=r["oracle"].size))
    assert noisy is not None and 0.4 < noisy < 0.6


def test_cut_segments_drops_tails() -> None:
    seg = cut_segments([np.arange(10.0), np.ones(7)], [np.zeros(10), np.arange(7.0)],
                       ["a", "b"], 3)  # fmt: skip
    assert seg.learned.tolist() == [3.0, 12.0, 21.0, 3.0, 3.0]
    assert seg.oracle.tolist() == [0.0, 0.0, 0.0, 3.0, 12.0]
    assert seg.policy == ("a", "a", "a", "b", "b")
    assert seg.episode.tolist() == [0, 0, 0, 1, 1] and seg.start.tolist() == [0, 3, 6, 0, 3]
    with pytest.raises(ValueError):
        cut_segments([np.ones(3)], [np.ones(4)], ["a"], 2)


def test_cut_segments_pads_a_terminated_tail_as_training_does() -> None:
    """A terminated episode's last window, cut short, is a clip like those the teacher
    judged: padded with absorbing steps (oracle 0, learned ``absorbing``). Sparse tasks
    (Acrobot: -1 a step until the goal) have all their signal in those windows."""
    eps_l, eps_o = [np.ones(7), np.ones(5)], [-np.ones(7), -np.ones(5)]
    seg = cut_segments(eps_l, eps_o, ["a", "b"], 3, terminated=[True, False], absorbing=4.0)
    assert seg.oracle.tolist() == [-3.0, -3.0, -1.0, -3.0]  # b's tail: cut by time, dropped
    assert seg.learned.tolist() == [3.0, 3.0, 1.0 + 2 * 4.0, 3.0]
    assert seg.episode.tolist() == [0, 0, 0, 1] and seg.start.tolist() == [0, 3, 6, 0]
    short = cut_segments([np.ones(2)], [np.zeros(2)], ["a"], 3, terminated=[True], absorbing=0.5)
    assert short.learned.tolist() == [2.5] and short.oracle.tolist() == [0.0]
    exact = cut_segments([np.ones(6)], [np.zeros(6)], ["a"], 3, terminated=[True], absorbing=9.0)
    assert exact.learned.tolist() == [3.0, 3.0]  # no tail: nothing padded


def test_pool_pairs() -> None:
    left, right = pool_pairs(100, seed=3)
    assert left.size == 2000 and np.all(left < right) and right.max() < 100
    assert len(set(zip(left.tolist(), right.tolist(), strict=True))) == 2000
    again = pool_pairs(100, seed=3)
    assert np.array_equal(again[0], left) and np.array_equal(again[1], right)
    assert not np.array_equal(pool_pairs(100, seed=4)[0], left)
    assert len(np.unique(np.concatenate([left, right]))) == 100  # every segment drawn
    few = pool_pairs(50, seed=3)  # 1225 distinct pairs < 2000: all of them
    assert few[0].size == 1225 and np.all(few[0] < few[1])
    assert pool_pairs(1)[0].size == 0


def _pairs(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """m pairs (2i, 2i + 1), the oracle preferring the right one by 1 + i; the learned
    returns agree on every third pair, tie on every third and disagree on the rest."""
    oracle = np.zeros(2 * m)
    oracle[1::2] = 1.0 + np.arange(m)
    learned = np.zeros(2 * m)
    learned[1::2] = np.resize([1.0, 0.0, -1.0], m)
    return learned, oracle, np.arange(0, 2 * m, 2), np.arange(1, 2 * m, 2)


def test_too_few_to_judge_below_30() -> None:
    pa = pool_agreement(*_pairs(MIN_JUDGED - 1))
    assert not pa.counted.judged and pa.counted.value is None
    assert pa.counted.text() == f"too few to judge (n = {MIN_JUDGED - 1})"
    assert re.sub(r"\(n = \d+\)", "", pa.counted.text()).strip() == "too few to judge"
    assert pa.to_json()["counted"]["value"] is None
    judged = pool_agreement(*_pairs(MIN_JUDGED)).counted
    assert judged.judged and judged.value == pytest.approx(0.5)  # 10 + 10 * 0.5 of 30
    assert judged.text().startswith("0.50 [")


def test_wilson_interval_and_gap() -> None:
    learned, oracle, left, right = _pairs(90)
    oracle[1] = 1e-3  # a pair far below the gap: in all pairs, not counted
    oracle[3] = 0.0  # oracle tie: in neither
    pa = pool_agreement(learned, oracle, left, right)
    assert pa.all_pairs.n == 89 and pa.counted.n == 88
    assert pa.gap == pytest.approx(0.1 * np.std(oracle))
    agreed = 29 + 29 * 0.5  # pairs 2.. (i % 3 == 0 agree, == 1 tie), pair 0 not counted
    a = pa.counted
    assert a.value == pytest.approx(agreed / 88)
    assert (a.lo, a.hi) == pytest.approx(wilson_bounds(agreed, 88))
    assert a.lo is not None and a.hi is not None and a.value is not None
    assert a.lo < a.value < a.hi
    json.dumps(pa.to_json(), allow_nan=False)


def test_label_agreement() -> None:
    choices = ["left"] * 30 + ["right"] * 10 + ["equal"] * 5 + ["cant_tell"] * 3
    ll = np.r_[np.ones(30), np.zeros(10), np.zeros(8)]
    lr = np.r_[np.zeros(30), np.zeros(5), np.ones(5), np.zeros(8)]  # 5 ties, 5 right
    la = label_agreement(ll, lr, choices)
    assert (la.n_equal, la.n_cant_tell, la.n_labels) == (5, 3, 48)
    assert la.agreement.n == 40 and la.agreement.value == pytest.approx(37.5 / 40)
    small = label_agreement(ll[:20], lr[:20], choices[:20])
    assert small.agreement.text() == "too few to judge (n = 20)"
    with pytest.raises(ValueError):
        label_agreement([0.0], [1.0], ["up"])


def test_feature_table_flags_opposite_sign_only() -> None:
    rng = np.random.default_rng(0)
    speed, progress, weak = rng.normal(size=(3, 2000))
    oracle = speed + progress + 0.1 * weak + rng.normal(size=2000)
    learned = -speed + progress - 0.3 * weak + rng.normal(size=2000)  # weak: opposite, faint
    rows = feature_table(
        {"speed": speed, "progress": progress, "weak": weak, "const": np.ones(2000)},
        learned, oracle,
    )  # fmt: skip
    flags = {row.name: row.opposite for row in rows}
    assert flags == {"speed": True, "progress": False, "weak": False, "const": False}
    assert rows[2].corr_oracle is not None and 0 < rows[2].corr_oracle < 0.1
    assert rows[2].corr_learned is not None and rows[2].corr_learned < -0.1
    const = rows[3]
    assert const.corr_learned is None and const.corr_oracle is None
    assert rows[0].corr_oracle is not None and rows[0].corr_oracle > 0.4
    assert rows[0].corr_learned is not None and rows[0].corr_learned < -0.4
    assert json.loads(json.dumps(const.to_json(), allow_nan=False))["corr_oracle"] is None


def test_agreement_trend() -> None:
    falling = agreement_trend([(100, 0.85, 2000), (200, 0.88, 2000), (300, 0.80, 2000)])
    assert falling.falling and (falling.best_labels, falling.last_labels) == (200, 300)
    assert falling.margin == pytest.approx(0.03)
    assert not agreement_trend([(100, 0.85, 2000), (200, 0.83, 2000)]).falling
    # a best point from 40 pairs is too uncertain for a fall of 0.06 to count
    wide = agreement_trend([(100, 0.90, 40), (200, 0.84, 2000)])
    assert not wide.falling and wide.margin is not None and wide.margin > 0.06
    skipped = agreement_trend([(100, 0.9, 2000), (200, None, 10)])
    assert not skipped.falling and skipped.last_labels == 100


def _healthy() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "pool": pool_agreement(*_pairs(300)),
        "trend": agreement_trend([(50, 0.70, 2000), (100, 0.80, 2000), (150, 0.82, 2000)]),
        "choices": ["left", "right", "equal", "right", "left"] * 20,
        "step_reward": rng.normal(size=500),
        "terminal": np.arange(500) % 100 == 99,
    }


def test_no_warning_on_a_healthy_case() -> None:
    assert fidelity_warnings(**_healthy()) == []


@pytest.mark.parametrize(
    ("code", "change"),
    [
        ("labels_mostly_equal", {"choices": ["equal", "cant_tell", "left"] * 20}),
        # Acrobot: -1 every step, 0 on the step that reaches the goal
        ("constant_step_reward", {"step_reward": np.where(np.arange(500) % 100 == 99, 0, -1)}),
        ("pool_agreement_falling",
         {"trend": agreement_trend([(50, 0.8, 2000), (100, 0.9, 2000), (150, 0.8, 2000)])}),
        ("too_few_pairs", {"pool": pool_agreement(*_pairs(12))}),
    ],
)  # fmt: skip
def test_each_warning_fires(code: str, change: dict[str, Any]) -> None:
    warnings = fidelity_warnings(**{**_healthy(), **change})
    assert [w.code for w in warnings] == [code]
    w = warnings[0]
    assert "\n" not in w.message + w.what_to_try and w.what_to_try
    assert json.loads(json.dumps(w.to_json()))["code"] == code


def test_constant_reward_ignoring_terminal_steps() -> None:
    # with the terminal steps marked, even many of them do not hide a constant reward
    r = np.where(np.arange(300) % 20 == 19, 10.0, 0.5)
    codes = [w.code for w in fidelity_warnings(step_reward=r, terminal=np.arange(300) % 20 == 19)]
    assert codes == ["constant_step_reward"]
    assert fidelity_warnings(step_reward=r) == []  # 5 % off the value, unmarked: not constant


def test_agreement_json_is_nan_free() -> None:
    assert Agreement.of(3.0, 5).to_json() == {
        "value": None, "lo": None, "hi": None, "n": 5, "judged": False,
        "text": "too few to judge (n = 5)",
    }  # fmt: skip
