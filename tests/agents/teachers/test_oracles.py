"""Oracles: each term's direction, shapes, errors, rankings of hand-made behaviours, real envs."""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
import pytest

import rlhf_sandbox.envs  # noqa: F401  (registers the ids)
from rlhf_sandbox.agents.teachers.oracles import (
    COURTEOUS,
    CROSSING,
    GUARD,
    HIGHWAY,
    ORACLE_NAMES,
    Oracle,
    get_oracle,
    oracle_env_kind,
    oracle_from_callable,
)

# A state in which every graded term of the oracle is partly active (none saturated).
BASE = {
    "courteous": {
        "speed": 15.0, "headway": 1.0, "ttc_ahead": 2.0, "acceleration": -3.0,
        "lane_change": 0.0, "forced_braking": 2.0, "collision": 0.0, "off_road": 0.0,
    },
    "highway": {
        "speed": 25.0, "headway": 0.8, "ttc_ahead": 2.0, "acceleration": -3.0, "jerk": 8.0,
        "lane_change": 0.0, "forced_braking": 2.0, "collision": 0.0, "off_road": 0.0,
    },
    "merge": {
        "speed": 25.0, "headway": 0.8, "ttc_ahead": 2.0, "acceleration": -3.0, "jerk": 4.0,
        "lane_change": 0.0, "forced_braking": 2.0, "collision": 0.0, "off_road": 0.0,
    },
    "crossing": {
        "speed": 5.0, "headway": 0.5, "ttc_ahead": 1.0, "acceleration": -3.0, "jerk": 5.0,
        "lane_change": 0.0, "forced_braking": 2.0, "collision": 0.0, "off_road": 0.0,
    },
    "companion": {
        "distance": 3.0, "line_of_sight": 1.0, "blocking": 0.0, "in_personal_space": 0.0,
        "jitter": 0.5, "wall_collision": 0.0, "agent_collision": 0.0,
    },
    "guard": {
        "line_of_sight": 0.0, "speed": 0.6, "distance": 3.0, "caught": 0.0, "escaped": 0.0,
        "wall_collision": 0.0, "agent_collision": 0.0,
    },
}  # fmt: skip

TERM_ORACLES = ("courteous", "highway", "merge", "crossing", "companion", "guard")

# (oracle, changes to its BASE, feature, new value, +1 if the reward must rise, -1 if fall)
DIRECTIONS = [
    ("courteous", {}, "speed", 18.0, +1),
    ("courteous", {}, "headway", 1.3, +1),
    ("courteous", {}, "ttc_ahead", 2.5, +1),
    ("courteous", {}, "acceleration", -4.0, -1),
    ("courteous", {}, "lane_change", 1.0, -1),
    ("courteous", {}, "forced_braking", 3.0, -1),
    ("courteous", {}, "collision", 1.0, -1),
    ("courteous", {}, "off_road", 1.0, -1),
    ("highway", {}, "speed", 28.0, +1),
    ("highway", {}, "headway", 1.0, +1),
    ("highway", {}, "ttc_ahead", 1.5, -1),
    ("highway", {}, "acceleration", -4.0, -1),
    ("highway", {}, "jerk", -12.0, -1),
    ("highway", {}, "lane_change", 1.0, -1),
    ("highway", {}, "forced_braking", 3.0, -1),
    ("highway", {}, "collision", 1.0, -1),
    ("highway", {}, "off_road", 1.0, -1),
    ("merge", {}, "speed", 28.0, +1),
    ("merge", {}, "headway", 1.0, +1),
    ("merge", {}, "ttc_ahead", 1.5, -1),
    ("merge", {}, "acceleration", -4.0, -1),
    ("merge", {}, "jerk", -9.0, -1),
    ("merge", {}, "lane_change", 1.0, -1),
    ("merge", {}, "forced_braking", 3.0, -1),
    ("merge", {}, "collision", 1.0, -1),
    ("merge", {}, "off_road", 1.0, -1),
    ("crossing", {}, "speed", 5.5, +1),
    ("crossing", {}, "headway", 0.8, +1),
    ("crossing", {}, "ttc_ahead", 0.5, -1),
    ("crossing", {}, "acceleration", -4.0, -1),
    ("crossing", {}, "jerk", -9.0, -1),
    ("crossing", {}, "lane_change", 1.0, -1),
    ("crossing", {}, "forced_braking", 3.0, -1),
    ("crossing", {}, "collision", 1.0, -1),
    ("crossing", {}, "off_road", 1.0, -1),
    ("companion", {}, "distance", 4.0, -1),
    ("companion", {}, "line_of_sight", 0.0, -1),
    ("companion", {}, "blocking", 1.0, -1),
    ("companion", {}, "in_personal_space", 1.0, -1),
    ("companion", {}, "jitter", 0.8, -1),
    ("companion", {}, "wall_collision", 1.0, -1),
    ("companion", {}, "agent_collision", 1.0, -1),
    ("guard", {}, "speed", 1.0, +1),  # patrolling out of sight: keep moving
    ("guard", {}, "line_of_sight", 1.0, +1),  # seeing the player beats any patrol
    ("guard", {"line_of_sight": 1.0}, "distance", 2.0, +1),  # in sight: closer is better
    ("guard", {}, "caught", 1.0, +1),
    ("guard", {}, "escaped", 1.0, -1),
    ("guard", {}, "wall_collision", 1.0, -1),
    ("guard", {}, "agent_collision", 1.0, -1),
]


