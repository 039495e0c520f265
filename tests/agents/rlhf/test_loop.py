"""The RLHF loop end to end: budgets, teachers, relabelling, human labels, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig
from rlhf_sandbox.agents.reward.wrappers import learned_rewards
from rlhf_sandbox.agents.rlhf.loop import RUN, RLHFLoop
from rlhf_sandbox.agents.rlhf.report import write_report
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, label_schedule
from rlhf_sandbox.agents.teachers.oracles import get_oracle
from rlhf_sandbox.cli import app
from rlhf_sandbox.envs.replay import clip_frame
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder

ENV = "rlhf_sandbox/Highway-v0"
KW = {"policy_hz": 5, "duration": 8.0, "vehicles": 12, "lanes": 3}
SMALL_PPO = PPOSettings(n_envs=4, n_steps=64, batch_size=128, n_epochs=2, net_arch=(32, 32))
SMALL_RM = RewardModelConfig(hidden=(32, 32), max_epochs=20)


def _settings(**kw: object) -> RLHFSettings:
    base: dict[str, object] = dict(
        env_id=ENV, env_kwargs=KW, labels=40, timesteps=1024, clip_seconds=1.0,
        ppo=SMALL_PPO, reward_model=SMALL_RM,
    )  # fmt: skip
    base.update(kw)
    return RLHFSettings(**base)  # type: ignore[arg-type]


def test_label_schedule_sums_and_decays() -> None:
    s = _settings(labels=500, timesteps=256 * 40)
    sched = label_schedule(s)
    assert len(sched) == 40 and sched.sum() == 500
    assert sched[0] == 125  # initial share 0.25, on the random policy's rollout
    assert sched[1] > sched[-1] >= 0
    assert label_schedule(_settings(labels=7, timesteps=256)).tolist() == [7]


def test_synthetic_run_honours_budgets_and_relabels(tmp_path: Path) -> None:
    s = _settings(timesteps=1000)  # not a multiple of the rollout (256)
    loop = RLHFLoop(s, tmp_path / "run")
    state = loop.train(progress=False)
    assert s.timesteps <= state.num_timesteps < s.timesteps + s.rollout
    assert state.labels_asked == 40 and loop.db.label_count(RUN) == 40
    assert state.model_version >= 2 and loop.learned.model is loop.model
    # the last rollout was relabelled by the newest model (time-out bootstraps aside)
    buf = loop.algo.rollout_buffer
    rec = loop.recorder
    idx = rec.order()[-buf.buffer_size :]
    pred = learned_rewards(
        loop.model,
        rec.obs[idx].reshape(-1, rec.obs.shape[-1]),
        rec.actions[idx].reshape(-1),
        rec.terminated[idx].reshape(-1),
        loop.learned.tail,
    ).reshape(buf.rewards.shape)
    plain = ~rec.done[idx] | rec.terminated[idx]  # time-outs carry SB3's bootstrap
    assert rec.terminated[idx].any()
    np.testing.assert_allclose(buf.rewards[plain], pred[plain], rtol=1e-4, atol=1e-5)
    # a window cut short by a crash is stored short and padded for the model, never spilling
    # into the next episode
    assert all(loop.db.get_clip(c).T <= loop.T for c in loop.db.clip_ids(RUN))
    seg = rec.segments(loop.T)
    short = np.flatnonzero(seg.real < loop.T)
    assert short.size  # the ring holds crashes: their windows are offered cut short
    j = int(short[0])
    clip = rec.clip(int(seg.slot[j]), int(seg.start[j]), int(seg.real[j]), loop.source)
    assert seg.real[j] == clip.T and clip.features["terminated"][-1] == 1
    assert not clip.features["terminated"][:-1].any()
    loop.clips.add([clip])
    obs, _ = loop._clip_arrays(clip.id)
    assert obs.shape[0] == loop.T and obs[-1, -1] == 1.0  # padded with absorbing steps
    with pytest.raises(ValueError, match="crosses an episode end"):
        rec.clip(int(seg.slot[j]), int(seg.start[j]), loop.T, loop.source)
    # one consistent checkpoint: loop.json names the only files left
    ck = tmp_path / "run" / "checkpoint"
    tag = json.loads((ck / "loop.json").read_text())["checkpoint"]
    assert {p.name for p in ck.iterdir()} == {
        "loop.json", f"policy-{tag}.pt", f"policy-{tag}.json", f"optimizer-{tag}.pt",
        f"reward_model-{tag}.pt", f"reward_model-{tag}.json",
    }  # fmt: skip
    loop.close()
    assert (tmp_path / "run" / "policy.pt").exists()
    assert (tmp_path / "run" / "reward_model.pt").exists()
    with pytest.raises(FileExistsError):
        RLHFLoop(s, tmp_path / "run")


def test_refit_growth_still_fits_the_last_labels(tmp_path: Path) -> None:
    # refit when the labels have tripled: 10 on the first rollout, then 30; the last 10 of the
    # 40 never reach 90, yet the run's last model must have learned from all of them
    s = _settings(timesteps=256 * 8, refit_growth=2.0)
    loop = RLHFLoop(s, tmp_path / "run")
    state = loop.train(progress=False)
    loop.close()
    fitted = [h["labels"] for h in state.history]
    assert fitted[0] == 10 and fitted[-1] == 40 == state.labels_used
    assert len(fitted) < 8  # still fewer fits than rollouts with new labels


def test_foreign_envs_box_and_discrete(tmp_path: Path) -> None:
    for env_id in ("Pendulum-v1", "CartPole-v1"):
        s = _settings(env_id=env_id, env_kwargs={}, teacher="env", clip_seconds=0.3)
        loop = RLHFLoop(s, tmp_path / env_id)
        state = loop.train(progress=False)
        loop.close()
        assert state.model_version >= 1 and state.labels_asked == 40


def test_trpo_option(tmp_path: Path) -> None:
    s = _settings(ppo=SMALL_PPO.__class__(**{**SMALL_PPO.to_json(), "algo": "trpo"}))
    loop = RLHFLoop(s, tmp_path / "trpo")
    assert type(loop.algo).__name__ == "TRPO"
    state = loop.train(progress=False)
    loop.close()
    assert state.model_version >= 1


def test_teacher_must_fit_the_env(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="courteous"):
        RLHFLoop(_settings(env_id="Pendulum-v1", env_kwargs={}), tmp_path / "x")
    with pytest.raises(ValueError, match="unknown teacher"):
        RLHFLoop(_settings(teacher="nice"), tmp_path / "y")
    long_clips = _settings(env_id="CartPole-v1", env_kwargs={}, teacher="env", clip_seconds=2.0)
    with pytest.raises(ValueError, match="do not fit a rollout"):  # 100 steps > n_steps 64
        RLHFLoop(long_clips, tmp_path / "z")


def test_human_teacher_without_labels_keeps_training(tmp_path: Path) -> None:
    s = _settings(teacher="human", human_wait_s=0.05)
    loop = RLHFLoop(s, tmp_path / "h")
    t0 = time.monotonic()
    state = loop.train(progress=False)
    assert time.monotonic() - t0 < 60
    assert s.timesteps <= state.num_timesteps < s.timesteps + s.rollout
    assert state.model_version == 0 and loop.db.label_count(RUN) == 0
    assert len(loop.db.queries(RUN)) == 40  # asked, never answered
    loop.close()


def test_human_labels_arriving_mid_run_train_the_policy(tmp_path: Path) -> None:
    out = tmp_path / "h"
    s = _settings(teacher="human", human_wait_s=2.0, human_min_labels=5, timesteps=2048)
    loop = RLHFLoop(s, out)
    oracle = get_oracle("courteous")
    stop = threading.Event()
    answered: list[str] = []

    def person() -> None:  # another connection, as the labelling app would be
        time.sleep(0.5)
        with PreferenceDB(out / "store" / "prefs.sqlite") as db:
            store = ClipStore(out / "store", db)
            while not stop.is_set():
                for q in db.pending_queries(RUN, "alice", limit=5):
                    a, b = store.get(q.left_clip), store.get(q.right_clip)
                    ra = oracle(a.features, a.rewards.astype(float)).sum()
                    rb = oracle(b.features, b.rewards.astype(float)).sum()
                    answered.append(db.add_label(q.id, "alice", "left" if ra >= rb else "right"))
                time.sleep(0.1)

    t = threading.Thread(target=person)
    t.start()
    try:
        state = loop.train(progress=False)
    finally:
        stop.set()
        t.join()
    assert answered and state.model_version >= 1
    first = state.history[0]
    assert first["timesteps"] < state.num_timesteps  # the policy trained on it afterwards
    assert loop.learned.model is loop.model
    versions = loop.db.reward_models(RUN)
    assert [v.version for v in versions] == list(range(1, state.model_version + 1))
    loop.close()
    # the report of a run taught by people: no oracle, so no pool; their held-out labels
    rep = write_report(out, episodes=2, gif=False)
    f = rep.data["fidelity"]
    assert "pool" not in f and f["features"] == [] and f["curve"] == []
    assert f["heldout_labels"]["n_labels"] >= 0 and f["raters"]["agreement"] is None
    md = rep.path.read_text()
    assert "No oracle: the model is measured against people's held-out labels" in md
    assert "every query had one rater" in md


def test_cli_tiny_run_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = [
        "train", "--env", ENV, "--teacher", "courteous:mistake", "--labels", "50",
        "--timesteps", "2048", "--out", str(out), "--n-envs", "4", "--n-steps", "64",
        "--env-arg", "policy_hz=5", "--env-arg", "duration=8.0", "--clip-seconds", "1",
        "--no-baseline", "--eval-episodes", "4",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rep = out / "report"
    text = (rep / "report.md").read_text()
    assert "courteous:mistake" in text and "Pearson r" in text
    data = json.loads((rep / "report.json").read_text())
    assert sum(data["labels"].values()) == 50
    assert set(data["scores"]) == {"rlhf", "random"}
    for png in ("reward_model.png", "correlation.png", "returns.png", "labels.png"):
        assert (rep / png).stat().st_size > 5_000
    assert (rep / "policy.gif").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "Nope-v0"], "unknown env id"),
        (["--env", ENV, "--teacher", "kind"], "unknown teacher"),
        (["--env", ENV, "--teacher", "courteous:grumpy"], "unknown rater preset"),
        (["--env", ENV, "--query", "best"], "RLHFSettings.query_method must be one of"),
        (["--env", ENV, "--env-arg", "lanes"], "KEY=VALUE"),
        (["--env", ENV, "--env-arg", "lanez=3"], "lanez"),
        (["--resume", "--timesteps", "5"], "drop --timesteps"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x" / "checkpoint").exists()


@pytest.mark.slow
def test_resume_continues_a_killed_run(tmp_path: Path) -> None:
    out = tmp_path / "k"
    base = [
        sys.executable, "-m", "rlhf_sandbox.cli", "train", "--out", str(out),
        "--no-report",
    ]  # fmt: skip
    first = [
        *base, "--env", ENV, "--teacher", "courteous", "--labels", "60",
        "--timesteps", "6144", "--n-envs", "4", "--n-steps", "64", "--clip-seconds", "1",
        "--env-arg", "policy_hz=5", "--env-arg", "duration=8.0",
    ]  # fmt: skip
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen(first, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    loop_json = out / "checkpoint" / "loop.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if loop_json.exists() and json.loads(loop_json.read_text())["iteration"] >= 3:
            break
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = json.loads(loop_json.read_text())
    assert not killed["done"] and killed["num_timesteps"] < 6144
    result = subprocess.run([*base, "--resume"], env=env, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    final = json.loads(loop_json.read_text())
    assert final["done"] and 6144 <= final["num_timesteps"] < 6144 + 256
    assert final["iteration"] > killed["iteration"]
    assert final["labels_asked"] == 60
    with PreferenceDB(out / "store" / "prefs.sqlite") as db:
        assert db.label_count(RUN) == 60  # every label asked, none twice


def test_arena_v0_trains_one_shared_policy_per_role(tmp_path: Path) -> None:
    s = _settings(
        env_id="arena_v0",
        env_kwargs={"roles": ["companion", "companion", "guard"], "max_steps": 60},
        teacher="companion",
        clip_seconds=1.0,
    )
    loop = RLHFLoop(s, tmp_path / "arena")
    assert loop.s.env_kwargs["role"] == "companion"  # the oracle names the role
    assert loop.venv.num_envs == 4  # 2 worlds x 2 companions share the policy
    state = loop.train(progress=False)
    loop.close()
    assert state.model_version >= 1 and state.labels_asked == 40
    # the arena's reward model takes the distance to the player beside the observation
    saved = RewardEnsemble.load(RunFolder(tmp_path / "arena").reward_model)
    assert saved.config.input_features == loop.model.config.input_features == "arena"
    with PreferenceDB(tmp_path / "arena" / "store" / "prefs.sqlite") as db:
        store = ClipStore(tmp_path / "arena" / "store", db)
        clip = store.get(db.clip_ids(RUN)[0])
    frame = clip_frame(clip, 0)
    assert clip.env_id == "arena_v0" and frame.std() > 5  # re-renders, not blank
    rep = write_report(tmp_path / "arena", episodes=4)
    assert "companion" in rep.path.read_text()
    assert set(rep.data["scores"]) == {"rlhf", "random"}  # no baseline asked for
    assert (tmp_path / "arena" / "report" / "policy.gif").stat().st_size > 5_000
