"""Neighbour search by sorting along lanes, for every copy of a batch at once.

Each vehicle is entered once for the lane it drives in and, while it changes lanes, once
more for the lane it is leaving, so that traffic in both lanes sees it. Entries are keyed
by (copy, lane, station) in one flat float64 array, sorted once per simulation step; the
leader or follower of any (copy, lane, station) is then one ``searchsorted``. Nothing here
is ``[B, V, V]``: memory and time grow with B * V * log(B * V).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.driving.params import HALF, SPAN

NONE = -1


@dataclass(frozen=True)
class LaneIndex:
    """Sorted entries; ``owner`` is the flat vehicle index ``b * V + v`` of each entry."""

    keys: np.ndarray  # [E] float64, ascending
    owner: np.ndarray  # [E] int64
    stations: np.ndarray  # [E] float64, each entry's exact station [m]
    n_groups: int  # lanes + 1 (the last one collects unused entries)
    n_vehicles: int

    def group(self, b: np.ndarray, lane: np.ndarray) -> np.ndarray:
        lane = np.where(lane < 0, self.n_groups - 1, lane)
        return b * self.n_groups + lane

    def _key(self, g: np.ndarray, s: np.ndarray) -> np.ndarray:
        return g * SPAN + np.clip(s, -HALF, HALF) + SPAN / 2

    def ahead(
        self, b: np.ndarray, lane: np.ndarray, s: np.ndarray, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The first entry strictly ahead of station ``s`` on ``lane`` in copy ``b``.

        Returns (owner flat index or -1, its station on that lane). ``exclude`` (flat
        vehicle indices) skips one entry of that owner found at the same place.
        """
        g = self.group(b, lane)
        q = self._key(g, s)
        i = np.searchsorted(self.keys, q, side="right")
        hit_owner, hit_s = self._read(i, g)
        if exclude is not None:
            again = hit_owner == exclude
            if again.any():
                o2, s2 = self._read(i + 1, g)
                hit_owner = np.where(again, o2, hit_owner)
                hit_s = np.where(again, s2, hit_s)
        return hit_owner, hit_s

    def behind(
        self, b: np.ndarray, lane: np.ndarray, s: np.ndarray, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The last entry strictly behind station ``s`` (see :meth:`ahead`)."""
        g = self.group(b, lane)
        q = self._key(g, s)
        i = np.searchsorted(self.keys, q, side="left") - 1
        hit_owner, hit_s = self._read(i, g)
        if exclude is not None:
            again = hit_owner == exclude
            if again.any():
                o2, s2 = self._read(i - 1, g)
                hit_owner = np.where(again, o2, hit_owner)
                hit_s = np.where(again, s2, hit_s)
        return hit_owner, hit_s

    def first(self, b: np.ndarray, lane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rearmost entry of a lane."""
        return self.ahead(b, lane, np.full(np.shape(b), -HALF))

    def _read(self, i: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.keys.shape[0]
        ok = (i >= 0) & (i < n)
        ic = np.clip(i, 0, n - 1)
        k = self.keys[ic]
        ok &= np.floor(k / SPAN) == g
        owner = np.where(ok, self.owner[ic], NONE)
        s = np.where(ok, self.stations[ic], np.nan)
        return owner, s


def build_index(
    lane: np.ndarray, s: np.ndarray, lane2: np.ndarray, s2: np.ndarray, n_lanes: int
) -> LaneIndex:
    """Index vehicles ``[B, V]`` by (lane, s) and, where ``lane2 >= 0``, by (lane2, s2)."""
    bsz, v = lane.shape
    n_groups = n_lanes + 1
    b = np.arange(bsz)[:, None]
    owner = (b * v + np.arange(v)[None, :]).ravel()
    g1 = (b * n_groups + np.where(lane < 0, n_lanes, lane)).ravel()
    g2 = (b * n_groups + np.where(lane2 < 0, n_lanes, lane2)).ravel()
    k1 = g1 * SPAN + np.clip(s.ravel(), -HALF, HALF) + SPAN / 2
    k2 = g2 * SPAN + np.clip(np.nan_to_num(s2.ravel()), -HALF, HALF) + SPAN / 2
    keys = np.concatenate([k1, k2])
    owners = np.concatenate([owner, owner])
    order = np.argsort(keys, kind="stable")
    stations = np.concatenate([s.ravel(), np.nan_to_num(s2.ravel())])
    return LaneIndex(keys[order], owners[order], stations[order], n_groups, v)
