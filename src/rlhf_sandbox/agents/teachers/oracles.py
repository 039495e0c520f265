"""Oracles: the reward functions synthetic teachers judge clips by.

An oracle maps the per-step behaviour features of a clip (``info["features"]`` of our
envs, stacked over steps) to a per-step reward of the same shape. It is Markov: step t's
reward reads only step t's features. A clip's oracle return is the sum over its steps;
:mod:`rlhf_sandbox.agents.teachers.raters` turns pairs of such returns into preference labels.

Oracles, by name (constants, formulas and reasons in ``docs/ORACLES.md``):

* ``courteous`` (driving envs): makes progress, keeps >= 1.5 s headway, no hard braking,
  no needless lane changes, never forces the follower to brake; collisions and leaving
  the road cost far more than anything else. Per step in [-1, 0.5] without those two.
* ``highway`` (driving, made for ``Highway-v0``): progress counts from 20 to 30 m/s, so
  slow traffic ahead makes overtaking pay; tailgating (< 1.5 s), closing in, forcing the
  follower to brake, hard braking and every lane change cost; collisions and leaving the
  road cost 20 (40 steps of full progress).
* ``merge`` (driving, made for ``Merge-v0``): the same terms for passing the on-ramp
  smoothly (jerk and hard braking cost more, forcing others to brake most).
* ``crossing`` (driving, made for ``Intersection-v0``): progress up to 6 m/s, smooth,
  no closing in; a collision costs 120, more than three episodes of full progress, so
  yielding to cross traffic pays.
* ``companion`` (arena): near the player, out of its way, in sight of it, smooth, no
  collisions.
* ``guard`` (arena): catches the player, soon. Every step costs a little; pursuit in sight
  (closer is better) gives part of that back, never all, and standing still out of sight
  costs more; a catch earns 10. An episode without a catch scores at most
  ``GuardOracle.no_catch_bound``; small costs for giving up and for collisions.
* ``env``: the env's own reward, unchanged.

Every weight and threshold is a field of a frozen dataclass whose module-level instance
(``COURTEOUS``, ``HIGHWAY``, ``MERGE``, ``CROSSING``, ``COMPANION``, ``GUARD``) the
registered oracle uses. ``bench/oracle_levels.py`` measures each against constant actions,
random actions and PPO trained on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

EnvKind = Literal["driving", "arena", "any"]
FeatureFn = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@runtime_checkable
class Oracle(Protocol):
    """A per-step reward over behaviour features.

    ``oracle(features, env_reward)`` returns a float64 array shaped like ``env_reward``
    (any shape: ``[T]``, ``[N]``, ``[P, T]``, ...); every ``features[k]`` it reads must
    have that shape. A missing feature is a ``ValueError`` naming it and the oracle.
    """

    @property
    def name(self) -> str: ...

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names it reads (empty for ``env``)."""
        ...

    def __call__(
        self, features: Mapping[str, np.ndarray], env_reward: np.ndarray
    ) -> np.ndarray: ...


def _ramp(x: np.ndarray, zero: float, full: float) -> np.ndarray:
    """0 at ``x = zero``, 1 at ``x = full``, linear between, clipped to [0, 1] beyond.

    ``full`` may lie below ``zero`` (a cost that grows as ``x`` falls).
    """
    return np.clip((x - zero) / (full - zero), 0.0, 1.0)


def _checked(
    name: str,
    needed: tuple[str, ...],
    features: Mapping[str, np.ndarray],
    env_reward: np.ndarray,
) -> dict[str, np.ndarray]:
    """The ``needed`` features as float64 arrays, checked present and shaped like the reward."""
    shape = np.shape(env_reward)
    out = {}
    for k in needed:
        if k not in features:
            known = ", ".join(sorted(features)) or "none"
            raise ValueError(f"oracle {name!r} needs feature {k!r}; given: {known}")
        v = np.asarray(features[k], dtype=np.float64)
        if v.shape != shape:
            raise ValueError(
                f"oracle {name!r}: feature {k!r} has shape {v.shape}, "
                f"the env reward {shape}; they must match"
            )
        out[k] = v
    return out


