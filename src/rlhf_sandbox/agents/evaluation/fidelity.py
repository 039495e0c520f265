"""How far to trust a learned reward: measures on evaluation episodes of policies the reward
model never trained on, against the oracle (teacher) reward of the same steps. Pure numpy.

Results are frozen dataclasses whose ``to_json()`` gives ``None`` for every undefined number
(never NaN). An agreement from fewer than :data:`MIN_JUDGED` pairs or labels is not judged:
it carries no number, and its text is ``"too few to judge (n = K)"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from rlhf_sandbox.agents.evaluation.intervals import Z95, wilson_bounds

MIN_JUDGED = 30  # fewer counted pairs (or labels) than this: "too few to judge"
N_FOURIER = 256  # random Fourier features in the potential's function class
RIDGE = 1e-5  # ridge penalty on the potential's coefficients, per transition
MIN_LEFT = 1e-4  # a reward with less of its variance left after removing shaping: all shaping
TREND_MARGIN = 0.03  # the least fall of pool agreement that counts as falling
CONSTANT_SHARE = 0.98  # this share of steps at one value makes a step reward "constant"
Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]


def _num(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    return x.to_json() if isinstance(x, _Json) else x


class _Json:
    def to_json(self) -> dict[str, Any]:
        return {f.name: _num(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _constant(x: Array) -> bool:
    return x.size < 2 or float(np.std(x)) <= 1e-12 * max(1.0, float(np.max(np.abs(x))))


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Pearson's correlation; ``None`` when either side is (numerically) constant. Used as
    is for the correlation of learned and oracle segment returns."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if _constant(a) or _constant(b):
        return None
    return float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))


def pearson_distance(rho: float | None) -> float | None:
    """EPIC's Pearson distance ``sqrt((1 - rho) / 2)``: 0 for rewards equal up to a positive
    scale and a constant, ~0.71 uncorrelated, 1 opposite."""
    return None if rho is None else math.sqrt(max(0.0, (1.0 - rho) / 2.0))


@dataclass(frozen=True, eq=False)
class Segments:
    """Clips of ``length`` steps: segment ``i`` is steps ``start[i] : start[i] + length`` of
    episode ``episode[i]`` (fewer, padded with absorbing steps, where the episode terminated
    sooner), with its learned and oracle returns (plain sums) and policy."""

    learned: Array
    oracle: Array
    policy: tuple[str, ...]
    episode: Index
    start: Index
    length: int


def cut_segments(
    learned: Sequence[npt.ArrayLike],
    oracle: Sequence[npt.ArrayLike],
    policies: Sequence[str],
    length: int,
    *,
    terminated: Sequence[bool] | None = None,
    absorbing: float = 0.0,
) -> Segments:
    """Cut each episode's per-step rewards (one array per episode) into non-overlapping
    windows of ``length`` steps from its first step. A tail shorter than that is dropped,
    unless its episode ``terminated``: then it is a clip as the loop asks about one, padded
    with absorbing steps (learned reward ``absorbing`` each, the oracle's 0)."""
    if length < 1 or not len(learned) == len(oracle) == len(policies):
        raise ValueError("cut_segments: need length >= 1 and one learned, oracle, policy each")
    ended = [False] * len(learned) if terminated is None else [bool(t) for t in terminated]
    if len(ended) != len(learned):
        raise ValueError("cut_segments: need one terminated flag per episode")
    rows: list[tuple[float, float, str, int, int]] = []
    for e, (lr, orc, pol) in enumerate(zip(learned, oracle, policies, strict=True)):
        a, b = np.asarray(lr, dtype=float), np.asarray(orc, dtype=float)
        if a.shape != b.shape or a.ndim != 1:
            raise ValueError(f"cut_segments: episode {e}: learned and oracle differ in shape")
        rows += [(a[s : s + length].sum(), b[s : s + length].sum(), pol, e, s)
                 for s in range(0, a.size - length + 1, length)]  # fmt: skip
        tail = a.size % length
        if ended[e] and tail:
            s = a.size - tail
            rows.append((a[s:].sum() + (length - tail) * absorbing, b[s:].sum(), pol, e, s))
    c = list(zip(*rows, strict=True)) if rows else [()] * 5
    ret = np.array(c[0], dtype=float), np.array(c[1], dtype=float)
    return Segments(*ret, tuple(c[2]), np.array(c[3], np.int64), np.array(c[4], np.int64), length)


def pool_pairs(n_segments: int, n_pairs: int = 2000, seed: int = 0) -> tuple[Index, Index]:
    """The fixed pool: ``n_pairs`` distinct unordered pairs of distinct segments drawn
    uniformly without replacement, or all ``n (n - 1) / 2`` pairs when there are no more;
    index arrays ``(left, right)``, ``left < right``, sorted; the same for the same seed."""
    n = max(int(n_segments), 0)
    total = n * (n - 1) // 2
    if total <= n_pairs:
        i, j = np.triu_indices(n, k=1)
        return i.astype(np.int64), j.astype(np.int64)
    k = np.sort(np.random.default_rng(seed).choice(total, size=n_pairs, replace=False))
    first = np.concatenate([[0], np.cumsum(np.arange(n - 1, 0, -1))])  # first k of row i
    i = np.searchsorted(first, k, side="right") - 1
    return i.astype(np.int64), (k - first[i] + i + 1).astype(np.int64)


@dataclass(frozen=True)
class Agreement(_Json):
    """The share of ``n`` comparisons where the learned reward orders as the teacher does
    (a learned tie counts half), with its 95 % Wilson interval ``[lo, hi]``; ``value``,
    ``lo`` and ``hi`` are ``None`` unless ``judged`` (``n >= MIN_JUDGED``)."""

    value: float | None
    lo: float | None
    hi: float | None
    n: int
    judged: bool

    @classmethod
    def of(cls, agreed: float, n: int) -> Agreement:
        if n < MIN_JUDGED:
            return cls(None, None, None, n, False)
        lo, hi = wilson_bounds(agreed, n, Z95)
        return cls(agreed / n, lo, hi, n, True)

    def text(self) -> str:
        if self.value is None or self.lo is None or self.hi is None:
            return f"too few to judge (n = {self.n})"
        return f"{self.value:.2f} [{self.lo:.2f}, {self.hi:.2f}] (n = {self.n})"

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "text": self.text()}


