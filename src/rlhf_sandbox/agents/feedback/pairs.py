"""From what the store holds to what the reward model trains on.

* Pairwise labels become pairs directly: ``left`` / ``right`` / ``equal`` give a target
  P(left preferred) of 1 / 0 / 0.5, oriented by the clip that was shown on the left;
  ``cant_tell`` is a skip and trains nothing.
* Scores (1 to 5; from the ratings table, or given with a pairwise label for the clip shown
  on the left) become pairs between clips scored differently: clips sorted by their mean
  score, each preferred over the next lower one.
* Thumbs: each clip with thumbs up is preferred over a clip with thumbs down (paired in
  turn, the shorter list cycled).
* Demonstrations are preferred over the policy's clips of the run (in turn); a correction
  is preferred over the policy clip it replaces (same start state).

Clips whose length differs from the run's segment length are left out (``skipped``).
Tags and comments train nothing; they are kept for reports and filtering.

A share of the queries is kept out of every fit (:func:`queries_held_out`): their labels
neither train a model nor choose its epoch, so the report's agreement on them is unbiased
(:func:`labels_of_test_queries`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rlhf_sandbox.agents.reward.ensemble import PreferenceBatch
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.rows import QueryRow

CHOICE_TARGET = {"left": 1.0, "right": 0.0, "equal": 0.5}  # P(shown-left preferred)
DEMO_PAIRS = 4  # policy clips each demonstration is preferred over

ClipArrays = Callable[[str], tuple[np.ndarray, np.ndarray]]  # clip id -> (obs [T], act [T])


@dataclass
class FeedbackCounts:
    """How many labels of each kind the batch was built from."""

    choices: Counter[str] = field(default_factory=Counter)
    raters: Counter[str] = field(default_factory=Counter)
    rating_pairs: int = 0
    thumb_pairs: int = 0
    demo_pairs: int = 0
    test_labels: int = 0  # labels of test queries, kept out of the batch
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "choices": dict(self.choices),
            "raters": dict(self.raters),
            "rating_pairs": self.rating_pairs,
            "thumb_pairs": self.thumb_pairs,
            "demo_pairs": self.demo_pairs,
            "test_labels": self.test_labels,
            "skipped": self.skipped,
            "errors": self.errors[:5],
        }


def queries_held_out(queries: Sequence[QueryRow], share: float, seed: int) -> set[str]:
    """The ids of the queries whose labels no fit sees: query ``i`` of the run, in the order
    it was asked, when the ``i``-th number of a uniform stream seeded ``[seed, 4]`` is below
    ``share``. A longer run's set begins with a shorter one's, and a seed picks the same."""
    if share <= 0.0 or not queries:
        return set()
    u = np.random.default_rng([seed, 4]).random(len(queries))
    return {q.id for q, x in zip(queries, u, strict=True) if x < share}


def labels_of_test_queries(
    db: PreferenceDB, run: str, share: float, seed: int
) -> list[tuple[str, str, str]]:
    """The labels of ``run``'s test queries: ``(left clip, right clip, choice)``, the choice
    (left, right, equal, cant_tell) oriented to the query's own left clip."""
    rows = db.queries(run)
    queries = {q.id: q for q in rows}
    held = queries_held_out(rows, share, seed)
    out = []
    for label in db.labels(run):
        q = queries[label.query]
        if q.id not in held:
            continue
        choice = label.choice
        if label.shown_left != q.left_clip and choice in ("left", "right"):
            choice = "right" if choice == "left" else "left"
        out.append((q.left_clip, q.right_clip, choice))
    return out