def features(values: Mapping[str, float], shape: tuple[int, ...] = (1,)) -> dict[str, np.ndarray]:
    return {k: np.full(shape, v, dtype=float) for k, v in values.items()}


def reward(name: str, values: Mapping[str, float]) -> float:
    return float(get_oracle(name)(features(values), np.zeros(1))[0])


@pytest.mark.parametrize(("name", "changes", "key", "value", "sign"), DIRECTIONS)
def test_each_term_moves_the_reward_in_its_direction(
    name: str, changes: dict[str, float], key: str, value: float, sign: int
) -> None:
    base = {**BASE[name], **changes}
    before = reward(name, base)
    after = reward(name, {**base, key: value})
    assert sign * (after - before) > 1e-6, (before, after)


def test_directions_cover_every_feature_read() -> None:
    for name in TERM_ORACLES:
        covered = {key for n, _, key, _, _ in DIRECTIONS if n == name}
        assert covered == set(get_oracle(name).features), name
        assert set(BASE[name]) == set(get_oracle(name).features), name


def test_guard_in_sight_closer_is_better_and_standing_still_is_worse_out_of_sight() -> None:
    seen = {**BASE["guard"], "line_of_sight": 1.0}
    assert reward("guard", {**seen, "distance": 1.0}) > reward("guard", {**seen, "distance": 3.0})
    assert reward("guard", {**seen, "distance": 6.0}) >= reward("guard", {**BASE["guard"]})
    still = {**BASE["guard"], "speed": 0.0}
    assert reward("guard", still) < reward("guard", BASE["guard"])
    # Giving up is a small cost (under a catch's worth of 1/20), a catch the only gain.
    assert GUARD.escape_weight <= GUARD.catch_weight / 20
    # Without a catch no step earns anything: the pursuit gives back part of the time cost.
    assert GUARD.pursue_weight < GUARD.time_weight


def test_terms_sum_to_the_reward() -> None:
    for name in TERM_ORACLES:
        oracle = get_oracle(name)
        f, zero = features(BASE[name], (3,)), np.zeros(3)
        parts = oracle.terms(f, zero)  # type: ignore[attr-defined]
        np.testing.assert_allclose(sum(parts.values()), oracle(f, zero))


@pytest.mark.parametrize("name", [*TERM_ORACLES, "env"])
@pytest.mark.parametrize("shape", [(7,), (4, 7)])
def test_shape_and_dtype_are_kept(name: str, shape: tuple[int, ...]) -> None:
    oracle = get_oracle(name)
    rng = np.random.default_rng(0)
    f = {k: rng.uniform(0, 3, shape) for k in BASE.get(name, {})}
    env_reward = rng.normal(size=shape).astype(np.float32)
    out = oracle(f, env_reward)
    assert out.shape == shape and out.dtype == np.float64
    assert np.all(np.isfinite(out))
    # Per element: row j of a [P, T] batch equals the oracle on that row alone.
    if len(shape) == 2:
        row = oracle({k: v[1] for k, v in f.items()}, env_reward[1])
        np.testing.assert_array_equal(out[1], row)