def _agreement(learned_diff: Array, teacher_sign: Array) -> Agreement:
    hits = np.where(learned_diff == 0, 0.5, np.sign(learned_diff) == teacher_sign)
    return Agreement.of(float(hits.sum()), int(hits.size))


@dataclass(frozen=True)
class PoolAgreement(_Json):
    """``counted``: over pool pairs with ``|oracle diff| >= gap = min_gap * oracle_std``
    (``oracle_std``: std, ddof 0, of the oracle returns of the pool's segments);
    ``all_pairs``: over every pair whose oracle returns differ (beyond 1e-9 of the largest
    magnitude); ``n_pairs``: the pool's size."""

    counted: Agreement
    all_pairs: Agreement
    gap: float
    oracle_std: float
    n_pairs: int


def pool_agreement(
    learned_returns: npt.ArrayLike,
    oracle_returns: npt.ArrayLike,
    left: npt.ArrayLike,
    right: npt.ArrayLike,
    min_gap: float = 0.1,
) -> PoolAgreement:
    """How often the learned segment returns order the pool's pairs as the oracle's do."""
    lr, orc = np.asarray(learned_returns, dtype=float), np.asarray(oracle_returns, dtype=float)
    li, ri = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    used = np.unique(np.concatenate([li, ri]))
    std = float(np.std(orc[used])) if used.size else 0.0
    d_orc, d_lr = orc[li] - orc[ri], lr[li] - lr[ri]
    differ = np.abs(d_orc) > 1e-9 * max(1.0, float(np.max(np.abs(orc), initial=0.0)))
    counted = differ & (np.abs(d_orc) >= min_gap * std)
    sign = np.sign(d_orc)
    both = _agreement(d_lr[counted], sign[counted]), _agreement(d_lr[differ], sign[differ])
    return PoolAgreement(*both, min_gap * std, std, li.size)


