"""Reward-model ensemble: the Bradley-Terry loss, learning known rewards, files, settings."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_sandbox.agents.reward.ensemble import (
    FitReport,
    PreferenceBatch,
    RewardEnsemble,
    RewardModelConfig,
    bradley_terry_loss,
    heldout_mask,
)

torch.set_num_threads(1)

OBS = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
BOX_ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
DISCRETE_ACT = gym.spaces.Discrete(4, start=1)
T = 10

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
ActSpace = gym.spaces.Box | gym.spaces.Discrete


def sample_segments(
    rng: np.random.Generator, m: int, act_space: ActSpace, t: int = T
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` random segments: obs ``[m, t, 6]`` and actions ``[m, t, ...]``."""
    obs = rng.uniform(-1, 1, (m, t, *OBS.shape)).astype(np.float32)
    if isinstance(act_space, gym.spaces.Discrete):
        act = rng.integers(act_space.start, act_space.start + act_space.n, (m, t))
    else:
        act = rng.uniform(-1, 1, (m, t, *act_space.shape)).astype(np.float32)
    return obs, act


def labelled_pairs(
    rng: np.random.Generator, n: int, act_space: ActSpace, reward: RewardFn
) -> tuple[PreferenceBatch, np.ndarray]:
    """``n`` pairs with perfect labels under ``reward``, and their true return differences."""
    ol, al = sample_segments(rng, n, act_space)
    o_r, a_r = sample_segments(rng, n, act_space)
    diff = reward(ol, al).sum(1) - reward(o_r, a_r).sum(1)
    target = (diff > 0).astype(np.float32)
    return PreferenceBatch(ol, al, o_r, a_r, target), diff


def linear_box_reward(seed: int = 1) -> RewardFn:
    w = np.random.default_rng(seed).normal(size=8)
    return lambda obs, act: np.concatenate([obs, act], -1) @ w


def discrete_reward(seed: int = 2) -> RewardFn:
    rng = np.random.default_rng(seed)
    w, v = rng.normal(size=6), rng.normal(size=4)
    return lambda obs, act: obs @ w + v[act - DISCRETE_ACT.start]


def ensemble_diff(model: RewardEnsemble, batch: PreferenceBatch) -> np.ndarray:
    """The ensemble's mean return difference (left - right) of each pair."""
    left = model.segment_returns(batch.obs_left, batch.act_left).mean(0)
    return left - model.segment_returns(batch.obs_right, batch.act_right).mean(0)


def accuracy(model: RewardEnsemble, batch: PreferenceBatch) -> float:
    return float(np.mean((ensemble_diff(model, batch) > 0) == (batch.target > 0.5)))


def steps_of(batch: PreferenceBatch) -> tuple[np.ndarray, np.ndarray]:
    """Every step of a batch (both sides) as ``[N, ...]`` arrays."""
    obs = np.concatenate([batch.obs_left, batch.obs_right])
    act = np.concatenate([batch.act_left, batch.act_right])
    return obs.reshape(-1, *obs.shape[2:]), act.reshape(-1, *act.shape[2:])


@pytest.fixture(scope="module")
def box_model() -> tuple[RewardEnsemble, PreferenceBatch, FitReport]:
    """An ensemble fitted to 700 perfectly labelled pairs of a linear reward."""
    batch, _ = labelled_pairs(np.random.default_rng(0), 700, BOX_ACT, linear_box_reward())
    model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(max_epochs=60))
    report = model.fit(batch)
    return model, batch, report


# ---------------------------------------------------------------------- the loss
def test_loss_has_the_closed_form() -> None:
    one, zero = torch.tensor([1.0]), torch.tensor([0.0])
    assert bradley_terry_loss(one, zero, one).item() == pytest.approx(math.log1p(math.exp(-1)))
    assert bradley_terry_loss(one, zero, zero).item() == pytest.approx(math.log1p(math.exp(1)))
    half = torch.tensor([0.5])
    assert bradley_terry_loss(zero, zero, half).item() == pytest.approx(math.log(2))
    # random response: P(left) = 0.9 * sigmoid(1) + 0.05
    p = 0.9 / (1 + math.exp(-1)) + 0.05
    assert bradley_terry_loss(one, zero, one, 0.1).item() == pytest.approx(-math.log(p))
    # far apart returns stay finite with random responses, and cost about -log(rr / 2)
    big = torch.tensor([100.0])
    assert bradley_terry_loss(zero, big, one, 0.1).item() == pytest.approx(-math.log(0.05))