def test_env_oracle_passes_the_env_reward_through() -> None:
    oracle = get_oracle("env")
    assert oracle.features == ()
    r = np.array([[1, -2, 3]], dtype=np.int32)
    out = oracle({}, r)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, r)


@pytest.mark.parametrize("name", TERM_ORACLES)
def test_missing_feature_names_it_and_the_oracle(name: str) -> None:
    oracle = get_oracle(name)
    f = features(BASE[name])
    gone = oracle.features[-1]
    del f[gone]
    with pytest.raises(ValueError, match=rf"'{name}'.*'{gone}'"):
        oracle(f, np.zeros(1))


def test_feature_shape_mismatch_is_an_error() -> None:
    f = features(BASE["companion"], (5,))
    f["jitter"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match="jitter"):
        get_oracle("companion")(f, np.zeros(5))


def test_unknown_oracle_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match="nope") as err:
        get_oracle("nope")
    for name in ORACLE_NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="nope"):
        oracle_env_kind("nope")


def test_names_and_env_kinds() -> None:
    kinds = {name: oracle_env_kind(name) for name in ORACLE_NAMES}
    assert kinds == {
        "courteous": "driving", "highway": "driving", "merge": "driving", "crossing": "driving",
        "companion": "arena", "guard": "arena", "env": "any",
    }  # fmt: skip
    for name in ORACLE_NAMES:
        oracle = get_oracle(name)
        assert isinstance(oracle, Oracle) and oracle.name == name


def test_oracle_from_callable() -> None:
    oracle = oracle_from_callable(lambda f: 2.0 * f["speed"], name="fast", features=["speed"])
    assert oracle.name == "fast" and oracle.features == ("speed",)
    out = oracle({"speed": np.array([1, 2])}, np.zeros(2))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 4.0])
    with pytest.raises(ValueError, match=r"'fast'.*'speed'"):
        oracle({}, np.zeros(2))
    bad = oracle_from_callable(lambda f: np.zeros(3), name="bad")
    with pytest.raises(ValueError, match="bad"):
        bad({}, np.zeros(2))


# --- rankings of hand-made behaviours -------------------------------------------------------

T = 20


def drive(speed: float, headway: float, **other: np.ndarray | float) -> dict[str, np.ndarray]:
    """T steps of a driver, with defaults for a quiet road."""
    values: dict[str, np.ndarray | float] = {
        "speed": speed, "headway": headway, "ttc_ahead": 10.0, "acceleration": 0.0, "jerk": 0.0,
        "lane_change": 0.0, "forced_braking": 0.0, "collision": 0.0, "off_road": 0.0,
    }  # fmt: skip
    values.update(other)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (T,)).copy() for k, v in values.items()}


def ret(name: str, f: Mapping[str, np.ndarray]) -> float:
    return float(get_oracle(name)(f, np.zeros(T)).sum())


def test_courteous_prefers_sensible_driving_to_tailgating_and_crawling() -> None:
    rng = np.random.default_rng(0)
    sensible = drive(24.0, 2.0 + rng.uniform(0, 1, T), acceleration=rng.uniform(-1, 1, T))
    # The plain tailgater: fast, 0.6 s behind its leader, nothing else wrong.
    tailgater = drive(30.0, 0.6)
    # The reckless one: also closes in, brakes hard, weaves.
    reckless = drive(
        30.0,
        rng.uniform(0.3, 0.9, T),
        ttc_ahead=rng.uniform(1.5, 10.0, T),
        acceleration=np.where(np.arange(T) % 4 == 0, -6.0, 1.0),
        lane_change=(np.arange(T) % 3 == 0).astype(float),
    )
    # Crawlers: free road ahead, no follower braking (the most charitable case).
    crawler = drive(4.0, 10.0)
    stopped = drive(0.0, 10.0)
    r_sensible = ret("courteous", sensible)
    assert r_sensible == pytest.approx(T * COURTEOUS.progress_weight)
    for other in (tailgater, reckless, crawler, stopped):
        # Clearly: at least 0.25 per step (5 over the clip).
        assert r_sensible - ret("courteous", other) >= 0.25 * T
    assert ret("courteous", reckless) < ret("courteous", tailgater)
    # A collision outweighs a whole clip of tailgating.
    crash = drive(24.0, 2.0, collision=np.eye(T)[-1])
    assert ret("courteous", crash) < ret("courteous", tailgater)


