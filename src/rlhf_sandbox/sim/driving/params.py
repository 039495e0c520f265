"""Plain settings of the driving world (validated by the env layer, not here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlhf_sandbox.sim.driving.events import EventSpec

# Vehicle body and dynamics
LENGTH = 5.0  # [m]
WIDTH = 2.0  # [m]
WHEELBASE = 2.5  # [m] kinematic bicycle, centre of mass midway
MAX_STEER = 0.7853981633974483  # [rad] pi / 4
MAX_ACCEL = 5.0  # [m/s^2] ego control range
MAX_BRAKE = 9.0  # [m/s^2] emergency braking of any vehicle
TTC_CAP = 10.0  # [s] time-to-collision and headway are capped here ("no threat")

# Sorted lane entries (lanes.py, kernel_geometry.py)
SPAN = float(1 << 20)  # [m] key range of one (copy, lane) group; stations are clipped into it
HALF = SPAN / 2 - 1.0  # [m] stations are clamped to +-HALF inside a lane's key span


@dataclass(frozen=True)
class WorldParams:
    """Everything a driving world needs to build its copies.

    Attributes:
        road: "highway", "merge" or "intersection".
        lanes: lanes of the main carriageway (highway and merge).
        vehicles: NPC vehicles per copy (the ego is one more).
        density: spacing factor of the initial placement (1 = highway-env's default).
        sim_hz: simulation steps per second.
        policy_hz: policy decisions per second; sim_hz must be a multiple.
        duration: episode length [s].
        aggressiveness: (low, high) range from which each NPC's aggressiveness in [0, 1]
            is drawn: 0 is timid (slow, long gaps, polite), 1 aggressive.
        speed_range: (low, high) desired speeds of NPCs [m/s], mapped by aggressiveness.
        ego_speed: initial ego speed [m/s].
        target_speeds: the ego's target speeds under the discrete meta-actions [m/s].
        window: (behind, ahead) [m] of the anchor inside which traffic is kept; vehicles
            that leave it re-enter at the other edge (highway, merge) or at an approach
            (intersection).
        anchor: "ego" keeps traffic around the ego; "fixed" around the road's
            point of interest (the merge or the crossing), recycling every vehicle.
        ego_driver: "agent" (actions steer the ego) or "idm" (the ego drives like traffic).
        ramp_share: merge: share of re-entering vehicles sent to the ramp.
        crossing_gap: intersection: (low, high) accepted time gap [s] by aggressiveness.
        backend: "numba" (compiled substeps) or "numpy" (the reference array code).
        events: scripted critical events (``events.EventSpec``); none by default, and a
            world without events plays exactly as before they existed.
    """

    road: str = "highway"
    lanes: int = 3
    vehicles: int = 20
    density: float = 1.0
    sim_hz: int = 15
    policy_hz: int = 1
    duration: float = 40.0
    aggressiveness: tuple[float, float] = (0.0, 1.0)
    speed_range: tuple[float, float] = (21.0, 29.0)
    ego_speed: float = 25.0
    target_speeds: tuple[float, ...] = (20.0, 25.0, 30.0)
    window: tuple[float, float] = (120.0, 240.0)
    anchor: str = "ego"
    ego_driver: str = "agent"
    ramp_share: float = 0.5
    crossing_gap: tuple[float, float] = (4.0, 2.0)
    backend: str = "numba"
    events: tuple[EventSpec, ...] = ()

    @property
    def substeps(self) -> int:
        return self.sim_hz // self.policy_hz

    @property
    def n_vehicles(self) -> int:
        return self.vehicles + 1

    @property
    def policy_steps(self) -> int:
        return round(self.duration * self.policy_hz)
