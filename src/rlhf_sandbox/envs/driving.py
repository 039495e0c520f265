"""Gymnasium driving envs over the batched driving world.

Ids: ``rlhf_sandbox/Highway-v0``, ``HighwayFast-v0``, ``Merge-v0``, ``Intersection-v0``.
``gymnasium.make(id, **kwargs)`` takes the fields of :class:`DrivingConfig` (or
``config=DrivingConfig(...)``); ``gymnasium.make_vec(id, num_envs=N)`` the same, batched.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_sandbox.config import build_config
from rlhf_sandbox.envs.core import BatchedCore, CoreEnv, CoreVectorEnv, StepResult
from rlhf_sandbox.envs.driving_config import ID_DEFAULTS, DrivingConfig
from rlhf_sandbox.envs.driving_obs import ACTION_SLOTS, obs_size, observe, observe_lanes, rewards
from rlhf_sandbox.sim.driving import draw
from rlhf_sandbox.sim.driving.params import MAX_ACCEL, MAX_STEER
from rlhf_sandbox.sim.driving.world import VEHICLE_FIELDS, DrivingWorld, EgoCommand

ACTIONS = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")
RENDER_FPS = 15


def driving_config(
    env_name: str, config: DrivingConfig | None, kwargs: dict[str, Any]
) -> DrivingConfig:
    """The config of an id: its defaults unless ``config`` is given, then ``kwargs``."""
    base = build_config(DrivingConfig, None, **ID_DEFAULTS[env_name]) if config is None else config
    return build_config(DrivingConfig, base, **kwargs)


class DrivingCore(BatchedCore):
    """N copies of a driving world behind the :class:`BatchedCore` interface."""

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": RENDER_FPS}

    def __init__(self, config: DrivingConfig, num_envs: int) -> None:
        super().__init__(num_envs)
        self.config = config
        self.render_size = (config.screen_width, config.screen_height)
        self.world = DrivingWorld(config.world_params(), num_envs)
        n = obs_size(config)
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        if config.action == "discrete":
            self.single_action_space: gym.Space[Any] = gym.spaces.Discrete(len(ACTIONS))
        else:
            self.single_action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.last_action = np.zeros((num_envs, ACTION_SLOTS))
        self.policy_hz = float(config.policy_hz)
        self._replayer: DrivingCore | None = None

    def _reset(self, mask: np.ndarray) -> None:
        self.world.reset(mask, self.seeds)
        self.last_action[mask] = 0.0

    def observe(self) -> np.ndarray:
        if self.config.observation == "lanes":
            return observe_lanes(self.world, self.last_action)
        return observe(self.world, self.last_action, self.config.observe_vehicles)

    def command(self, actions: np.ndarray) -> EgoCommand:
        n = self.num_envs
        if self.config.action == "discrete":
            self.last_action = np.eye(ACTION_SLOTS)[actions]
            return EgoCommand(actions, np.zeros(n), np.zeros(n))
        a = actions.astype(float)
        self.last_action = np.concatenate([a, np.zeros((n, ACTION_SLOTS - 2))], axis=1)
        return EgoCommand(np.full(n, -1), a[:, 0] * MAX_ACCEL, a[:, 1] * MAX_STEER)

    def step(self, actions: np.ndarray) -> StepResult:
        w = self.world
        feats = w.step(self.command(actions))
        reward, parts = rewards(w, feats, self.config)
        terminated = (feats["collision"] > 0) | (feats["off_road"] > 0)
        arrived = np.zeros(self.num_envs, dtype=bool)
        if w.road.kind == "intersection":
            s = w.road.station(w.lane[:, 0], w.x[:, 0], w.y[:, 0])
            arrived = s > w.road.length[w.lane[:, 0]] - 10.0
            terminated |= arrived
        truncated = (w.t >= w.params.policy_steps) & ~terminated
        info = {"features": feats, "rewards": parts, "arrived": arrived}
        return StepResult(reward, terminated, truncated, info)

    def reset_info(self) -> dict[str, Any]:
        return {}

    def slot_state(self, slot: int) -> dict[str, np.ndarray]:
        """One copy's per-vehicle state ``[V]`` (what drawing reads)."""
        return {k: getattr(self.world, k)[slot] for k in VEHICLE_FIELDS}

    def render_substeps(self, slot: int, width: int, height: int) -> list[np.ndarray]:
        """Frames at the simulation rate for the last step of ``slot``: one per substep.

        Needs ``self.world.record_substeps = True`` before the step; without it only the
        state after the step is known and this returns that single frame.
        """
        c, w = self.config, self.world
        frames = []
        for state in w.substep_states:
            vehicles = {k: state[k][slot] for k in VEHICLE_FIELDS}
            frames.append(draw.render(w.road, vehicles, width, height, c.scaling))
        frames.append(self.render_slot(slot, width, height))
        return frames

    def slot_states(self) -> dict[str, np.ndarray]:
        return self.world.get_state()

    def replay(self, state: dict[str, np.ndarray], actions: np.ndarray) -> dict[str, np.ndarray]:
        """States at the simulation rate ``[T * substeps + 1, ...]`` from one slot's state."""
        if self._replayer is None:
            self._replayer = DrivingCore(self.config, 1)
            self._replayer.world.record_substeps = True
        sim = self._replayer
        sim.world.set_state({k: np.asarray(v)[None] for k, v in state.items()})
        out = [sim.world.get_state()]
        for a in actions:
            sim.world.step(sim.command(np.asarray(a)[None]))
            out += sim.world.substep_states
            out.append(sim.world.get_state())
        return {k: np.concatenate([s[k] for s in out]) for k in out[0]}

    def render_slot(self, slot: int, width: int, height: int) -> np.ndarray:
        c = self.config
        return draw.render(self.world.road, self.slot_state(slot), width, height, c.scaling)