@dataclass(frozen=True)
class LabelAgreement(_Json):
    """Held-out labels: ``agreement`` over the "left"/"right" ones (the learned return is
    higher on the chosen side; a tie counts half), and how many were equal or can't tell."""

    agreement: Agreement
    n_equal: int
    n_cant_tell: int
    n_labels: int


def label_agreement(
    learned_left: npt.ArrayLike, learned_right: npt.ArrayLike, choices: Sequence[str]
) -> LabelAgreement:
    """``choices`` in "left", "right", "equal", "cant_tell", one per held-out pair."""
    ch = np.asarray(choices, dtype=object)
    bad = set(ch.tolist()) - {"left", "right", "equal", "cant_tell"}
    if bad:
        raise ValueError(f"label_agreement: unknown choices {sorted(bad)}")
    diff = np.asarray(learned_left, dtype=float) - np.asarray(learned_right, dtype=float)
    decided = (ch == "left") | (ch == "right")
    sign = np.where(ch == "left", 1.0, -1.0)
    return LabelAgreement(_agreement(diff[decided], sign[decided]), int(np.sum(ch == "equal")),
                          int(np.sum(ch == "cant_tell")), int(ch.size))  # fmt: skip


@dataclass(frozen=True)
class RewardDistance(_Json):
    """``distance``: Pearson distance of the two per-step rewards once shaping is removed
    (``None`` with ``reason`` when undefined); ``plain``: without removing it;
    ``shaping_r2_*``: the share of each reward's variance that the fitted shaping explains."""

    distance: float | None
    plain: float | None
    shaping_r2_learned: float | None
    shaping_r2_oracle: float | None
    n_transitions: int
    reason: str | None = None
    method: str = "EPIC-style: potential shaping removed by ridge regression, not EPIC"


