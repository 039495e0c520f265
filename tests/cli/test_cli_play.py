"""``rlhf-sandbox play`` headless: demonstrations, corrections with a saved policy, errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()
FAST = ["--env-arg", "policy_hz=5", "--env-arg", "vehicles=10", "--clip-seconds", "0.6"]


def test_play_headless_stores_demonstrations(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["play", "Highway-v0", "--run", str(run), "--headless", "--max-steps", "7"]
    res = runner.invoke(
        app, [*args, *FAST, "--rater", "dee", "--screenshot", str(tmp_path / "s.png")]
    )
    assert res.exit_code == 0, res.output
    assert "saved 3 demonstration clip(s)" in res.output and (tmp_path / "s.png").stat().st_size
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        assert [d.rater for d in db.demonstrations("main")] == ["dee"] * 3


def test_play_correction_with_a_saved_policy(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    from rlhf_sandbox.agents.policy.ppo import save_policy

    env = gym.make("rlhf_sandbox/Highway-v0", policy_hz=5, vehicles=10)
    model = PPO("MlpPolicy", env, n_steps=64, policy_kwargs={"net_arch": [8]}, device="cpu")
    save_policy(model, tmp_path / "pol" / "policy.pt")
    env.close()
    run = tmp_path / "run"
    args = ["play", "Highway-v0", "--run", str(run), "--headless", "--max-steps", "5", *FAST]
    res = runner.invoke(app, [*args, "--correct", "--policy", str(tmp_path / "pol")])
    assert res.exit_code == 0, res.output
    assert "0 correction pair(s)" in res.output  # nobody pressed T: the policy drove


def test_play_bad_input(tmp_path: Path) -> None:
    run = str(tmp_path / "r")
    cases = [
        (["play", "Nope-v0", "--headless", "--max-steps", "1"], "unknown env id 'Nope-v0'"),
        (["play", "Highway-v0", "--headless"], "--max-steps"),
        (["play", "Highway-v0", "--run", run, "--policy", run], "--correct"),
        (["play", "Highway-v0", "--run", run, "--correct"], "needs --policy"),
        (["play", "Highway-v0", "--run", run, "--role", "player"], "for the arena"),
        (["play", "Highway-v0", "--run", run, "--role", "boss"], "npc or player"),
        (["play", "Highway-v0", "--run", run, "--env-arg", "lanes=99"], "lanes"),
        (["play", "Highway-v0", "--run", run, "--correct", "--policy", run + "/x.pt"], "no policy"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Error:" in res.output and message in res.output, res.output


def test_play_bad_policy_files_and_clip_length(tmp_path: Path) -> None:
    """A corrupt policy.pt used to end in a torch traceback (exit 1), a file that is not a
    zip in "Error: Error: ..."; --clip-seconds 0 silently became the default 2 s."""
    from stable_baselines3 import PPO

    from rlhf_sandbox.agents.policy.ppo import save_policy

    env = gym.make("rlhf_sandbox/Highway-v0")
    model = PPO("MlpPolicy", env, n_steps=64, policy_kwargs={"net_arch": [8]}, device="cpu")
    save_policy(model, tmp_path / "pol" / "policy.pt")
    env.close()
    pt = tmp_path / "pol" / "policy.pt"
    pt.write_bytes(pt.read_bytes()[:300])
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    run = str(tmp_path / "r")
    base = ["play", "Highway-v0", "--run", run, "--headless", "--max-steps", "1"]
    cases = [
        ([*base, "--correct", "--policy", str(tmp_path / "pol")], "cannot load the policy"),
        ([*base, "--correct", "--policy", str(junk)], "cannot load the policy"),
        ([*base, "--clip-seconds", "0"], "--clip-seconds must be positive"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), lines
        assert message in lines[0] and "Error: Error" not in lines[0], lines


def test_play_without_seed_starts_a_fresh_episode_each_session(tmp_path: Path) -> None:
    """Without --seed every session used to play the very same seed chain (same traffic)."""
    run = tmp_path / "run"
    args = ["play", "Highway-v0", "--run", str(run), "--headless", "--max-steps", "3", *FAST]
    for _ in range(2):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    with PreferenceDB(run / "store" / "prefs.sqlite") as db:
        seeds = {db.get_clip(d.clip).seed for d in db.demonstrations("main")}
    assert len(seeds) == 2
    res = runner.invoke(app, [*args, "--seed", "11"])
    assert "seed 11 " in " ".join(res.stdout.split())