def preference_batch(
    db: PreferenceDB,
    run: str,
    arrays: ClipArrays,
    length: int,
    test_share: float = 0.0,
    seed: int = 0,
) -> tuple[PreferenceBatch | None, FeedbackCounts]:
    """Every usable judgement of ``run`` as a :class:`PreferenceBatch` (``None`` if none),
    but for the labels of the test queries (:func:`queries_held_out`: ``test_share``,
    ``seed``)."""
    rows = db.queries(run)
    queries = {q.id: q for q in rows}
    held = queries_held_out(rows, test_share, seed)
    counts = FeedbackCounts()
    pairs: list[tuple[str, str, float]] = []
    ratings: dict[str, list[int]] = {}
    for label in db.labels(run):
        q = queries[label.query]
        counts.choices[label.choice] += 1
        counts.raters[label.rater] += 1
        if q.id in held:
            counts.test_labels += 1
            continue
        if label.rating is not None:
            ratings.setdefault(label.shown_left, []).append(label.rating)
        if label.choice not in CHOICE_TARGET:
            continue
        target = CHOICE_TARGET[label.choice]
        if label.shown_left != q.left_clip:
            target = 1.0 - target
        pairs.append((q.left_clip, q.right_clip, target))
    thumbs: dict[str, list[int]] = {}
    for r in db.ratings(run):
        counts.raters[r.rater] += 1
        if r.score is not None:
            ratings.setdefault(r.clip, []).append(r.score)
        if r.thumb is not None:
            thumbs.setdefault(r.clip, []).append(r.thumb)
    rated = sorted(ratings.items(), key=lambda kv: float(np.mean(kv[1])))
    for (lo, lo_r), (hi, hi_r) in itertools.pairwise(rated):
        if np.mean(hi_r) > np.mean(lo_r):
            pairs.append((hi, lo, 1.0))
            counts.rating_pairs += 1
    up = [c for c, t in thumbs.items() if np.mean(t) > 0]
    down = [c for c, t in thumbs.items() if np.mean(t) < 0]
    counts.thumb_pairs = _in_turn(up, down, pairs)
    demos = db.demonstrations(run)
    played = {d.clip for d in demos}
    policy = [c for c in db.clip_ids(run) if c not in played]
    for d in demos:
        counts.raters[d.rater] += 1
        if d.kind == "correction" and d.replaces is not None:
            pairs.append((d.clip, d.replaces, 1.0))
            counts.demo_pairs += 1
    shown = [d.clip for d in demos if d.kind == "demonstration"]
    for i, demo in enumerate(shown):  # each over a few policy clips, not all of them
        for k in range(min(DEMO_PAIRS, len(policy))):
            pairs.append((demo, policy[(i * DEMO_PAIRS + k) % len(policy)], 1.0))
            counts.demo_pairs += 1
    return _stack(pairs, arrays, length, counts), counts


def _in_turn(better: list[str], worse: list[str], pairs: list[tuple[str, str, float]]) -> int:
    """Pair each of ``better`` with one of ``worse`` in turn (the shorter list cycled)."""
    if not better or not worse:
        return 0
    n = max(len(better), len(worse))
    pairs.extend((better[i % len(better)], worse[i % len(worse)], 1.0) for i in range(n))
    return n


def _stack(
    pairs: list[tuple[str, str, float]], arrays: ClipArrays, length: int, counts: FeedbackCounts
) -> PreferenceBatch | None:
    ol, al, orr, ar, tgt = [], [], [], [], []
    for left, right, target in pairs:
        try:
            lo, la = arrays(left)
            ro, ra = arrays(right)
        except (KeyError, ValueError) as e:  # a missing or corrupt clip file: skip the pair
            counts.skipped += 1
            counts.errors.append(str(e))
            continue
        if len(lo) != length or len(ro) != length or lo.shape[1:] != ro.shape[1:]:
            counts.skipped += 1
            continue
        ol.append(lo)
        al.append(la)
        orr.append(ro)
        ar.append(ra)
        tgt.append(target)
    if not tgt:
        return None
    return PreferenceBatch(
        obs_left=np.stack(ol).astype(np.float32),
        act_left=np.stack(al),
        obs_right=np.stack(orr).astype(np.float32),
        act_right=np.stack(ar),
        target=np.asarray(tgt, dtype=np.float32),
        weight=np.ones(len(tgt), dtype=np.float32),
    )