def shaping_free_distance(
    learned: npt.ArrayLike,
    oracle: npt.ArrayLike,
    obs: npt.ArrayLike,
    next_obs: npt.ArrayLike,
    next_valid: npt.ArrayLike,
    gamma: float,
    *,
    keep: npt.ArrayLike | None = None,
    n_fourier: int = N_FOURIER,
    seed: int = 0,
) -> RewardDistance:
    """A distance between learned and oracle per-step rewards that ignores potential shaping.

    Not EPIC (Gleave et al. 2020): EPIC canonicalises a reward by evaluating it on arbitrary
    transitions from a coverage distribution, but our oracles read simulated behaviour
    features that exist only for transitions the simulator produced. Instead, on the
    observed transitions ``i`` (those with ``keep[i]``, e.g. False for truncated ones), each
    reward ``r`` is replaced by its residual after the ridge least-squares fit
    ``r_i ~ c + gamma * Phi(s'_i) * next_valid[i] - Phi(s_i)`` (``next_valid[i]`` False: step
    ``i`` terminated the episode, ``Phi(s') = 0`` by convention; ``next_obs[i]`` unread).
    The class: ``Phi(s) = theta . f(s)``, ``f(s)`` = the observation standardised over the
    kept states, then ``n_fourier`` random Fourier features ``cos(w . z + b)`` with
    ``w ~ N(0, (4 / d) I)`` (length scale ``sqrt(d) / 2`` in standard units), ``b ~ U(0,
    2 pi)``, drawn from ``seed``; penalty ``RIDGE * n * |theta|^2``, ``c`` free. Then
    ``D = sqrt((1 - rho) / 2)`` of the two residuals. ``None`` when a residual keeps less
    than ``MIN_LEFT`` of its reward's variance (a constant or all-shaping reward; the ridge
    leaves a trace) or with fewer than twice as many transitions as coefficients.

    With ``Phi(terminal) = 0`` a constant potential turns a penalty on termination into a
    small per-step bonus for staying alive: the two are the same reward up to shaping, and
    the distance treats them so. A rich class also absorbs some genuine reward when there
    are few transitions per coefficient, so the plain distance is reported beside it.
    """
    keep_ = np.ones(np.shape(learned)[0], bool) if keep is None else np.asarray(keep, bool)
    r = np.column_stack([np.asarray(learned, dtype=float), np.asarray(oracle, dtype=float)])
    s, s2 = np.asarray(obs, dtype=float)[keep_], np.asarray(next_obs, dtype=float)[keep_]
    r, valid = r[keep_], np.asarray(next_valid, dtype=bool)[keep_]
    s, s2 = s.reshape(len(s), -1), s2.reshape(len(s2), -1)
    (n, d), n_coef = s.shape, 1 + s.shape[1] + n_fourier
    plain = pearson_distance(pearson(r[:, 0], r[:, 1]))
    if n < 2 * n_coef:
        reason = f"too few transitions ({n}) for {n_coef} coefficients"
        return RewardDistance(None, plain, None, None, n, reason)
    states = np.concatenate([s, s2[valid]])
    mu, sd = states.mean(axis=0), states.std(axis=0)
    sd[sd <= 1e-12] = 1.0
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 2.0 / math.sqrt(d), size=(d, n_fourier))
    b = rng.uniform(0.0, 2.0 * math.pi, size=n_fourier)

    def f(x: Array) -> Array:
        return np.hstack([(x - mu) / sd, np.cos(((x - mu) / sd) @ w + b)])

    phi_next = np.where(valid[:, None], f(s2), 0.0)  # next_obs at terminal steps unread
    design = np.hstack([np.ones((n, 1)), gamma * phi_next - f(s)])
    penalty = np.diag(np.r_[0.0, np.full(n_coef - 1, RIDGE * n)])
    res = r - design @ np.linalg.solve(design.T @ design + penalty, design.T @ r)
    r2 = []
    for k, name in enumerate(("learned", "oracle")):
        var, left = float(np.var(r[:, k])), float(np.var(res[:, k]))
        if _constant(r[:, k]) or left <= MIN_LEFT * var:
            reason = f"the {name} reward is constant or all shaping on these transitions"
            return RewardDistance(None, plain, None, None, n, reason)
        r2.append(1.0 - left / var)
    dist = pearson_distance(pearson(res[:, 0], res[:, 1]))
    return RewardDistance(dist, plain, r2[0], r2[1], n)


@dataclass(frozen=True)
class FeatureRow(_Json):
    """A behaviour feature's correlation with the learned and with the oracle per-step
    reward; ``opposite``: signs differ and ``|corr_oracle| >= min_oracle_corr``."""

    name: str
    corr_learned: float | None
    corr_oracle: float | None
    opposite: bool


def feature_table(
    features: Mapping[str, npt.ArrayLike],
    learned: npt.ArrayLike,
    oracle: npt.ArrayLike,
    min_oracle_corr: float = 0.1,
) -> list[FeatureRow]:
    """One row per feature (per-step values; for foreign envs ``obs[0]``, ``obs[1]``, ...),
    in the mapping's order. A feature the oracle barely relates to (``|corr_oracle| <
    min_oracle_corr``) is never flagged, whatever the learned sign; nor is a constant one
    (``None`` correlations)."""
    rows = []
    for name, x in features.items():
        c_l, c_o = pearson(x, learned), pearson(x, oracle)
        opp = c_l is not None and c_o is not None and abs(c_o) >= min_oracle_corr and c_l * c_o < 0
        rows.append(FeatureRow(name, c_l, c_o, opp))
    return rows


@dataclass(frozen=True)
class Trend(_Json):
    """Pool agreement over reward-model versions: ``falling`` when the last version's is
    below the best earlier one's by more than ``margin`` (``None``: fewer than 2 points)."""

    falling: bool
    best_labels: int | None
    best: float | None
    last_labels: int | None
    last: float | None
    margin: float | None


