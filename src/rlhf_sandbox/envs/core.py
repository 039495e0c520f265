"""One batched core, three faces: a Gymnasium Env (B = 1), a Gymnasium VectorEnv and an SB3 VecEnv.

A *core* owns B copies of a world and knows how to observe, step and reset any subset of
them. It never resets on its own. The faces below add the reset policy each API expects:

* :class:`CoreEnv`: ``gymnasium.Env`` over a core with one slot.
* :class:`CoreVectorEnv`: ``gymnasium.vector.VectorEnv``, next-step autoreset (a slot that
  ended is reset on the following ``step`` call, whose action for it is ignored).
* ``rlhf_sandbox.envs.sb3.CoreVecEnv``: SB3's same-step reset with ``terminal_observation``.

Seeds: ``reset(seed=s)`` of a vector face seeds slot i with ``s + i``; a later reset of a slot
without a seed continues that slot's own seed chain (:func:`next_seed`), exactly as a single
env does when ``reset()`` is called again without a seed. So slot i of a batch reproduces a
single env seeded with ``s + i``, episode after episode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

NO_SEED = -1


def next_seed(seed: np.ndarray) -> np.ndarray:
    """The next seed in a slot's chain (splitmix64 of the previous one), as int64 >= 0."""
    z = seed.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(2)).astype(np.int64)


@dataclass(frozen=True)
class StepResult:
    """What a core returns for one batched step. Shapes: ``[N]`` unless noted."""

    reward: np.ndarray  # float32 [N]
    terminated: np.ndarray  # bool [N]
    truncated: np.ndarray  # bool [N]
    info: dict[str, Any]  # nested dicts of arrays with a leading [N] axis


class BatchedCore(ABC):
    """B copies of a world behind one array call per step."""

    num_envs: int
    single_observation_space: gym.Space[Any]
    single_action_space: gym.Space[Any]
    metadata: dict[str, Any] = {}
    render_size: tuple[int, int] = (600, 150)  # (width, height) of frames [px]

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.seeds = np.zeros(num_envs, dtype=np.int64)  # each slot's current episode seed

    def reset_slots(self, mask: np.ndarray, seeds: np.ndarray) -> None:
        """Reset the slots where ``mask`` holds; ``seeds[i] == NO_SEED`` continues the chain."""
        chained = next_seed(self.seeds)
        new = np.where(seeds >= 0, seeds, chained)
        self.seeds = np.where(mask, new, self.seeds)
        self._reset(np.asarray(mask, dtype=bool))

    @abstractmethod
    def _reset(self, mask: np.ndarray) -> None:
        """Start new episodes in the masked slots from ``self.seeds``."""

    @abstractmethod
    def observe(self) -> np.ndarray:
        """Observations of every slot, ``[N, *obs_shape]``."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> StepResult:
        """Advance every slot by one policy step (validated actions, ``[N, ...]``)."""

    @abstractmethod
    def reset_info(self) -> dict[str, Any]:
        """Info after a reset, with a leading [N] axis."""

    @abstractmethod
    def render_slot(self, slot: int, width: int, height: int) -> np.ndarray:
        """An RGB frame ``[H, W, 3]`` uint8 of one slot."""

    def check_actions(self, actions: Any) -> np.ndarray:
        """Actions as an array of shape ``[N, ...]``; anything outside the space is an error."""
        space = self.single_action_space
        a = np.asarray(actions)
        if isinstance(space, gym.spaces.Discrete):
            a = a.reshape(self.num_envs)
            if not np.issubdtype(a.dtype, np.integer):
                if not np.all(np.mod(a, 1) == 0):
                    raise ValueError(f"action must be an integer in [0, {space.n}), got {a}")
                a = a.astype(np.int64)
            if np.any((a < space.start) | (a >= space.start + space.n)):
                raise ValueError(f"action outside Discrete({space.n}): {a}")
            return a.astype(np.int64)
        if isinstance(space, gym.spaces.Box):
            a = a.astype(np.float32).reshape((self.num_envs, *space.shape))
            if not np.all(np.isfinite(a)):
                raise ValueError("action has NaN or infinite entries")
            lo, hi = space.low, space.high
            if np.any(a < lo - 1e-6) or np.any(a > hi + 1e-6):
                raise ValueError(f"action outside the Box [{lo.min()}, {hi.max()}]: {a}")
            return a
        raise TypeError(f"unsupported action space {space}")

    # ----------------------------------------------------------- clips (optional)
    policy_hz: float = 1.0  # policy decisions per second

    def slot_states(self) -> dict[str, np.ndarray] | None:
        """Every slot's world state now, arrays with a leading ``[N]`` axis; ``None`` when
        the core has no state to store (clips then need frames)."""
        return None

    def replay(self, state: dict[str, np.ndarray], actions: np.ndarray) -> dict[str, np.ndarray]:
        """One slot's states at the simulation rate, ``[T * substeps + 1, ...]``, re-simulated
        from its state before ``actions`` ``[T, ...]``. Cores whose policy step is one
        simulation step need not override it (clips then keep the policy-rate states)."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027  (optional hook: most cores hold nothing)
        """Release resources (drawing surfaces); the default holds none."""


