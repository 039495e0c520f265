"""Per-episode driving metrics from the world's per-step ego features.

The driving world reports, per policy step, the ego's ``speed`` [m/s], ``acceleration``
(mean over the step, [m/s^2]), ``jerk`` (its change per second, [m/s^3]), ``headway`` and
``ttc_ahead`` [s] (the least over the step's substeps, capped at 10 s: "no threat"),
``lane_change`` (0/1), ``progress`` [m along the lane], ``forced_braking`` (the
deceleration IDM demands of the ego's follower, [m/s^2]), ``collision`` and ``off_road``.
The comfort metrics (jerk, hard braking, braking forced on the follower) leave out the
step of a collision.
:func:`episode_metrics` turns one episode's arrays into the numbers of :data:`METRICS`;
formulas in ``docs/HARNESS.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rlhf_sandbox.agents.teachers.oracles import get_oracle

SHORT_HEADWAY = 1.0  # [s] time headway below which a step counts as tailgating
HARD_BRAKE = 3.0  # [m/s^2] mean deceleration over a step from which braking is hard
FORCED_BRAKE = 2.0  # [m/s^2] the follower braking harder than this was forced to
MIN_KM = 0.05  # [km] lane changes per km are undefined below this progress
TTC_CAP = 10.0  # [s] the world caps headway and time-to-collision here (no threat)
# The composite score (PDMS-style, docs/HARNESS.md "Score"): its bounds and weights.
TTC_BOUND = 1.5  # [s] the episode's least time-to-collision must stay at or above this
COMFORT_ACCEL = 4.0  # [m/s^2] a step is comfortable within this |mean acceleration| ...
COMFORT_JERK = 5.0  # [m/s^3] ... and this |jerk|
MIN_PROGRESS = 5.0  # [m] below this much IDM progress, any progress counts as full
WEIGHTS = {"progress": 5.0, "ttc": 2.0, "comfort": 1.0}
NO_FAULT = {"": 1.0, "other": 1.0, "shared": 0.5, "ego": 0.0}  # the collision factor


@dataclass(frozen=True)
class Metric:
    """One metric: its key, what it is, its unit, and which way is better."""

    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    rate: bool = False  # a 0/1 per episode: reported as a rate with a Wilson interval


METRICS: tuple[Metric, ...] = (
    Metric("score", "driving score (PDMS-style)", "", "higher"),
    Metric("collision", "collision rate", "", "lower", rate=True),
    Metric("at_fault_collision", "at-fault collision rate", "", "lower", rate=True),
    Metric("off_road", "off-road rate", "", "lower", rate=True),
    Metric("mean_speed", "mean speed", "m/s", "higher"),
    Metric("progress", "progress", "m", "higher"),
    Metric("short_headway", "time with headway < 1 s", "share", "lower"),
    Metric("min_ttc", "minimum time-to-collision", "s", "higher"),
    Metric("mean_abs_jerk", "mean |jerk|", "m/s^3", "lower"),
    Metric("hard_brakes_per_min", "hard-braking events", "1/min", "lower"),
    Metric("lane_changes_per_km", "lane changes", "1/km", "lower"),
    Metric("forced_brake_share", "time forcing the follower to brake", "share", "lower"),
    Metric("max_forced_braking", "hardest braking forced on the follower", "m/s^2", "lower"),
    Metric("oracle_return", "oracle return", "", "higher"),
    Metric("env_return", "env return", "", "higher"),
)
METRIC_KEYS = tuple(m.key for m in METRICS)
BY_KEY = {m.key: m for m in METRICS}
FEATURES = (
    "speed", "acceleration", "jerk", "headway", "ttc_ahead", "lane_change", "progress",
    "forced_braking", "collision", "off_road",
)  # fmt: skip


def events(mask: np.ndarray) -> int:
    """Runs of consecutive True steps (an event lasting three steps counts once)."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return 0
    return int(m[0]) + int(np.count_nonzero(m[1:] & ~m[:-1]))


def episode_metrics(
    features: Mapping[str, np.ndarray], rewards: np.ndarray, policy_hz: float
) -> dict[str, float]:
    """The metrics of one episode of T policy steps (``features[k]`` and ``rewards``: [T])."""
    r = np.asarray(rewards)
    return episodes_metrics(features, r, np.array([0, r.shape[0] if r.ndim else 0]), policy_hz)[0]