def test_equal_target_is_least_at_equal_returns() -> None:
    d = torch.linspace(-3, 3, 61)
    loss = [bradley_terry_loss(x, torch.tensor(0.0), torch.tensor(0.5)).item() for x in d]
    assert d[int(np.argmin(loss))].item() == pytest.approx(0.0, abs=1e-6)
    assert min(loss) == pytest.approx(math.log(2))


@pytest.mark.parametrize("rr", [0.0, 0.1, 0.3])
def test_gradient_matches_the_analytic_one(rr: float) -> None:
    rng = np.random.default_rng(0)
    left = torch.tensor(rng.normal(size=7) * 2, requires_grad=True)
    right = torch.tensor(rng.normal(size=7) * 2, requires_grad=True)
    target = torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0, 0.25, 1.0], dtype=torch.float64)
    bradley_terry_loss(left, right, target, rr).backward()
    s = torch.sigmoid(left - right).detach()
    if rr == 0.0:
        analytic = s - target
    else:
        p = (1 - rr) * s + rr / 2
        analytic = (1 - rr) * s * (1 - s) * (p - target) / (p * (1 - p))
    n = len(target)
    torch.testing.assert_close(left.grad, analytic / n)
    torch.testing.assert_close(right.grad, -analytic / n)


def test_weights_give_the_weighted_mean() -> None:
    left, right = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 0.0, 1.0])
    target = torch.tensor([1.0, 1.0, 0.0])
    each = [
        bradley_terry_loss(left[i : i + 1], right[i : i + 1], target[i : i + 1]) for i in range(3)
    ]
    weight = torch.tensor([1.0, 3.0, 0.0])
    expected = (each[0] + 3 * each[1]) / 4
    got = bradley_terry_loss(left, right, target, weight=weight)
    torch.testing.assert_close(got, expected)
    ones = bradley_terry_loss(left, right, target, weight=torch.ones(3))
    torch.testing.assert_close(ones, bradley_terry_loss(left, right, target))
    with pytest.raises(ValueError, match="random_response"):
        bradley_terry_loss(left, right, target, random_response=1.0)


# ---------------------------------------------------------------------- learning
def test_learns_a_linear_reward(
    box_model: tuple[RewardEnsemble, PreferenceBatch, FitReport],
) -> None:
    model, _, report = box_model
    fresh, _ = labelled_pairs(np.random.default_rng(100), 1000, BOX_ACT, linear_box_reward())
    assert accuracy(model, fresh) >= 0.95
    assert report.n_pairs == 700 and report.n_train + report.n_heldout == 700
    assert 70 <= report.n_heldout <= 140  # about 15 %
    assert report.heldout_accuracy >= 0.9 and report.train_accuracy >= 0.95
    assert 0 < report.train_loss < math.log(2) and report.heldout_loss < math.log(2)
    assert 1 <= report.epochs <= 60 and report.seconds > 0
    assert model.version == 1 and model.last_report is report


def test_learns_with_discrete_actions() -> None:
    reward = discrete_reward()
    batch, _ = labelled_pairs(np.random.default_rng(0), 400, DISCRETE_ACT, reward)
    model = RewardEnsemble(OBS, DISCRETE_ACT, RewardModelConfig(n_members=2, max_epochs=40))
    report = model.fit(batch)
    fresh, _ = labelled_pairs(np.random.default_rng(1), 500, DISCRETE_ACT, reward)
    assert accuracy(model, fresh) >= 0.85
    assert report.heldout_accuracy >= 0.8
    obs, act = sample_segments(np.random.default_rng(2), 3, DISCRETE_ACT)
    assert model.predict(obs[0], act[0]).shape == (T,)
    assert model.member_rewards(obs[0], act[0]).shape == (2, T)
    assert model.segment_returns(obs, act).shape == (2, 3)
    assert model.preference_probs(obs, act, obs[::-1], act[::-1]).shape == (2, 3)
    with pytest.raises(ValueError, match="Discrete"):
        model.predict(obs[0], np.zeros(T, np.int64))  # 0 is not in Discrete(4, start=1)


