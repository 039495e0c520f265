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
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

from rlhf_sandbox.config import ConfigError, reject_unknown, setting, validate
from rlhf_sandbox.envs.ids import check_env_id
from rlhf_sandbox.envs.spaces import space_from_json, space_to_json, spaces_match
from rlhf_sandbox.envs.vector import make_vec_env
from rlhf_sandbox.files import atomic_path, json_path

FORMAT = "rlhf_sandbox.ppo_policy/1"
ALGOS = ("ppo", "trpo")


@dataclass(frozen=True)
class PPOSettings:
    """Settings of a PPO run (SB3 ``PPO`` with an MLP policy)."""

    n_envs: int = setting(16, lo=1, doc="copies of the env stepped together (one batched core)")
    n_steps: int = setting(
        64, lo=1, doc="steps per env per rollout; a rollout holds n_envs * n_steps transitions"
    )
    batch_size: int = setting(256, lo=1, doc="minibatch size of the PPO update")
    n_epochs: int = setting(4, lo=1, doc="passes over each rollout")
    learning_rate: float = setting(5e-4, lo=0.0, doc="Adam step size (constant, > 0)")
    gamma: float = setting(
        0.8, lo=0.0, hi=1.0,
        doc="discount, in (0, 1]; highway-env's PPO example uses 0.8 (1 Hz decisions)",
    )  # fmt: skip
    net_arch: tuple[int, ...] = setting(
        (256, 256), lo=1, doc="hidden layers of the policy and of the value network (tanh)"
    )
    gae_lambda: float = setting(0.95, lo=0.0, hi=1.0, doc="GAE lambda")
    ent_coef: float = setting(0.0, lo=0.0, doc="entropy bonus coefficient")
    clip_range: float = setting(0.2, lo=0.0, doc="PPO clipping range (> 0)")
    algo: str = setting("ppo", choices=ALGOS, doc="ppo (stable-baselines3) or trpo (sb3-contrib)")
    seed: int = setting(
        0, lo=0, doc="seed of the network, the sampler and the envs (slot i gets seed + i)"
    )
    device: str = setting("cpu", doc="torch device: cpu, cuda or auto")

    def __post_init__(self) -> None:
        if isinstance(self.net_arch, list):  # a list from JSON or a caller: the same layers
            object.__setattr__(self, "net_arch", tuple(self.net_arch))
        validate(self)
        for name in ("learning_rate", "gamma", "clip_range"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"PPOSettings.{name} must be > 0, got {getattr(self, name)}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["net_arch"] = list(self.net_arch)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PPOSettings:
        reject_unknown(cls, d)
        kw = dict(d)
        if "net_arch" in kw:
            if not isinstance(kw["net_arch"], list | tuple):
                raise ConfigError(
                    f"PPOSettings.net_arch must be a list of ints, got {kw['net_arch']!r}"
                )
            kw["net_arch"] = tuple(kw["net_arch"])  # validated (ints >= 1) on construction
        return cls(**kw)


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
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a file it refuses; report one
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path}: not a policy state dict (torch.load with weights_only refused it: {first})"
        ) from None
    policy.load_state_dict(state)
    policy.set_training_mode(False)
    return policy
