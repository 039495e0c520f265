"""A teacher of your own: steady driving near 22 m/s, no weaving, no crashes.

    rlhf-sandbox train --env rlhf_sandbox/Highway-v0 --teacher calm_driver:CALM \
        --labels 200 --timesteps 50000 --out runs/calm     # run from examples/teachers/

Importing this module runs it: a plug-in teacher is code you run (docs/ORACLES.md).
"""

import numpy as np

from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable

CRUISE = 22.0  # [m/s] the speed this driver likes


def calm(f):
    """Per-step reward from the env's behaviour features (arrays of one shape)."""
    on_pace = 1.0 - np.minimum(np.abs(f["speed"] - CRUISE) / CRUISE, 1.0)
    return on_pace - 0.5 * f["lane_change"] - 10.0 * f["collision"]


CALM = oracle_from_callable(calm, name="calm", features=("speed", "lane_change", "collision"))