@pytest.mark.parametrize("act_space", [BOX_ACT, DISCRETE_ACT])
def test_learns_without_bagging(act_space: ActSpace) -> None:
    """``bagging=False``: every member trains on every training pair (it used to crash)."""
    reward = linear_box_reward() if act_space is BOX_ACT else discrete_reward()
    batch, _ = labelled_pairs(np.random.default_rng(0), 300, act_space, reward)
    model = RewardEnsemble(OBS, act_space, RewardModelConfig(bagging=False, max_epochs=30))
    report = model.fit(batch)
    fresh, _ = labelled_pairs(np.random.default_rng(1), 500, act_space, reward)
    assert accuracy(model, fresh) >= 0.85 and report.n_train + report.n_heldout == 300
    obs, act = steps_of(batch)
    members = model.member_rewards(obs, act)
    assert float(members.std(0).mean()) > 0.01  # separate initial weights still differ


def test_equal_labels_pull_the_returns_together() -> None:
    rng = np.random.default_rng(5)
    batch, _ = labelled_pairs(rng, 300, BOX_ACT, linear_box_reward())
    cfg = RewardModelConfig(n_members=2, max_epochs=60, random_response=0.0, seed=1)
    model = RewardEnsemble(OBS, BOX_ACT, cfg)
    model.fit(batch)

    def gap() -> float:
        p = model.preference_probs(batch.obs_left, batch.act_left, batch.obs_right, batch.act_right)
        return float(np.mean(np.abs(p - 0.5)))

    before = gap()
    assert before > 0.3  # the perfect labels pushed the pairs apart
    equal = batch._replace(target=np.full(300, 0.5, np.float32))
    report = model.fit(equal)  # warm start from the fitted weights
    assert model.version == 2
    assert gap() < 0.05
    assert math.isnan(report.heldout_accuracy) and math.isnan(report.train_accuracy)
    assert report.heldout_loss == pytest.approx(math.log(2), abs=0.01)


def test_heldout_split_is_stable_as_the_batch_grows() -> None:
    short, long = heldout_mask(100, 0.15, seed=4), heldout_mask(1000, 0.15, seed=4)
    np.testing.assert_array_equal(short, long[:100])
    assert 0.1 < long.mean() < 0.2
    assert heldout_mask(100, 0.15, seed=5).tolist() != short.tolist()
    assert heldout_mask(1, 0.9, seed=0).tolist() == [False]  # one pair is always trained on
    assert not heldout_mask(50, 0.0, seed=0).any()


def test_early_stopping_on_noisy_labels() -> None:
    rng = np.random.default_rng(3)
    batch, _ = labelled_pairs(rng, 200, BOX_ACT, linear_box_reward())
    noisy = batch._replace(target=rng.integers(0, 2, 200).astype(np.float32))
    model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(n_members=2, patience=2, max_epochs=50))
    seen: list[tuple[int, float]] = []
    report = model.fit(noisy, progress=lambda epoch, loss: seen.append((epoch, loss)))
    assert report.epochs < 50
    assert [e for e, _ in seen] == list(range(1, report.epochs + 1))
    assert all(math.isfinite(loss) for _, loss in seen)


def test_fit_is_deterministic() -> None:
    batch, _ = labelled_pairs(np.random.default_rng(4), 80, BOX_ACT, linear_box_reward())
    obs, act = steps_of(batch)
    out = []
    for _ in range(2):
        model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(max_epochs=3, seed=7))
        model.fit(batch)
        out.append(model.member_rewards(obs, act))
    np.testing.assert_array_equal(out[0], out[1])


def test_weights_and_soft_targets_are_accepted() -> None:
    batch, _ = labelled_pairs(np.random.default_rng(6), 50, BOX_ACT, linear_box_reward())
    soft = batch._replace(
        target=np.clip(batch.target, 0.2, 0.8), weight=np.linspace(0, 2, 50, dtype=np.float32)
    )
    model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(max_epochs=2))
    report = model.fit(soft)
    assert math.isfinite(report.train_loss)
    with pytest.raises(ValueError, match="target"):
        model.fit(batch._replace(target=batch.target + 1))
    with pytest.raises(ValueError, match="weight"):
        model.fit(batch._replace(weight=-np.ones(50, np.float32)))
    with pytest.raises(ValueError, match="same T"):
        model.fit(
            batch._replace(obs_right=batch.obs_right[:, :5], act_right=batch.act_right[:, :5])
        )


