"""Scenarios without events play bit-identically to before events existed (issue 21).

The hashes below were computed at commit 4c07cce (the tree before the event machinery,
whose driving world equals 7cb5fe5's) by :func:`trajectory_hash`: every state field the
world had then and every per-step feature, after each of 25 policy steps of 3 copies, for
each road, both backends, the agent's random meta-actions, continuous control and the IDM
ego. A change of the driving model changes them; the event machinery must not.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.driving_config import ID_DEFAULTS, DrivingConfig
from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand

# The world's state fields before events (events add fields of their own).
OLD_FIELDS = (
    "x", "y", "heading", "speed", "accel", "steer", "lane", "prev_lane", "cooldown",
    "crashed", "aggressiveness", "v0", "time_gap", "a_max", "b_comf", "s0", "politeness",
    "threshold", "gap_accept", "t", "seed", "target_speed", "ego_prev_accel", "anchor",
)  # fmt: skip
COPIES, STEPS = 3, 25


def trajectory_hash(env_name: str, backend: str, control: str) -> str:
    kw = {**ID_DEFAULTS[env_name], "backend": backend}
    if control == "idm":
        kw["ego_driver"] = "idm"
    if control == "continuous":
        kw["action"] = "continuous"
    w = DrivingWorld(build_config(DrivingConfig, None, **kw).world_params(), COPIES)
    w.reset(np.ones(COPIES, dtype=bool), np.arange(COPIES) + 11)
    rng = np.random.default_rng(3)
    h = hashlib.sha256()
    for _ in range(STEPS):
        if control == "continuous":
            cmd = EgoCommand(
                np.full(COPIES, -1), rng.uniform(-3, 3, COPIES), rng.uniform(-0.05, 0.05, COPIES)
            )
        else:
            cmd = EgoCommand(rng.integers(0, 5, COPIES), np.zeros(COPIES), np.zeros(COPIES))
        feats = w.step(cmd)
        for k in sorted(feats):
            h.update(k.encode() + np.ascontiguousarray(feats[k], dtype=np.float64).tobytes())
        for k in OLD_FIELDS:
            h.update(k.encode() + np.ascontiguousarray(getattr(w, k)).tobytes())
        h.update(np.ascontiguousarray(w.npc_collisions).tobytes())
    return h.hexdigest()[:16]


CASES = [
    (env, backend, control)
    for env in ("Highway-v0", "HighwayFast-v0", "Merge-v0", "Intersection-v0")
    for backend in ("numba", "numpy")
    for control in ("meta", "continuous", "idm")
]
PINNED: dict[tuple[str, str, str], str] = {
    ("Highway-v0", "numba", "meta"): "f619037d6b980439",
    ("Highway-v0", "numba", "continuous"): "428f8c7173ed9fba",
    ("Highway-v0", "numba", "idm"): "cf0d72d74e84b379",
    ("Highway-v0", "numpy", "meta"): "fdc5c9b230103bee",
    ("Highway-v0", "numpy", "continuous"): "e39f140973953830",
    ("Highway-v0", "numpy", "idm"): "38f00cc5001ce3c2",
    ("HighwayFast-v0", "numba", "meta"): "fa6fccd6ac4f83e1",
    ("HighwayFast-v0", "numba", "continuous"): "864796f565087295",
    ("HighwayFast-v0", "numba", "idm"): "f215161d0a3d8c01",
    ("HighwayFast-v0", "numpy", "meta"): "59673a75ef8d9137",
    ("HighwayFast-v0", "numpy", "continuous"): "cf041c34cec23e3a",
    ("HighwayFast-v0", "numpy", "idm"): "7f366fd6d45e9fcf",
    ("Merge-v0", "numba", "meta"): "a76cbb8f23ff4656",
    ("Merge-v0", "numba", "continuous"): "e39394e16f44ff22",
    ("Merge-v0", "numba", "idm"): "e44d9bc7dd0dcd2c",
    ("Merge-v0", "numpy", "meta"): "29d43733b63d5ba5",
    ("Merge-v0", "numpy", "continuous"): "76e206c360b27410",
    ("Merge-v0", "numpy", "idm"): "76e4560a7ed4a3bf",
    ("Intersection-v0", "numba", "meta"): "4196ff8e212df660",
    ("Intersection-v0", "numba", "continuous"): "44a16edd91479163",
    ("Intersection-v0", "numba", "idm"): "c77c620a7da0f6f4",
    ("Intersection-v0", "numpy", "meta"): "a118f1ef74910e16",
    ("Intersection-v0", "numpy", "continuous"): "83e286323885c239",
    ("Intersection-v0", "numpy", "idm"): "3eda202568ab5aff",
}


@pytest.mark.parametrize(("env_name", "backend", "control"), CASES)
def test_trajectories_without_events_are_bit_identical(
    env_name: str, backend: str, control: str
) -> None:
    assert trajectory_hash(env_name, backend, control) == PINNED[(env_name, backend, control)]
