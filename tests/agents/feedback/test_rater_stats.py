"""Rater statistics against hand computations on made-up label sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlhf_sandbox.agents.feedback.rater_stats import (
    answers,
    binom_test_half,
    cohen_kappa,
    fleiss_kappa,
    report,
    wilson,
)
from rlhf_sandbox.store.rows import LabelRow, QueryRow


def q(qid: str, left: str, right: str, method: str = "random") -> QueryRow:
    return QueryRow(qid, "main", left, right, method, None, "", 1)


def lab(query: QueryRow, rater: str, choice: str, swapped: bool = False) -> LabelRow:
    shown = query.right_clip if swapped else query.left_clip
    return LabelRow(
        f"{query.id}-{rater}-{choice}", query.id, rater, choice, None, [], "", shown, ""
    )


def choose(query: QueryRow, winner: str, rater: str, swapped: bool = False) -> LabelRow:
    """The label of a rater who judged ``winner`` better (as shown, possibly swapped)."""
    if winner == "equal":
        return lab(query, rater, "equal", swapped)
    shown_left = query.right_clip if swapped else query.left_clip
    return lab(query, rater, "left" if winner == shown_left else "right", swapped)


def test_answers_are_oriented_by_item_not_by_screen() -> None:
    a = q("1", "b", "a")  # item ("a", "b")
    got = answers([a], [lab(a, "r", "left"), lab(a, "s", "left", swapped=True)])
    assert [x.answer for x in got] == ["second", "first"]  # left was b, then a
    assert [x.winner for x in got] == ["b", "a"]


def test_cohen_kappa_by_hand() -> None:
    a = list("FFFSSEFSFF")
    b = list("FFSSSEFFFE")
    # p_o = 7/10; shares a: F .6 S .3 E .1, b: F .5 S .3 E .2 -> p_e = .30 + .09 + .02 = .41
    assert cohen_kappa(a, b) == pytest.approx((0.7 - 0.41) / (1 - 0.41))
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    # the same through labels: 10 queries, rater r2 sees half of them swapped
    qs = [q(str(i), f"x{i}", f"y{i}") for i in range(10)]
    labels = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for rater, ans in (("r1", x), ("r2", y)):
            winner = {"F": f"x{i}", "S": f"y{i}", "E": "equal"}[ans]
            labels.append(choose(qs[i], winner, rater, swapped=rater == "r2" and i % 2 == 0))
    rep = report(qs, labels)
    (pair,) = rep.pairs
    assert pair.items == 10 and pair.agreement == pytest.approx(0.7)
    assert pair.kappa == pytest.approx(0.29 / 0.59)
    assert rep.fleiss is None  # two raters only


def test_fleiss_kappa_by_hand() -> None:
    # 4 items x 3 raters: (F, S, E) counts
    items = [{"F": 3}, {"F": 2, "S": 1}, {"F": 1, "S": 1, "E": 1}, {"S": 3}]
    # P_i = 1, 1/3, 0, 1 -> P̄ = 7/12; p = 6/12, 5/12, 1/12 -> P_e = 62/144
    expected = (7 / 12 - 62 / 144) / (1 - 62 / 144)
    assert fleiss_kappa(items) == pytest.approx(expected) == pytest.approx(22 / 82)
    qs = [q(str(i), f"x{i}", f"y{i}") for i in range(4)]
    labels = []
    for i, counts in enumerate(items):
        answers_i = [k for k, n in counts.items() for _ in range(n)]
        for j, ans in enumerate(answers_i):
            winner = {"F": f"x{i}", "S": f"y{i}", "E": "equal"}[ans]
            labels.append(choose(qs[i], winner, f"r{j}", swapped=j == 1))
    rep = report(qs, labels)
    assert rep.fleiss == pytest.approx(22 / 82) and rep.fleiss_items == 4
    assert len(rep.pairs) == 3


def test_self_consistency_on_repeats_by_hand() -> None:
    qs = [q(str(i), f"x{i}", f"y{i}") for i in range(4)]
    reps = [q(f"{i}r", f"y{i}", f"x{i}", "clips/repeat") for i in range(3)]  # swapped sides
    labels = [choose(qs[i], f"x{i}", "r") for i in range(4)]
    labels += [choose(reps[0], "x0", "r"), choose(reps[1], "x1", "r"), choose(reps[2], "y2", "r")]
    labels.append(lab(qs[3], "s", "cant_tell"))
    rep = report(qs + reps, labels)
    r = {x.rater: x for x in rep.raters}
    assert r["r"].repeats == 3 and r["r"].self_consistency == pytest.approx(2 / 3)
    assert r["r"].labels == 7 and r["s"].choices == {"cant_tell": 1}
    assert r["s"].repeats == 0 and math.isnan(r["s"].self_consistency)


def test_binomial_test_and_wilson_by_hand() -> None:
    assert binom_test_half(9, 10) == pytest.approx(2 * 11 / 1024)
    assert binom_test_half(1, 10) == pytest.approx(2 * 11 / 1024)
    assert binom_test_half(5, 10) == 1.0 and binom_test_half(0, 0) == 1.0
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_always_left_rater_is_position_biased_and_content_rater_is_not() -> None:
    rng = np.random.default_rng(0)
    good = {f"g{i}" for i in range(40)}
    qs = [q(str(i), f"g{i}", f"b{i}") for i in range(40)]
    labels = []
    for query in qs:
        swapped = bool(rng.random() < 0.5)  # the app places sides at random
        labels.append(lab(query, "lefty", "left", swapped))
        winner = next(c for c in (query.left_clip, query.right_clip) if c in good)
        labels.append(choose(query, winner, "fair", swapped))
    rep = report(qs, labels)
    r = {x.rater: x for x in rep.raters}
    assert r["lefty"].position_biased and r["lefty"].left_share == 1.0
    assert r["lefty"].position_p < 1e-9
    assert not r["fair"].position_biased and 0.3 < r["fair"].left_share < 0.7
    (pair,) = rep.pairs
    assert pair.items == 40


def test_win_rates_with_wilson_intervals() -> None:
    group = {**{f"a{i}": "A" for i in range(10)}, **{f"b{i}": "B" for i in range(10)}}
    qs = [q(str(i), f"a{i}", f"b{i}", "head_to_head") for i in range(10)]
    qs.append(q("x", "a0", "a1", "clips"))  # same group: no win or loss
    winners = ["a"] * 6 + ["b"] * 2 + ["equal"] * 2
    labels = [
        choose(qs[i], "equal" if w == "equal" else f"{w}{i}", "r", swapped=i % 3 == 0)
        for i, w in enumerate(winners)
    ]
    labels.append(lab(qs[10], "r", "left"))
    rep = report(qs, labels, group.__getitem__, head_to_head=lambda x: x.method == "head_to_head")
    a, b = rep.win_rates
    assert (a.group, a.wins, a.losses, a.ties, a.answers) == ("A", 6, 2, 2, 10)
    assert a.rate == pytest.approx(0.7) and b.rate == pytest.approx(0.3)
    assert a.interval == pytest.approx(wilson(7, 10)) and a.interval[0] < 0.7 < a.interval[1]
    js = rep.to_json()
    assert js["win_rates"][0]["group"] == "A" and js["fleiss"] is None