def test_courteous_is_of_order_one_without_collisions() -> None:
    rng = np.random.default_rng(1)
    n = 10_000
    f = {
        "speed": rng.uniform(0, 40, n), "headway": rng.uniform(0, 10, n),
        "ttc_ahead": rng.uniform(0, 10, n), "acceleration": rng.uniform(-10, 6, n),
        "lane_change": rng.integers(0, 2, n).astype(float),
        "forced_braking": rng.uniform(0, 9, n), "collision": np.zeros(n), "off_road": np.zeros(n),
    }  # fmt: skip
    r = get_oracle("courteous")(f, np.zeros(n))
    assert r.min() >= -1.0 and r.max() <= COURTEOUS.progress_weight
    worst = drive(0.0, 0.0, ttc_ahead=0.0, acceleration=-9.0, lane_change=1.0, forced_braking=9.0)
    assert ret("courteous", worst) == pytest.approx(-T)
    # Faster than the progress speed earns nothing more; headway beyond 1.5 s neither.
    assert ret("courteous", drive(35.0, 3.0)) == ret("courteous", drive(20.0, 1.5))


def arena(**values: float | np.ndarray) -> dict[str, np.ndarray]:
    """T steps of an NPC, far from the player and idle unless told otherwise."""
    base: dict[str, float | np.ndarray] = dict.fromkeys(
        ("line_of_sight", "blocking", "in_personal_space", "jitter", "wall_collision",
         "agent_collision", "caught", "escaped", "speed"),
        0.0,
    )  # fmt: skip
    base["distance"] = 5.0
    base.update(values)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (T,)).copy() for k, v in base.items()}


def test_companion_prefers_near_out_of_the_way_in_sight_and_smooth() -> None:
    r = {
        k: ret("companion", v)
        for k, v in {
            "good": arena(distance=1.5, line_of_sight=1.0, jitter=0.05, speed=1.5),
            "far": arena(distance=7.0, line_of_sight=0.0, speed=1.5),
            "crowding": arena(distance=0.8, line_of_sight=1.0, blocking=1.0, in_personal_space=1.0),
            "twitchy": arena(distance=1.5, line_of_sight=1.0, jitter=1.0, speed=1.5),
            "hidden": arena(distance=1.5, line_of_sight=0.0, jitter=0.05, speed=1.5),
        }.items()
    }
    assert max(r, key=r.__getitem__) == "good"
    assert r["crowding"] < r["hidden"] < r["good"]
    assert r["far"] < r["hidden"] and r["twitchy"] < r["good"]


def test_guard_prefers_pursuit_then_patrol_and_rewards_the_catch() -> None:
    pursuing = ret("guard", arena(line_of_sight=1.0, distance=2.0, speed=2.0))
    patrolling = ret("guard", arena(speed=1.2))
    idle = ret("guard", arena(speed=0.0))
    through_walls = ret("guard", arena(speed=1.2, wall_collision=1.0))
    assert pursuing > patrolling > idle > through_walls
    catch = arena(line_of_sight=1.0, distance=0.8, speed=2.0, caught=np.eye(T)[-1])
    assert ret("guard", catch) > pursuing + 4.0
    # Giving up a pursuit costs little: less than a clip of patrolling earns.
    lost = ret("guard", arena(speed=1.2, escaped=np.eye(T)[0]))
    assert idle < lost < patrolling


def every(k: int, start: int = 0) -> np.ndarray:
    """1 on every k-th step of the clip from ``start``, else 0."""
    return ((np.arange(T) - start) % k == 0).astype(float) * (np.arange(T) >= start)


