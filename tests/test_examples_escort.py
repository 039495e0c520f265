"""The example game of examples/escort/: a PettingZoo game the package does not ship, its
plug-in teacher, and the README's route through the CLI from the example's own folder.

The game passes PettingZoo's own tests, draws frames with something in them, puts each
escort where ``subject_position`` says (the feedback app's ring), refuses a bad setting with
one ``Error:`` line, and a tiny run of ``train --env escort --teacher teacher:GUARDIAN``
started in examples/escort/ (nothing on PYTHONPATH) trains an escort that beats random on
the teacher by a fixed margin (seed 0), stores its labels under the plug-in's name and
reports on it."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "escort"
CLI = str(Path(sys.executable).parent / "rlhf-sandbox")


@pytest.fixture
def game(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(FOLDER))
    monkeypatch.delitem(sys.modules, "escort", raising=False)
    return importlib.import_module("escort")


def _cli(*args: str, cwd: Path = FOLDER, timeout: float = 120) -> subprocess.CompletedProcess:
    """``rlhf-sandbox ARGS`` run in ``cwd`` as a user runs it: no PYTHONPATH, one thread."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_game_passes_pettingzoos_tests(game: ModuleType) -> None:
    from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, seed_test

    parallel_api_test(game.parallel_env(), num_cycles=250)  # past the end of an episode
    parallel_api_test(game.parallel_env(scripted_chasers=False), num_cycles=50)
    api_test(game.env(), num_cycles=20)
    max_cycles_test(game)
    seed_test(game.env, num_cycles=20)


def test_agents_roles_and_spaces(game: ModuleType) -> None:
    env = game.parallel_env()
    assert env.possible_agents == ["escort_0", "escort_1"]  # chasers scripted: one role
    both = game.parallel_env(n_escorts=3, scripted_chasers=False)
    assert both.possible_agents == ["escort_0", "escort_1", "escort_2", "chaser_0",
                                    "chaser_1", "chaser_2"]  # fmt: skip
    assert both.observation_space("escort_2").shape == (17,)  # 8 + 3 per chaser seen
    assert both.observation_space("chaser_0").shape == (11,)  # 5 + 2 per escort


def test_same_seed_same_episode_and_escorts_stay_on_the_field(game: ModuleType) -> None:
    def episode(seed: int) -> np.ndarray:
        env = game.parallel_env(max_cycles=60)
        env.reset(seed=seed)
        rng = np.random.default_rng(5)
        states = []
        while env.agents:
            env.step({a: int(rng.integers(9)) for a in env.agents})
            states.append(env.state())
        return np.stack(states)

    a, b, c = episode(1), episode(1), episode(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.abs(a) <= game.HALF)


@pytest.mark.parametrize("bearing", [0.0, 2.0, -2.6])  # where the VIP is from the escort
def test_actions_mean_the_same_in_the_vip_frame_wherever_the_vip_is(
    game: ModuleType, bearing: float
) -> None:
    """1 closes in on the VIP, 5 backs off, 3 and 7 circle it (the distance barely
    changes); the observation's VIP vector is (distance, 0) whatever the bearing."""
    speed = 0.05

    def after(action: int) -> tuple[float, np.ndarray]:
        env = game.parallel_env(n_escorts=1, n_chasers=1, vip_speed=1e-6, escort_speed=speed)
        env.reset(seed=0)
        env.vip = np.zeros(2)
        env.esc[0] = -0.5 * np.array([np.cos(bearing), np.sin(bearing)])
        env.cha[0] = np.array([0.0, 0.95])
        obs, _, _, _, infos = env.step({"escort_0": action})
        return infos["escort_0"]["vip_distance"], obs["escort_0"]

    (closer, obs), (farther, _) = after(1), after(5)
    assert closer == pytest.approx(0.5 - speed, abs=1e-5)
    assert farther == pytest.approx(0.5 + speed, abs=1e-5)
    assert obs[2:4] == pytest.approx([0.5 - speed, 0.0], abs=1e-5)
    for side in (3, 7):
        assert after(side)[0] == pytest.approx(np.hypot(0.5, speed), abs=1e-5)


def test_an_escort_between_the_vip_and_a_chaser_blocks_and_tackles_it(game: ModuleType) -> None:
    """An escort standing still on the line from the VIP to a chaser that runs at it counts
    as blocking, tackles the chaser when it arrives, and the VIP is not hit meanwhile."""
    env = game.parallel_env(n_escorts=1, n_chasers=1, vip_speed=1e-6, chaser_speed=0.05)
    env.reset(seed=0)
    env.cha[0] = env.vip + np.array([0.6, 0.0])
    env.esc[0] = env.vip + np.array([0.15, 0.0])
    seen = {"tackle": 0.0, "blocking": 0.0, "vip_hit": 0.0}
    for _ in range(15):
        _, _, _, _, infos = env.step({"escort_0": 0})
        for k in seen:
            seen[k] += infos["escort_0"][k]
    assert seen["tackle"] >= 1 and seen["blocking"] >= 1 and seen["vip_hit"] == 0, seen


