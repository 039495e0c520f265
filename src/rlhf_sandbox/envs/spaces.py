"""Gymnasium spaces to JSON and back (policies and reward models record the spaces they fit)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


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
