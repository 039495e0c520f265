"""The drivers a suite can evaluate: built-in ones, SB3 zips and run folders of ``train``.

Spec strings (``--policy`` / ``--baseline``):

* ``idm``: the world drives the ego with IDM and MOBIL, as it drives traffic
  (``ego_driver="idm"``); actions are ignored.
* ``random``: a uniformly random action per step, drawn from (episode seed, step), so an
  episode plays the same whether it runs alone or in a batch.
* ``constant`` / ``constant:ACTION``: always the same action; ``ACTION`` a meta-action name
  (``IDLE``, ``FASTER``, ...) or its index; under continuous control two numbers
  ``accel,steer`` in [-1, 1] (default 0,0).
* a path to a stable-baselines3 ``.zip``. **Trusted input only**: SB3 unpickles part of
  the file, which can run code. Observation normalisation (``VecNormalize``) is not applied.
* a run folder of ``rlhf-sandbox train`` / ``ppo`` (``policy.pt`` + ``policy.json``, no
  pickle), or the ``policy.pt`` itself. The run's ``action``, ``observe_vehicles``,
  ``observation`` and ``policy_hz`` settings (``settings.json``) apply in every scenario,
  since the policy was trained with them.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from rlhf_sandbox.config import ConfigError
from rlhf_sandbox.envs.core import next_seed
from rlhf_sandbox.envs.driving import ACTIONS
from rlhf_sandbox.store.run_folder import RunFolder

if TYPE_CHECKING:
    from rlhf_sandbox.agents.evaluation.harness.suites import Suite

ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``act(obs [N, D], episode_seed [N], step [N]) -> actions [N, ...]``"""
BUILT_IN = ("idm", "random", "constant")
# Settings of a trained policy's env that define its inputs and outputs.
INTERFACE_FIELDS = ("action", "observe_vehicles", "observation", "policy_hz")
_SALT = 0x5EED


class DriverError(ValueError):
    """A policy spec names nothing usable; the message says what was expected."""


@dataclass(frozen=True)
class Driver:
    """A policy under test: a label, the env settings it needs, and how to act."""

    name: str
    kind: str  # idm | random | constant | sb3 | run
    overrides: dict[str, Any] = field(default_factory=dict)
    _bind: Callable[[gym.Space[Any], gym.Space[Any]], ActFn] | None = field(
        default=None, repr=False, compare=False
    )

    def bind(self, obs_space: gym.Space[Any], action_space: gym.Space[Any]) -> ActFn:
        """The act function for an env with these spaces; a mismatch is a DriverError."""
        if self._bind is None:
            raise DriverError(f"driver {self.name!r} cannot act")
        return self._bind(obs_space, action_space)


def parse_driver(spec: str) -> Driver:
    """The driver a spec names (see the module docstring)."""
    head, _, arg = spec.partition(":")
    if head == "idm" and not arg:
        return Driver("idm", "idm", {"ego_driver": "idm"}, lambda o, a: _constant(a, ""))
    if head == "random" and not arg:
        return Driver("random", "random", {}, lambda o, a: _random(a))
    if head == "constant":
        _constant(gym.spaces.Discrete(len(ACTIONS)), arg, check_only=True)
        label = f"constant:{arg}" if arg else "constant"
        return Driver(label, "constant", {}, lambda o, a: _constant(a, arg))
    path = Path(spec)
    if path.suffix == ".zip":
        if not path.is_file():
            raise DriverError(f"policy file not found: {path}")
        return Driver(path.stem, "sb3", {}, lambda o, a: _sb3_zip(path, o, a))
    if path.is_dir() or path.suffix == ".pt":
        pt = RunFolder(path).policy if path.is_dir() else path
        if not pt.is_file() or not pt.with_suffix(".json").is_file():
            raise DriverError(f"{path}: no policy.pt with its policy.json (a run folder?)")
        run = pt.parent
        name = run.name if path.is_dir() else f"{run.name}/{pt.stem}"
        return Driver(name, "run", _run_overrides(run), lambda o, a: _saved(pt, o, a))
    raise DriverError(
        f"unknown policy {spec!r}: expected idm, random, constant[:ACTION], "
        "an SB3 .zip file or a run folder with policy.pt"
    )


def _run_overrides(run: Path) -> dict[str, Any]:
    settings = RunFolder(run).settings
    if not settings.is_file():
        return {}
    try:
        kw = json.loads(settings.read_text()).get("env_kwargs", {}) or {}
    except (OSError, json.JSONDecodeError) as e:
        raise DriverError(f"{settings}: unreadable ({e})") from None
    return {k: v for k, v in kw.items() if k in INTERFACE_FIELDS}


