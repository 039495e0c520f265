"""What happens at each decision of play and correction mode (no pygame here).

:class:`PlaySession` is the headless core of ``rlhf-sandbox play``: the window hands it the
keys pressed during a decision and the keys held at its end, and shows the states it
returns. Play mode stores each episode as demonstration clips when it ends (in the arena with
``role="player"``: as plain clips of NPC 0, which the person did not drive) (and what was
played so far on :meth:`PlaySession.finish`). Correction mode lets the policy drive until
:meth:`PlaySession.request_takeover`; at the next decision the person drives for one clip
length, then the pair (person, policy replayed from the same start) is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rlhf_sandbox.envs.driving import ACTIONS
from rlhf_sandbox.feedback_ui import play_keys as keys
from rlhf_sandbox.feedback_ui.correct import PolicyFn, replay_policy
from rlhf_sandbox.feedback_ui.episode import POLICY_REPLAY, Segment, save_played
from rlhf_sandbox.feedback_ui.worlds import PlayWorld, State, StepOut
from rlhf_sandbox.store.clips import ClipStore

PLAYER_RUN = "play/player"  # clip run name of the NPCs' clips while a person played the player


@dataclass
class Saved:
    """What a session stored."""

    demonstrations: list[str] = field(default_factory=list)  # clip ids
    corrections: list[tuple[str, str]] = field(default_factory=list)  # (person, policy)
    clips: list[str] = field(default_factory=list)  # arena, role player: the NPCs' clips
    episodes: int = 0
    endings: list[str] = field(default_factory=list)  # why each episode ended


def end_reason(world: PlayWorld, out: StepOut) -> str:
    """Why an episode ended at this step, in a rater's words."""
    f = out.features
    if out.truncated and not out.terminated:
        return f"time up ({world.t / world.policy_hz:g} s)"
    if world.driving:
        if f.get("collision", 0.0) > 0:
            return "collision"
        if f.get("off_road", 0.0) > 0:
            return "off road"
        return "arrived (through the crossing)"
    if f.get("caught", 0.0) > 0:
        return "caught by a guard"
    return "the episode's end condition"