def test_frames_show_the_game_and_the_ring_sits_on_its_escort(game: ModuleType) -> None:
    env = game.parallel_env(render_mode="rgb_array", render_size=200)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, _, _, _, infos = env.step({a: int(rng.integers(9)) for a in env.agents})
    frame = env.render()
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    for colour in (game.VIP_C, game.ESCORT_C, game.CHASER_C):
        assert np.all(frame == colour, axis=-1).sum() > 20, colour  # not blank: each is drawn
    blue = np.all(frame == game.ESCORT_C, axis=-1)
    for i, agent in enumerate(env.escorts):
        x, y, r = game.subject_position(agent, infos[agent])
        cx, cy = x * 200, y * 200
        assert 0 < r < 0.2
        yy, xx = np.nonzero(blue)
        near = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy) < r * 200
        assert near.sum() > 20, (agent, i)  # the escort's disc is inside its ring
    assert game.subject_position("escort_0", {"vip_distance": 0.3}) is None  # no place: no ring


def test_the_labelling_app_finds_the_hook_and_names_the_escort(game: ModuleType) -> None:
    """What ``label`` does with a clip of this game: the caption names the clip's escort,
    and the ring is where the game's ``subject_position`` puts it."""
    from rlhf_sandbox.feedback_ui.subject import subject_for

    sub = subject_for("escort", {"subject": {"agent": "escort_1", "role": "escort"}})
    assert sub.legend().startswith("Judge escort_1 (role escort), ringed in yellow")
    assert sub.locate_info is not None
    info = {"screen_x": 0.25, "screen_y": 0.75, "vip_distance": 0.3}
    assert tuple(sub.locate_info(info)) == game.subject_position("escort_1", info)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("scripted_chasers=False", "scripted_chasers must be true or false, got 'False'"),
        ("n_escorts=0", "n_escorts must be a whole number >= 1, got 0"),
        ("vip_speed=-1", "vip_speed must be a number in (0, 2), got -1"),
        ("wings=2", "unexpected keyword argument 'wings'"),
    ],
)
def test_a_bad_setting_is_one_error_line_and_nothing_written(
    game: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str, fragment: str
) -> None:
    from typer.testing import CliRunner

    from rlhf_sandbox.cli import app

    monkeypatch.chdir(FOLDER)  # as the README runs it (the folder is on sys.path already)
    out = tmp_path / "run"
    args = ["train", "--env", "escort", "--env-arg", setting, "--teacher", "teacher:GUARDIAN",
            "--timesteps", "64", "--labels", "4", "--out", str(out)]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines
    assert not out.exists()


def test_a_tiny_run_from_the_examples_folder_beats_random_on_its_teacher(tmp_path: Path) -> None:
    """The README's route, shrunk: shorter episodes, one chaser, a small network."""
    out = tmp_path / "run"
    config = tmp_path / "tiny.toml"
    config.write_text("[ppo]\ngamma = 0.97\nnet_arch = [64, 64]\nent_coef = 0.01\n")
    r = _cli(
        "train", "--env", "escort", "--teacher", "teacher:GUARDIAN", "--config", str(config),
        "--env-arg", "max_cycles=100", "--labels", "100", "--timesteps", "49152",
        "--n-envs", "8", "--n-steps", "128", "--clip-seconds", "2", "--seed", "0",
        "--no-baseline", "--eval-episodes", "10", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    saved = json.loads((out / "settings.json").read_text())
    assert saved["env_id"] == "escort" and saved["teacher"] == "teacher:GUARDIAN"
    with PreferenceDB(out / "store" / "prefs.sqlite") as db:
        labels = db.labels(RUN)
    assert len(labels) == 100 and {lab.rater for lab in labels} == {"teacher:GUARDIAN:perfect"}
    report = (out / "report" / "report.md").read_text()
    assert "teacher teacher:GUARDIAN:perfect" in report
    assert (out / "report" / "policy.gif").stat().st_size > 0
    scores = json.loads((out / "report" / "report.json").read_text())["scores"]
    trained, rand = scores["rlhf"]["oracle_return"], scores["random"]["oracle_return"]
    # measured: -9.62 against -35.22 (seeds 1, 2, 3: 0.97/-33.25, 8.34/-34.45, -25.01/-32.11)
    assert trained >= rand + 15, scores