# ---------------------------------------------------------------------- prediction
def test_predict_is_normalised_and_members_differ(
    box_model: tuple[RewardEnsemble, PreferenceBatch, FitReport],
) -> None:
    model, batch, _ = box_model
    obs, act = steps_of(batch)
    r = model.predict(obs, act)
    assert r.shape == (len(obs),) and r.dtype == np.float32
    assert abs(float(r.mean())) < 1e-4 and float(r.std()) == pytest.approx(1.0, abs=1e-4)
    members = model.member_rewards(obs, act)
    assert members.shape == (3, len(obs)) and members.dtype == np.float32
    np.testing.assert_allclose(members.mean(0), r, atol=1e-5)
    assert float(members.std(0).mean()) > 0.01  # bagging and separate initial weights
    returns = model.segment_returns(batch.obs_left[:5], batch.act_left[:5])
    per_step = model.member_rewards(
        batch.obs_left[:5].reshape(-1, 6), batch.act_left[:5].reshape(-1, 2)
    )
    np.testing.assert_allclose(returns, per_step.reshape(3, 5, T).sum(-1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("hidden", "activation", "act_space"),
    [
        ((), "relu", BOX_ACT),
        ((16,), "tanh", DISCRETE_ACT),
        ((8, 16, 4), "leaky_relu", BOX_ACT),
        ((32, 32), "relu", gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32)),
    ],
)
def test_fast_predict_equals_the_member_mean(
    hidden: tuple[int, ...], activation: str, act_space: ActSpace
) -> None:
    settings: dict[str, Any] = {"hidden": hidden, "activation": activation}
    cfg = RewardModelConfig(n_members=4, max_epochs=1, **settings)
    model = RewardEnsemble(OBS, act_space, cfg)
    rng = np.random.default_rng(0)
    obs, act = sample_segments(rng, 16, act_space, t=1)
    obs, act = obs[:, 0], act[:, 0]
    np.testing.assert_allclose(
        model.predict(obs, act), model.member_rewards(obs, act).mean(0), atol=1e-5
    )
    left, right = sample_segments(rng, 20, act_space), sample_segments(rng, 20, act_space)
    model.fit(PreferenceBatch(*left, *right, rng.integers(0, 2, 20).astype(np.float32)))
    assert float(model.net.norm_std) != 1.0  # the normalisation changed, and with it predict
    np.testing.assert_allclose(
        model.predict(obs, act), model.member_rewards(obs, act).mean(0), atol=1e-5
    )


