"""Compile (or load from numba's cache) every kernel of every world, once: ``make`` runs
:func:`warm_up` after installing, so that no first step waits for the compiler."""

from __future__ import annotations


def warm_up() -> None:
    """Every numba kernel: the driving world's (all three roads, serial and threaded), the
    arena's, and the C library's atan2 of the numpy paths."""
    import numpy as np

    from rlhf_sandbox.sim.arena.kernel import warm_up as arena
    from rlhf_sandbox.sim.driving.kernels import warm_up as driving
    from rlhf_sandbox.sim.libm import atan2

    driving()
    arena()
    atan2(np.ones(1), np.ones(1))


if __name__ == "__main__":
    warm_up()
