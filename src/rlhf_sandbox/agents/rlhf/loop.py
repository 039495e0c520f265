"""The RLHF loop: PPO on a learned reward, with queries cut from its own rollouts.

Each rollout end (an SB3 callback) does, in order:

1. ask: pick the schedule's number of pairs among the rollout's segments (query
   selection), store their clips and the queries; a synthetic teacher answers at once;
2. wait (human teacher only): at most ``human_wait_s`` for ``human_min_labels`` new labels;
3. fit: if enough feedback arrived (``refit_growth``), retrain the reward ensemble on all of
   it (warm-started), save the version,
   hand it to the ``LearnedReward`` wrapper, and relabel the rollout just collected so
   PPO's update uses the new reward;
4. checkpoint: policy, optimiser, reward model and loop state (state dicts and JSON).

The trainer never blocks on people: with no labels it keeps training on the current model.
Files under ``out``: ``settings.json``, ``store/`` (``prefs.sqlite`` + clip chunks),
``reward_models/vN.pt``, ``checkpoint/``, ``tb/`` (TensorBoard), ``policy.pt``. With a
shared store (``store=URL``) the rows and clips go there under the run's name instead of
``store/``, and ``store.json`` says where (see :mod:`~rlhf_sandbox.store.run_folder`).
"""

from __future__ import annotations

import json
import math
import socket
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from rlhf_sandbox.agents.feedback.pairs import preference_batch
from rlhf_sandbox.agents.feedback.queries import select_pairs
from rlhf_sandbox.agents.policy.ppo import (
    RichProgress,
    make_model,
    save_policy,
    unchecked_distributions,
)
from rlhf_sandbox.agents.reward.absorbing import clip_inputs, reward_space
from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble
from rlhf_sandbox.agents.reward.intrinsic import StateEntropyReward
from rlhf_sandbox.agents.reward.wrappers import LearnedReward, learned_rewards
from rlhf_sandbox.agents.rlhf.recording import ClipSource, RecordClips
from rlhf_sandbox.agents.rlhf.settings import (
    RLHFSettings,
    clip_steps,
    explore_rollouts,
    label_schedule,
)
from rlhf_sandbox.agents.teachers.oracles import Oracle
from rlhf_sandbox.agents.teachers.plugin import TeacherSourceChanged, source_change
from rlhf_sandbox.agents.teachers.raters import SyntheticRater
from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.arena_single import clip_subjects
from rlhf_sandbox.envs.pz_game import SUBJECT
from rlhf_sandbox.envs.pz_joint import role_view_of
from rlhf_sandbox.envs.vector import NonFiniteEnvError, core_of, decision_hz, make_vec_env
from rlhf_sandbox.files import atomic_path
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import NewQuery, PreferenceDB, check_task
from rlhf_sandbox.store.run_folder import RUN, RunFolder, RunStore

__all__ = ["RUN", "LoopState", "RLHFLoop", "accuracy_text"]


@dataclass
class LoopState:
    """What a resumed run needs beyond the networks (``checkpoint/loop.json``)."""

    iteration: int = 0
    num_timesteps: int = 0
    labels_asked: int = 0
    labels_used: int = 0  # labels, ratings and demonstrations in the store at the last fit
    model_version: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per fit
    rng: dict[str, Any] = field(default_factory=dict)  # query selection's generator state
    rater_rng: dict[str, Any] = field(default_factory=dict)  # the synthetic rater's
    checkpoint: str = ""  # the tag of the checkpoint files this state goes with
    done: bool = False
    unreadable: list[str] = field(default_factory=list)  # the last fit's unreadable clips


def accuracy_text(acc: float | None) -> str:
    """Held-out accuracy for the progress line: "-" before a fit or without a held-out set
    (too few labels: the fit's report says None)."""
    return "-" if acc is None or acc != acc else f"{acc:.2f}"


