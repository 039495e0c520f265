"""A reward ensemble's files: the weights (``torch.save`` of a state dict, read back with
``weights_only=True``) and a JSON beside them with the settings, spaces, version,
normalisation and last fit report. :meth:`RewardEnsemble.save` and
:meth:`RewardEnsemble.load` are the entry points.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import gymnasium as gym
import torch

from rlhf_sandbox.agents.reward.batches import FitReport
from rlhf_sandbox.agents.reward.model_config import RewardModelConfig
from rlhf_sandbox.config import build_config, config_from_mapping, config_to_dict
from rlhf_sandbox.envs.spaces import space_from_json, space_to_json
from rlhf_sandbox.files import atomic_path, json_path

if TYPE_CHECKING:
    from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble

FORMAT = "rlhf_sandbox.reward_ensemble/1"


class Saved(NamedTuple):
    """What a saved ensemble's files hold, checked, before a model is built from it."""

    config: RewardModelConfig
    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]
    version: int
    report: FitReport | None
    state: dict[str, torch.Tensor]


def write(model: RewardEnsemble, path: str | Path) -> Path:
    """Write ``model``'s weights to ``path`` and its JSON beside it, both atomically;
    returns the JSON's path."""
    path = Path(path)
    jpath = json_path(path)
    if jpath == path:
        raise ValueError(f"{path}: the weights need a suffix other than .json (e.g. .pt)")
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    state["version"] = torch.tensor(model.version)
    meta = {
        "format": FORMAT,
        "config": config_to_dict(model.config),
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "version": model.version,
        "normalisation": {
            "mean": float(model.net.norm_mean),
            "std": float(model.net.norm_std),
        },
        "metrics": None if model.last_report is None else model.last_report.to_json(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    with atomic_path(jpath) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return jpath


def read(path: str | Path, device: str) -> Saved:
    """The files of an ensemble written by :func:`write`, with ``device`` replacing the
    saved ``config.device``. A missing file is a FileNotFoundError and an unreadable one a
    ValueError, each naming it."""
    path = Path(path)
    jpath = json_path(path)
    for f in (path, jpath):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no such file (a reward model is a .pt and a .json)")
    try:
        meta = json.loads(jpath.read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        config = config_from_mapping(RewardModelConfig, dict(meta["config"], device="cpu"))
        obs_space = space_from_json(meta["observation_space"])
        act_space = space_from_json(meta["action_space"])
        report = None if meta["metrics"] is None else FitReport.from_json(meta["metrics"])
        version = int(meta["version"])
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError, ConfigError included
        raise ValueError(f"{jpath}: not a saved reward model ({e!r})") from None
    config = build_config(RewardModelConfig, config, device=device)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged file; report one
        raise ValueError(f"{path}: cannot read the reward model weights ({e})") from None
    return Saved(config, obs_space, act_space, version, report, state)


def restore(model: RewardEnsemble, saved: Saved, path: str | Path) -> RewardEnsemble:
    """``model`` (built from ``saved``'s settings and spaces) with its weights, version and
    report; a ValueError naming ``path`` when the weights do not match the JSON."""
    jpath = json_path(Path(path))
    state = dict(saved.state)
    try:
        saved_version = int(state.pop("version"))
        if saved_version != saved.version:
            raise ValueError(f"{path} is version {saved_version}, {jpath} says {saved.version}")
        model.net.load_state_dict(state)
    except (AttributeError, KeyError, RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: does not match {jpath} ({e})") from None
    model.version, model.last_report = saved.version, saved.report
    return model