def random_actions(space: gym.Space[Any], seeds: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Uniform actions that depend only on (episode seed, step): batch-independent."""
    h = next_seed(next_seed(seeds.astype(np.int64) ^ _SALT) + steps.astype(np.int64))
    if isinstance(space, gym.spaces.Discrete):
        return (int(space.start) + h % int(space.n)).astype(np.int64)
    if isinstance(space, gym.spaces.Box):
        n = int(np.prod(space.shape))
        cols = [next_seed(h + k) for k in range(n)]
        u = np.stack(cols, axis=1).astype(np.float64) / float(2**62)
        u = u.reshape((len(seeds), *space.shape))
        return (space.low + u * (space.high - space.low)).astype(space.dtype)
    raise DriverError(f"random: unsupported action space {space}")


def _random(space: gym.Space[Any]) -> ActFn:
    return lambda obs, seeds, steps: random_actions(space, seeds, steps)


def _constant(space: gym.Space[Any], arg: str, check_only: bool = False) -> ActFn:
    """Always one action: IDLE (index 1) by default under meta-actions, 0,0 under control."""
    if isinstance(space, gym.spaces.Discrete):
        if "," in arg and check_only:  # continuous numbers: checked when bound
            return lambda o, s, t: np.zeros(0)
        name = arg.upper() or "IDLE"
        if name in ACTIONS:
            a = ACTIONS.index(name)
        elif name.isdigit() and int(name) < int(space.n):
            a = int(name)
        else:
            raise DriverError(
                f"constant:{arg}: unknown action; one of {', '.join(ACTIONS)} or 0..{space.n - 1}"
            )
        return lambda obs, seeds, steps: np.full(len(obs), a, dtype=np.int64)
    if isinstance(space, gym.spaces.Box):
        try:
            vals = [float(v) for v in arg.split(",")] if arg else [0.0] * int(np.prod(space.shape))
        except ValueError:
            raise DriverError(
                f"constant:{arg}: expected numbers a,b for continuous control"
            ) from None
        v = np.asarray(vals, dtype=space.dtype)
        if v.size != np.prod(space.shape) or np.any(v < space.low) or np.any(v > space.high):
            raise DriverError(f"constant:{arg}: expected {space.shape} values within {space}")
        return lambda obs, seeds, steps: np.broadcast_to(v, (len(obs), *space.shape)).copy()
    raise DriverError(f"constant: unsupported action space {space}")


def _check_spaces(name: str, policy: Any, obs: gym.Space[Any], act: gym.Space[Any]) -> None:
    from rlhf_sandbox.envs.spaces import spaces_match

    if not (spaces_match(policy.observation_space, obs) and spaces_match(policy.action_space, act)):
        raise DriverError(
            f"policy {name}: its spaces ({policy.observation_space}, {policy.action_space}) "
            f"differ from the scenario's ({obs}, {act}); check action, observe_vehicles and "
            "observation"
        )


def _predict(policy: Any) -> ActFn:
    import torch

    def act(obs: np.ndarray, seeds: np.ndarray, steps: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(policy.predict(obs, deterministic=True)[0])

    return act


def _saved(pt: Path, obs: gym.Space[Any], act: gym.Space[Any]) -> ActFn:
    from rlhf_sandbox.agents.policy.ppo import load_policy

    try:
        policy = load_policy(pt)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise DriverError(f"{pt}: cannot load the policy ({e})") from None
    _check_spaces(str(pt), policy, obs, act)
    return _predict(policy)


_SB3_CACHE: dict[tuple[Path, int], Any] = {}  # loaded once per file version
_SB3_LOCK = threading.Lock()  # scenarios bind from their own threads (run_suite)


def _sb3_zip(path: Path, obs: gym.Space[Any], act: gym.Space[Any]) -> ActFn:
    """Rebuild the policy of any SB3 algorithm from its zip (policy class and weights)."""
    with _SB3_LOCK:
        policy = _load_sb3(path)
    _check_spaces(str(path), policy, obs, act)
    # A copy per binding: scenarios run side by side, and SB3's predict is not thread-safe
    # (it keeps the last action distribution on the policy object).
    return _predict(copy.deepcopy(policy))


def _load_sb3(path: Path) -> Any:
    key = (path.resolve(), path.stat().st_mtime_ns)
    if key not in _SB3_CACHE:
        from stable_baselines3.common.save_util import load_from_zip_file

        try:
            data, params, _ = load_from_zip_file(path, device="cpu", print_system_info=False)
        except Exception as e:  # a bad zip raises many kinds of errors
            why = str(e).removeprefix("Error: ")  # SB3 prefixes some of its own messages
            raise DriverError(f"{path}: not a stable-baselines3 model ({why})") from None
        if not data or "policy_class" not in data or not params or "policy" not in params:
            raise DriverError(f"{path}: not a stable-baselines3 model (no policy inside)")
        kwargs = dict(data.get("policy_kwargs") or {})
        try:
            policy = data["policy_class"](
                data["observation_space"], data["action_space"], lambda _: 0.0, **kwargs
            )
            policy.load_state_dict(params["policy"])
        except Exception as e:  # a policy class or weights this SB3 cannot rebuild
            raise DriverError(f"{path}: cannot rebuild its policy ({e})") from None
        policy.set_training_mode(False)
        _SB3_CACHE[key] = policy
    return _SB3_CACHE[key]


def check_driver_config(driver: Driver, config: Any) -> Any:
    """``config`` with the driver's overrides applied (ConfigError names a bad one)."""
    from rlhf_sandbox.config import build_config

    try:
        return build_config(type(config), config, **driver.overrides)
    except ConfigError as e:
        raise DriverError(f"policy {driver.name}: {e}") from None


def check_driver(driver: Driver, suite: Suite) -> None:
    """Bind ``driver`` once to every scenario of ``suite`` on a one-slot core: a policy
    that cannot load, whose spaces differ, or whose action does not fit fails here with a
    DriverError naming the scenario, before any episode runs."""
    from rlhf_sandbox.envs.driving import DrivingCore

    for sc in suite.scenarios:
        try:
            core = DrivingCore(check_driver_config(driver, sc.config), 1)
            driver.bind(core.single_observation_space, core.single_action_space)
        except DriverError as e:
            raise DriverError(f"scenario {sc.name!r}: {e}") from None
