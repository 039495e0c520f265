"""Typed settings of the driving envs; ``gymnasium.make(id, **kwargs)`` takes these fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rlhf_sandbox.config import ConfigError, setting, validate
from rlhf_sandbox.sim.driving.events import check_road, parse_event
from rlhf_sandbox.sim.driving.params import WorldParams


@dataclass(frozen=True)
class DrivingConfig:
    """Settings of a driving env. Defaults are highway-env's ``highway-v0``."""

    road: Literal["highway", "merge", "intersection"] = setting("highway", doc="road layout")
    lanes: int = setting(4, lo=1, hi=8, doc="lanes of the main road")
    vehicles: int = setting(50, lo=0, hi=400, doc="NPC vehicles (the ego is one more)")
    density: float = setting(1.0, lo=0.1, hi=5.0, doc="initial traffic density factor")
    sim_hz: int = setting(15, lo=1, hi=100, doc="simulation steps per second")
    policy_hz: int = setting(1, lo=1, hi=100, doc="policy decisions per second")
    duration: float = setting(40.0, lo=1.0, hi=3600.0, doc="episode length [s]")
    aggressiveness: tuple[float, float] = setting(
        (0.0, 1.0), lo=0.0, hi=1.0, doc="range of NPC aggressiveness, 0 timid to 1 aggressive"
    )
    speed_range: tuple[float, float] = setting(
        (21.0, 29.0), lo=0.0, hi=60.0, doc="NPC desired speeds, timid to aggressive [m/s]"
    )
    ego_speed: float = setting(25.0, lo=0.0, hi=60.0, doc="initial ego speed [m/s]")
    target_speeds: tuple[float, ...] = setting(
        (20.0, 25.0, 30.0), lo=0.0, hi=60.0, doc="ego speeds of the discrete meta-actions [m/s]"
    )
    window: tuple[float, float] = setting(
        (120.0, 380.0), lo=20.0, hi=5000.0, doc="traffic kept (behind, ahead) of the anchor [m]"
    )
    anchor: Literal["ego", "fixed"] = setting("ego", doc="what the traffic window follows")
    ego_driver: Literal["agent", "idm"] = setting(
        "agent", doc="'agent': actions drive the ego; 'idm': it drives like traffic"
    )
    ramp_share: float = setting(0.5, lo=0.0, hi=1.0, doc="merge: re-entries sent to the ramp")
    crossing_gap: tuple[float, float] = setting(
        (4.0, 2.0), lo=0.5, hi=10.0, doc="intersection: accepted gap, timid to aggressive [s]"
    )
    action: Literal["discrete", "continuous"] = setting(
        "discrete", doc="meta-actions, or (acceleration, steering) in [-1, 1]"
    )
    observe_vehicles: int = setting(5, lo=1, hi=32, doc="nearest vehicles in the observation")
    observation: Literal["kinematics", "lanes"] = setting(
        "kinematics",
        doc="'kinematics': the nearest vehicles (observe_vehicles); 'lanes': gaps and speeds"
        " ahead and behind in the ego's lane and its neighbours (the highway only)",
    )
    collision_reward: float = setting(-1.0, lo=-100.0, hi=0.0, doc="weight of a collision")
    right_lane_reward: float = setting(0.1, lo=0.0, hi=100.0, doc="weight of the rightmost lane")
    high_speed_reward: float = setting(0.4, lo=0.0, hi=100.0, doc="weight of high speed")
    reward_speed_range: tuple[float, float] = setting(
        (20.0, 30.0), lo=0.0, hi=60.0, doc="speeds mapped to high-speed reward 0..1 [m/s]"
    )
    normalize_reward: bool = setting(True, doc="map the reward to [0, 1] as highway-env does")
    backend: Literal["numba", "numpy"] = setting(
        "numba", doc="compiled substeps, or the numpy reference path (same model)"
    )
    events: tuple[str, ...] = setting(
        (),
        doc="critical events, e.g. 'cut_in at=3 gap=5:12 relative_speed=-4' (docs/HARNESS.md)",
    )
    screen_width: int = setting(600, lo=32, hi=4096, doc="rendered frame width [px]")
    screen_height: int = setting(150, lo=32, hi=4096, doc="rendered frame height [px]")
    scaling: float = setting(5.5, lo=0.5, hi=50.0, doc="pixels per metre when rendering")

    def __post_init__(self) -> None:
        validate(self)
        if self.sim_hz % self.policy_hz:
            raise ConfigError(
                f"DrivingConfig.sim_hz ({self.sim_hz}) must be a multiple of "
                f"policy_hz ({self.policy_hz})"
            )
        if self.speed_range[0] > self.speed_range[1]:
            raise ConfigError(
                f"DrivingConfig.speed_range must be (low, high), got {self.speed_range}"
            )
        if self.aggressiveness[0] > self.aggressiveness[1]:
            raise ConfigError(
                f"DrivingConfig.aggressiveness must be (low, high), got {self.aggressiveness}"
            )
        if not self.target_speeds:
            raise ConfigError("DrivingConfig.target_speeds must not be empty")
        if self.road == "merge" and self.vehicles < 1:
            raise ConfigError("DrivingConfig.vehicles must be >= 1 on the merge (ramp traffic)")
        for text in self.events:
            try:
                check_road(parse_event(text), self.road)
            except ValueError as e:
                raise ConfigError(f"DrivingConfig.events: {e}") from None
        if self.observation == "lanes" and self.road != "highway":
            raise ConfigError("DrivingConfig.observation 'lanes' is for the highway road only")
        if self.events and self.vehicles < 1:
            raise ConfigError("DrivingConfig.events need NPC vehicles (vehicles >= 1)")

    def world_params(self) -> WorldParams:
        return WorldParams(
            road=self.road,
            lanes=self.lanes,
            vehicles=self.vehicles,
            density=self.density,
            sim_hz=self.sim_hz,
            policy_hz=self.policy_hz,
            duration=self.duration,
            aggressiveness=self.aggressiveness,
            speed_range=self.speed_range,
            ego_speed=self.ego_speed,
            target_speeds=self.target_speeds,
            window=self.window,
            anchor=self.anchor,
            ego_driver=self.ego_driver,
            ramp_share=self.ramp_share,
            crossing_gap=self.crossing_gap,
            backend=self.backend,
            events=tuple(parse_event(text) for text in self.events),
        )


# Per-id defaults, on top of the dataclass defaults (highway-v0).
ID_DEFAULTS: dict[str, dict[str, object]] = {
    "Highway-v0": {},
    # highway-env's highway-fast-v0: 3 lanes, 20 vehicles, 5 Hz simulation, 1 Hz policy, 30 s.
    "HighwayFast-v0": {"lanes": 3, "vehicles": 20, "sim_hz": 5, "policy_hz": 1, "duration": 30.0},
    "Merge-v0": {"road": "merge", "lanes": 2, "vehicles": 14, "duration": 25.0},
    "Intersection-v0": {
        "road": "intersection",
        "lanes": 1,
        "vehicles": 12,
        "duration": 13.0,
        "policy_hz": 5,
        "speed_range": (8.0, 13.0),
        "ego_speed": 8.0,
        "target_speeds": (0.0, 4.5, 9.0),
        "reward_speed_range": (7.0, 9.0),
        "right_lane_reward": 0.0,
        "scaling": 3.2,
        "screen_height": 600,
    },
}