class PlaySession:
    """One person at the keyboard of one world; stores into ``store`` under ``db_run``."""

    def __init__(
        self,
        world: PlayWorld,
        store: ClipStore,
        *,
        db_run: str,
        rater: str,
        clip_steps: int,
        seed: int | None = None,
        policy: PolicyFn | None = None,
    ) -> None:
        if clip_steps < 1:
            raise ValueError(f"clip length must be at least one decision, got {clip_steps}")
        self.world, self.store = world, store
        self.db_run, self.rater, self.clip_steps = db_run, rater, clip_steps
        self.policy = policy
        self.correct = policy is not None
        self.saved = Saved()
        self.human = not self.correct  # who drives now
        self.steps_left = 0  # of a takeover
        self._takeover = False
        self._snapshot: dict[str, object] | None = None
        self.message = ""
        world.reset(seed)
        self.segment = Segment.begin(world)
        self.last_action: object = None
        self.last_reward = 0.0

    # ------------------------------------------------------------------ input
    def request_takeover(self) -> None:
        """Correction mode: the person drives from the next decision on."""
        if self.correct and not self.human:
            self._takeover = True

    def action_of(self, pressed: list[str], held: set[str]) -> tuple[object, np.ndarray | None]:
        """The person's (action, player velocity) from the keys."""
        w = self.world
        if w.role == "player":
            speed = float(w.config.player_speed)
            return None, keys.direction(held) * speed
        if w.driving:
            road = str(w.config.road)
            if w.config.action == "continuous":
                return keys.driving_continuous(held, road), None
            return keys.driving_discrete(pressed, road), None
        d = keys.direction(held)
        if w.config.continuous:
            return d.astype(np.float32), None
        return keys.arena_move(held), None

    # ------------------------------------------------------------------ a decision
    def step(self, pressed: list[str], held: set[str]) -> list[State]:
        """One decision; returns the states to show (the simulation substeps)."""
        w = self.world
        if self.correct and not self.human and self._takeover:
            self._begin_takeover()
        obs = w.observe()
        if self.human:
            action, vel = self.action_of(pressed, held)
        else:
            assert self.policy is not None
            action, vel = self.policy(obs), None
        out = w.step(action, vel)
        self.last_action, self.last_reward = out.action, out.reward
        ended = out.terminated or out.truncated
        if self.human:
            self.segment.add(obs, out)
        if self.correct and self.human:
            self.steps_left -= 1
            if self.steps_left <= 0 or ended:
                self._store_correction()
        if ended:
            self.end_episode(end_reason(w, out))
        return out.states

    def _begin_takeover(self) -> None:
        self._takeover = False
        self.human = True
        self.steps_left = self.clip_steps
        self._snapshot = self.world.snapshot()
        self.segment = Segment.begin(self.world)
        self.message = "you drive"

    def _store_correction(self) -> None:
        person, snap = self.segment, self._snapshot
        self.human, self._snapshot = False, None
        if person.T == 0 or snap is None or self.policy is None:
            return
        other = replay_policy(self.world.fork(snap), self.policy, person.T)
        mine = person.clip(0, person.T, "play", self.world.env_id)
        theirs = other.clip(0, other.T, POLICY_REPLAY, self.world.env_id)
        save_played(self.store, self.db_run, self.rater, [mine], replaces=[theirs])
        self.saved.corrections.append((mine.id, theirs.id))
        self.message = f"correction saved ({person.T} steps); the policy drives"

    def end_episode(self, why: str = "you started a new one") -> None:
        """Store what was played of this episode and start the next (same seed chain);
        ``why`` it ended is said on the HUD, with what was saved."""
        self.message = ""
        self._flush()
        saved, self.message = self.message, f"episode ended: {why}"
        if saved:
            self.message += f" ({saved})"
        self.saved.episodes += 1
        self.saved.endings.append(why)
        self.world.reset(None)
        self.segment = Segment.begin(self.world)

    def _flush(self) -> None:
        if self.correct:
            if self.human:
                self._store_correction()
            return
        if self.world.role == "player":  # the person was not the agent: no demonstrations
            clips = self.segment.clips(self.clip_steps, run=PLAYER_RUN)
            self.saved.clips += self.store.add(clips)
            self.message = f"saved {len(clips)} clip(s)" if clips else self.message
            return
        clips = self.segment.clips(self.clip_steps)
        ids = save_played(self.store, self.db_run, self.rater, clips)
        self.saved.demonstrations += ids
        if ids:
            self.message = f"saved {len(ids)} demonstration clip(s)"

    def finish(self) -> Saved:
        """Quit: store what was played (whole clips only, each chunk written atomically)."""
        self._flush()
        self.segment = Segment.begin(self.world)
        return self.saved

    # ------------------------------------------------------------------ HUD
    def status(self) -> str:
        """The HUD's status line (the full seed is printed when the session starts)."""
        w = self.world
        who = "you" if self.human else "policy"
        text = (
            f"t {w.t / w.policy_hz:5.1f} s  seed {short_seed(w.seed)}"
            f"  speed {w.ego_speed():4.1f} m/s"
            f"  action {_fmt(self.last_action, w.driving)}  driver: {who}"
        )
        if self.correct and self.human:
            text += f" ({self.steps_left} steps left)"
        n = len(self.saved.demonstrations) + len(self.saved.corrections) + len(self.saved.clips)
        return text + f"  saved {n}"


_MOVES = ("stay", "E", "NE", "N", "NW", "W", "SW", "S", "SE")


def _fmt(action: object, driving: bool) -> str:
    if action is None:
        return "-"
    a = np.asarray(action)
    if a.ndim == 0:
        return (ACTIONS if driving else _MOVES)[int(a)]
    return "(" + ", ".join(f"{x:+.1f}" for x in a.ravel()) + ")"


def short_seed(seed: int) -> str:
    """A seed for the HUD: as it is up to 8 digits, else its last 6 after "..." (an
    arena episode's seed can run to 20 digits)."""
    text = str(seed)
    return text if len(text) <= 8 else "..." + text[-6:]