def test_highway_prefers_brisk_safe_driving_to_tailgating_weaving_crawling_and_crashing() -> None:
    rng = np.random.default_rng(2)
    sensible = drive(30.0, 2.0 + rng.uniform(0, 1, T), acceleration=rng.uniform(-1, 1, T))
    r = {
        "sensible": ret("highway", sensible),
        "tailgater": ret("highway", drive(30.0, 0.6, ttc_ahead=rng.uniform(2.0, 10.0, T))),
        "weaver": ret("highway", drive(30.0, 2.0, lane_change=every(2))),
        # changes lane in front of others, who brake hard for the next two steps
        "cutting_in": ret(
            "highway",
            drive(
                30.0, 2.0, lane_change=every(5), forced_braking=5.0 * (every(5, 1) + every(5, 2))
            ),
        ),
        "slow": ret("highway", drive(20.0, 3.0)),
        "crawler": ret("highway", drive(8.0, 10.0)),
        "stopped": ret("highway", drive(0.0, 10.0)),
        "crash": ret("highway", drive(30.0, 2.0, collision=np.eye(T)[-1])),
    }
    assert max(r, key=r.__getitem__) == "sensible"
    assert r["sensible"] == pytest.approx(T * HIGHWAY.progress_weight)
    for other in ("tailgater", "crawler", "stopped", "crash"):
        assert r["sensible"] - r[other] >= 0.25 * T, other  # clearly: >= 0.25 per step
    # Ten needless lane changes in 4 s cost at least 2; cutting in four times, more.
    assert r["sensible"] - r["weaver"] >= 0.1 * T - 1e-9
    assert r["cutting_in"] < r["weaver"] - 1.0
    # Progress counts up to 30 m/s: the slowest target speed earns far less than the top one.
    assert r["slow"] <= 0.5 * r["sensible"]
    assert r["stopped"] <= r["crawler"] <= r["slow"]
    # A crash outweighs a whole clip of tailgating.
    assert r["crash"] < r["tailgater"]


def test_highway_slow_traffic_ahead_makes_overtaking_pay() -> None:
    # Stuck 1.5 s behind a truck at 21 m/s, or one lane change and free road at 29 m/s.
    stuck = drive(21.0, 1.5, ttc_ahead=10.0)
    overtake = drive(
        np.where(np.arange(T) < 2, 22.0, 29.0), np.where(np.arange(T) < 2, 1.3, 3.0),
        lane_change=np.eye(T)[1], acceleration=np.where(np.arange(T) < 4, 2.0, 0.0),
    )  # fmt: skip
    # Tailgating the truck to "push" it earns nothing either.
    pushing = drive(21.0, 0.5, ttc_ahead=4.0)
    assert ret("highway", overtake) - ret("highway", stuck) >= 0.15 * T
    assert ret("highway", pushing) < ret("highway", stuck)


def test_merge_prefers_letting_the_ramp_in_smoothly() -> None:
    # Easing off for three steps to open a gap for a ramp vehicle, then on at 26 m/s.
    ease = np.where((np.arange(T) >= 5) & (np.arange(T) < 8), -1.5, 0.0)
    smooth = drive(np.where(ease < 0, 23.0, 26.0), 2.0, acceleration=ease, jerk=np.abs(ease))
    r = {
        "smooth": ret("merge", smooth),
        # holds its speed, the merger squeezes in 0.5 s ahead and the ego's follower brakes
        "squeeze": ret(
            "merge",
            drive(26.0, np.where(np.arange(T) >= 6, 0.5, 2.0), forced_braking=3.0 * every(4)),
        ),
        # slams on the brakes at the last moment, then surges
        "slam": ret(
            "merge",
            drive(
                np.where(np.arange(T) % 10 < 3, 15.0, 26.0),
                2.0,
                acceleration=np.where(np.arange(T) % 10 < 3, -6.0, 3.0),
                jerk=np.where(np.arange(T) % 10 < 4, 20.0, 0.0),
                forced_braking=4.0 * every(10),
            ),
        ),
        "crawler": ret("merge", drive(10.0, 10.0)),
        "crash": ret("merge", drive(26.0, 2.0, collision=np.eye(T)[10])),
    }
    assert max(r, key=r.__getitem__) == "smooth"
    for other in ("squeeze", "slam", "crawler", "crash"):
        assert r["smooth"] - r[other] >= 0.1 * T, other
    assert r["crash"] < min(r["squeeze"], r["slam"], r["crawler"])


