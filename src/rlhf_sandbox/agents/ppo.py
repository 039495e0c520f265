"""PPO (stable-baselines3) on our batched envs: vector env, settings, training, saving.

Our ids train on :class:`~rlhf_sandbox.envs.sb3.CoreVecEnv` (one array call per step for all
``n_envs`` copies); any other Gymnasium id falls back to SB3's ``make_vec_env``.

Saved policies are two files side by side (no pickle): ``policy.pt``, a ``torch.save`` of
``model.policy.state_dict()`` read back with ``weights_only=True``, and ``policy.json``, the
settings and the observation and action spaces needed to rebuild the network.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from rlhf_sandbox.agents.rollout import ARENA_V0, check_env_id, is_core_env
from rlhf_sandbox.config import build_config, check_types, reject_unknown
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import role_vec_env
from rlhf_sandbox.envs.core import CoreVectorEnv
from rlhf_sandbox.envs.sb3 import CoreVecEnv
from rlhf_sandbox.files import atomic_path

FORMAT = "rlhf_sandbox.ppo_policy/1"
ALGOS = ("ppo", "trpo")


@dataclass(frozen=True)
class PPOSettings:
    """Settings of a PPO run (SB3 ``PPO`` with an MLP policy)."""

    n_envs: int = 16
    """copies of the env stepped together (one batched core)"""
    n_steps: int = 64
    """steps per env per rollout; a rollout holds n_envs * n_steps transitions"""
    batch_size: int = 256
    """minibatch size of the PPO update"""
    n_epochs: int = 4
    """passes over each rollout"""
    learning_rate: float = 5e-4
    """Adam step size (constant)"""
    gamma: float = 0.8
    """discount; highway-env's PPO example uses 0.8 (1 Hz decisions, short horizon)"""
    net_arch: tuple[int, ...] = (256, 256)
    """hidden layers of the policy and of the value network (separate, tanh)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    clip_range: float = 0.2
    """PPO clipping range"""
    algo: str = "ppo"
    """ppo (stable-baselines3) or trpo (sb3-contrib; ignores batch-size-free fields it lacks)"""
    seed: int = 0
    """seed of the network, the sampler and the envs (slot i gets seed + i)"""
    device: str = "cpu"
    """torch device: cpu, cuda or auto"""

    def __post_init__(self) -> None:
        if isinstance(self.net_arch, list):  # a list from JSON or a caller: the same layers
            object.__setattr__(self, "net_arch", tuple(self.net_arch))
        check_types(self)
        for name in ("n_envs", "n_steps", "batch_size", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"PPOSettings.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"PPOSettings.gamma must be in (0, 1], got {self.gamma}")
        if self.learning_rate <= 0:
            raise ValueError(f"PPOSettings.learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"PPOSettings.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if self.ent_coef < 0 or self.clip_range <= 0:
            raise ValueError("PPOSettings.ent_coef must be >= 0 and clip_range > 0")
        if self.algo not in ALGOS:
            raise ValueError(f"PPOSettings.algo must be one of {ALGOS}, got {self.algo!r}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["net_arch"] = list(self.net_arch)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PPOSettings:
        reject_unknown(cls, d)
        kw = dict(d)
        if "net_arch" in kw:
            kw["net_arch"] = tuple(int(x) for x in kw["net_arch"])
        return cls(**kw)


def make_vec_env(env_id: str, n_envs: int, seed: int | None = 0, **env_kwargs: Any) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies with episode statistics (``VecMonitor``).

    Our ids: ``CoreVecEnv`` over the id's batched core, slot i seeded ``seed + i``. Other
    Gymnasium ids: SB3's ``make_vec_env`` (a ``DummyVecEnv`` of ``n_envs`` single envs).
    """
    if env_id == ARENA_V0:
        return VecMonitor(_arena_roles(n_envs, seed, env_kwargs))
    check_env_id(env_id)
    if not is_core_env(env_id):
        return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    vec = gym.make_vec(env_id, num_envs=n_envs, **env_kwargs)
    if not isinstance(vec, CoreVectorEnv):
        raise TypeError(f"{env_id}: expected a CoreVectorEnv from make_vec, got {type(vec)}")
    venv = CoreVecEnv(vec.core)
    venv.seed(seed)
    return VecMonitor(venv)


