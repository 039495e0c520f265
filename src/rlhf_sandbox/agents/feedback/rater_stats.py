"""How raters answer: counts, agreement, self-consistency, position bias, win rates.

Pure functions over the store's rows (no SQL, no pygame). Definitions:

* An *item* is an unordered pair of clips; queries of the same pair (a repeat, sides
  possibly swapped) are the same item. An *answer* is a label turned to the item's own
  order: ``first`` / ``second`` (the clip with the smaller id is better / worse) or
  ``equal``; ``cant_tell`` is a skip and takes part in no statistic below but the counts.
* Cohen's kappa, per pair of raters over the items both answered (each rater's first
  answer): ``(p_o - p_e) / (1 - p_e)``, ``p_o`` the share of equal answers, ``p_e`` the
  agreement expected from each rater's own answer shares.
* Fleiss' kappa over the items answered by at least two raters, reported when some item
  has three or more: ``P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1))``, ``P̄`` their mean,
  ``p_j`` the share of answers j over all those items, ``P_e = sum_j p_j^2``,
  ``kappa = (P̄ - P_e) / (1 - P_e)`` (Fleiss 1971; n_i may vary between items).
* Self-consistency of a rater: over the items they answered more than once, the share of
  later answers equal to their first.
* Position bias: the share of ``left`` among a rater's ``left`` / ``right`` answers as
  shown on screen, with a 95% Wilson interval and the exact two-sided binomial test
  against 1/2; a rater is flagged when ``p < alpha`` (default 0.05).
* Win rate of a clip group (a policy) in head-to-head queries: (wins + ties / 2) / answers,
  with a 95% Wilson interval over the answers; ``cant_tell`` is left out.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rlhf_sandbox.agents.evaluation.intervals import Z95, wilson_bounds
from rlhf_sandbox.store.rows import LabelRow, QueryRow

ANSWERS = ("first", "second", "equal")


@dataclass(frozen=True)
class Answer:
    """One label in item order (see the module docstring)."""

    rater: str
    query: str
    item: tuple[str, str]  # the two clip ids, sorted
    answer: str | None  # first, second, equal; None for cant_tell
    shown: str  # the choice as given on screen: left, right, equal, cant_tell
    winner: str | None  # the clip judged better (None: equal or cant_tell)


def answers(queries: Iterable[QueryRow], labels: Iterable[LabelRow]) -> list[Answer]:
    """The labels as :class:`Answer` s, in label order."""
    by_id = {q.id: q for q in queries}
    out = []
    for lab in labels:
        q = by_id[lab.query]
        left = lab.shown_left
        right = q.right_clip if left == q.left_clip else q.left_clip
        item = tuple(sorted((q.left_clip, q.right_clip)))
        winner = {"left": left, "right": right}.get(lab.choice)
        if lab.choice == "equal":
            ans: str | None = "equal"
        elif winner is None:
            ans = None
        else:
            ans = "first" if winner == item[0] else "second"
        out.append(Answer(lab.rater, lab.query, (item[0], item[1]), ans, lab.choice, winner))
    return out


# ---------------------------------------------------------------- intervals and tests
def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(0, 1)`` when ``n == 0``)."""
    if n <= 0:
        return (0.0, 1.0)
    return wilson_bounds(successes, n, z)


def binom_test_half(k: int, n: int) -> float:
    """Exact two-sided binomial test of ``k`` successes in ``n`` against p = 1/2."""
    if n == 0:
        return 1.0
    far = max(k, n - k)
    tail = sum(math.comb(n, i) for i in range(far, n + 1)) / 2**n
    return min(1.0, 2.0 * tail) if 2 * far != n else 1.0