def test_crossing_prefers_yielding_then_going_to_rushing_or_stalling() -> None:
    t = np.arange(T)
    # Slows from 9 to 4.5 m/s for a crossing car, then goes on at 9 m/s.
    yielding = drive(
        np.where((t >= 4) & (t < 10), 4.5, 9.0), 2.0,
        acceleration=np.where((t >= 3) & (t < 5), -2.0, np.where((t >= 10) & (t < 12), 2.0, 0.0)),
        jerk=np.where(np.isin(t, (3, 5, 10, 12)), 2.0, 0.0),
    )  # fmt: skip
    r = {
        "yielding": ret("crossing", yielding),
        "rushing": ret("crossing", drive(9.0, 2.0, collision=np.eye(T)[12])),
        "stalled": ret("crossing", drive(0.0, 10.0, forced_braking=2.5)),
        "jerky": ret(
            "crossing",
            drive(
                np.where(t % 4 < 2, 9.0, 0.0),
                2.0,
                acceleration=np.where(t % 4 < 2, 4.0, -8.0),
                jerk=12.0,
            ),
        ),
    }
    assert max(r, key=r.__getitem__) == "yielding"
    assert r["yielding"] - r["stalled"] >= 0.2 * T
    assert r["yielding"] - r["jerky"] >= 0.1 * T
    # One collision outweighs more than a whole episode (65 steps) of full progress.
    assert CROSSING.collision_weight > 65 * CROSSING.progress_weight
    assert r["rushing"] < r["stalled"]


def test_guard_a_catch_beats_any_episode_without_one() -> None:
    n = 300  # ArenaGuard-v0's episode: 300 steps unless a catch ends it

    def episode(steps: int, **values: float | np.ndarray) -> float:
        base: dict[str, float | np.ndarray] = dict.fromkeys(get_oracle("guard").features, 0.0)
        base["distance"] = 5.0
        base.update(values)
        f = {k: np.broadcast_to(np.asarray(v, float), (steps,)).copy() for k, v in base.items()}
        return float(get_oracle("guard")(f, np.zeros(steps)).sum())

    # Searches for 200 steps, sees the player and runs it down in 40, catching on the last.
    search = episode(200, speed=2.0)
    chase = episode(40, speed=2.0, line_of_sight=1.0, distance=np.linspace(5.0, 0.8, 40),
                    caught=np.eye(40)[-1])  # fmt: skip
    catching = search + chase
    patrol = episode(n, speed=1.2)  # never sees anyone
    shadow = episode(n, speed=1.5, line_of_sight=1.0, distance=0.9)  # follows, never catches
    idle = episode(n, speed=0.0)
    walls = episode(n, speed=1.2, wall_collision=1.0)
    assert catching > shadow > patrol > idle > walls
    assert catching - shadow >= GUARD.catch_weight / 2
    # The 0-catch bound holds for any features without a catch, and the shadow nears it.
    bound = get_oracle("guard").no_catch_bound(n)  # type: ignore[attr-defined]
    assert shadow <= bound < 0
    rng = np.random.default_rng(3)
    f = {
        "line_of_sight": rng.integers(0, 2, (1000, n)).astype(float),
        "speed": rng.uniform(0, 3, (1000, n)), "distance": rng.uniform(0.8, 15, (1000, n)),
        "caught": np.zeros((1000, n)), "escaped": rng.integers(0, 2, (1000, n)).astype(float),
        "wall_collision": rng.integers(0, 2, (1000, n)).astype(float),
        "agent_collision": rng.integers(0, 2, (1000, n)).astype(float),
    }  # fmt: skip
    assert get_oracle("guard")(f, np.zeros((1000, n))).sum(axis=1).max() <= bound


# --- on real env features -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "name"),
    [
        ("rlhf_sandbox/HighwayFast-v0", "courteous"),
        ("rlhf_sandbox/Highway-v0", "highway"),
        ("rlhf_sandbox/Merge-v0", "merge"),
        ("rlhf_sandbox/Intersection-v0", "crossing"),
        ("rlhf_sandbox/ArenaCompanion-v0", "companion"),
        ("rlhf_sandbox/ArenaGuard-v0", "guard"),
    ],
)
def test_oracle_on_real_env_features(env_id: str, name: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, rewards = [], []
    for _ in range(20):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        steps.append(info["features"])
        rewards.append(r)
        if term or trunc:
            break
    env.close()
    f = {k: np.array([np.asarray(s[k], dtype=float) for s in steps]) for k in steps[0]}
    env_reward = np.asarray(rewards, dtype=float)
    oracle = get_oracle(name)
    out = oracle(f, env_reward)
    assert out.shape == env_reward.shape and np.all(np.isfinite(out))
    np.testing.assert_array_equal(get_oracle("env")(f, env_reward), env_reward)
