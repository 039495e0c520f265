"""bench/companion_schedule.py: its variants are the settings they say, every one on the
NPC suite's companion cell with the same fast refits, and the summary reads only the cells
that exist."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import companion_schedule as cs  # noqa: E402
import npc_suite as ns  # noqa: E402
import preference_suite as ps  # noqa: E402


def settings(variant: str) -> object:
    return cs.cell_settings(variant, 3)


def test_variants_differ_only_in_what_they_name() -> None:
    got = {v: settings(v) for v in cs.VARIANTS if v not in cs.VARIANT_TASK}
    d = got["defaults"]
    assert (d.explore_steps, d.initial_label_share, d.label_decay) == (0, 0.25, 4.0)
    assert got["explore"] == dataclasses.replace(d, explore_steps=51_200)
    assert got["even labels"] == dataclasses.replace(d, initial_label_share=0.1, label_decay=0.0)
    # the row "both" is the NPC suite's cells: the two together, with the same refits
    suite = ps.rlhf_settings(ns.npc_tasks()["companion"], ns.RATER, ns.LABELS, 3)
    assert suite == dataclasses.replace(d, explore_steps=51_200, initial_label_share=0.1,
                                        label_decay=0.0)  # fmt: skip
    # every variant: the suite's companion cell (seed, labels, steps, clips) with its refits
    for s in got.values():
        assert (s.seed, s.labels, s.timesteps, s.clip_seconds) == (3, 500, 500_000, 3.0)
        assert s.refit_growth == 0.25 and s.teacher == "companion"
    # the guard's cell with the companion's settings: the guard's task, the same four changes
    guard = settings("guard: both")
    suite_guard = ps.rlhf_settings(ns.npc_tasks()["guard"], ns.RATER, ns.LABELS, 3)
    assert guard == dataclasses.replace(suite_guard, **ns.COMPANION_RLHF)
    assert (guard.teacher, guard.timesteps, suite_guard.explore_steps) == ("guard", 300_000, 0)
    assert cs.cell_path("guard: both", 1).name == "guard_both__s1.json"


def test_summary_reads_the_cells_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cs, "OUT", tmp_path / "schedule")
    monkeypatch.setattr(ns, "OUT", tmp_path / "suite")
    cs.OUT.mkdir()
    ns.OUT.mkdir()
    for key, R in (("random", -10.0), *((f"ppo__s{s}", 10.0 + s) for s in range(5))):
        (ns.OUT / f"companion__{key}.json").write_text(json.dumps({"R": R}))  # R_PPO median 12
    for seed, norm in ((0, 0.5), (1, 0.9), (2, 0.7)):
        cell = {"variant": "explore", "seed": seed, "normalised": norm, "pool": 0.8 + seed / 100}
        cs.cell_path("explore", seed).write_text(json.dumps(cell))
    suite = {"R": 1.0, "fidelity": {"pool": {"value": 0.9}}}  # (1 + 10) / (12 + 10) = 0.5
    (ns.OUT / "companion__perfect__500__s4.json").write_text(json.dumps(suite))
    text = cs.summary()
    assert "| explore | 0.50, 0.90, 0.70 | 0.70 (partial) | 0.81 |" in text
    assert f"| {cs.BOTH} | 0.50 | 0.50 (partial) | 0.90 |" in text
    assert "defaults" not in text  # no cell of it: no row, nothing invented
    assert cs.cell_path("even labels", 4).name == "even_labels__s4.json"


def test_terms_table_without_policies_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ns, "OUT", tmp_path / "suite")
    monkeypatch.setattr(cs, "DEFAULTS_POLICIES", tmp_path / "defaults")
    assert cs.terms_table() == "no policies kept"