class RLHFLoop:
    """One run folder: builds envs, store and learners, trains, checkpoints, resumes."""

    def __init__(
        self,
        settings: RLHFSettings | None,
        out: str | Path,
        *,
        resume: bool = False,
        store: str | None = None,
        clips: str | None = None,
        store_run: str | None = None,
        question: str | None = None,
        rubric: str | None = None,
        base: VecEnv | None = None,
    ) -> None:
        """A new run of ``settings`` in ``out``, or (``resume``) the run already there.

        ``store``: a store URL to write to instead of ``out/store/`` (``clips``: where its
        clip chunks go), under the run name ``store_run`` (default: the folder's name),
        which must be new there; on resume, the same store again (see
        :meth:`~rlhf_sandbox.store.run_folder.RunFolder.saved_store`). ``question`` and
        ``rubric``: what people rating the run's clips are asked (stored with the run;
        on resume, given ones replace the stored ones). ``base``: the env to train on
        instead of one built from the settings (a role's view of a game several roles share:
        :mod:`~rlhf_sandbox.agents.rlhf.roles`); the loop closes it."""
        self._base = base
        if question is not None or rubric is not None:
            check_task(question or "", rubric or "")
        self.task = (question, rubric)
        self.out = Path(out)
        self.folder = folder = RunFolder(self.out)
        # A run killed before its first checkpoint has settings and a store but no
        # checkpoint: --resume starts it again at step 0, keeping its store.
        restart = resume and not folder.loop_state.exists()
        if resume:
            if not folder.settings.exists():
                raise FileNotFoundError(f"{self.out}: no run to resume (no settings.json)")
            settings = RLHFSettings.saved(folder.read_settings())
            self.where: RunStore = folder.saved_store(store, clips, store_run)
        elif settings is None:
            raise ValueError("settings are needed to start a run")
        elif taken := folder.run_files():
            raise FileExistsError(
                f"{self.out} holds {taken[0]} already (a run's, or someone's own): resume the"
                " run or pick a new folder"
            )
        else:
            self.where = folder.new_store(store, clips, store_run)
        self.run = self.where.run
        self.s = s = settings  # validated: the teacher fits the env, arena_v0's role is set
        self.teacher = s.teacher_value
        if resume and self.teacher.plugin:
            change = source_change(self.teacher.oracle, s.teacher_source)
            if change is not None:
                warnings.warn(change, TeacherSourceChanged, stacklevel=2)
        if self.where.shared:  # before anything is written: the store is there, the name free
            self.clips = ClipStore.open(self.where.url, self.where.clips)
            self.db = self.clips.db
            _check_run_name(self.db, self.run, resume)
        if not resume:
            folder.write_settings(s.to_json())
        if not self.where.shared:
            self.clips = folder.open_store(create=True)
            self.db = self.clips.db
            self.db.add_run(RUN, s.to_json(), question=question, rubric=rubric)
        self.state = LoopState()
        self.rng = np.random.default_rng(s.seed)
        self.oracle: Oracle | None = self.teacher.resolve()
        self.rater: SyntheticRater | None = self.teacher.rater_for(s.rater_overrides, s.seed)
        self.recorder, self.learned = self._envs()
        # the schedule over the rollouts this env really makes (arena_v0 may round n_envs)
        rollout = self.learned.num_envs * s.ppo.n_steps
        self.schedule = label_schedule(s, rollout)
        self.explore_rollouts = explore_rollouts(s, rollout)
        self.explorer: StateEntropyReward | None = None
        if self.explore_rollouts:  # PEBBLE's exploration: PPO sees a state-entropy reward
            self.explorer = StateEntropyReward(self.learned, self.explore_rollouts * rollout)
        self.venv: VecEnv = self.explorer or self.learned  # what PPO steps
        self.source = self._source()
        self.T = clip_steps(s, self.source.policy_hz)
        self.model = RewardEnsemble(
            reward_space(self.venv.observation_space),
            self.venv.action_space,
            s.reward_model,
            env_id=s.env_id,
        )
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.pending_checkpoint = False
        self.algo: OnPolicyAlgorithm = make_model(self.venv, s.ppo, str(folder.tb))
        if resume and (question is not None or rubric is not None):
            old = self.db.run_question(self.run)
            keep = (old.question, old.rubric) if old else ("", "")
            self.db.set_run_question(self.run, question or keep[0], rubric or keep[1])
        if resume and not restart:
            self._restore()
        elif restart:  # what the killed start asked already counts against the budget
            self.state.labels_asked = len(self.db.queries(self.run))
        elif self.where.shared:  # the name, claimed for good once every check has passed
            self._claim_run_name()

    def _claim_run_name(self) -> None:
        """Create the run in the shared store (a run racing for the same name gets the
        error) and write ``store.json``."""
        tag = {"out": str(self.out.resolve()), "host": socket.gethostname()}
        config = {**self.s.to_json(), **tag, "token": uuid.uuid4().hex}
        question, rubric = self.task
        if not self.db.create_run(self.run, config, question=question, rubric=rubric):
            self.close()
            self.folder.settings.unlink(missing_ok=True)
            raise ValueError(_taken(self.db, self.run))
        self.folder.save_store(self.where)

    # ------------------------------------------------------------------ set-up
    def _envs(self) -> tuple[RecordClips, LearnedReward]:
        s = self.s
        kw = dict(s.env_kwargs)
        given = self._base is not None
        base = (
            self._base
            if self._base is not None
            else make_vec_env(s.env_id, s.ppo.n_envs, s.ppo.seed, **kw)
        )
        frames = self.teacher.human and core_of(base) is None
        if frames and not given:  # a person must see the clips of a foreign env
            base.close()
            base = make_vec_env(s.env_id, s.ppo.n_envs, s.ppo.seed, render_mode="rgb_array", **kw)
        recorder = RecordClips(base, capacity=s.ppo.n_steps, frames=frames)
        learned = LearnedReward(recorder, gamma=s.ppo.gamma)
        return recorder, learned

    def _source(self) -> ClipSource:
        base = core_of(self.venv)
        if base is not None:
            core: Any = base.core
            return ClipSource(
                self.run,
                self.s.env_id,
                config_to_dict(core.config),
                core.policy_hz,
                clip_subjects(core),  # arena_v0: which NPC each slot's clips judge
            )
        view = role_view_of(self.venv)  # a PettingZoo game: each slot's agent is named
        subjects = (
            tuple({SUBJECT: {"agent": a, "role": view.role}} for a in view.slot_agents)
            if view is not None
            else ()
        )
        return ClipSource(
            self.run, self.s.env_id, dict(self.s.env_kwargs), decision_hz(self.venv), subjects
        )

    # ------------------------------------------------------------------ training
    def train(self, progress: bool = True) -> LoopState:
        """Train until the step budget; returns the final loop state."""
        remaining = self.s.timesteps - self.algo.num_timesteps
        callbacks: list[BaseCallback] = [_LoopCallback(self)]
        self.progress: RichProgress | None = None
        if progress:
            self.progress = RichProgress(max(remaining, 0), "rlhf")
            callbacks.append(self.progress)
        if remaining > 0:
            try:
                with unchecked_distributions():
                    self.algo.learn(
                        total_timesteps=remaining,
                        callback=CallbackList(callbacks),
                        reset_num_timesteps=self.state.iteration == 0,
                        tb_log_name="rlhf",
                    )
            except NonFiniteEnvError as e:  # the last checkpoint stays as it was: resumable
                raise NonFiniteEnvError(
                    f"{self.s.env_id}: {e} (after {self.algo.num_timesteps:,} steps; the last"
                    f" checkpoint, at {self.state.num_timesteps:,}, is kept)"
                ) from None
        self.state.done = True
        self.state.num_timesteps = int(self.algo.num_timesteps)
        self._checkpoint()
        save_policy(self.algo, self.folder.policy, self.s.ppo, env_id=self.s.env_id)
        if self.model.version > 0:
            self.model.save(self.folder.reward_model)
        self.db.trainer_beat(self.run, "finished")
        return self.state

    def close(self) -> None:
        self.venv.close()
        self.db.close()

    def on_rollout_end(self, emitted: np.ndarray, locals_: dict[str, Any]) -> None:
        st = self.state
        if st.iteration < self.explore_rollouts:  # exploring: no queries, fits or waits
            self._next_rollout("exploring")
            return
        # this rollout's share, plus what earlier rounds could not ask (too few segments)
        due = int(self.schedule[: st.iteration + 1].sum())  # the whole schedule once past it
        n = min(max(due - st.labels_asked, 0), self.s.labels - st.labels_asked)
        if n > 0:
            self._ask(n)
        if self.oracle is None:
            self._wait_for_labels()
        rounds = st.iteration - self.explore_rollouts  # the schedule's, counted from its first
        fit_now = self.oracle is None or rounds % self.s.query_every == 0
        if fit_now and self.db.feedback_count(self.run) >= self._refit_at() and self._fit():
            self._relabel(emitted, locals_)
        acc = st.history[-1]["heldout_accuracy"] if st.history else None
        self._next_rollout(
            f"labels {self.db.label_count(self.run)}/{self.s.labels}"
            f" · reward model v{st.model_version} acc {accuracy_text(acc)}"
        )

    def _next_rollout(self, doing: str) -> None:
        st = self.state
        st.iteration += 1
        st.num_timesteps = int(self.algo.num_timesteps)
        self.db.trainer_beat(self.run)  # the feedback app's waiting screen: still running
        self.pending_checkpoint = True  # written after PPO's update of this rollout
        if self.progress is not None:
            self.progress.describe(f"rlhf · {doing}")

    # ------------------------------------------------------------------ steps
    def _ask(self, n: int) -> None:
        rec, T = self.recorder, self.T
        seg = rec.segments(T)
        m = len(seg.slot)
        if m < 2:
            return
        obs, act = rec.segment_arrays(seg, T)
        r = None
        if self.oracle is not None:  # the teacher's rewards, checked before anything is stored
            feats, env_r, real = rec.segment_features(seg, T)
            r = np.where(real, self.oracle(feats, env_r.astype(np.float64)), 0.0)  # [M, T]
            if not np.isfinite(r).all():
                raise NonFiniteEnvError(
                    f"teacher {self.teacher.spec} gave a non-finite reward on segment"
                    f" {int(np.flatnonzero(~np.isfinite(r).all(axis=1))[0])} of this rollout"
                    " (a NaN or inf behaviour feature?)"
                )
        returns = self.model.segment_returns(obs, act) if self.model.version > 0 else None
        pairs = select_pairs(self.s.query_method, n, m, self.rng, returns, self.s.oversample)
        used = np.unique(np.concatenate([pairs.left, pairs.right]))
        clips = {  # a window cut short by a termination is stored with its real steps only
            int(j): rec.clip(int(seg.slot[j]), int(seg.start[j]), int(seg.real[j]), self.source)
            for j in used
        }
        self.clips.add(list(clips.values()))
        for j, c in clips.items():
            self._arrays[c.id] = (obs[j], act[j])
        method = self.s.query_method if returns is not None else "random"
        asked = [
            NewQuery(
                clips[int(a)].id, clips[int(b)].id, method, None if np.isnan(sc) else float(sc)
            )
            for a, b, sc in zip(pairs.left, pairs.right, pairs.score, strict=True)
        ]
        rater, choices = None, []
        if r is not None and self.rater is not None:  # the pairs and their labels: one write
            said = self.rater.label(r[pairs.left], r[pairs.right], float(r.sum(axis=1).mean()))
            rater, choices = self.teacher.spec, [str(ch) for ch in said]
        self.db.add_queries(self.run, asked, self.s.raters_per_query, rater=rater, choices=choices)
        self.state.labels_asked += n

    def _refit_at(self) -> int:
        """Feedback in the store that makes the next fit: one more than the last fit used,
        or ``refit_growth`` times more (at least one), whichever is more; once every label
        has been asked, any new feedback (so that the last labels are learned from, not
        left short of the next growth step)."""
        used = self.state.labels_used
        if self.state.labels_asked >= self.s.labels:
            return used + 1
        return used + max(1, math.ceil(self.s.refit_growth * used))

    def _wait_for_labels(self) -> None:
        deadline = time.monotonic() + self.s.human_wait_s
        want = self.state.labels_used + self.s.human_min_labels
        while time.monotonic() < deadline and self.db.feedback_count(self.run) < want:
            time.sleep(0.2)

    def _clip_arrays(self, clip_id: str) -> tuple[np.ndarray, np.ndarray]:
        """A clip's reward-model inputs, padded to the segment length if it terminated."""
        if clip_id not in self._arrays:
            c = self.clips.get(clip_id)
            ended = c.features.get("terminated")
            done = ended is not None and bool(ended[-1] > 0)
            self._arrays[clip_id] = clip_inputs(c.obs, c.actions, done, self.T)
        return self._arrays[clip_id]

    def _fit(self) -> bool:
        st = self.state
        st.labels_used = self.db.feedback_count(self.run)
        batch, counts = preference_batch(
            self.db, self.run, self._clip_arrays, self.T, self.s.test_share, self.s.seed
        )
        st.unreadable = counts.errors[:5]  # said on the console at the end (cli.train)
        if batch is None:
            return False
        latest = self.db.latest_reward_model(self.run)
        if latest is not None and latest.version > self.model.version:
            # a kill after a version was registered and before the checkpoint that counts
            # it: number on from the store's, so that versions and files stay one to one
            self.model.version = latest.version
        report = self.model.fit(batch)
        st.model_version = self.model.version
        path, name = self.folder.reward_model_version(st.model_version)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model.save(path)
        metrics = {**report.to_json(), "labels": counts.to_json()}
        self.db.add_reward_model(self.run, name, metrics)
        self.learned.model = self.model
        st.history.append(
            {
                "version": st.model_version,
                "timesteps": int(self.algo.num_timesteps),
                "labels": st.labels_used,
                **report.to_json(),
            }
        )
        for k in ("heldout_accuracy", "train_accuracy", "heldout_loss"):
            self.algo.logger.record(f"reward_model/{k}", float(getattr(report, k)))
        self.algo.logger.record("reward_model/labels", st.labels_used)
        return True

    def _relabel(self, emitted: np.ndarray, locals_: dict[str, Any]) -> None:
        """Give the rollout just collected the new model's rewards (keeping SB3's bootstrap
        terms for time-outs) and recompute returns and advantages."""
        buf: Any = self.algo.rollout_buffer
        rec = self.recorder
        idx = rec.order()[-buf.buffer_size :]
        if len(idx) != buf.buffer_size or emitted.shape != buf.rewards.shape:
            return
        obs, act, term = rec.obs[idx], rec.actions[idx], rec.terminated[idx]
        flat = learned_rewards(
            self.model,
            obs.reshape(-1, *obs.shape[2:]),
            act.reshape(-1, *act.shape[2:]),
            term.reshape(-1),
            self.learned.tail,
        ).reshape(buf.rewards.shape)
        buf.rewards[:] = buf.rewards - emitted + flat
        buf.compute_returns_and_advantage(last_values=locals_["values"], dones=locals_["dones"])

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> None:
        """Files named by the iteration, then ``loop.json`` (atomic) naming them, then the
        older files removed: a kill at any point leaves one complete, consistent set."""
        self.pending_checkpoint = False
        f = self.folder
        f.checkpoint.mkdir(parents=True, exist_ok=True)
        tag = f"{self.state.iteration:06d}"
        save_policy(self.algo, f.checkpoint_file("policy", tag), self.s.ppo, env_id=self.s.env_id)
        with atomic_path(f.checkpoint_file("optimizer", tag)) as tmp:
            torch.save(self.algo.policy.optimizer.state_dict(), tmp)
        if self.model.version > 0:
            self.model.save(f.checkpoint_file("reward_model", tag))
        self.state.rng = dict(self.rng.bit_generator.state)
        if self.rater is not None:
            self.state.rater_rng = dict(self.rater.rng.bit_generator.state)
        self.state.checkpoint = tag
        with atomic_path(f.loop_state) as tmp:
            tmp.write_text(json.dumps(self.state.__dict__, indent=1, default=float) + "\n")
        for old in f.checkpoint.glob("*-*.*"):
            if not old.stem.endswith(tag):
                old.unlink(missing_ok=True)

    def _restore(self) -> None:
        f = self.folder
        self.state = LoopState(**json.loads(f.loop_state.read_text()))
        tag = self.state.checkpoint  # read from a file: checked by checkpoint_file
        self.rng.bit_generator.state = self.state.rng
        if self.rater is not None and self.state.rater_rng:
            self.rater.rng.bit_generator.state = self.state.rater_rng
        dev = self.algo.device
        policy = torch.load(f.checkpoint_file("policy", tag), map_location=dev, weights_only=True)
        self.algo.policy.load_state_dict(policy)
        opt = torch.load(f.checkpoint_file("optimizer", tag), map_location=dev, weights_only=True)
        self.algo.policy.optimizer.load_state_dict(opt)
        self.algo.num_timesteps = self.state.num_timesteps
        if self.explorer is not None:  # its k-NN memory starts afresh
            self.explorer.steps_taken = self.state.num_timesteps
        # A kill between asking and checkpointing leaves queries the state does not count.
        self.state.labels_asked = max(self.state.labels_asked, len(self.db.queries(self.run)))
        if self.state.model_version > 0:
            path = f.checkpoint_file("reward_model", tag)
            self.model = RewardEnsemble.load(path, self.s.reward_model.device)
            self.learned.model = self.model


