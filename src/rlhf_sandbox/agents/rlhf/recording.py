"""``RecordClips``: keep the last rollout of every env slot and cut clips from it.

Query clips come from the policy's own training rollouts, so asking for labels costs no
extra env steps. The wrapper keeps a ring of the last ``capacity`` vector steps: the
observation each action was taken from, the action, the env reward, the behaviour features
(``info["features"]``), the episode seed and step index, and, for our worlds, the world
state before the step (and after it, where the episode ended). Other Gymnasium envs keep
downscaled ``rgb_array`` frames instead when ``frames=True``.

A candidate segment is ``(slot, start)``: ``T`` consecutive steps of one episode inside the
ring. :meth:`RecordClips.clip` turns one into a :class:`~rlhf_sandbox.store.clips.Clip`;
for our driving worlds it re-simulates the substeps from the stored state so the clip
replays at the simulation rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from rlhf_sandbox.agents.reward.absorbing import absorbing_obs, flagged
from rlhf_sandbox.envs.vector import action_array, check_finite, core_of
from rlhf_sandbox.store.clips import Clip

MAX_FRAME_SIDE = 160  # [px] frames of foreign envs are strided down to at most this


class Segments(NamedTuple):
    """Candidate segments, int ``[M]`` each: ``slot``, ``start`` (ring index of the first
    step) and ``real`` (steps of the episode; fewer than the segment length when the
    segment ends in a termination and is padded with absorbing steps)."""

    slot: np.ndarray
    start: np.ndarray
    real: np.ndarray


@dataclass(frozen=True)
class ClipSource:
    """What a clip says about where it came from."""

    run: str
    env_id: str
    config: dict[str, Any]
    policy_hz: float  # policy decisions per second
    # entries added to slot i's clips' config: a PettingZoo game's judged agent and role
    # ({"subject": {"agent": ..., "role": ...}}: see rlhf_sandbox.envs.pz_game.clip_subject)
    slot_config: tuple[dict[str, Any], ...] = ()


class RecordClips(VecEnvWrapper):
    """Records the last ``capacity`` vector steps of ``venv`` (see the module docstring)."""

    def __init__(self, venv: VecEnv, capacity: int, *, frames: bool = False) -> None:
        super().__init__(venv)
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.base = core_of(venv)
        n, c = self.num_envs, capacity
        obs_space = self.observation_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"unsupported observation space {obs_space} (Box only)")
        self.obs = np.zeros((c, n, *obs_space.shape), dtype=np.float32)
        probe = action_array(self.action_space, np.stack([self.action_space.sample()] * n))
        self.actions = np.zeros((c, *probe.shape), dtype=probe.dtype)
        self.rewards = np.zeros((c, n), dtype=np.float32)
        self.done = np.zeros((c, n), dtype=bool)
        self.terminated = np.zeros((c, n), dtype=bool)  # done, and not by a time limit
        self.ep_step = np.full((c, n), -1, dtype=np.int64)  # -1: nothing recorded yet
        self.ep_seed = np.zeros((c, n), dtype=np.int64)
        self.features: dict[str, np.ndarray] = {}
        self.states: dict[str, np.ndarray] | None = None  # pre-step, [C, N, ...]
        self.final: dict[tuple[int, int], dict[str, np.ndarray]] = {}  # (ring, slot) -> state
        self.record_frames = frames and self.base is None
        self.frames: np.ndarray | None = None
        self.env_steps = 0  # vector steps x num_envs, since construction
        self._i = -1  # ring index of the last recorded step
        self._obs: np.ndarray | None = None
        self._step_in_ep = np.zeros(n, dtype=np.int64)
        self._actions: np.ndarray | None = None
        self._pre_state: dict[str, np.ndarray] | None = None
        self._pre_frames: np.ndarray | None = None
        self._ended: dict[int, dict[str, np.ndarray]] = {}  # slot -> terminal state
        self._seed_now = np.zeros(n, dtype=np.int64)
        if self.base is not None:
            self.base.episode_end_hooks.append(self._on_episode_end)

    # ------------------------------------------------------------------ VecEnv
    def reset(self) -> np.ndarray:
        obs = np.asarray(self.venv.reset())
        self._obs = obs.astype(np.float32)
        self._step_in_ep[:] = 0
        self._snapshot()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = action_array(self.action_space, actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        assert self._obs is not None and self._actions is not None, "reset() first"
        check_finite(np.asarray(obs), rewards, self._step_in_ep + 1)  # before it is stored
        i = self._i = (self._i + 1) % self.capacity
        for key in [k for k in self.final if k[0] == i]:
            del self.final[key]
        self.obs[i] = self._obs
        self.actions[i] = self._actions
        self.rewards[i] = rewards
        self.done[i] = dones
        self.terminated[i] = dones & ~np.array(
            [bool(info.get("TimeLimit.truncated", False)) for info in infos]
        )
        self.ep_step[i] = self._step_in_ep
        self.ep_seed[i] = self._seed_now
        self._features(i, infos)
        if self._pre_state is not None:
            if self.states is None:
                self.states = {
                    k: np.zeros((self.capacity, *v.shape), v.dtype)
                    for k, v in self._pre_state.items()
                }
            for k, v in self._pre_state.items():
                self.states[k][i] = v
            for slot, state in self._ended.items():
                self.final[(i, slot)] = state
        if self._pre_frames is not None:
            if self.frames is None:
                self.frames = np.zeros((self.capacity, *self._pre_frames.shape), np.uint8)
            self.frames[i] = self._pre_frames
        self._ended = {}
        self._step_in_ep = np.where(dones, 0, self._step_in_ep + 1)
        self._obs = np.asarray(obs, dtype=np.float32)
        self.env_steps += self.num_envs
        self._snapshot()
        return obs, rewards, dones, infos

    # ------------------------------------------------------------------ capture
    def _on_episode_end(self, done: np.ndarray) -> None:
        assert self.base is not None
        states = self.base.core.slot_states()
        if states is not None:
            self._ended = {
                int(s): {k: v[s].copy() for k, v in states.items()} for s in np.flatnonzero(done)
            }

    def _snapshot(self) -> None:
        """The state every slot is in now: the 'before' of the next step."""
        self._seed_now = self._episode_seeds()
        if self.base is not None:
            self._pre_state = self.base.core.slot_states()
        elif self.record_frames:
            imgs = self.venv.get_images()
            if imgs and all(im is not None for im in imgs):
                self._pre_frames = np.stack([_shrink(np.asarray(im)) for im in imgs])

    def _episode_seeds(self) -> np.ndarray:
        if self.base is not None:
            return self.base.core.seeds.copy()
        return np.zeros(self.num_envs, dtype=np.int64)

    def _features(self, i: int, infos: list[dict[str, Any]]) -> None:
        names = infos[0].get("features", {}).keys() if infos else ()
        for k in names:
            if k not in self.features:
                self.features[k] = np.zeros((self.capacity, self.num_envs), np.float32)
            self.features[k][i] = [float(info["features"][k]) for info in infos]

    # ------------------------------------------------------------------ segments
    def order(self) -> np.ndarray:
        """Ring indices of the recorded steps, oldest first."""
        n = min(self.env_steps // max(self.num_envs, 1), self.capacity)
        return (self._i - np.arange(n)[::-1]) % self.capacity

    def segments(self, length: int, stride: int | None = None) -> Segments:
        """Every ``length``-step window of one episode in the ring, ``stride`` apart; the last
        window of an episode is aligned to its end, so endings (crashes) are kept. An
        episode that terminated also gives one window of ``length - stride`` real steps
        padded with absorbing steps (see :mod:`rlhf_sandbox.agents.reward.absorbing`)."""
        if length < 1:
            raise ValueError(f"segment length must be >= 1, got {length}")
        stride = stride or max(1, length // 2)
        idx = self.order()
        slots: list[int] = []
        starts: list[int] = []
        reals: list[int] = []
        for s in range(self.num_envs):
            ends = np.flatnonzero(self.done[idx, s])
            bounds = np.concatenate([[-1], ends, [len(idx) - 1]])
            for a, b in zip(bounds[:-1] + 1, bounds[1:], strict=True):
                n = b - a + 1  # steps of this episode in the ring
                first = list(range(a, b - length + 2, stride)) if n >= length else []
                if first and first[-1] != b - length + 1:
                    first.append(b - length + 1)
                real = [length] * len(first)
                short = length - stride
                if self.terminated[idx[b], s] and 1 <= short < length and n >= short:
                    first.append(b - short + 1)
                    real.append(short)
                slots += [s] * len(first)
                starts += [int(idx[f]) for f in first]
                reals += real
        return Segments(*(np.asarray(v, dtype=np.int64) for v in (slots, starts, reals)))

    def _window(self, start: int, length: int) -> np.ndarray:
        return (start + np.arange(length)) % self.capacity

    def _rows(self, seg: Segments, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ring rows ``[M, T]``, columns ``[M, 1]`` and the real-step mask ``[M, T]``."""
        steps = np.arange(length)[None, :]
        rows = (seg.start[:, None] + np.minimum(steps, seg.real[:, None] - 1)) % self.capacity
        return rows, seg.slot[:, None], steps < seg.real[:, None]

    def segment_arrays(self, seg: Segments, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Reward-model inputs of the segments: observations with the absorbing flag
        ``[M, T, D + 1]`` and actions ``[M, T, ...]``, absorbing steps zero-padded."""
        rows, cols, real = self._rows(seg, length)
        obs = flagged(self.obs[rows, cols], 2)
        act = self.actions[rows, cols]
        obs[~real] = absorbing_obs(obs.shape[-1])
        act[~real] = 0
        return obs, act

    def segment_features(
        self, seg: Segments, length: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Features ``{name: [M, T]}``, env rewards ``[M, T]`` and the real-step mask
        ``[M, T]`` of the segments (absorbing steps: zeros, mask False)."""
        rows, cols, real = self._rows(seg, length)
        feats = {k: np.where(real, v[rows, cols], 0.0) for k, v in self.features.items()}
        return feats, np.where(real, self.rewards[rows, cols], 0.0), real

    def clip(self, slot: int, start: int, length: int, source: ClipSource) -> Clip:
        """The clip of ``length`` steps of ``slot`` from ring index ``start``."""
        w = self._window(start, length)
        last = int(w[-1])
        if self.done[w[:-1], slot].any():
            raise ValueError(f"clip of slot {slot} from {start} crosses an episode end")
        states = frames = None
        if self.states is not None:
            before = {k: v[w, slot] for k, v in self.states.items()}
            if self.done[last, slot]:
                after = self.final.get((last, slot))
                if after is None:
                    raise RuntimeError(f"no terminal state recorded for slot {slot}")
            elif last == self._i:  # the newest step: its 'after' is the state now
                assert self._pre_state is not None
                after = {k: v[slot] for k, v in self._pre_state.items()}
            else:
                nxt = (last + 1) % self.capacity
                after = {k: v[nxt, slot] for k, v in self.states.items()}
            states = self._states_at_sim_rate(before, after, self.actions[w, slot])
        elif self.frames is not None:
            if self.done[last, slot]:  # a foreign env's terminal frame is gone: hold the last
                tail = self.frames[last, slot]
            elif last == self._i:
                assert self._pre_frames is not None
                tail = self._pre_frames[slot]
            else:
                tail = self.frames[(last + 1) % self.capacity, slot]
            frames = np.concatenate([self.frames[w, slot], tail[None]])
        config = source.config
        if source.slot_config:
            config = {**config, **source.slot_config[slot]}
        return Clip(
            run=source.run,
            env_id=source.env_id,
            config=config,
            seed=int(self.ep_seed[w[0], slot]),
            slot=int(slot),
            start_step=int(self.ep_step[w[0], slot]),
            fps=source.policy_hz * _substeps(states, frames, length),
            policy_hz=source.policy_hz,
            obs=self.obs[w, slot].copy(),
            actions=self.actions[w, slot].copy(),
            rewards=self.rewards[w, slot].copy(),
            features={
                **{k: v[w, slot].copy() for k, v in self.features.items()},
                "terminated": self.terminated[w, slot].astype(np.float32),
            },
            states=states,
            frames=frames,
        )

    def _states_at_sim_rate(
        self, before: dict[str, np.ndarray], after: dict[str, np.ndarray], actions: np.ndarray
    ) -> dict[str, np.ndarray]:
        policy_rate = {k: np.concatenate([v, after[k][None]]) for k, v in before.items()}
        assert self.base is not None
        try:
            fine = self.base.core.replay({k: v[0] for k, v in before.items()}, actions)
        except NotImplementedError:
            return policy_rate
        # The replay must end where the episode went; if it drifts, keep the policy rate.
        ok = all(
            np.allclose(fine[k][-1], policy_rate[k][-1], atol=1e-3)
            for k in policy_rate
            if np.issubdtype(policy_rate[k].dtype, np.floating)
        )
        return fine if ok else policy_rate


def _substeps(states: dict[str, np.ndarray] | None, frames: np.ndarray | None, t: int) -> int:
    if states is not None:
        return (len(next(iter(states.values()))) - 1) // t
    if frames is not None:
        return (len(frames) - 1) // t
    return 1


def _shrink(frame: np.ndarray) -> np.ndarray:
    k = int(np.ceil(max(frame.shape[:2]) / MAX_FRAME_SIDE))
    return np.ascontiguousarray(frame[::k, ::k, :3]).astype(np.uint8)
