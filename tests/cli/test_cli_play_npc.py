"""``play arena_v0 --npc``: the person drives the NPC picked, and its demonstrations are
stored for its role (in the run, or the role's folder, that trains that role)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from rlhf_sandbox.cli import app
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import ArenaAgentsCore
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB

runner = CliRunner()
ROLES: Any = ["companion", "guard", "companion", "villager"]  # companion_1 is NPC 2
ROLE_ARGS = ["--env-arg", f"roles={json.dumps(ROLES)}", "--env-arg", "layout=open"]
SCRIPTED = ["--env-arg", 'scripted_roles=["villager"]']
FAST = ["--headless", "--max-steps", "4", "--seed", "5", "--clip-seconds", "0.2"]


def _clips(folder: Path) -> list:
    """The demonstration clips stored in ``folder``'s store, in order."""
    with PreferenceDB(folder / "store" / "prefs.sqlite") as db:
        ids = [d.clip for d in db.demonstrations("main") if d.kind == "demonstration"]
        store = ClipStore(folder / "store", db)
        return [store.get(i) for i in ids]


def _first_obs(npc: int, seed: int = 5) -> np.ndarray:
    """NPC ``npc``'s first observation in a lone world of ROLES seeded ``seed``."""
    core = ArenaAgentsCore(ArenaConfig(roles=tuple(ROLES), layout="open"), 1, (npc,))
    core.reset_slots(np.ones(1, dtype=bool), np.array([seed]))
    return np.asarray(core.observe()[0], dtype=np.float32)


def test_play_npc_by_name_or_index_drives_that_npc(tmp_path: Path) -> None:
    for pick in ("companion_1", "2"):
        run = tmp_path / pick
        res = runner.invoke(
            app, ["play", "arena_v0", "--npc", pick, "--run", str(run), *FAST, *ROLE_ARGS]
        )
        assert res.exit_code == 0, res.output
        assert "saved 2 demonstration clip(s)" in res.output
        clips = _clips(run)
        assert len(clips) == 2 and all(c.env_id == "arena_v0" for c in clips)
        want = {"npc": 2, "agent": "companion_1", "role": "companion"}
        assert all(c.config["subject"] == want for c in clips)
        # the observations are NPC 2's, not NPC 0's (the other companion)
        np.testing.assert_allclose(clips[0].obs[0], _first_obs(2), atol=1e-6)
        assert not np.allclose(clips[0].obs[0], _first_obs(0))


def _role_run(folder: Path, role: str) -> Path:
    """A ``train`` run folder of arena_v0 training ``role`` (its settings only)."""
    folder.mkdir(parents=True)
    settings = {
        "env_id": "arena_v0",
        "env_kwargs": {"role": role, "roles": ROLES, "layout": "open"},
        "clip_seconds": 0.2,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    return folder


def test_demonstrations_go_to_the_run_of_the_npcs_role(tmp_path: Path) -> None:
    """Without --npc a run training the guard role gets guard_0's demonstrations, with the
    observations its training slots see; another role's NPC is refused, nothing written."""
    run = _role_run(tmp_path / "guards", "guard")
    base = ["play", "arena_v0", "--run", str(run), "--headless", "--max-steps", "4"]
    res = runner.invoke(app, [*base, "--npc", "companion_1"])
    assert res.exit_code == 2, res.output
    assert "Error:" in res.output and "trains the guard role" in res.output
    assert "guard_0" in res.output  # the NPC to pick instead
    assert not (run / "store").exists()
    res = runner.invoke(app, [*base, "--seed", "5"])
    assert res.exit_code == 0, res.output
    clips = _clips(run)
    assert len(clips) == 2
    assert all(
        c.config["subject"] == {"npc": 1, "agent": "guard_0", "role": "guard"} for c in clips
    )
    np.testing.assert_allclose(clips[0].obs[0], _first_obs(1), atol=1e-6)
    from rlhf_sandbox.envs.vector import make_vec_env

    venv = make_vec_env("arena_v0", 1, 0, role="guard", roles=tuple(ROLES), layout="open")
    try:  # the shape the run's reward model reads
        assert clips[0].obs.shape[1:] == venv.observation_space.shape
    finally:
        venv.close()


def test_a_run_of_several_roles_stores_into_the_npcs_role(tmp_path: Path) -> None:
    run = tmp_path / "npcs"
    for role in ("companion", "guard"):
        _role_run(run / "roles" / role, role)
    res = runner.invoke(app, ["play", "arena_v0", "--run", str(run), "--npc", "guard_0", *FAST])
    assert res.exit_code == 0, res.output
    assert len(_clips(run / "roles" / "guard")) == 2
    assert not (run / "roles" / "companion" / "store").exists() and not (run / "store").exists()
    res = runner.invoke(app, ["play", "arena_v0", "--run", str(run), "--npc", "villager_0", *FAST])
    assert res.exit_code == 2 and "trains the roles companion, guard" in res.output


def test_single_npc_ids_keep_npc_0(tmp_path: Path) -> None:
    run = tmp_path / "c"
    res = runner.invoke(
        app, ["play", "ArenaCompanion-v0", "--npc", "companion_0", "--run", str(run), *FAST]
    )
    assert res.exit_code == 0, res.output
    assert all(c.config["subject"]["npc"] == 0 for c in _clips(run))


def test_bad_npc_is_one_error_line_and_nothing_written(tmp_path: Path) -> None:
    run = tmp_path / "r"
    base = ["--run", str(run), "--headless", "--max-steps", "1"]
    cases = [
        (["arena_v0", "--npc", "nobody", *ROLE_ARGS], "no such NPC"),
        (["arena_v0", "--npc", "9", *ROLE_ARGS], "NPCs 0 to 3"),
        (["arena_v0", "--npc", "-1", *ROLE_ARGS], "no such NPC"),
        (["arena_v0", "--npc", "villager_0", *ROLE_ARGS, *SCRIPTED], "follows its script"),
        (["Highway-v0", "--npc", "0"], "driving env"),
        (["ArenaCompanion-v0", "--npc", "villager_0"], "NPC 0 (companion_0) only"),
        (["ArenaGuard-v0", "--npc", "1"], "NPC 0 (guard_0) only"),
    ]  # fmt: skip
    for args, message in cases:
        res = runner.invoke(app, ["play", *args, *base])
        assert res.exit_code == 2, (args, res.output)
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in res.output, (
            args,
            res.output,
        )
        assert not run.exists(), args