def episodes_metrics(
    features: Mapping[str, np.ndarray],
    rewards: np.ndarray,
    bounds: np.ndarray,
    policy_hz: float,
) -> list[dict[str, float]]:
    """:func:`episode_metrics` of several episodes stored one after another.

    ``features[k]`` and ``rewards``: ``[sum of T]``; episode e is the steps
    ``bounds[e]:bounds[e + 1]`` (``bounds``: ``[E + 1]``, from 0 to the total). The per-step
    parts (the oracle is Markov) are computed once for all; each episode's numbers are then
    reductions over its slice, the same as for the episode alone.
    """
    missing = [k for k in FEATURES if k not in features]
    if missing:
        raise ValueError(f"episode features lack {', '.join(missing)}")
    f = {k: np.asarray(features[k], dtype=np.float64) for k in FEATURES}
    r = np.asarray(rewards, dtype=np.float64)
    b = np.asarray(bounds, dtype=np.int64)
    n = r.shape[0] if r.ndim == 1 else -1
    if r.ndim != 1 or any(v.shape != r.shape for v in f.values()):
        raise ValueError(f"episode features must all be [T] with T >= 1 like the rewards ({n})")
    if b.ndim != 1 or b.size < 2 or b[0] != 0 or b[-1] != n or np.any(np.diff(b) < 1):
        raise ValueError(f"episode features must all be [T] with T >= 1 like the rewards ({n})")
    oracle = get_oracle("courteous")(f, r)
    short = f["headway"] < SHORT_HEADWAY
    # Comfort leaves out the step of a collision: the crash itself stops the ego within the
    # step, which would read as a hard brake, a jerk of some 30 m/s^3 and a follower forced
    # to brake, and would make the comfort figures of a crashing policy measure its crashes
    # (those are the collision rate's). The denominators stay all T steps.
    calm = f["collision"] <= 0
    abs_jerk = np.where(calm, np.abs(f["jerk"]), 0.0)
    comfy = ~calm | ((np.abs(f["acceleration"]) <= COMFORT_ACCEL) & (abs_jerk <= COMFORT_JERK))
    hard = (f["acceleration"] <= -HARD_BRAKE) & calm
    forced_b = np.where(calm, f["forced_braking"], 0.0)
    forced = forced_b > FORCED_BRAKE
    # Each metric for all episodes at once: sums, maxima and minima over each episode's
    # slice (np.*.reduceat over the starts; every episode has at least one step).
    lo = b[:-1]
    t = np.diff(b).astype(np.float64)

    def total(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.asarray(v, dtype=np.float64), lo)

    def most(v: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(v, lo)

    progress = total(f["progress"])
    km = progress / 1000.0
    lane_changes = total(f["lane_change"])
    starts = hard.copy()  # a hard-braking event starts where the previous step was not one
    starts[1:] &= ~hard[:-1]
    starts[lo] = hard[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_km = np.where(km >= MIN_KM, lane_changes / km, np.nan)
    columns = {
        "steps": t,
        "duration_s": t / policy_hz,
        "collision": (most(f["collision"]) > 0).astype(np.float64),
        "off_road": (most(f["off_road"]) > 0).astype(np.float64),
        "mean_speed": total(f["speed"]) / t,
        "progress": progress,
        "short_headway": total(short) / t,
        "min_ttc": np.minimum.reduceat(f["ttc_ahead"], lo),
        "mean_abs_jerk": total(abs_jerk) / t,
        "hard_brakes_per_min": total(starts) / (t / policy_hz / 60.0),
        "lane_changes": lane_changes,
        "lane_changes_per_km": per_km,
        "forced_brake_share": total(forced) / t,
        "max_forced_braking": most(forced_b),
        "oracle_return": total(oracle),
        "env_return": total(r),
        "comfortable_share": total(comfy) / t,
    }
    names = list(columns)
    rows = np.stack([columns[k] for k in names], axis=1).tolist()
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for m in out:  # until fault and IDM's progress are known (score_episode): no fault
        score_episode(m, "" if m["collision"] == 0 else "ego", None)
    return out


def score_episode(m: dict[str, float], fault: str, idm_progress: float | None) -> None:
    """Add the composite score and its terms to an episode's metrics ``m`` (in place).

    ``fault``: the collision's (``""``, ``"ego"``, ``"other"``, ``"shared"``);
    ``idm_progress``: what IDM drove in the same seeded episode over as long [m] (None:
    unknown, the progress term counts as full). Score = no-fault factor (1, shared 0.5,
    the ego's 0) x on-road (0 or 1) x the weighted mean of progress (own / IDM's, at most
    1), TTC (the least time-to-collision at or above TTC_BOUND) and comfort (the share of
    comfortable steps), weights WEIGHTS."""
    ref = idm_progress
    # (when IDM did not get anywhere either, any progress counts as full)
    ep = 1.0 if ref is None or ref < MIN_PROGRESS else min(max(m["progress"] / ref, 0.0), 1.0)
    terms = {
        "progress": ep,
        "ttc": 1.0 if m["min_ttc"] >= TTC_BOUND else 0.0,
        "comfort": float(m["comfortable_share"]),
    }
    weighted = sum(WEIGHTS[k] * v for k, v in terms.items()) / sum(WEIGHTS.values())
    nc = NO_FAULT[fault]
    dac = 1.0 - float(m["off_road"])
    m["at_fault_collision"] = float(fault in ("ego", "shared"))
    m["score_no_fault"] = nc
    m["score_progress"] = ep
    m["score_ttc"] = terms["ttc"]
    m["score_comfort"] = terms["comfort"]
    m["idm_progress"] = np.nan if ref is None else float(ref)
    m["score"] = nc * dac * weighted
