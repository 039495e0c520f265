"""Several roles in one run (``agents.rlhf.roles``) through the CLI: ``--env arena_v0`` alone
trains its companion and its guard together, each role with its own store, reward model,
policy and report under ``roles/ROLE/``; ``--teacher ROLE=SPEC,...`` does the same for
someone's own PettingZoo game; ``--resume`` continues every role; ``report``, ``raters``
and ``export`` take ``--role``; bad role maps are one ``Error:`` line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.run_folder import RUN

runner = CliRunner()
GAMES = Path(__file__).resolve().parents[1] / "envs"
FAR = oracle_from_callable(lambda f: f["distance"], name="far", features=("distance",))
SMALL = ["--n-envs", "4", "--n-steps", "64", "--timesteps", "1024", "--clip-seconds", "1"]


@pytest.fixture(autouse=True)
def _game_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(GAMES))


def _roles_of_clips(folder: Path) -> set[str]:
    store = ClipStore.open(str(folder / "store" / "prefs.sqlite"))
    try:
        return {store.get(i).config["subject"]["role"] for i in store.ids(RUN)}
    finally:
        store.db.close()


def _labels(folder: Path) -> int:
    store = ClipStore.open(str(folder / "store" / "prefs.sqlite"))
    try:
        return store.db.label_count(RUN)
    finally:
        store.db.close()


def test_the_arena_trains_companion_and_guard_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "npcs"
    args = ["train", "--env", "arena_v0", "--labels", "30", *SMALL, "--no-baseline",
            "--eval-episodes", "2", "--out", str(out)]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    plan = json.loads((out / "roles.json").read_text())
    assert plan["roles"] == ["companion", "guard"] and plan["env_id"] == "arena_v0"
    for role, teacher, n in (("companion", "companion", 15), ("guard", "guard", 15)):
        folder = out / "roles" / role
        s = json.loads((folder / "settings.json").read_text())
        assert s["env_kwargs"]["role"] == role and s["teacher"] == teacher and s["labels"] == n
        assert _labels(folder) == n  # each role asked for its own share
        assert _roles_of_clips(folder) == {role}  # a pair holds two clips of one role
        assert (folder / "policy.pt").is_file() and (folder / "reward_model.pt").is_file()
        assert (folder / "report" / "report.json").is_file()
    report = (out / "report.md").read_text()
    assert "## companion" in report and "## guard" in report
    assert "| companion | companion:perfect | 15 |" in report

    # --resume picks up both roles (finished: nothing more to train, labels unchanged)
    r = runner.invoke(app, ["train", "--resume", "--out", str(out), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "companion: 1,024 steps" in r.output and "guard: 1,024 steps" in r.output
    assert _labels(out / "roles" / "guard") == 15

    # a role of the run through the per-run commands
    r = runner.invoke(app, ["report", "--run", str(out), "--role", "guard", "--no-gif",
                            "--eval-episodes", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "roles/guard/report/report.md" in r.output.replace("\n", "")
    r = runner.invoke(app, ["raters", "--run", str(out), "--role", "companion", "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["raters", "--run", str(out)])
    assert r.exit_code == 2 and "pick one with --role" in r.output


def test_a_foreign_game_trains_two_roles_with_their_own_teachers(tmp_path: Path) -> None:
    out = tmp_path / "chase"
    teacher = f"chaser=env,runner={__name__}:FAR"
    args = ["train", "--env", "tiny_pz_game", "--teacher", teacher, "--labels",
            "chaser=12,runner=8", *SMALL, "--no-baseline", "--eval-episodes", "2",
            "--out", str(out)]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    chaser = json.loads((out / "roles" / "chaser" / "settings.json").read_text())
    run_r = json.loads((out / "roles" / "runner" / "settings.json").read_text())
    assert chaser["teacher"] == "env" and run_r["teacher"] == f"{__name__}:FAR"
    assert _labels(out / "roles" / "chaser") == 12 and _labels(out / "roles" / "runner") == 8
    assert _roles_of_clips(out / "roles" / "runner") == {"runner"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--teacher", "companion=companion,companion=guard"], "given twice"),
        (["--teacher", "companion=companion,guard"], "expected ROLE=VALUE"),
        (["--teacher", "companion=companion,wizard=guard"], "no NPC of role 'wizard'"),
        (["--teacher", "companion=companion,guard=guard", "--labels", "guard=3"], "names roles"),
        (["--teacher", "companion=companion,guard=courteous"], "role guard"),
        (["--teacher", "companion=companion"], "at least two roles"),
    ],
)
def test_bad_role_maps_write_nothing(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "bad"
    r = runner.invoke(app, ["train", "--env", "arena_v0", *extra, *SMALL, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.output.count("Error:") == 1 and message in r.output, r.output
    assert not out.exists()
