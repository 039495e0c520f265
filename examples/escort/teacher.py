"""Teachers of your own for the escort game (examples/escort/escort.py): plug-in oracles.

    rlhf-sandbox train --env escort --teacher teacher:GUARDIAN ...   # from examples/escort/

``GUARDIAN`` judges an escort (role ``escort``) as a bodyguard would: stay close to the
VIP, stand between it and the nearest chaser, tackle chasers, never let one through, and
do not walk into the VIP. ``HUNTER`` judges a chaser (role ``chaser``, with
``--env-arg scripted_chasers=false``): get to the VIP, do not get tackled.

Each reads only numbers the game puts in its agents' ``info`` (see escort.py), as arrays
of one shape, and gives a reward per step. Importing this module runs it: a plug-in
teacher is code you run (docs/ORACLES.md).
"""

import numpy as np

from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable

NEAR = 0.25  # [field units] closer than this to the VIP costs nothing (the field is 2 wide)


def guardian(f):
    """A bodyguard's per-step reward for one escort."""
    too_far = np.maximum(f["vip_distance"] - NEAR, 0.0)
    return (
        -2.0 * f["vip_hit"]  # a chaser got through (every escort shares the blame)
        + 0.5 * f["blocking"]  # between the VIP and the nearest chaser
        + 0.5 * f["tackle"]
        - 0.5 * f["bump"]  # in the VIP's way
        - 1.0 * too_far
    )


def hunter(f):
    """A chaser's per-step reward: close in, reach the VIP, avoid the escorts."""
    return 2.0 * f["vip_hit"] - 0.5 * f["tackled"] - 0.5 * f["vip_distance"]


GUARDIAN = oracle_from_callable(
    guardian, name="guardian", features=("vip_distance", "blocking", "tackle", "bump", "vip_hit")
)
HUNTER = oracle_from_callable(
    hunter, name="hunter", features=("vip_distance", "vip_hit", "tackled")
)
