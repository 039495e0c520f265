"""Exported policies (ONNX, numpy) act exactly as SB3's ``predict(obs, deterministic=True)``.

Policies trained 512 steps (Discrete: Highway, ArenaCompanion; Box: ArenaCompanion
with continuous actions), saved with ``save_policy``, loaded back with ``load_policy``,
exported, and run on observations recorded from their env: by onnxruntime, and by the
exported ``npc_policy.py`` imported from the export folder.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from rlhf_sandbox.agents.policy.export import (
    ExportError,
    export_numpy,
    export_onnx,
    export_to_folder,
    template_source,
)
from rlhf_sandbox.agents.policy.ppo import PPOSettings, load_policy, make_model, save_policy
from rlhf_sandbox.envs.vector import make_vec_env
from rlhf_sandbox.files import MARKER, FolderError

CASES = {
    "highway": ("rlhf_sandbox/Highway-v0", {}),
    "companion": ("rlhf_sandbox/ArenaCompanion-v0", {}),
    "companion-box": ("rlhf_sandbox/ArenaCompanion-v0", {"continuous": True}),
}
SETTINGS = PPOSettings(n_envs=4, n_steps=64, batch_size=64, n_epochs=2, net_arch=(32, 32))
N_OBS = 256


def record(env_id: str, kwargs: dict[str, Any], n: int = N_OBS) -> np.ndarray:
    """``n`` observations of the env under random actions (resetting at episode ends)."""
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    out = []
    for _ in range(n):
        out.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module", params=list(CASES))
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ActorCriticPolicy, np.ndarray]:
    """A policy trained 512 steps, saved and loaded back, and observations of its env."""
    env_id, kwargs = CASES[request.param]
    venv = make_vec_env(env_id, SETTINGS.n_envs, SETTINGS.seed, **kwargs)
    model = make_model(venv, SETTINGS)
    start = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=512)
    venv.close()
    for name in ("mlp_extractor.policy_net.0.weight", "action_net.weight"):
        assert not torch.equal(model.policy.state_dict()[name], start[name])  # learned
    path = tmp_path_factory.mktemp(request.param) / "policy.pt"
    save_policy(model, path, SETTINGS, env_id=env_id)
    return load_policy(path), record(env_id, kwargs)


def make_like(policy: ActorCriticPolicy, seed: int = 0) -> ActorCriticPolicy:
    """A fresh policy of the same spaces and layers (SB3's initial weights)."""
    torch.manual_seed(seed)
    return ActorCriticPolicy(
        policy.observation_space, policy.action_space, lambda _: 1e-3, net_arch=[32, 32]
    )


def scrambled(policy: ActorCriticPolicy, seed: int = 1) -> ActorCriticPolicy:
    """The same policy with large random actor weights: many different actions, and Box
    actions beyond the bounds (clipped)."""
    other = make_like(policy)
    other.load_state_dict(policy.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*other.mlp_extractor.policy_net.parameters(), *other.action_net.parameters()]:
            p.copy_(torch.randn(p.shape, generator=gen) * 3 / p.shape[-1] ** 0.5)
    return other


def import_from(folder: Path) -> ModuleType:
    """``npc_policy.py`` of an export folder, imported from that file."""
    name = f"npc_policy_{abs(hash(folder))}"
    spec = importlib.util.spec_from_file_location(name, folder / "npc_policy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_same(got: np.ndarray, want: np.ndarray, discrete: bool) -> None:
    """Discrete: the very same indices (and dtype); Box: within 1e-5 (float32)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if discrete:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def run_onnx(path: Path, obs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (action,) = session.run(["action"], {"obs": obs})
    return np.asarray(action)


@pytest.mark.parametrize("variant", ["trained", "scrambled"])
def test_exports_act_as_sb3_on_recorded_observations(
    trained: tuple[ActorCriticPolicy, np.ndarray], variant: str, tmp_path: Path
) -> None:
    policy, obs = trained
    if variant == "scrambled":
        policy = scrambled(policy)
    discrete = isinstance(policy.action_space, gym.spaces.Discrete)
    want, _ = policy.predict(obs, deterministic=True)
    assert len(obs) >= 200
    if variant == "scrambled":  # the comparison sees many actions, and clipped ones
        if discrete:
            assert len(np.unique(want)) >= 3
        else:
            space = policy.action_space
            at_bound = (want == space.low) | (want == space.high)
            assert 0.05 < at_bound.mean() < 0.95

    export_onnx(policy, tmp_path / "onnx" / "policy.onnx", env_id="x")
    assert_same(run_onnx(tmp_path / "onnx" / "policy.onnx", obs), want, discrete)
    for batch in (1, 7):  # the batch axis is dynamic
        assert_same(
            run_onnx(tmp_path / "onnx" / "policy.onnx", obs[:batch]), want[:batch], discrete
        )

    export_numpy(policy, tmp_path / "numpy" / "policy.npz", env_id="x")
    npc = import_from(tmp_path / "numpy").load(tmp_path / "numpy")
    assert_same(npc.act(obs), want, discrete)
    one, _ = policy.predict(obs[3], deterministic=True)  # one observation, no batch axis
    got = np.asarray(npc.act(obs[3]))
    assert got.shape == one.shape and np.allclose(got, one, rtol=0, atol=1e-5)


def test_the_check_catches_a_wrong_weight(
    trained: tuple[ActorCriticPolicy, np.ndarray], tmp_path: Path
) -> None:
    """The comparison above fails for an export whose weights are off (it can fail)."""
    policy, obs = scrambled(trained[0]), trained[1]
    discrete = isinstance(policy.action_space, gym.spaces.Discrete)
    want, _ = policy.predict(obs, deterministic=True)
    export_numpy(policy, tmp_path / "policy.npz")
    module = import_from(tmp_path)
    with np.load(tmp_path / "policy.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads((tmp_path / "policy.json").read_text())
    assert_same(module.Policy(arrays, meta).act(obs), want, discrete)
    arrays["hidden_weight_0"] = arrays["hidden_weight_0"] * np.float32(1.5)
    with pytest.raises(AssertionError):
        assert_same(module.Policy(arrays, meta).act(obs), want, discrete)


def test_export_files_hold_no_pickle_and_the_module_needs_numpy_only(
    trained: tuple[ActorCriticPolicy, np.ndarray], tmp_path: Path
) -> None:
    policy, obs = trained
    out = export_to_folder(policy, tmp_path / "numpy", "numpy", env_id="e", role="companion")
    assert sorted(p.name for p in out) == ["npc_policy.py", "policy.json", "policy.npz"]
    assert (tmp_path / "numpy" / "npc_policy.py").read_bytes() == template_source()
    with np.load(tmp_path / "numpy" / "policy.npz", allow_pickle=False) as data:
        assert all(data[k].dtype == np.float32 for k in data.files)
    meta = json.loads((tmp_path / "numpy" / "policy.json").read_text())
    assert meta["env_id"] == "e" and meta["role"] == "companion"
    assert meta["obs_dim"] == obs.shape[1] and meta["hidden_sizes"] == [32, 32]
    assert (tmp_path / "numpy" / MARKER).is_file()  # ours: an export may replace it

    np.save(tmp_path / "obs.npy", obs[:50])
    want, _ = policy.predict(obs[:50], deterministic=True)
    np.save(tmp_path / "want.npy", want)
    script = (
        "import sys; import numpy as np; sys.path.insert(0, sys.argv[1]); import npc_policy\n"
        "p = npc_policy.load(sys.argv[1]); a = p.act(np.load(sys.argv[2]))\n"
        "assert np.allclose(a, np.load(sys.argv[3]), rtol=0, atol=1e-5)\n"
        "heavy = {'torch', 'stable_baselines3', 'gymnasium', 'rlhf_sandbox'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    args = [str(tmp_path / n) for n in ("numpy", "obs.npy", "want.npy")]
    res = subprocess.run([sys.executable, "-I", "-c", script, *args], capture_output=True)
    assert res.returncode == 0, res.stderr.decode()

    meta_onnx = json.loads(export_onnx(policy, tmp_path / "m.onnx", env_id="e")[1].read_text())
    import onnx

    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in model.graph.input] == ["obs"]
    assert [o.name for o in model.graph.output] == ["action"]
    assert model.opset_import[0].version == 15
    assert json.loads({p.key: p.value for p in model.metadata_props}["rlhf_sandbox"]) == meta_onnx
    elem = model.graph.output[0].type.tensor_type.elem_type
    discrete = isinstance(policy.action_space, gym.spaces.Discrete)
    assert elem == (onnx.TensorProto.INT64 if discrete else onnx.TensorProto.FLOAT)


def test_export_folder_replaces_only_an_earlier_export(tmp_path: Path) -> None:
    policy = make_like_spaces(gym.spaces.Discrete(3))
    out = tmp_path / "out"
    export_to_folder(policy, out, "numpy")
    with pytest.raises(FolderError, match="--overwrite"):
        export_to_folder(policy, out, "numpy")
    export_to_folder(policy, out, "onnx", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "policy.json", "policy.onnx"]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "game.txt").write_text("keep")
    with pytest.raises(FolderError, match="did not write"):
        export_to_folder(policy, theirs, "numpy", overwrite=True)
    assert [p.name for p in theirs.iterdir()] == ["game.txt"]


def make_like_spaces(action_space: gym.Space[Any], **kwargs: Any) -> ActorCriticPolicy:
    obs = gym.spaces.Box(-1, 1, (6,), np.float32)
    return ActorCriticPolicy(obs, action_space, lambda _: 1e-3, net_arch=[8], **kwargs)


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (lambda: make_like_spaces(gym.spaces.Discrete(3), activation_fn=torch.nn.ReLU), "Tanh"),
        (lambda: make_like_spaces(gym.spaces.MultiDiscrete([2, 3])), "Discrete or Box"),
        (lambda: make_like_spaces(gym.spaces.Discrete(3, start=1)), "start 0"),
        (lambda: make_like_spaces(gym.spaces.Box(-1, 1, (2,)), use_sde=True), "gSDE"),
    ],
)
def test_policies_it_cannot_reproduce_are_refused(policy: Any, why: str, tmp_path: Path) -> None:
    for fmt in ("numpy", "onnx"):
        with pytest.raises(ExportError, match=why):
            export_to_folder(policy(), tmp_path / fmt, fmt)
        assert not (tmp_path / fmt).exists()


def test_onnx_without_the_onnx_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx fails, find_spec says None
    with pytest.raises(ModuleNotFoundError, match=r"rlhf-sandbox\[export\]"):
        export_onnx(make_like_spaces(gym.spaces.Discrete(3)), tmp_path / "p.onnx")
    assert not any(tmp_path.iterdir())
