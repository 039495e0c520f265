"""An evaluation's collisions with their fault: what people may be asked to judge.

``list_collisions(run)`` gives one :class:`Collision` per episode of ``run`` (a
:class:`~rlhf_sandbox.agents.evaluation.harness.runner.SuiteResult`) that ended in a
collision of the ego, in suite order, with the rules' verdict (``fault.py``). A report's
``metrics.json`` holds the same list per policy under ``"collisions"``, each with the id of
the episode's clip in the report's store (``clip_id``; ``None`` with ``--clips none`` or
for an episode ``--clips worst`` left out), so a queue can send those clips for rating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlhf_sandbox.agents.evaluation.harness.fault import FAULTS
from rlhf_sandbox.agents.evaluation.harness.runner import Episode, SuiteResult

__all__ = ["FAULTS", "Collision", "collisions_json", "list_collisions"]


@dataclass(frozen=True)
class Collision:
    """One collision of the ego and the rules' verdict on it."""

    scenario: str
    seed: int
    episode: int  # the scenario's k-th seed
    fault: str  # "ego", "other" or "shared" (fault.FAULTS)
    rule: str  # the rule that decided, in words
    other: int  # the other vehicle's index in the world (-1: not found)
    time_s: float  # from the episode's start to the contact [s]
    episode_ref: Episode  # the episode itself (its clip, states, actions)

    def to_json(self, clip_id: str | None = None) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "seed": self.seed, "episode": self.episode,
            "fault": self.fault, "rule": self.rule, "other": self.other,
            "time_s": self.time_s, "clip_id": clip_id,
        }  # fmt: skip


def list_collisions(run: SuiteResult) -> list[Collision]:
    """Every collision episode of ``run`` with its fault, in suite order."""
    out = []
    for e in run.episodes:
        if e.fault is None:
            continue
        f = e.fault
        out.append(Collision(e.scenario, e.seed, e.index, f.fault, f.rule, f.other, f.time_s, e))
    return out


def collisions_json(run: SuiteResult, clip_ids: dict[int, str]) -> list[dict[str, Any]]:
    """:func:`list_collisions` as JSON, with each episode's clip id (``{id(episode): id}``)."""
    return [c.to_json(clip_ids.get(id(c.episode_ref))) for c in list_collisions(run)]
