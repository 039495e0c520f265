"""People judge fault: an evaluation's collisions sent to the feedback app, and people's calls
set beside the rules' (``docs/HARNESS.md``, "Fault").

:func:`queue_collisions` copies the collision episodes' clips of an ``evaluate`` report
into a store under one clip group, records the rules' verdict on each as a rating by the
rater :data:`RULES` (a tag of :data:`FAULT_TAGS`, the rule as its comment: data, nothing
trains on it), and sets the run's question and rubric. People then rate those clips in
rate mode with the tags :data:`TAGS` (``label --mode rate --tags ...``), and
:func:`fault_agreement` tells, per rater, how often their call is the rules'.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.agents.evaluation.harness.fault import FAULTS
from rlhf_sandbox.agents.evaluation.intervals import wilson_bounds
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import store_db, store_root

RULES = "rules:fault"  # the rater name of the rules' verdicts
FAULT_TAGS = {"ego": "ego at fault", "other": "other at fault", "shared": "shared"}
CANT_TELL = "can't tell"
TAGS = (*(FAULT_TAGS[f] for f in FAULTS), CANT_TELL)
QUESTION = (
    "Whose fault is this collision? Tag one: ego at fault, other at fault, shared, can't tell"
)
RUBRIC = (
    "The ego is the ringed car. A car that runs into the back of another in its lane is at"
    " fault, whatever the one ahead did (braking, standing still).\n"
    "A car that moves into a lane close in front of another, too close for that one to"
    " brake in time, is at fault; with room to brake, the follower is.\n"
    "At a crossing, the car that entered later is at fault. Both as much: shared. If the"
    " clip does not show enough: can't tell."
)


def queue_collisions(store: ClipStore, report: Path, group: str) -> int:
    """Copy the collision clips of the ``evaluate`` report folder ``report`` into ``store``
    (clip group ``group``, ids kept), with the rules' verdicts as :data:`RULES` ratings;
    returns how many. A report with no collision clip is a ValueError, nothing written."""
    rows = collision_rows(report)
    root = store_root(report)
    if root is None:
        raise ValueError(f"{report} holds no store of clips (evaluate with --clips all or worst)")
    src = ClipStore(root, PreferenceDB(store_db(root)))
    try:
        have = set(store.db.clip_ids())
        clips = [src.get(r["clip_id"]) for r in rows if r["clip_id"] not in have]
    finally:
        src.db.close()
    store.add([dataclasses.replace(c, run=group) for c in clips])
    for r in rows:
        store.db.add_rating(r["clip_id"], RULES, tags=[FAULT_TAGS[r["fault"]]], comment=r["rule"])
    return len(rows)


def collision_rows(report: Path) -> list[dict[str, Any]]:
    """The collisions of a report's ``metrics.json`` that have a clip (both policies)."""
    path = report / "metrics.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{report} is not a report of evaluate (no metrics.json)") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    coll = data.get("collisions") if isinstance(data, dict) else None
    if not isinstance(coll, dict):
        raise ValueError(f"{path} has no collisions list (a report of an older evaluate?)")
    rows = [r for runs in coll.values() for r in runs if isinstance(r, dict) and r.get("clip_id")]
    if not rows:
        raise ValueError(
            f"{report}: no collision has a stored clip (no collisions, or --clips none)"
        )
    bad = [r for r in rows if r.get("fault") not in FAULT_TAGS]
    if bad:
        raise ValueError(f"{path}: unknown fault {bad[0].get('fault')!r}")
    return rows


@dataclass(frozen=True)
class FaultAgreement:
    """One rater's fault calls on clips the rules judged: ``agree`` of ``called`` (their
    tag is the rules'), ``cant_tell`` not counted, ``confusion[rules][theirs]``."""

    rater: str
    called: int
    agree: int
    cant_tell: int
    interval: tuple[float, float]
    confusion: dict[str, dict[str, int]]

    @property
    def share(self) -> float | None:
        return self.agree / self.called if self.called else None

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "share": self.share}


def fault_agreement(db: PreferenceDB, run: str | None = None) -> list[FaultAgreement]:
    """Per rater, their fault calls against the rules' on the clips :data:`RULES` rated
    (a rating with none or several fault tags is not a call)."""
    ratings = db.ratings(run)
    rules = {r.clip: _call(r.tags) for r in ratings if r.rater == RULES}
    out = []
    for rater in sorted({r.rater for r in ratings if r.rater != RULES and r.clip in rules}):
        mine = [(rules[r.clip], _call(r.tags)) for r in ratings if r.rater == rater]
        calls = [(a, b) for a, b in mine if a is not None and b is not None]
        decided = [(a, b) for a, b in calls if b != CANT_TELL]
        agree = sum(a == b for a, b in decided)
        confusion: dict[str, dict[str, int]] = {}
        for a, b in calls:
            row = confusion.setdefault(str(a), {})
            row[str(b)] = row.get(str(b), 0) + 1
        lo, hi = wilson_bounds(agree, len(decided)) if decided else (0.0, 1.0)
        out.append(
            FaultAgreement(
                rater, len(decided), agree, len(calls) - len(decided), (lo, hi), confusion
            )
        )
    return out


def _call(tags: list[str] | tuple[str, ...]) -> str | None:
    calls = [t for t in tags if t in TAGS]
    return calls[0] if len(calls) == 1 else None