class _DrivingEnv(CoreEnv):
    env_name = "Highway-v0"
    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": RENDER_FPS}

    def __init__(
        self, config: DrivingConfig | None = None, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        self.config = driving_config(self.env_name, config, kwargs)
        self.render_size = (self.config.screen_width, self.config.screen_height)
        self._bind(DrivingCore(self.config, 1), render_mode)

    @property
    def world(self) -> DrivingWorld:
        return self.core.world  # type: ignore[attr-defined]


_DOC = """

    ## Action Space
    ``Discrete(5)`` meta-actions by default: 0 lane left, 1 idle, 2 lane right, 3 faster,
    4 slower (target speeds ``target_speeds``). With ``action="continuous"``:
    ``Box(-1, 1, (2,))``, acceleration (x 5 m/s^2) and steering (x pi/4 rad).

    ## Observation Space
    ``Box(-1, 1, (13 + 7 K,), float32)``: the ego (speed / 40, cos and sin of heading,
    offset from its lane centre / 4, lane, acceleration / 5, target speed / 40, on road),
    its last action (one-hot, or the two continuous values), then the K
    (``observe_vehicles``) nearest vehicles in the ego's frame: presence, dx / 100,
    dy / 20, dvx / 40, dvy / 40, cos and sin of relative heading; absent rows are zero.
    With ``observation="lanes"`` (the highway only) ``Box(-1, 1, (28,))``: the ego and its
    last action as above, then for the ego's left lane, its own and its right: whether the
    lane exists, the gap to the nearest vehicle ahead / 100 m (1: none within 100 m), that
    vehicle's speed relative to the ego / 40, and the same two for the nearest behind.

    ## Rewards
    highway-env's: ``collision_reward * collision + right_lane_reward * lane / (lanes - 1)
    + high_speed_reward * clip((v - v_lo) / (v_hi - v_lo), 0, 1)``, mapped to [0, 1] when
    ``normalize_reward``, times being on the road. Parts in ``info["rewards"]``; behaviour
    features (speed, acceleration, jerk, headway, ttc_ahead, ttc_behind, lane,
    lane_change, collision, off_road, progress, forced_braking) in ``info["features"]``.

    ## Episode End
    Terminates on a collision or when the ego leaves the road (at the intersection also
    when it arrives at the far end, ``info["arrived"]``); truncates after ``duration``.

    ## Arguments
    Every field of :class:`DrivingConfig`, or ``config=DrivingConfig(...)``;
    ``render_mode`` "rgb_array" or "human". Unknown names and bad values raise
    ``ConfigError`` naming the field.

    ## Version History
    * v0: initial version.
"""


class HighwayEnv(_DrivingEnv):
    __doc__ = (
        """A multi-lane highway with IDM/MOBIL traffic (highway-env's highway-v0 setup).

    ## Starting State
    The ego at x = 0 in a random lane at ``ego_speed``; NPCs in chains per lane over the
    traffic window, no NPC closer than 20 m ahead or 30 m behind in the ego's lane."""
        + _DOC
    )
    env_name = "Highway-v0"


class HighwayFastEnv(HighwayEnv):
    __doc__ = (HighwayEnv.__doc__ or "").replace(
        "highway-v0 setup", "highway-fast-v0 setup: 3 lanes, 20 vehicles, 5 Hz / 1 Hz, 30 s"
    )
    env_name = "HighwayFast-v0"


class MergeEnv(_DrivingEnv):
    __doc__ = (
        """A highway whose rightmost lane is joined by an on-ramp at x = 230 m.

    ## Starting State
    The ego in the rightmost lane at x = 0; ramp traffic on the ramp, timed to meet it."""
        + _DOC
    )
    env_name = "Merge-v0"


class IntersectionEnv(_DrivingEnv):
    __doc__ = (
        """An unsignalised four-way crossing; NPCs yield by gap acceptance.

    ## Starting State
    The ego 60 m before the box on the northbound lane; traffic on all four approaches,
    none committed to the box."""
        + _DOC
    )
    env_name = "Intersection-v0"


def _vector(env_name: str):
    def make(
        num_envs: int = 1,
        config: DrivingConfig | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> CoreVectorEnv:
        cfg = driving_config(env_name, config, kwargs)
        return CoreVectorEnv(DrivingCore(cfg, num_envs), render_mode=render_mode)

    make.__doc__ = f"``gymnasium.make_vec('rlhf_sandbox/{env_name}', num_envs=N)``: batched."
    return make


make_highway_vector = _vector("Highway-v0")
make_highway_fast_vector = _vector("HighwayFast-v0")
make_merge_vector = _vector("Merge-v0")
make_intersection_vector = _vector("Intersection-v0")
