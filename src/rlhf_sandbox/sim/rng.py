"""Counter-based random numbers: vectorised, and per-copy deterministic.

``uniform(seed, counter, index)`` hashes its integer arguments (broadcast together) with
splitmix64 into floats in [0, 1). A world draws its step-time randomness from
(its episode seed, its step count, the vehicle or agent index), so copy i of a batch draws
exactly what a lone world with the same seed draws, without a Python loop over copies.
"""

from __future__ import annotations

import numpy as np

# splitmix64's constants (the arena kernel hashes with them too)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def hash64(*keys: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of the broadcast integer arrays ``keys``."""
    with np.errstate(over="ignore"):
        h: np.ndarray = np.asarray(np.uint64(0x1234567))
        for k in keys:
            h = _mix(np.asarray(k).astype(np.uint64) + h * GOLDEN + GOLDEN)
    return np.asarray(h)


def uniform(*keys: np.ndarray | int) -> np.ndarray:
    """Floats in [0, 1) from the broadcast integer keys."""
    return (hash64(*keys) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
