"""``rlhf-sandbox export`` end to end on tiny run folders, and its one-line errors.

A run folder here is what ``save_policy`` and a settings file make (as ``arena train``
leaves one); a run of several roles keeps one such folder per role under ``roles/``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from rlhf_sandbox.agents.policy.ppo import PPOSettings, load_policy, save_policy, train_ppo
from rlhf_sandbox.cli import app
from rlhf_sandbox.files import MARKER
from rlhf_sandbox.store.run_folder import RunFolder

ENV = "rlhf_sandbox/ArenaCompanion-v0"
TINY = PPOSettings(n_envs=2, n_steps=64, batch_size=64, n_epochs=1, net_arch=(16, 16))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of role ``companion``: policy.pt (with its JSON) and settings."""
    run = tmp_path_factory.mktemp("trained") / "run"
    model = train_ppo(ENV, 256, TINY, progress=False)
    save_policy(model, RunFolder(run).policy, TINY, env_id=ENV)
    RunFolder(run).write_settings({"env_id": ENV, "env_kwargs": {"role": "companion"}})
    return run


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run folder for one test."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.fixture
def roles_run(trained: Path, tmp_path: Path) -> Path:
    """A run of roles companion and guard (one run folder each under roles/)."""
    d = tmp_path / "multi"
    RunFolder(d).write_settings({"env_id": "arena_v0", "env_kwargs": {}})
    for role in ("companion", "guard"):
        shutil.copytree(trained, RunFolder(d).role(role).path)
    return d


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["export", *args])


def one_error(res: Result, fragment: str) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def observations(n: int = 64) -> np.ndarray:
    space = gym.make(ENV).observation_space
    space.seed(0)
    return np.stack([space.sample() for _ in range(n)])


def test_numpy_export_to_the_default_folder(run: Path) -> None:
    res = invoke("--run", str(run), "--format", "numpy")
    assert res.exit_code == 0, res.output
    out = run / "export" / "numpy"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "npc_policy.py", "policy.json", "policy.npz"]
    )
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith(f"wrote {out}/: policy.npz, policy.json, npc_policy.py")
    assert len(lines) == 4 and "from npc_policy import load" in res.stdout  # + 3-line hint

    spec = importlib.util.spec_from_file_location("npc_policy_cli", out / "npc_policy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    obs = observations()
    want, _ = load_policy(RunFolder(run).policy).predict(obs, deterministic=True)
    np.testing.assert_array_equal(module.load(out).act(obs), want)
    assert module.load(out).meta["role"] == "companion"
    assert module.load(out).meta["env_id"] == ENV

    again = snapshot(out)  # a second export: only with --overwrite
    one_error(invoke("--run", str(run), "--format", "numpy"), "--overwrite")
    assert snapshot(out) == again
    assert invoke("--run", str(run), "--format", "numpy", "--overwrite").exit_code == 0


def test_onnx_export_of_one_role_of_a_run_of_roles(roles_run: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "game" / "guard"
    res = invoke("--run", str(roles_run), "--role", "guard", "--format", "onnx", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "InferenceSession" in res.stdout
    obs = observations()
    (got,) = ort.InferenceSession(str(out / "policy.onnx")).run(["action"], {"obs": obs})
    guard = RunFolder(roles_run).role("guard").policy
    want, _ = load_policy(guard).predict(obs, deterministic=True)
    np.testing.assert_array_equal(got, want)
    # the default folder is the role's own
    res = invoke("--run", str(roles_run), "--role", "companion", "--format", "onnx")
    assert res.exit_code == 0, res.output
    assert (RunFolder(roles_run).role("companion").export / "onnx" / "policy.onnx").is_file()


def test_role_of_a_single_role_run(run: Path) -> None:
    res = invoke("--run", str(run), "--role", "companion", "--format", "numpy")
    assert res.exit_code == 0, res.output
    one_error(
        invoke("--run", str(run), "--role", "guard", "--format", "numpy", "--out", "x"),
        "trained role 'companion' only",
    )


def _no_policy(run: Path) -> None:
    RunFolder(run).policy.unlink()


def _no_role(run: Path) -> None:
    RunFolder(run).write_settings({"env_id": ENV, "env_kwargs": {}})


def _no_meta(run: Path) -> None:  # as `arena train` leaves its folder
    RunFolder(run).policy.with_suffix(".json").unlink()


def _corrupt(run: Path) -> None:
    RunFolder(run).policy.write_bytes(b"not a state dict")


@pytest.mark.parametrize(
    ("args", "prepare", "fragment"),
    [
        (["--format", "numpy"], lambda r: shutil.rmtree(r), "no such run folder"),
        (["--format", "numpy"], _no_policy, "no policy.pt in"),
        (["--format", "numpy"], _no_meta, "no policy.json beside it"),
        (["--format", "numpy"], _corrupt, "not a policy state dict"),
        (["--format", "tflite"], None, "unknown --format 'tflite'; known: onnx, numpy"),
        ([], None, "give --format: onnx or numpy"),
        (["--format", "numpy", "--role", "guard"], None, "unknown role 'guard'"),
        (["--format", "numpy", "--role", "guard"], _no_role, "no roles"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    run: Path, tmp_path: Path, args: list[str], prepare: object, fragment: str
) -> None:
    if prepare is not None:
        prepare(run)  # type: ignore[operator]
    before = snapshot(run) if run.exists() else None
    out = tmp_path / "out"
    one_error(invoke("--run", str(run), *args, "--out", str(out)), fragment)
    assert not out.exists()
    assert (snapshot(run) if run.exists() else None) == before


@pytest.mark.parametrize(
    ("role", "fragment"),
    [
        (None, "holds roles companion, guard: pick one with --role"),
        ("villager", "unknown role 'villager'; "),
        ("../../etc", "unknown role '../../etc'"),
    ],
)
def test_a_run_of_roles_needs_one_of_its_roles(
    roles_run: Path, tmp_path: Path, role: str | None, fragment: str
) -> None:
    before = snapshot(roles_run)
    args = ["--run", str(roles_run), "--format", "numpy"] + (["--role", role] if role else [])
    one_error(invoke(*args), fragment)
    assert snapshot(roles_run) == before


def test_out_that_is_not_ours_is_left_alone(run: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "level.json").write_text("{}")
    one_error(invoke("--run", str(run), "--format", "numpy", "--out", str(theirs)), "did not")
    one_error(
        invoke("--run", str(run), "--format", "numpy", "--out", str(theirs), "--overwrite"),
        "did not",
    )
    assert [p.name for p in theirs.iterdir()] == ["level.json"]
    one_error(
        invoke("--run", str(run), "--format", "numpy", "--out", str(theirs / "level.json")),
        "not a folder",
    )


def test_onnx_without_onnx_names_the_extra(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    before = snapshot(run)
    one_error(invoke("--run", str(run), "--format", "onnx"), "pip install 'rlhf-sandbox[export]'")
    assert snapshot(run) == before


def test_roles_are_checked_names_of_folders_with_settings(tmp_path: Path) -> None:
    rf = RunFolder(tmp_path / "r")
    assert rf.roles() == []
    for name in ("guard", "companion", "bad name", ".hidden", "no_settings"):
        (rf.path / "roles" / name).mkdir(parents=True)
        if name != "no_settings":
            (rf.path / "roles" / name / rf.settings.name).write_text("{}")
    assert rf.roles() == ["companion", "guard"]
    assert rf.role("guard").path == rf.path / "roles" / "guard"
    for bad in ("../x", "a/b", "", ".", "..", "x" * 65):
        with pytest.raises(ValueError, match="not a role name"):
            rf.role(bad)
