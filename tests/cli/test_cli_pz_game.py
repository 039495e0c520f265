"""Someone's own PettingZoo game in the loop through the CLI: ``train --env MODULE[:FACTORY]``
trains one role's shared policy that beats random on the game's reward, clips name the
judged agent and carry the game's numbers for plug-in teachers and its frames for people,
``report --run`` rebuilds the game from the spec, and every way the spec can be wrong is one
``Error:`` line, exit 2, nothing written.

The game is ``tests/envs/tiny_pz_game.py``; the runs import it by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable
from rlhf_sandbox.cli import app
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.run_folder import RUN

runner = CliRunner()
GAMES = Path(__file__).resolve().parents[1] / "envs"
GAME = "tiny_pz_game"
NEAR = oracle_from_callable(lambda f: -f["distance"], name="near", features=("distance",))
WINGS = oracle_from_callable(lambda f: f["wings"], name="wings", features=("wings",))

TINY = ["--env", GAME, "--env-arg", "role=chaser", "--n-envs", "4", "--n-steps", "64",
        "--timesteps", "256", "--labels", "8", "--clip-seconds", "1", "--no-report"]  # fmt: skip


@pytest.fixture(autouse=True)
def _game_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(GAMES))


def _clips(out: Path) -> list:  # type: ignore[type-arg]
    store = ClipStore.open(str(out / "store" / "prefs.sqlite"))
    try:
        return [store.get(i) for i in store.ids(RUN)]
    finally:
        store.db.close()


def test_a_trained_chaser_beats_random_on_the_games_reward(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--env", GAME, "--env-arg", "role=chaser", "--teacher", "env",
            "--labels", "60", "--timesteps", "16384", "--n-envs", "8", "--n-steps", "128",
            "--clip-seconds", "1", "--seed", "0", "--no-baseline", "--eval-episodes", "20",
            "--out", str(out)]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "settings.json").read_text())
    assert saved["env_id"] == GAME and saved["env_kwargs"] == {"role": "chaser"}
    scores = json.loads((out / "report" / "report.json").read_text())["scores"]
    trained, rand = scores["rlhf"]["env_return"], scores["random"]["env_return"]
    assert trained >= rand + 0.8, scores  # measured: -0.97 against -2.64 (seed 0)
    clips = _clips(out)
    assert clips and all(c.env_id == GAME and c.frames is None for c in clips)
    subjects = {(c.config["subject"]["agent"], c.config["subject"]["role"]) for c in clips}
    assert subjects == {("chaser_0", "chaser"), ("chaser_1", "chaser")}
    assert {"distance", "caught"} <= set(clips[0].features)
    report = (out / "report" / "report.md").read_text()
    assert "| distance |" in report and (out / "report" / "policy.gif").stat().st_size > 0
    # report --run builds the game again from the saved spec
    (out / "report" / "report.json").unlink()
    r = runner.invoke(app, ["report", "--run", str(out), "--eval-episodes", "4"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "report" / "report.json").read_text())["scores"]["rlhf"]


def test_a_plugin_teacher_reads_the_games_info_and_resume_rebuilds_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    teacher = f"{__name__}:NEAR"
    r = runner.invoke(app, ["train", *TINY, "--teacher", teacher, "--out", str(out)])
    assert r.exit_code == 0, r.output
    clips = _clips(out)
    assert clips and all(np.all(c.features["distance"] >= 0) for c in clips)
    state = json.loads((out / "checkpoint" / "loop.json").read_text())
    assert state["labels_asked"] == 8
    r = runner.invoke(app, ["train", "--resume", "--out", str(out), "--no-report"])
    assert r.exit_code == 0, r.output
    assert "(resumed)" in r.output


def test_clips_for_people_hold_the_copys_frames_and_name_the_agent(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", *TINY, "--teacher", "human", "--human-wait", "0", "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    clips = _clips(out)
    assert clips
    for c in clips:
        assert c.frames is not None and c.frames.shape[1:] == (48, 48, 3)
        assert len(c.frames) == c.T + 1 and c.fps == 10.0
        assert c.config["subject"]["role"] == "chaser"
        assert c.config["subject"]["agent"] in ("chaser_0", "chaser_1")


def _one_line(r: Result) -> str:
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


@pytest.mark.parametrize(
    ("env", "env_args", "teacher", "fragment"),
    [
        ("no_such_game_module:parallel_env", [], "env", "no module named 'no_such_game_module'"),
        ("no_such_game_module", [], "env", "no registered Gymnasium id"),
        (f"{GAME}:nope", ["role=chaser"], "env", "module 'tiny_pz_game' has no attribute 'nope'"),
        (f"{GAME}:not_a_game", ["role=chaser"], "env", "not a PettingZoo ParallelEnv"),
        (f"{GAME}:raises", ["role=chaser"], "env", "the level file is missing"),
        (GAME, ["role=guard"], "env", "roles found: chaser (chaser_0, chaser_1), runner"),
        (GAME, [], "env", "has 2 roles: name the one to train with --env-arg role=ROLE"),
        (GAME, ["role=chaser", "speed=3"], "env", "unexpected keyword argument 'speed'"),
        (f"{GAME}:mixed_spaces", ["role=chaser"], "env", "different observation spaces"),
        (f"{GAME}:multi_discrete", ["role=chaser"], "env", "acts in a MultiDiscrete"),
        (GAME, ["role=chaser", "roles_fn=nowhere"], "env", "roles_fn='nowhere': expected"),
        (GAME, ["role=chaser"], "companion", "the PettingZoo game 'tiny_pz_game' has none"),
        (GAME, ["role=chaser"], "courteous", "use teacher 'env' for its own reward"),
        (GAME, ["role=chaser"], f"{__name__}:WINGS", "reads feature 'wings', which"),
    ],
)  # fmt: skip
def test_a_game_that_cannot_be_trained_is_one_line_and_nothing_written(
    tmp_path: Path, env: str, env_args: list[str], teacher: str, fragment: str
) -> None:
    out = tmp_path / "run"
    args = ["train", "--env", env, "--teacher", teacher, "--timesteps", "64", "--n-envs", "2",
            "--n-steps", "16", "--labels", "4", "--clip-seconds", "1", "--no-report",
            "--out", str(out)]  # fmt: skip
    for a in env_args:
        args += ["--env-arg", a]
    line = _one_line(runner.invoke(app, args))
    assert fragment in line, line
    assert not out.exists()