def test_bad_inputs_are_refused() -> None:
    model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(n_members=1))
    with pytest.raises(ValueError, match="obs"):
        model.predict(np.zeros((4, 5), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="actions"):
        model.predict(np.zeros((4, 6), np.float32), np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="Dict"):
        RewardEnsemble(gym.spaces.Dict({"a": OBS}), BOX_ACT)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        RewardEnsemble(OBS, gym.spaces.MultiDiscrete([2, 3]))


# ---------------------------------------------------------------------- files
def test_save_and_load_roundtrip(
    box_model: tuple[RewardEnsemble, PreferenceBatch, FitReport], tmp_path: Path
) -> None:
    model, batch, report = box_model
    path = tmp_path / "models" / "reward.pt"
    jpath = model.save(path)
    assert jpath == path.with_suffix(".json") and path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["reward.json", "reward.pt"]  # no temps
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert {"norm_mean", "norm_std"} <= set(state)
    meta = json.loads(jpath.read_text())
    assert meta["version"] == 1 and meta["config"]["hidden"] == [64, 64]
    assert meta["metrics"]["n_pairs"] == 700 and meta["normalisation"]["std"] > 0

    loaded = RewardEnsemble.load(path)
    obs, act = steps_of(batch)
    np.testing.assert_array_equal(loaded.predict(obs, act), model.predict(obs, act))
    np.testing.assert_array_equal(loaded.member_rewards(obs, act), model.member_rewards(obs, act))
    assert loaded.version == 1 and loaded.last_report == report
    assert loaded.config == model.config and loaded.device == model.device


def test_load_reports_bad_files(
    box_model: tuple[RewardEnsemble, PreferenceBatch, FitReport], tmp_path: Path
) -> None:
    model = box_model[0]
    path = tmp_path / "reward.pt"
    with pytest.raises(FileNotFoundError, match=r"reward\.pt"):
        RewardEnsemble.load(path)
    model.save(path)
    path.write_bytes(path.read_bytes()[:100])  # a truncated weights file
    with pytest.raises(ValueError, match=r"reward\.pt"):
        RewardEnsemble.load(path)
    model.save(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match=r"reward\.json"):
        RewardEnsemble.load(path)
    other = RewardEnsemble(OBS, DISCRETE_ACT, RewardModelConfig(n_members=1))
    other.save(tmp_path / "other.pt")
    (tmp_path / "other.pt").replace(path)  # weights that do not fit the JSON beside them
    model.save(tmp_path / "reward_ok.pt")
    path.with_suffix(".json").write_text((tmp_path / "reward_ok.json").read_text())
    with pytest.raises(ValueError, match=r"reward\.pt"):
        RewardEnsemble.load(path)
    with pytest.raises(ValueError, match="json"):
        model.save(tmp_path / "reward.json")


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_members", 0),
        ("hidden", (64, 0)),
        ("activation", "gelu"),
        ("lr", 0.0),
        ("weight_decay", -1.0),
        ("batch_size", 0),
        ("max_epochs", 0),
        ("patience", 0),
        ("holdout", 1.0),
        ("random_response", -0.1),
        ("random_response", 1.0),
        ("bagging", 1),
        ("device", "tpu"),
        ("seed", -1),
    ],
)
def test_config_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"RewardModelConfig.{field}"):
        RewardModelConfig(**{field: value})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_device_without_cuda(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        RewardModelConfig(device="cuda")
    assert RewardEnsemble(OBS, BOX_ACT).device == torch.device("cpu")
    model = RewardEnsemble(OBS, BOX_ACT, RewardModelConfig(device="cpu"))
    model.save(tmp_path / "r.pt")
    with pytest.raises(ValueError, match="CUDA is not available"):
        RewardEnsemble.load(tmp_path / "r.pt", device="cuda")


def test_fit_report_json_roundtrip() -> None:
    report = FitReport(10, 9, 1, 0.5, math.nan, math.nan, 1.0, 3, 0.25)
    d = report.to_json()
    assert d["heldout_loss"] is None and json.loads(json.dumps(d)) == d
    back = FitReport.from_json(d)
    assert back.n_pairs == 10 and math.isnan(back.heldout_loss) and back.train_accuracy == 1.0


def test_input_normalisation_is_set_once_and_travels(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    batch, _ = labelled_pairs(rng, 300, BOX_ACT, linear_box_reward())
    shifted = batch._replace(
        obs_left=batch.obs_left * 4 + 3, obs_right=batch.obs_right * 4 + 3
    )  # inputs far from zero mean and unit scale
    model = RewardEnsemble(
        gym.spaces.Box(-10, 10, (6,), np.float32),
        BOX_ACT,
        RewardModelConfig(max_epochs=40, normalise_inputs=True),
    )
    model.fit(shifted)
    mean = model.net.in_mean.clone()
    np.testing.assert_allclose(mean.numpy(), 3.0, atol=0.2)
    np.testing.assert_allclose(model.net.in_std.numpy(), 4 / np.sqrt(3), rtol=0.1)
    assert accuracy(model, shifted) >= 0.9
    model.fit(shifted._replace(obs_left=shifted.obs_left + 5))  # a later fit keeps the stats
    assert torch.equal(model.net.in_mean, mean)
    model.save(tmp_path / "m.pt")
    loaded = RewardEnsemble.load(tmp_path / "m.pt")
    obs, act = steps_of(shifted)
    np.testing.assert_array_equal(loaded.predict(obs, act), model.predict(obs, act))