def _taken(db: PreferenceDB, run: str) -> str:
    return (
        f"{db.where} has a run {run!r} already: pick another --store-run (or --resume the"
        " run folder that made it)"
    )


def _check_run_name(db: PreferenceDB, run: str, resume: bool) -> None:
    """A new run's name must be free in the store; a resumed run's must be there."""
    try:
        there = db.has_run(run)
        if resume and not there:
            raise ValueError(f"{db.where} has no run {run!r}: is it the store this run used?")
        if not resume and there:
            raise ValueError(_taken(db, run))
    except BaseException:
        db.close()
        raise


class _LoopCallback(BaseCallback):
    """Keeps the rewards the wrapper gave during a rollout; runs the loop at its end."""

    def __init__(self, loop: RLHFLoop) -> None:
        super().__init__()
        self.loop = loop
        self.emitted: list[np.ndarray] = []

    def _on_rollout_start(self) -> None:
        self.emitted = []
        if self.loop.pending_checkpoint:  # the previous rollout's PPO update is done
            self.loop._checkpoint()

    def _on_step(self) -> bool:
        self.emitted.append(np.array(self.locals["rewards"], dtype=np.float32))
        return True

    def _on_rollout_end(self) -> None:
        self.loop.on_rollout_end(np.stack(self.emitted), self.locals)
