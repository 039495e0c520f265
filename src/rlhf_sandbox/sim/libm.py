"""Elementwise math with the C library's bits, for the numpy paths of the worlds.

NumPy sends float64 ``arctan2`` to SVML on CPUs with AVX-512 (``np.show_runtime()`` lists
``X86_V4``); SVML's result differs from the C library's in the last bit for about 7% of
inputs. The numba kernels call the C library, and so does NumPy on other CPUs: with
``np.arctan2`` the numpy path would give other trajectories than the kernels on such a
machine, and other trajectories than on a machine without AVX-512. :func:`atan2` is the
C library's ``atan2`` as a ufunc (compiled by numba on first use), the same on every CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_ATAN2: list[Callable[..., Any]] = []


def atan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.arctan2(y, x)`` (float64) with the C library's ``atan2`` bits on every CPU."""
    if not _ATAN2:
        from numba import vectorize

        _ATAN2.append(vectorize(["float64(float64, float64)"], cache=True)(_atan2))
    return np.asarray(_ATAN2[0](y, x))


def _atan2(y: float, x: float) -> float:
    return math.atan2(y, x)
