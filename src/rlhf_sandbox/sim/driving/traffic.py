"""NPC driving behaviour: IDM car-following, MOBIL lane changes, lateral control.

All functions are elementwise over arrays of any shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.sim.driving.params import MAX_BRAKE, MAX_STEER, WHEELBASE

FREE_GAP = 1.0e4  # [m] gap reported when nothing is ahead
DELTA = 4.0  # IDM acceleration exponent


@dataclass(frozen=True)
class Driver:
    """Per-vehicle IDM/MOBIL parameters ``[B, V]``, drawn from aggressiveness in [0, 1]."""

    v0: np.ndarray  # [m/s] desired speed
    time_gap: np.ndarray  # [s] desired time headway T
    a_max: np.ndarray  # [m/s^2] maximum acceleration
    b_comf: np.ndarray  # [m/s^2] comfortable deceleration
    s0: np.ndarray  # [m] jam distance
    politeness: np.ndarray  # MOBIL p
    threshold: np.ndarray  # [m/s^2] MOBIL switching threshold
    gap_accept: np.ndarray  # [s] accepted time gap at a crossing

    @staticmethod
    def from_aggressiveness(
        a: np.ndarray,
        speed_range: tuple[float, float],
        crossing_gap: tuple[float, float],
        jitter: np.ndarray,
    ) -> Driver:
        """Timid (a = 0): slow, long gaps, polite; aggressive (a = 1): the opposite.

        ``jitter`` in [0, 1) adds up to +-1.5 m/s of individual variation to the speed.
        """
        lo, hi = speed_range
        g_timid, g_aggr = crossing_gap
        return Driver(
            v0=lo + a * (hi - lo) + (jitter - 0.5) * 3.0,
            time_gap=1.8 - 0.9 * a,
            a_max=1.2 + 1.3 * a,
            b_comf=2.0 + 1.0 * a,
            s0=2.5 - 1.0 * a,
            politeness=0.6 - 0.5 * a,
            threshold=0.25 - 0.15 * a,
            gap_accept=g_timid + a * (g_aggr - g_timid),
        )

    def fields(self) -> dict[str, np.ndarray]:
        return dict(self.__dict__)


def idm(
    v: np.ndarray,
    v_lead: np.ndarray,
    gap: np.ndarray,
    v0: np.ndarray,
    time_gap: np.ndarray,
    a_max: np.ndarray,
    b_comf: np.ndarray,
    s0: np.ndarray,
) -> np.ndarray:
    """Intelligent Driver Model acceleration [m/s^2], braking limited to ``MAX_BRAKE``.

    ``gap`` is bumper to bumper [m]; pass ``FREE_GAP`` where there is no leader.
    """
    dv = v - v_lead
    s_star = s0 + np.maximum(0.0, v * time_gap + v * dv / (2.0 * np.sqrt(a_max * b_comf)))
    free = 1.0 - (v / np.maximum(v0, 0.1)) ** DELTA
    interaction = (s_star / np.maximum(gap, 0.05)) ** 2
    return np.clip(a_max * (free - interaction), -MAX_BRAKE, a_max)


def steer_to_lane(
    heading: np.ndarray,
    speed: np.ndarray,
    lane_heading: np.ndarray,
    lane_offset: np.ndarray,
    dt: float,
) -> np.ndarray:
    """Steering angle [rad] that brings a vehicle onto its lane's centre line.

    A heading reference that points ``lookahead`` metres down the lane at the centre line,
    then the yaw rate that reaches it within ``tau`` and the steering of the kinematic
    bicycle that gives that yaw rate.
    """
    v = np.maximum(speed, 1.0)
    lookahead = np.maximum(10.0, 0.9 * v)  # [m]
    ref = lane_heading + np.arctan2(-lane_offset, lookahead)
    err = np.angle(np.exp(1j * (ref - heading)))
    tau = max(0.5, 2.5 * dt)  # [s]
    yaw_rate = err / tau
    sin_beta = np.clip(yaw_rate * (WHEELBASE / 2) / v, -0.35, 0.35)
    beta = np.arcsin(sin_beta)
    return np.clip(np.arctan(2.0 * np.tan(beta)), -MAX_STEER, MAX_STEER)


def bicycle(
    x: np.ndarray,
    y: np.ndarray,
    heading: np.ndarray,
    speed: np.ndarray,
    accel: np.ndarray,
    steer: np.ndarray,
    dt: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One explicit step of the kinematic bicycle model (centre of mass mid-wheelbase)."""
    beta = np.arctan(0.5 * np.tan(steer))
    x = x + speed * np.cos(heading + beta) * dt
    y = y + speed * np.sin(heading + beta) * dt
    heading = heading + speed * np.sin(beta) / (WHEELBASE / 2) * dt
    speed = np.maximum(speed + accel * dt, 0.0)
    return x, y, heading, speed
