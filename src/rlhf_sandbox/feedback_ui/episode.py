"""A played stretch of an episode, cut into clips and stored (no pygame here).

:class:`Segment` collects what :class:`~rlhf_sandbox.feedback_ui.worlds.PlayWorld` steps
give: the observation each action was taken from, the action, the env reward, the
behaviour features, and the world states at the simulation rate (the first state, then
``substeps`` states per step). :meth:`Segment.clips` cuts it into clips of the format
``RecordClips`` writes, so ``envs.replay.render_clip`` re-renders them and the reward
model trains on them. :func:`save_played` stores clips and their demonstration rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlhf_sandbox.feedback_ui.worlds import PlayWorld, State, StepOut
from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.run_folder import RunFolder

PLAYED = "play"  # clip run name of the clips a person played
POLICY_REPLAY = "play/policy"  # clip run name of a policy's replay from a takeover state


@dataclass
class Segment:
    """Consecutive policy steps of one episode of ``world``, from ``start_step``."""

    world: PlayWorld
    start_state: State
    seed: int
    start_step: int
    obs: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    features: list[dict[str, float]] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)
    states: list[State] = field(default_factory=list)  # len 1 + substeps * T

    @classmethod
    def begin(cls, world: PlayWorld) -> Segment:
        """A new segment starting from ``world``'s state now."""
        s = world.state()
        return cls(world, s, world.seed, world.t, states=[s])

    def add(self, obs: np.ndarray, out: StepOut) -> None:
        """Record one step taken from observation ``obs``."""
        if len(out.states) != self.world.substeps:
            raise ValueError(f"a step gave {len(out.states)} states, not {self.world.substeps}")
        self.obs.append(np.asarray(obs, dtype=np.float32))
        self.actions.append(np.asarray(out.action))
        self.rewards.append(out.reward)
        self.features.append(out.features)
        self.terminated.append(out.terminated)
        self.states.extend(out.states)

    @property
    def T(self) -> int:
        return len(self.obs)

    def windows(self, length: int) -> list[tuple[int, int]]:
        """``(start, stop)`` step windows of ``length`` covering the segment: back to back,
        the last one aligned to the end (it may overlap the one before); a segment shorter
        than ``length`` is one short window."""
        if length < 1:
            raise ValueError(f"clip length must be >= 1 step, got {length}")
        n = self.T
        if n == 0:
            return []
        if n <= length:
            return [(0, n)]
        starts = list(range(0, n - length + 1, length))
        if starts[-1] + length < n:
            starts.append(n - length)
        return [(s, s + length) for s in starts]

    def clip(self, start: int, stop: int, run: str, env_id: str) -> Clip:
        """The clip of steps ``[start, stop)``."""
        sub = self.world.substeps
        states = self.states[start * sub : stop * sub + 1]
        names = self.features[start].keys() if self.features else ()
        feats = {
            k: np.array([f[k] for f in self.features[start:stop]], dtype=np.float32) for k in names
        }
        feats["terminated"] = np.array(self.terminated[start:stop], dtype=np.float32)
        return Clip(
            run=run,
            env_id=env_id,
            config=self.world.clip_config,
            seed=self.seed,
            slot=0,
            start_step=self.start_step + start,
            fps=self.world.policy_hz * sub,
            policy_hz=self.world.policy_hz,
            obs=np.stack(self.obs[start:stop]),
            actions=np.stack(self.actions[start:stop]),
            rewards=np.asarray(self.rewards[start:stop], dtype=np.float32),
            features=feats,
            states={k: np.stack([s[k] for s in states]) for k in states[0]},
        )

    def clips(self, length: int, run: str = PLAYED) -> list[Clip]:
        """The segment as clips of ``length`` steps (see :meth:`windows`)."""
        env_id = self.world.env_id
        return [self.clip(a, b, run, env_id) for a, b in self.windows(length)]


def save_played(
    store: ClipStore,
    db_run: str,
    rater: str,
    clips: list[Clip],
    replaces: list[Clip] | None = None,
) -> list[str]:
    """Store played clips and one demonstration row each; returns their clip ids.

    With ``replaces`` (one policy clip per played clip, from the same start state), the
    rows are corrections naming the policy clip, which is stored first. Clips go in one
    chunk file each call, then the rows; the clips' own run (``play``) keeps a clip whose
    row was never written out of the policy clips of ``db_run``.
    """
    if not clips:
        return []
    if replaces is not None and len(replaces) != len(clips):
        raise ValueError("one replaced policy clip per correction")
    store.add([*clips, *(replaces or [])])
    for i, c in enumerate(clips):
        if replaces is None:
            store.db.add_demonstration(db_run, c.id, rater, "demonstration")
        else:
            store.db.add_demonstration(db_run, c.id, rater, "correction", replaces[i].id)
    return [c.id for c in clips]


def open_store(run_dir: Any) -> ClipStore:
    """The run folder's own store, created if new."""
    store: ClipStore = RunFolder(run_dir).open_store(create=True)
    return store