def agreement_trend(points: Sequence[tuple[int, float | None, int]]) -> Trend:
    """``points``: ``(labels, agreement, n)`` per reward-model version, on the same pool;
    those without an agreement (not judged) are skipped. The margin is the larger of
    ``TREND_MARGIN`` and the Wilson half-width at the best earlier point: a fall that point's
    own uncertainty does not explain. No paired test, though the versions share the pool
    (one would be sharper): a simple, conservative rule."""
    pts = sorted((int(k), float(a), int(n)) for k, a, n in points if a is not None and n > 0)
    if len(pts) < 2:
        only = pts[0] if pts else None
        return Trend(False, None, None, only and only[0], only and only[1], None)
    best_labels, best, n = max(pts[:-1], key=lambda p: p[1])
    lo, hi = wilson_bounds(best * n, n, Z95)
    margin = max(TREND_MARGIN, (hi - lo) / 2)
    (last_labels, last, _) = pts[-1]
    return Trend(best - last > margin, best_labels, best, last_labels, last, margin)


@dataclass(frozen=True)
class FidelityWarning(_Json):
    """One line saying what is wrong, and one what to try."""

    code: str
    message: str
    what_to_try: str


TRY = {
    "labels_mostly_equal": "exploration before the first queries (--explore-steps), longer "
    "clips, clips from more different policies, or a teacher that tells smaller differences "
    "apart",
    "constant_step_reward": "exploration before the first queries (--explore-steps), so that "
    "clips reach the rare rewarded events; longer clips that cover episode ends, or a shaped "
    "oracle",
    "too_few_pairs": "more evaluation episodes or policies in the pool, or longer clips so "
    "that oracle returns differ",
    "pool_agreement_falling": "check the later labels (a drifting teacher, harder queries), "
    "fewer epochs per refit, or keep an earlier reward model",
}


def constant_step_reward(step_reward: npt.ArrayLike, terminal: npt.ArrayLike | None = None) -> bool:
    """Whether at least ``CONSTANT_SHARE`` of the steps (terminal ones left out when
    ``terminal`` is given) lie within ``1e-6 * (1 + |m|)`` of the median ``m``: a reward
    constant per step apart from a few (Acrobot's -1, a sparse goal bonus)."""
    r = np.asarray(step_reward, dtype=float)
    r = r if terminal is None else r[~np.asarray(terminal, dtype=bool)]
    m = float(np.median(r)) if r.size else 0.0
    return r.size > 0 and float(np.mean(np.abs(r - m) <= 1e-6 * (1 + abs(m)))) >= CONSTANT_SHARE


def fidelity_warnings(
    *,
    pool: PoolAgreement | None = None,
    trend: Trend | None = None,
    choices: Sequence[str] | None = None,
    step_reward: npt.ArrayLike | None = None,
    terminal: npt.ArrayLike | None = None,
) -> list[FidelityWarning]:
    """The warnings that apply, from whatever is given (what to try: :data:`TRY`):
    ``choices``, all the run's labels (warned when more than half are equal or can't tell);
    ``step_reward``, the oracle's (or env's) per-step reward over the pool's steps, with its
    ``terminal`` mask."""
    said: dict[str, str] = {}
    vague = sum(c in ("equal", "cant_tell") for c in choices or ())
    if choices and vague > len(choices) / 2:
        said["labels_mostly_equal"] = (
            f"{vague} of {len(choices)} labels are equal or can't tell: the reward model "
            "learns from the rest alone"
        )
    if step_reward is not None and constant_step_reward(step_reward, terminal):
        said["constant_step_reward"] = (
            "the teacher's reward is the same at every step but a few terminal ones, so "
            "clips of equal length tie unless one covers an episode's end"
        )
    if pool is not None and not pool.counted.judged:
        said["too_few_pairs"] = (
            f"agreement on the fixed pool: too few to judge (n = {pool.counted.n} counted "
            f"pairs, {MIN_JUDGED} needed)"
        )
    if trend is not None and trend.falling:
        said["pool_agreement_falling"] = (
            f"agreement on the fixed pool fell from {trend.best:.2f} at {trend.best_labels} "
            f"labels to {trend.last:.2f} at {trend.last_labels}"
        )
    return [FidelityWarning(code, msg, TRY[code]) for code, msg in said.items()]