class _TermOracle:
    """An oracle that is a sum of named terms, each a function of the features."""

    name: str
    features: tuple[str, ...]

    def _terms(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def terms(
        self, features: Mapping[str, np.ndarray], env_reward: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Each term's per-step contribution, by name; they sum to the reward."""
        return self._terms(_checked(self.name, self.features, features, env_reward))

    def __call__(self, features: Mapping[str, np.ndarray], env_reward: np.ndarray) -> np.ndarray:
        total = np.zeros(np.shape(env_reward), dtype=np.float64)
        for part in self.terms(features, env_reward).values():
            total = total + part
        return total


# --- courteous (driving) -------------------------------------------------------------------


@dataclass(frozen=True)
class CourteousConstants:
    """Weights and thresholds of ``courteous``. Units: m/s, s, m/s^2; weights per step."""

    progress_weight: float = 0.5
    progress_speed: float = 20.0  # [m/s] progress saturates here: more speed earns nothing
    headway_weight: float = 0.45
    headway_min: float = 1.5  # [s] time headway below which the cost starts (full at 0 s)
    ttc_weight: float = 0.15
    ttc_min: float = 3.0  # [s] time to collision ahead below which the cost starts
    brake_weight: float = 0.15
    brake_free: float = 2.0  # [m/s^2] deceleration up to here is ordinary
    brake_full: float = 6.0  # [m/s^2] full cost from here (emergency braking is 9)
    lane_change_weight: float = 0.1
    forced_weight: float = 0.15
    forced_free: float = 1.0  # [m/s^2] the follower easing off this much is ordinary
    forced_full: float = 4.0  # [m/s^2] beyond any NPC's comfortable braking (2 to 3)
    collision_weight: float = 10.0  # as much as 20 steps of full progress
    off_road_weight: float = 10.0


COURTEOUS = CourteousConstants()


@dataclass(frozen=True)
class CourteousOracle(_TermOracle):
    """Driving reward of a courteous driver (features of ``envs.driving``, per policy step).

    Progress reads ``speed`` [m/s], not ``progress`` [m per policy step], so that the scale
    does not depend on the env's policy rate (1 Hz on the highway, 5 Hz at the crossing).
    """

    constants: CourteousConstants = COURTEOUS
    name: str = "courteous"
    features: tuple[str, ...] = (
        "speed", "headway", "ttc_ahead", "acceleration", "lane_change", "forced_braking",
        "collision", "off_road",
    )  # fmt: skip

    def _terms(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        c = self.constants
        return {
            "progress": c.progress_weight * _ramp(f["speed"], 0.0, c.progress_speed),
            "headway": -c.headway_weight * _ramp(f["headway"], c.headway_min, 0.0),
            "ttc_ahead": -c.ttc_weight * _ramp(f["ttc_ahead"], c.ttc_min, 0.0),
            "hard_braking": -c.brake_weight
            * _ramp(f["acceleration"], -c.brake_free, -c.brake_full),
            "lane_change": -c.lane_change_weight * f["lane_change"],
            "forced_braking": -c.forced_weight
            * _ramp(f["forced_braking"], c.forced_free, c.forced_full),
            "collision": -c.collision_weight * f["collision"],
            "off_road": -c.off_road_weight * f["off_road"],
        }


# --- highway, merge, crossing (driving) -----------------------------------------------------


@dataclass(frozen=True)
class DrivingConstants:
    """Weights and thresholds of ``highway``, ``merge`` and ``crossing``: one set of terms,
    each oracle its own instance (``HIGHWAY``, ``MERGE``, ``CROSSING``; the defaults are
    ``highway``'s). Units: m/s, s, m/s^2, m/s^3; weights per policy step."""

    progress_weight: float = 1.0  # 0.5 left "always idle" at 0.69 normalised (docs)
    progress_from: float = 22.0  # [m/s] progress counts from here (NPCs wish 21 to 29) ...
    progress_speed: float = 30.0  # [m/s] ... up to here: stuck behind slow traffic earns little
    headway_weight: float = 1.0
    headway_min: float = 1.5  # [s] tailgating: time headway below this costs (full at 0 s)
    ttc_weight: float = 0.5
    ttc_min: float = 3.0  # [s] time to collision ahead below which the cost starts
    brake_weight: float = 0.15
    brake_free: float = 2.0  # [m/s^2] deceleration up to here is ordinary
    brake_full: float = 6.0  # [m/s^2]
    jerk_weight: float = 0.05
    jerk_free: float = 5.0  # [m/s^3] the change of acceleration over one decision
    jerk_full: float = 15.0  # [m/s^3]
    lane_change_weight: float = 0.2
    forced_weight: float = 0.3
    forced_free: float = 1.0  # [m/s^2] the follower easing off this much is ordinary
    forced_full: float = 4.0  # [m/s^2] beyond any NPC's comfortable braking
    collision_weight: float = 20.0
    off_road_weight: float = 20.0


HIGHWAY = DrivingConstants()  # a brisk, safe highway driver
MERGE = DrivingConstants(  # a smooth, safe pass of the on-ramp (one decision a second)
    progress_weight=0.8,  # 0.5 left "always slower" at 0.64 normalised (docs)
    progress_from=20.0,
    headway_weight=0.4,
    headway_min=1.2,  # [s] closing up on a merging car or the one ahead
    ttc_weight=0.2,
    brake_weight=0.2,  # easing off for a merging car (up to 2 m/s^2) is ordinary
    jerk_weight=0.1,
    jerk_free=2.0,  # [m/s^3] over one 1 s decision
    jerk_full=6.0,
    lane_change_weight=0.1,
    forced_weight=0.4,
    collision_weight=10.0,  # about an episode (25 s) of the best progress
    off_road_weight=10.0,
)
CROSSING = DrivingConstants(  # a smooth, safe crossing (five decisions a second)
    progress_weight=0.5,
    progress_from=0.0,
    progress_speed=6.0,  # [m/s] a sensible speed through a box with cross traffic
    headway_weight=0.2,
    headway_min=1.0,
    ttc_weight=0.2,
    ttc_min=2.0,
    brake_weight=0.2,
    brake_full=5.0,
    jerk_weight=0.1,
    jerk_free=3.0,
    jerk_full=10.0,
    lane_change_weight=0.1,  # one lane each way: a lane change is a swerve
    collision_weight=120.0,  # more than 3 episodes (65 steps) of full progress
    off_road_weight=120.0,
)


@dataclass(frozen=True)
class DrivingOracle(_TermOracle):
    """``highway``, ``merge`` or ``crossing`` (features of ``envs.driving``): progress from
    ``progress_from`` to ``progress_speed``, less the costs of tailgating, closing in,
    hard braking, jerk, lane changes, forcing the follower to brake, collisions and
    leaving the road."""

    constants: DrivingConstants = HIGHWAY
    name: str = "highway"
    features: tuple[str, ...] = (
        "speed", "headway", "ttc_ahead", "acceleration", "jerk", "lane_change",
        "forced_braking", "collision", "off_road",
    )  # fmt: skip

    def _terms(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        c = self.constants
        return {
            "progress": c.progress_weight * _ramp(f["speed"], c.progress_from, c.progress_speed),
            "headway": -c.headway_weight * _ramp(f["headway"], c.headway_min, 0.0),
            "ttc_ahead": -c.ttc_weight * _ramp(f["ttc_ahead"], c.ttc_min, 0.0),
            "hard_braking": -c.brake_weight
            * _ramp(f["acceleration"], -c.brake_free, -c.brake_full),
            "jerk": -c.jerk_weight * _ramp(np.abs(f["jerk"]), c.jerk_free, c.jerk_full),
            "lane_change": -c.lane_change_weight * f["lane_change"],
            "forced_braking": -c.forced_weight
            * _ramp(f["forced_braking"], c.forced_free, c.forced_full),
            "collision": -c.collision_weight * f["collision"],
            "off_road": -c.off_road_weight * f["off_road"],
        }


# --- companion (arena) ---------------------------------------------------------------------


@dataclass(frozen=True)
class CompanionConstants:
    """Weights and thresholds of ``companion``. Units: m, rad; weights per step (0.1 s)."""

    near_weight: float = 0.5
    near_distance: float = 2.0  # [m] full reward within this centre distance
    far_distance: float = 6.0  # [m] no reward from here (the ray and view range)
    sight_weight: float = 0.3  # cost per step with a wall between it and the player
    blocking_weight: float = 0.5
    personal_space_weight: float = 0.5
    jitter_weight: float = 0.2
    jitter_full: float = 1.0  # [rad] heading change per step that costs the full weight
    wall_weight: float = 0.5
    agent_weight: float = 0.5


COMPANION = CompanionConstants()


@dataclass(frozen=True)
class CompanionOracle(_TermOracle):
    """Arena reward of a good companion (features of ``sim.arena.features``, per NPC step)."""

    constants: CompanionConstants = COMPANION
    name: str = "companion"
    features: tuple[str, ...] = (
        "distance", "line_of_sight", "blocking", "in_personal_space", "jitter",
        "wall_collision", "agent_collision",
    )  # fmt: skip

    def _terms(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        c = self.constants
        return {
            "near": c.near_weight * _ramp(f["distance"], c.far_distance, c.near_distance),
            "line_of_sight": -c.sight_weight * (1.0 - f["line_of_sight"]),
            "blocking": -c.blocking_weight * f["blocking"],
            "personal_space": -c.personal_space_weight * f["in_personal_space"],
            "jitter": -c.jitter_weight * _ramp(f["jitter"], 0.0, c.jitter_full),
            "wall_collision": -c.wall_weight * f["wall_collision"],
            "agent_collision": -c.agent_weight * f["agent_collision"],
        }


# --- guard (arena) -------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardConstants:
    """Weights and thresholds of ``guard``. Units: m, m/s; weights per step (0.1 s).

    Every step costs ``time_weight``; pursuit gives back at most ``pursue_weight`` of it,
    never all, and no other term is positive, so an episode without a catch (all its steps
    played: only a catch ends one early) scores at most
    ``steps * (pursue_weight - time_weight)`` (:meth:`GuardOracle.no_catch_bound`). Only
    catching pays.
    """

    time_weight: float = 0.03  # every step until the catch costs this
    pursue_weight: float = 0.02  # < time_weight: chasing gives back part of the time cost
    pursue_range: float = 6.0  # [m] a guard's view range: closeness counts from here in
    catch_range: float = 0.8  # [m] the catch distance: pursuit is worth most here
    idle_weight: float = 0.02  # out of sight and standing: searching means moving
    patrol_speed: float = 1.2  # [m/s] the scripted patrol pace (60 % of npc_speed)
    catch_weight: float = 10.0
    escape_weight: float = 0.3
    wall_weight: float = 0.05
    agent_weight: float = 0.05


GUARD = GuardConstants()


@dataclass(frozen=True)
class GuardOracle(_TermOracle):
    """Arena reward of a good guard (features of ``sim.arena.features``, per NPC step):
    catch the player, and soon; pursuit and searching are shaping that never pays alone."""

    constants: GuardConstants = GUARD
    name: str = "guard"
    features: tuple[str, ...] = (
        "line_of_sight", "speed", "distance", "caught", "escaped", "wall_collision",
        "agent_collision",
    )  # fmt: skip

    def _terms(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        c = self.constants
        sight = f["line_of_sight"]
        closeness = _ramp(f["distance"], c.pursue_range, c.catch_range)
        still = 1.0 - _ramp(f["speed"], 0.0, c.patrol_speed)
        return {
            "time": np.full(np.shape(sight), -c.time_weight),
            "pursue": c.pursue_weight * sight * closeness,
            "idle": -c.idle_weight * (1.0 - sight) * still,
            "caught": c.catch_weight * f["caught"],
            "escaped": -c.escape_weight * f["escaped"],
            "wall_collision": -c.wall_weight * f["wall_collision"],
            "agent_collision": -c.agent_weight * f["agent_collision"],
        }

    def no_catch_bound(self, steps: int) -> float:
        """The largest return an episode of ``steps`` steps without a catch can have."""
        c = self.constants
        return steps * (c.pursue_weight - c.time_weight)


# --- env and custom ------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvOracle:
    """The env's own reward, as float64."""

    name: str = "env"
    features: tuple[str, ...] = ()

    def __call__(self, features: Mapping[str, np.ndarray], env_reward: np.ndarray) -> np.ndarray:
        return np.asarray(env_reward, dtype=np.float64).copy()


@dataclass(frozen=True)
class _CallableOracle:
    fn: FeatureFn = field(repr=False)
    name: str = "custom"
    features: tuple[str, ...] = ()

    def __call__(self, features: Mapping[str, np.ndarray], env_reward: np.ndarray) -> np.ndarray:
        _checked(self.name, self.features, features, env_reward)
        out = np.asarray(self.fn(features), dtype=np.float64)
        if out.shape != np.shape(env_reward):
            raise ValueError(
                f"oracle {self.name!r} returned shape {out.shape}, "
                f"expected the env reward's {np.shape(env_reward)}"
            )
        return out


def oracle_from_callable(
    fn: FeatureFn, name: str = "custom", features: tuple[str, ...] | list[str] = ()
) -> Oracle:
    """An oracle from ``fn(features) -> per-step reward``; ``features`` are checked present.

    ``fn`` gets the whole mapping; its output must have the env reward's shape.
    """
    return _CallableOracle(fn, name, tuple(features))


_ORACLES: dict[str, tuple[Oracle, EnvKind]] = {
    "courteous": (CourteousOracle(), "driving"),
    "highway": (DrivingOracle(HIGHWAY, "highway"), "driving"),
    "merge": (DrivingOracle(MERGE, "merge"), "driving"),
    "crossing": (DrivingOracle(CROSSING, "crossing"), "driving"),
    "companion": (CompanionOracle(), "arena"),
    "guard": (GuardOracle(), "arena"),
    "env": (EnvOracle(), "any"),
}
ORACLE_NAMES: tuple[str, ...] = tuple(_ORACLES)


def _entry(name: str) -> tuple[Oracle, EnvKind]:
    if name not in _ORACLES:
        raise ValueError(f"unknown oracle {name!r}; known: {', '.join(ORACLE_NAMES)}")
    return _ORACLES[name]


def get_oracle(name: str) -> Oracle:
    """The registered oracle ``name`` (one of :data:`ORACLE_NAMES`)."""
    return _entry(name)[0]


def oracle_env_kind(name: str) -> EnvKind:
    """Which envs oracle ``name`` fits: "driving", "arena" or "any"."""
    return _entry(name)[1]