# ---------------------------------------------------------------- agreement
def _first_answers(ans: Iterable[Answer]) -> dict[str, dict[tuple[str, str], str]]:
    """rater -> item -> their first non-skip answer."""
    out: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    for a in ans:
        if a.answer is not None:
            out[a.rater].setdefault(a.item, a.answer)
    return out


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two raters' answers to the same items (NaN if undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return math.nan
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    if p_e >= 1.0:
        return 1.0 if p_o >= 1.0 else math.nan
    return (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(counts: Sequence[Mapping[str, int]]) -> float:
    """Fleiss' kappa of items given as {answer: raters who gave it} (items with n_i >= 2)."""
    items = [c for c in counts if sum(c.values()) >= 2]
    if not items:
        return math.nan
    p_bar = 0.0
    totals: Counter[str] = Counter()
    for c in items:
        n_i = sum(c.values())
        p_bar += (sum(v * v for v in c.values()) - n_i) / (n_i * (n_i - 1))
        totals.update(c)
    p_bar /= len(items)
    grand = sum(totals.values())
    p_e = sum((v / grand) ** 2 for v in totals.values())
    if p_e >= 1.0:
        return 1.0 if p_bar >= 1.0 else math.nan
    return (p_bar - p_e) / (1.0 - p_e)


@dataclass(frozen=True)
class PairAgreement:
    raters: tuple[str, str]
    items: int
    agreement: float  # share of equal answers
    kappa: float


@dataclass(frozen=True)
class RaterStats:
    rater: str
    labels: int
    choices: dict[str, int]
    left: int  # answers "left" as shown
    left_right: int  # answers "left" or "right"
    left_share: float
    left_interval: tuple[float, float]
    position_p: float
    position_biased: bool
    repeats: int  # later answers to items answered before
    self_consistency: float  # share of them equal to the first answer (NaN: none)


@dataclass(frozen=True)
class WinRate:
    group: str
    answers: int
    wins: int
    losses: int
    ties: int
    rate: float
    interval: tuple[float, float]


@dataclass
class Report:
    raters: list[RaterStats] = field(default_factory=list)
    pairs: list[PairAgreement] = field(default_factory=list)
    fleiss: float | None = None  # None: no item has three or more raters
    fleiss_items: int = 0
    win_rates: list[WinRate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        out: dict[str, Any] = clean(asdict(self))
        return out


def rater_stats(ans: list[Answer], rater: str, alpha: float = 0.05) -> RaterStats:
    """Counts, position bias and self-consistency of one rater."""
    mine = [a for a in ans if a.rater == rater]
    choices = Counter(a.shown for a in mine)
    left, lr = choices["left"], choices["left"] + choices["right"]
    p = binom_test_half(left, lr)
    first: dict[tuple[str, str], str] = {}
    same = repeats = 0
    for a in mine:
        if a.answer is None:
            continue
        if a.item in first:
            repeats += 1
            same += a.answer == first[a.item]
        else:
            first[a.item] = a.answer
    return RaterStats(
        rater=rater,
        labels=len(mine),
        choices=dict(choices),
        left=left,
        left_right=lr,
        left_share=left / lr if lr else math.nan,
        left_interval=wilson(left, lr),
        position_p=p,
        position_biased=lr > 0 and p < alpha,
        repeats=repeats,
        self_consistency=same / repeats if repeats else math.nan,
    )


def agreement(ans: list[Answer]) -> tuple[list[PairAgreement], float | None, int]:
    """Cohen's kappa per pair of raters sharing items; Fleiss' kappa (or None) and its items."""
    first = _first_answers(ans)
    pairs = []
    for r1, r2 in itertools.combinations(sorted(first), 2):
        shared = sorted(set(first[r1]) & set(first[r2]))
        if not shared:
            continue
        a = [first[r1][i] for i in shared]
        b = [first[r2][i] for i in shared]
        p_o = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        pairs.append(PairAgreement((r1, r2), len(shared), p_o, cohen_kappa(a, b)))
    per_item: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for by_item in first.values():
        for item, answer in by_item.items():
            per_item[item][answer] += 1
    if not any(sum(c.values()) >= 3 for c in per_item.values()):
        return pairs, None, 0
    items = [c for c in per_item.values() if sum(c.values()) >= 2]
    return pairs, fleiss_kappa(items), len(items)


def win_rates(ans: Iterable[Answer], group_of: Callable[[str], str]) -> list[WinRate]:
    """Win rate of each clip group over the answers to pairs of clips of two groups."""
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for a in ans:
        g1, g2 = group_of(a.item[0]), group_of(a.item[1])
        if g1 == g2 or a.answer is None:
            continue
        if a.answer == "equal":
            tally[g1]["ties"] += 1
            tally[g2]["ties"] += 1
        else:
            win, lose = (g1, g2) if a.answer == "first" else (g2, g1)
            tally[win]["wins"] += 1
            tally[lose]["losses"] += 1
    out = []
    for g in sorted(tally):
        t = tally[g]
        n = t["wins"] + t["losses"] + t["ties"]
        score = t["wins"] + 0.5 * t["ties"]
        out.append(WinRate(g, n, t["wins"], t["losses"], t["ties"], score / n, wilson(score, n)))
    return out


def report(
    queries: list[QueryRow],
    labels: list[LabelRow],
    group_of: Callable[[str], str] | None = None,
    *,
    head_to_head: Callable[[QueryRow], bool] | None = None,
    alpha: float = 0.05,
) -> Report:
    """Every statistic of the module docstring; win rates over the queries for which
    ``head_to_head`` holds (default: none), clips grouped by ``group_of``."""
    ans = answers(queries, labels)
    pairs, fleiss, n_items = agreement(ans)
    rep = Report(
        raters=[rater_stats(ans, r, alpha) for r in sorted({a.rater for a in ans})],
        pairs=pairs,
        fleiss=fleiss,
        fleiss_items=n_items,
    )
    if group_of is not None and head_to_head is not None:
        h2h = {q.id for q in queries if head_to_head(q)}
        rep.win_rates = win_rates([a for a in ans if a.query in h2h], group_of)
    return rep
