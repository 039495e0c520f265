"""A game's copies stepped as one batch behind :class:`~rlhf_sandbox.envs.pz_joint.JointGame`.

A ParallelEnv may offer a batched form of itself: a method ``batched(n_copies)`` returning an
object with the :class:`BatchedGame` interface (our arena's
:class:`~rlhf_sandbox.envs.arena_v0.ArenaBatch`). Then :class:`BatchedCopies` steps every
copy with one array call instead of one PettingZoo ``step`` per copy, and gives the same
results as the copies would: the same seeds (copy c's world plays the seed copy c would),
observations, rewards, ``info`` features, episode ends and resets.

The batched form's contract: its agents are the game's ``possible_agents`` in that order,
all of them act at every step of an episode and leave it together (terminated or truncated
per copy), and an agent's behaviour features are ``info["features"]`` of the copy, arrays
``[C, A]`` by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from rlhf_sandbox.envs.core import next_seed


class BatchedGame(Protocol):
    """``C`` copies of a game as arrays (see the module docstring)."""

    action_space: gym.Space[Any]

    def reset(self, mask: np.ndarray, seeds: np.ndarray) -> None: ...

    def observe(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]: ...

    def render(self, world: int) -> np.ndarray: ...


def batched_form(env: Any, n_copies: int) -> BatchedGame | None:
    """The batched form of ``env``'s game for ``n_copies`` copies, or None where it has none
    (or draws to a window: ``render_mode="human"`` steps the copies one by one)."""
    make = getattr(env, "batched", None)
    if not callable(make) or getattr(env, "render_mode", None) not in (None, "rgb_array"):
        return None
    return make(n_copies)


def batched_copies(
    env: Any, n_copies: int, roles: Mapping[str, Sequence[str]]
) -> BatchedCopies | None:
    """``n_copies`` copies of ``env``'s game in its batched form, with a view's slots for
    each of ``roles`` (role -> its agents), or None where it has no such form."""
    form = batched_form(env, n_copies)
    if form is None:
        return None
    return BatchedCopies(form, env.possible_agents, roles, getattr(env, "render_mode", None))


Result = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]
Others = Callable[[str, Any, gym.Space[Any], np.random.Generator], Any]


class BatchedCopies:
    """The state of every copy, in one :class:`BatchedGame` (see the module docstring).

    ``agents``: the game's agents (batch order); ``slots[role]``: the batch indices of the
    role's agents, in the order of its view's slots within a copy."""

    def __init__(
        self,
        batch: BatchedGame,
        agents: Sequence[str],
        slots: Mapping[str, Sequence[str]],
        render_mode: str | None,
    ) -> None:
        self.batch = batch
        self.agents = tuple(agents)
        index = {a: k for k, a in enumerate(self.agents)}
        self.slots = {
            r: np.array([index[a] for a in ags], dtype=np.int64) for r, ags in slots.items()
        }
        self.render_mode = render_mode
        self.n_copies = int(np.asarray(batch.observe()).shape[0])
        self.seeds = np.zeros(self.n_copies, dtype=np.int64)
        self.features: dict[str, tuple[str, ...]] = {}  # a role's names, fixed on its first step

    def reset(self, mask: np.ndarray, seeds: np.ndarray) -> None:
        """New episodes in the masked copies, copy c on ``seeds[c]``."""
        self.seeds = np.where(mask, seeds, self.seeds).astype(np.int64)
        self.batch.reset(np.asarray(mask, dtype=bool), self.seeds.copy())

    def observe(self, role: str) -> np.ndarray:
        """The role's observations, slot ``c * M + j`` (``[C * M, ...]``)."""
        obs = np.asarray(self.batch.observe())[:, self.slots[role]]
        return obs.reshape(-1, *obs.shape[2:]).copy()

    def frames(self) -> list[Any]:
        if self.render_mode != "rgb_array":
            return [None] * self.n_copies
        return [self.batch.render(c) for c in range(self.n_copies)]

    def step(
        self,
        actions: Mapping[str, np.ndarray],
        rngs: Sequence[np.random.Generator],
        others: Others,
    ) -> tuple[dict[str, Result], np.ndarray]:
        """One step of every copy with each submitted role's actions (``[C * M, ...]``, already
        checked); the agents of roles not submitted act by ``others`` (with copy c's
        ``rngs[c]``). Returns each role's result and the copies whose episode ended (not
        yet reset: :meth:`restart` them)."""
        b, n = self.batch, self.n_copies
        space = b.action_space
        discrete = isinstance(space, gym.spaces.Discrete)
        shape: tuple[int, ...] = () if discrete else tuple(space.shape or ())
        act = np.zeros((n, len(self.agents), *shape), dtype=np.int64 if discrete else space.dtype)
        given = np.zeros(len(self.agents), dtype=bool)
        for role, a in actions.items():
            idx = self.slots[role]
            act[:, idx] = np.asarray(a).reshape(n, len(idx), *shape)
            given[idx] = True
        if not given.all():
            obs_now = np.asarray(b.observe())
            for k in np.flatnonzero(~given):
                for c in range(n):
                    act[c, k] = _valid(space, others(self.agents[k], obs_now[c, k], space, rngs[c]))
        reward, term, trunc, info = b.step(act)
        obs = np.asarray(b.observe())
        feats = info.get("features", {}) if isinstance(info, Mapping) else {}
        names = tuple(sorted(k for k in feats if isinstance(k, str) and k and "/" not in k))
        ended = np.asarray(term, dtype=bool) | np.asarray(trunc, dtype=bool)
        out: dict[str, Result] = {}
        for role in actions:
            idx = self.slots[role]
            m = len(idx)
            o = obs[:, idx].reshape(n * m, *obs.shape[2:]).copy()
            r = np.asarray(reward, dtype=np.float32)[:, idx].reshape(n * m).copy()
            keep = self.features.setdefault(role, names)
            cols = [
                np.asarray(feats[k], dtype=np.float64)[:, idx].reshape(n * m)
                if k in feats
                else np.zeros(n * m)
                for k in keep
            ]
            rows = np.stack(cols, axis=1).tolist() if cols else [[] for _ in range(n * m)]
            infos: list[dict[str, Any]] = [
                {"features": dict(zip(keep, row, strict=True))} for row in rows
            ]
            d = np.repeat(ended, m)
            for i in np.flatnonzero(d):
                ci = int(i) // m
                infos[i]["terminal_observation"] = o[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(trunc[ci]) and not bool(term[ci])
            out[role] = (o, r, d, infos)
        return out, ended

    def restart(self, ended: np.ndarray, results: Mapping[str, Result]) -> np.ndarray:
        """Reset the copies that ended on their next seeds and put their first observations
        in ``results``' slots; returns the new seeds (``[C]``, only ``ended`` ones changed)."""
        if not ended.any():
            return self.seeds
        self.reset(ended, np.where(ended, next_seed(self.seeds), self.seeds))
        obs = np.asarray(self.batch.observe())
        for role, (o, _, _, _) in results.items():
            idx = self.slots[role]
            m = len(idx)
            fresh = obs[:, idx].reshape(-1, *obs.shape[2:])
            d = np.repeat(ended, m)
            o[d] = fresh[d]
        return self.seeds


def _valid(space: gym.Space[Any], a: Any) -> Any:
    """An ``others`` action for the batch, checked against the agent's space."""
    if isinstance(space, gym.spaces.Discrete):
        v = np.asarray(a)
        if v.shape != () or v % 1 != 0 or not space.start <= int(v) < space.start + space.n:
            raise ValueError(f"action {a!r} is outside {space}")
        return int(v)
    arr = np.asarray(a, dtype=space.dtype)
    if not space.contains(arr):
        raise ValueError(f"action {a!r} is outside {space}")
    return arr
