"""The stable-baselines3 face of a batched core: same-step reset, ``terminal_observation``.

This is the one place that converts between our cores and SB3's 4-tuple ``VecEnv`` API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from rlhf_sandbox.envs.core import NO_SEED, BatchedCore, slot_view


class CoreVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a core. Slot i is seeded with ``seed + i`` (``VecEnv.seed``)."""

    def __init__(self, core: BatchedCore, render_mode: str | None = None) -> None:
        self.core = core
        self.render_mode = render_mode
        super().__init__(core.num_envs, core.single_observation_space, core.single_action_space)
        self._actions: np.ndarray | None = None
        self._started = False
        # Called with the done mask after a step and before those slots are reset: the one
        # moment a slot's terminal world state can be read (clip recording).
        self.episode_end_hooks: list[Callable[[np.ndarray], None]] = []

    def reset(self) -> np.ndarray:
        n = self.num_envs
        seeds = np.array([NO_SEED if s is None else s for s in self._seeds], dtype=np.int64)
        if not self._started:
            fresh = np.random.SeedSequence().generate_state(n, dtype=np.uint64) >> np.uint64(2)
            seeds = np.where(seeds >= 0, seeds, fresh.astype(np.int64))
        self.core.reset_slots(np.ones(n, dtype=bool), seeds)
        self._started = True
        self._reset_seeds()
        self._reset_options()
        info = self.core.reset_info()
        self.reset_infos = [slot_view(info, i) for i in range(n)]
        return self.core.observe()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = self.core.check_actions(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async() first"
        r = self.core.step(self._actions)
        self._actions = None
        obs = self.core.observe()
        done = r.terminated | r.truncated
        infos = [slot_view(r.info, i) for i in range(self.num_envs)]
        if done.any():
            for hook in self.episode_end_hooks:
                hook(done)
            idx = np.flatnonzero(done)
            for i in idx:
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(r.truncated[i] and not r.terminated[i])
            self.core.reset_slots(done, np.full(self.num_envs, NO_SEED, dtype=np.int64))
            obs = self.core.observe()
        return obs, np.asarray(r.reward, dtype=np.float32), done, infos

    def close(self) -> None:
        self.core.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        w, h = self.core.render_size
        return [self.core.render_slot(i, w, h) for i in range(self.num_envs)]

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        return self._get_indices(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        owner = self.core if hasattr(self.core, attr_name) else self  # render_mode lives here
        value = getattr(owner, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.core, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kw: Any
    ) -> list[Any]:
        method = getattr(self.core, method_name)
        return [method(*method_args, **kw) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