def slot_view(tree: dict[str, Any], i: int) -> dict[str, Any]:
    """Slot ``i`` of a nested dict of ``[N, ...]`` arrays, as Python scalars where scalar."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out[k] = slot_view(v, i)
        else:
            x = v[i]
            out[k] = x.item() if np.ndim(x) == 0 else x
    return out


def add_masks(tree: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Gymnasium's vector info layout: every key ``k`` gets a boolean ``_k`` beside it."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out[k] = add_masks(v, mask) if isinstance(v, dict) else v
        out["_" + k] = mask
    return out


class CoreEnv(gym.Env[np.ndarray, Any]):
    """A Gymnasium Env that is the B = 1 view of a batched core.

    Subclasses set ``metadata`` and build ``self.core`` (one slot) in ``__init__``.
    """

    core: BatchedCore
    render_size: tuple[int, int] = (600, 150)

    def _bind(self, core: BatchedCore, render_mode: str | None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.core = core
        self.render_mode = render_mode
        self.observation_space = core.single_observation_space
        self.action_space = core.single_action_space
        self._window: Any = None
        self._clock: Any = None
        self._needs_reset = True
        self._chained = False  # becomes True at the first reset

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            s = int(seed)
        elif not self._chained:
            s = int(self.np_random.integers(0, 2**62))  # first reset without a seed
        else:
            s = NO_SEED  # continue this env's seed chain
        self._chained = True
        self.core.reset_slots(np.ones(1, dtype=bool), np.array([s], dtype=np.int64))
        self._needs_reset = False
        obs = self.core.observe()[0]
        if self.render_mode == "human":
            self.render()
        return obs, slot_view(self.core.reset_info(), 0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        a = self.core.check_actions(np.asarray(action)[None])
        r = self.core.step(a)
        terminated, truncated = bool(r.terminated[0]), bool(r.truncated[0])
        self._needs_reset = terminated or truncated
        obs = self.core.observe()[0]
        if self.render_mode == "human":
            self.render()
        return obs, float(r.reward[0]), terminated, truncated, slot_view(r.info, 0)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        w, h = self.render_size
        frame = self.core.render_slot(0, w, h)
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def _show(self, frame: np.ndarray) -> None:
        import pygame  # drawing only: a headless run never imports pygame

        if self._window is None:
            pygame.init()
            pygame.display.init()
            self._window = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            pygame.display.set_caption(type(self).__name__)
            self._clock = pygame.time.Clock()
        pygame.event.pump()
        surf = pygame.surfarray.make_surface(frame.swapaxes(0, 1))
        self._window.blit(surf, (0, 0))
        pygame.display.flip()
        self._clock.tick(self.metadata.get("render_fps", 15))

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None
        self.core.close()


class CoreVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """``gymnasium.vector.VectorEnv`` over a core: one array call per step, next-step autoreset."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, core: BatchedCore, render_mode: str | None = None) -> None:
        self.core = core
        self.num_envs = core.num_envs
        self.single_observation_space = core.single_observation_space
        self.single_action_space = core.single_action_space
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**core.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = render_mode
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = self.num_envs
        seeds: np.ndarray
        if seed is None:  # continue each slot's chain (fresh seeds below if never started)
            seeds = np.full(n, NO_SEED, dtype=np.int64)
        elif isinstance(seed, int):
            seeds = np.arange(n, dtype=np.int64) + seed
        else:
            if len(seed) != n:
                raise ValueError(f"got {len(seed)} seeds for {n} envs")
            seeds = np.array([NO_SEED if s is None else s for s in seed], dtype=np.int64)
        if not self._started:
            fresh = np.random.SeedSequence().generate_state(n, dtype=np.uint64) >> np.uint64(2)
            seeds = np.where(seeds >= 0, seeds, fresh.astype(np.int64))
        mask = np.ones(n, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
        self.core.reset_slots(mask, seeds)
        self._autoreset &= ~mask
        self._started = True
        return self.core.observe(), add_masks(self.core.reset_info(), mask)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = self.core.check_actions(actions)
        r = self.core.step(a)
        reward = np.asarray(r.reward, dtype=np.float32).copy()
        terminated = r.terminated.copy()
        truncated = r.truncated.copy()
        info = r.info
        ended_before = self._autoreset
        if ended_before.any():
            # Next-step autoreset: these slots stepped (their action is ignored, the
            # result discarded) and now start a new episode.
            self.core.reset_slots(ended_before, np.full(self.num_envs, NO_SEED, dtype=np.int64))
            reward[ended_before] = 0.0
            terminated[ended_before] = False
            truncated[ended_before] = False
        self._autoreset = terminated | truncated
        return self.core.observe(), reward, terminated, truncated, add_masks(info, ~ended_before)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        w, h = self.core.render_size
        return tuple(self.core.render_slot(i, w, h) for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        self.core.close()
