"""Which seeded episode each slot of a vector env plays: the one episode scheduler.

Episodes are given by their seeds (episode k is seeded ``seeds[k]``; for an evaluation
``seed + k``). Slots 0..n-1 start episodes 0..n-1; when a slot's episode ends, the slot
takes the next episode not yet started; when none is left the slot idles (index -1) and
its steps are ignored. So the episodes played, and each one's seed, are the same whatever
the number of slots: batching changes the speed, never the result.

Users: the rollouts, the vectorised evaluation and the driving harness's runner. It only
keeps the books: stepping, resetting and recording stay with the caller, which resets the
slots :meth:`EpisodeScheduler.advance` says to restart, with the seeds it gives (an SB3
``VecEnv`` that resets itself ignores them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Advance(NamedTuple):
    """What :meth:`EpisodeScheduler.advance` did. Arrays over the slots that ended."""

    slots: np.ndarray  # int [m]: the slots whose episodes ended
    episodes: np.ndarray  # int [m]: the episodes that ended there
    restart: np.ndarray  # bool [n_slots]: slots that start their next episode now


class EpisodeScheduler:
    """Slot i plays the next seeded episode (see the module docstring)."""

    def __init__(self, seeds: Sequence[int] | np.ndarray, n_slots: int) -> None:
        if n_slots < 1:
            raise ValueError(f"n_slots must be >= 1, got {n_slots}")
        self.seeds = np.asarray(seeds, dtype=np.int64)
        n = n_slots
        self.episode = np.where(np.arange(n) < self.seeds.size, np.arange(n), -1)
        """int [n_slots]: the episode each slot plays; -1: none left (ignore the slot)"""
        self.next = min(n, int(self.seeds.size))  # the next episode to start

    @classmethod
    def seeded(cls, episodes: int, n_slots: int, seed: int) -> EpisodeScheduler:
        """Episodes 0..episodes-1 seeded ``seed + k``."""
        return cls(np.arange(episodes, dtype=np.int64) + seed, n_slots)

    @property
    def n_slots(self) -> int:
        return int(self.episode.size)

    @property
    def active(self) -> np.ndarray:
        """bool [n_slots]: slots playing an episode."""
        return self.episode >= 0

    @property
    def busy(self) -> bool:
        """Whether any episode is still being played."""
        return bool(np.any(self.episode >= 0))

    def first_seeds(self) -> list[int | None]:
        """The seed of each slot's first episode (None for a slot with none)."""
        return [int(self.seeds[k]) if k >= 0 else None for k in self.episode]

    def seeds_of(self, slots: np.ndarray) -> np.ndarray:
        """int [m]: the seeds of the episodes the given slots play now."""
        return self.seeds[self.episode[slots]]

    def advance(self, done: np.ndarray) -> Advance:
        """The episodes of the slots in ``done`` (bool [n_slots]; idle slots ignored)
        ended: each such slot takes the next episode, or idles when none is left."""
        ended = np.flatnonzero(np.asarray(done, dtype=bool) & (self.episode >= 0))
        episodes = self.episode[ended].copy()
        restart = np.zeros(self.n_slots, dtype=bool)
        for i in ended:
            if self.next < self.seeds.size:
                self.episode[i] = self.next
                restart[i] = True
                self.next += 1
            else:
                self.episode[i] = -1
        return Advance(ended, episodes, restart)


class EpisodeTallies:
    """Each episode's return, length and termination, summed per slot while it runs."""

    def __init__(self, episodes: int, n_slots: int) -> None:
        self.returns = np.zeros(episodes)  # float64 [episodes]
        self.lengths = np.zeros(episodes, dtype=np.int64)  # policy steps
        self.terminated = np.zeros(episodes, dtype=bool)  # ended by termination, not time
        self._ret = np.zeros(n_slots)
        self._len = np.zeros(n_slots, dtype=np.int64)

    def add(self, reward: np.ndarray, active: np.ndarray) -> None:
        """One vector step's rewards, for the slots playing an episode."""
        self._ret[active] += reward[active]
        self._len[active] += 1

    def end(self, ended: Advance, terminated: np.ndarray) -> None:
        """The episodes of ``ended`` are over (``terminated``: bool per slot)."""
        for i, k in zip(ended.slots, ended.episodes, strict=True):
            self.returns[k], self.lengths[k] = self._ret[i], self._len[i]
            self.terminated[k] = terminated[i]
            self._ret[i], self._len[i] = 0.0, 0
