"""bench/two_roles.py (not its timings): the three commands mean what they say to the CLI,
the order turns, and the ratios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import two_roles as tr  # noqa: E402


def _flag(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


@pytest.mark.parametrize("singles", ["arena_v0", "ids"])
def test_commands_one_run_of_both_roles_and_one_per_role(singles: str, tmp_path: Path) -> None:
    from rlhf_sandbox.cli.train import roles_run

    cmds = tr.commands(4096, 30, 2, singles)
    assert set(cmds) == set(tr.RUNS)
    for name, argv in cmds.items():
        assert argv[0] == "train" and "--no-report" in argv
        assert _flag(argv, "--timesteps") == ["4096"] and _flag(argv, "--seed") == ["2"]
        args = _flag(argv, "--env-arg")
        is_both = roles_run(_flag(argv, "--env")[0], None if name == "both" else name,
                            args, tmp_path / name, False)  # fmt: skip
        assert is_both == (name == "both")
    assert _flag(cmds["both"], "--labels") == ["60"] and not _flag(cmds["both"], "--teacher")
    for role in ("companion", "guard"):
        assert _flag(cmds[role], "--teacher") == [role] and _flag(cmds[role], "--labels") == ["30"]
        if singles == "ids":
            assert _flag(cmds[role], "--env") == [tr.SINGLE_IDS[role]]
        else:
            assert _flag(cmds[role], "--env") == ["arena_v0"]
            assert _flag(cmds[role], "--env-arg") == [f"role={role}"]


def test_each_run_comes_first_in_turn() -> None:
    firsts = [tr.order(r)[0] for r in range(6)]
    assert firsts == ["both", "companion", "guard"] * 2
    assert all(sorted(tr.order(r)) == sorted(tr.RUNS) for r in range(3))


def test_ratios_per_repeat_and_of_medians() -> None:
    t = tr.Timing
    reps = [
        {"both": t(6.0, 10.0), "companion": t(5.0, 6.0), "guard": t(5.0, 6.0)},
        {"both": t(9.0, 12.0), "companion": t(5.0, 7.0), "guard": t(5.0, 5.0)},
        {"both": t(8.0, 11.0), "companion": t(6.0, 6.0), "guard": t(4.0, 6.0)},
    ]
    wall = tr.ratios(reps, "wall")
    assert wall["per_repeat"] == pytest.approx([0.6, 0.9, 0.8])
    assert wall["median"] == pytest.approx(0.8) and (wall["min"], wall["max"]) == (0.6, 0.9)
    assert wall["median_seconds"] == {"both": 8.0, "companion": 5.0, "guard": 5.0}
    assert wall["ratio_of_medians"] == pytest.approx(0.8)
    assert tr.ratios(reps, "cpu")["median"] == pytest.approx(11 / 12)