def _arena_roles(n_envs: int, seed: int | None, env_kwargs: dict[str, Any]) -> VecEnv:
    """arena_v0's agents of one role as SB3 slots: ``n_envs // M`` worlds of M such NPCs."""
    kw = dict(env_kwargs)
    role = kw.pop("role", None)
    if role is None:
        raise ValueError("arena_v0: name the NPC role to train (env setting role=...)")
    config = build_config(ArenaConfig, None, **kw)
    m = sum(r == role for r in config.roles)
    venv = role_vec_env(role, max(1, n_envs // max(m, 1)), config)
    venv.seed(seed)
    return venv


class RichProgress(BaseCallback):
    """A rich progress bar over timesteps (SB3's own bar needs tqdm, which we do not ship)."""

    def __init__(self, total: int, description: str = "training") -> None:
        super().__init__()
        self.total = total
        self.description = description
        self._progress: Any = None
        self._task: Any = None
        self._start = 0
        self._t0 = 0.0

    def _on_training_start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._start = self.num_timesteps
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.0f} steps/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total, rate=0.0)
        self._t0 = time.perf_counter()

    def describe(self, text: str) -> None:
        """Replace the bar's description (a live status line)."""
        self.description = text
        if self._progress is not None:
            self._progress.update(self._task, description=text)

    def _on_step(self) -> bool:
        done = self.num_timesteps - self._start
        rate = done / max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(self._task, completed=min(done, self.total), rate=rate)
        return True

    def _on_training_end(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def make_model(
    env: VecEnv, s: PPOSettings, tensorboard_log: str | None = None
) -> OnPolicyAlgorithm:
    """The SB3 algorithm of ``s.algo`` on ``env`` with the settings ``s``."""
    common: dict[str, Any] = dict(
        n_steps=s.n_steps,
        batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        gamma=s.gamma,
        gae_lambda=s.gae_lambda,
        # foreach Adam: one kernel per step for all parameter tensors, not one per tensor
        # (the same update; a third less time per PPO minibatch on small MLPs).
        policy_kwargs={"net_arch": list(s.net_arch), "optimizer_kwargs": {"foreach": True}},
        seed=s.seed,
        device=s.device,
        tensorboard_log=tensorboard_log,
        verbose=0,
    )
    if s.algo == "trpo":
        from sb3_contrib import TRPO

        return TRPO("MlpPolicy", env, **common)
    return PPO(
        "MlpPolicy",
        env,
        n_epochs=s.n_epochs,
        ent_coef=s.ent_coef,
        clip_range=s.clip_range,
        **common,
    )


@contextmanager
def unchecked_distributions() -> Iterator[None]:
    """``torch.distributions`` without argument checks while our learners train.

    SB3 builds a distribution object for every forward pass (each vector step and each PPO
    minibatch), and by default torch checks each one's arguments (finite, in the support):
    about 0.2 ms a time for a small policy, some 8% of a PPO run on Pendulum. The checks
    only catch NaNs, which SB3's own losses surface anyway. The previous default is restored
    on exit, so code around ours keeps its checks.
    """
    before = torch.distributions.Distribution._validate_args  # the current default
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(before)


def train_ppo(
    env_id: str,
    timesteps: int,
    settings: PPOSettings = PPOSettings(),  # frozen: a shared default is safe
    progress: bool = True,
    **env_kwargs: Any,
) -> OnPolicyAlgorithm:
    """Train SB3 PPO on ``env_id`` for ``timesteps`` env steps (all copies counted)."""
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    s = settings
    env = make_vec_env(env_id, s.n_envs, s.seed, **env_kwargs)
    model = make_model(env, s)
    callback = RichProgress(timesteps) if progress else None
    with unchecked_distributions():
        model.learn(total_timesteps=timesteps, callback=callback)
    env.close()
    return model


# ---------------------------------------------------------------------- spaces as JSON
def space_to_json(space: gym.Space[Any]) -> dict[str, Any]:
    """A Box or Discrete space as plain JSON."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _bound(space.low),
            "high": _bound(space.high),
        }
    raise TypeError(f"cannot save a policy over {space} (Box and Discrete only)")


def _bound(a: np.ndarray) -> Any:
    """A Box bound as one number when it is uniform, else as nested lists."""
    flat = a.reshape(-1)
    return flat[0].item() if flat.size and np.all(flat == flat[0]) else a.tolist()


def space_from_json(d: dict[str, Any]) -> gym.Space[Any]:
    """The inverse of :func:`space_to_json`."""
    if d["type"] == "Discrete":
        return gym.spaces.Discrete(int(d["n"]), start=int(d["start"]))
    if d["type"] == "Box":
        dtype = np.dtype(d["dtype"])
        shape = tuple(d["shape"])
        low = np.broadcast_to(np.asarray(d["low"], dtype=dtype), shape)
        high = np.broadcast_to(np.asarray(d["high"], dtype=dtype), shape)
        return gym.spaces.Box(low.copy(), high.copy(), shape, dtype)
    raise ValueError(f"unknown space type {d['type']!r}")


def spaces_match(a: gym.Space[Any], b: gym.Space[Any]) -> bool:
    return space_to_json(a) == space_to_json(b)


# ---------------------------------------------------------------------- save / load
def json_path(path: str | Path) -> Path:
    """Where the JSON beside a ``.pt`` lives: same name, ``.json``."""
    return Path(path).with_suffix(".json")


def save_policy(
    model: OnPolicyAlgorithm, path: str | Path, settings: PPOSettings | None = None, **extra: Any
) -> Path:
    """Write ``model.policy``'s weights to ``path`` and its settings to ``path.json``.

    ``settings`` and ``extra`` (JSON-able, for example ``env_id``) go into the JSON.
    Both writes are atomic. Returns the path of the JSON.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = model.policy
    arch = getattr(policy, "net_arch", None)
    net_arch = list(arch["pi"]) if isinstance(arch, dict) else list(arch or [])
    meta = {
        "format": FORMAT,
        "policy": type(policy).__name__,
        "net_arch": net_arch,
        "activation": policy.activation_fn.__name__ if hasattr(policy, "activation_fn") else None,
        "observation_space": space_to_json(policy.observation_space),
        "action_space": space_to_json(policy.action_space),
        "num_timesteps": int(model.num_timesteps),
        "settings": settings.to_json() if settings is not None else None,
        **extra,
    }
    if meta["policy"] != "ActorCriticPolicy" or meta["activation"] != "Tanh":
        raise TypeError("save_policy supports SB3 MlpPolicy (ActorCriticPolicy, tanh) only")
    state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    jpath = json_path(path)
    with atomic_path(jpath) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return jpath


def load_policy(path: str | Path, env_id: str | None = None) -> ActorCriticPolicy:
    """Rebuild a policy saved by :func:`save_policy` (``torch.load(weights_only=True)``).

    With ``env_id``, the saved spaces must equal that env's spaces. The policy is in eval
    mode on the CPU; call ``policy.predict(obs, deterministic=True)`` as on a model.
    """
    path = Path(path)
    meta = json.loads(json_path(path).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path(path)}: not a saved policy (format {meta.get('format')!r})")
    obs_space = space_from_json(meta["observation_space"])
    act_space = space_from_json(meta["action_space"])
    if env_id is not None:
        check_env_id(env_id)
        env = gym.make(env_id)
        try:
            if not (
                spaces_match(obs_space, env.observation_space)
                and spaces_match(act_space, env.action_space)
            ):
                raise ValueError(f"{path}: saved spaces differ from those of {env_id}")
        finally:
            env.close()
    lr = float((meta.get("settings") or {}).get("learning_rate", 5e-4))
    policy = ActorCriticPolicy(obs_space, act_space, lambda _: lr, net_arch=list(meta["net_arch"]))
    state = torch.load(path, map_location="cpu", weights_only=True)
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    return policy
