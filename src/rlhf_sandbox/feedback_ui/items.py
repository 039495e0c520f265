"""What the app shows, one item at a time, and where the items come from.

Compare mode takes queries through the store's claims (a query goes to at most
``raters_wanted`` raters, however many apps run); each pair's left / right placement is
drawn at random when it is claimed and recorded with the label. Rate mode shows the run's
clips this rater has not rated yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rlhf_sandbox.store.db import DEFAULT_LEASE_S, PreferenceDB, QueryRow

COMPARE, RATE = "compare", "rate"
MODES = (COMPARE, RATE)


@dataclass(eq=False)
class Item:
    """One thing to judge: a query's two clips in shown order, or one clip to rate."""

    clips: tuple[str, ...]  # (shown left, shown right), or (clip,)
    query: QueryRow | None = None
    shown_at: float | None = None  # when its first frame was drawn (time.perf_counter)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.query.id if self.query is not None else self.clips[0]


class CompareSource:
    """Queries claimed from the store, with a random placement each."""

    def __init__(
        self, db: PreferenceDB, run: str, rater: str, seed: int | None, lease_s: float
    ) -> None:
        self.db, self.run, self.rater = db, run, rater
        self.rng = random.Random(seed)
        self.lease_s = lease_s

    def take(self, have: list[Item], want: int) -> list[Item]:
        """New items so that ``have`` (claimed before) plus them number ``want``."""
        known = {it.key for it in have}
        got = self.db.claim_queries(self.run, self.rater, max(want, len(have)), self.lease_s)
        out = []
        for q in got:
            if q.id in known:
                continue
            swap = self.rng.random() < 0.5
            clips = (q.right_clip, q.left_clip) if swap else (q.left_clip, q.right_clip)
            out.append(Item(clips, q))
        return out[: max(0, want - len(have))]

    def pending(self) -> int:
        return self.db.pending_count(self.run, self.rater)

    def renew(self, items: list[Item]) -> None:
        self.db.renew_claims(self.rater, [it.key for it in items], self.lease_s)

    def give_back(self, items: list[Item]) -> None:
        if items:
            self.db.release_claims(self.rater, [it.key for it in items])


class RateSource:
    """Clips of the run that this rater has not rated (skipped ones not again)."""

    def __init__(self, db: PreferenceDB, run: str, rater: str) -> None:
        self.db, self.run, self.rater = db, run, rater
        self.skipped: set[str] = set()

    def take(self, have: list[Item], want: int) -> list[Item]:
        known = {it.key for it in have} | self.skipped
        need = max(0, want - len(have))
        ids = self.db.unrated_clips(self.run, self.rater, need + len(known))
        return [Item((c,)) for c in ids if c not in known][:need]

    def pending(self) -> int:
        return len(self.db.unrated_clips(self.run, self.rater, 1_000_000)) - len(self.skipped)

    def renew(self, items: list[Item]) -> None:
        pass

    def give_back(self, items: list[Item]) -> None:
        pass


Source = CompareSource | RateSource


def make_source(
    mode: str,
    db: PreferenceDB,
    run: str,
    rater: str,
    seed: int | None = None,
    lease_s: float = DEFAULT_LEASE_S,
) -> Source:
    if mode == COMPARE:
        return CompareSource(db, run, rater, seed, lease_s)
    if mode == RATE:
        return RateSource(db, run, rater)
    raise ValueError(f"unknown mode {mode!r}: compare or rate")
