"""Copies of a PettingZoo game stepped together, and one SB3 ``VecEnv`` per role on them.

:class:`JointGame` owns ``n_copies`` copies of a ParallelEnv and steps them all once per
joint step. Its ``views`` are SB3 ``VecEnv``s (:class:`RoleVecEnv`), one per trained role:
slot ``c * M + j`` of a role's view is the j-th agent of that role (``possible_agents``
order) in copy c, so one shared policy acts for every agent of the role. Agents of roles
that no view trains act by ``others`` (default: uniformly random, seeded per copy and
episode: :func:`random_action`).

**Stepping.** A view's ``step_async`` submits its actions; the copies step when every view
still in the game has submitted, and each view's ``step_wait`` returns its own slots'
results. Without threads (``threaded=False``) call ``step_async`` on every view, then
``step_wait`` on each: a ``step_wait`` before all have submitted is an error. With one
thread per view (``threaded=True``: one SB3 learner per role, each in its own thread) a
``step_wait`` blocks until the last view has submitted; the thread that submits last steps
the copies. Every call takes one lock, so the views may be used from any threads.

**Batched.** A game that offers a batched form of itself (``env.batched(n)``: our arena)
is stepped through it, one array step for every copy (:mod:`~rlhf_sandbox.envs.pz_batch`),
with the same results; ``batched=False`` steps the copies one by one. The copies in
``games`` then give their settings (``get_attr``), not the episode's state.

**Failures.** :meth:`JointGame.abort` (or a wait longer than ``timeout_s``) breaks the game:
every blocked and every later call raises :class:`JointGameAborted` with the reason, so one
failed thread cannot leave the others waiting. A view whose learner has finished calls
:meth:`JointGame.retire`: the others step on without it (its agents then act by ``others``).
:func:`run_threads` runs one function per view on its own thread with both rules applied.

**Episodes.** A copy's episode ends when every agent that acted is terminated or truncated,
or ``env.agents`` is empty; the copy is reset in the same step (SB3's convention, with
``terminal_observation``), so all of its slots are done together. An agent that leaves
earlier (terminated or truncated while the others play on) gets zero observations and
reward 0 until then; one that is absent from ``env.agents`` likewise. A slot's
``TimeLimit.truncated`` is its agent's own: truncated and never terminated.

**Seeds.** ``seed(s)`` (any view's) makes copy c play seed ``s + c`` at the next reset;
later episodes of copy c continue its own seed chain (:func:`~rlhf_sandbox.envs.core.next_seed`):
the same seed gives the same run. In a joint game (more than one view), ``reset()`` starts
the copies once; a later view's ``reset()`` returns the current observations (episodes
restart only when they end, or by :meth:`JointGame.reset`). With one view it resets every
copy, as any SB3 ``VecEnv`` does.

**Features.** An agent's ``info`` entries that are scalar numbers are its behaviour features
(``info["features"]`` of its slot, for plug-in teachers): a role's names are those its
agents report on the view's first step; a name missing later is 0, a new one is left out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvStepReturn,
)

from rlhf_sandbox.envs.core import next_seed
from rlhf_sandbox.envs.pz_batch import batched_copies
from rlhf_sandbox.envs.pz_game import (
    GameError,
    default_role,
    group_roles,
    numeric_entries,
    role_spaces,
    roles_text,
)

OthersPolicy = Callable[[str, Any, gym.Space[Any], np.random.Generator], Any]
"""``others(agent, observation, action_space, rng) -> action`` for agents no view trains."""


def random_action(agent: str, obs: Any, space: gym.Space[Any], rng: np.random.Generator) -> Any:
    """A uniformly random action of ``space``, drawn from ``rng`` (the copy's episode rng)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.start + rng.integers(space.n))
    space.seed(int(rng.integers(2**31)))  # the space may be shared: seeded for each draw
    return space.sample()


class JointGameAborted(RuntimeError):
    """The joint game was aborted (a view's thread failed, or a wait timed out)."""


@dataclass
class _Role:
    name: str
    agents: tuple[str, ...]
    obs_space: gym.spaces.Box
    act_space: gym.spaces.Box | gym.spaces.Discrete
    features: tuple[str, ...] | None = None  # fixed on the first step

    @property
    def m(self) -> int:
        return len(self.agents)


@dataclass
class _Copy:
    env: Any
    seed: int = 0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    obs: dict[str, Any] = field(default_factory=dict)  # each agent's latest observation
    left: dict[str, str] = field(default_factory=dict)  # agent -> "terminated" / "truncated"


Result = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]


class JointGame:
    """``n_copies`` copies of a game (``make()`` builds one) with a view per role in
    ``roles`` (see the module docstring). ``what`` names the game in messages."""

    def __init__(
        self,
        make: Callable[[], Any],
        n_copies: int,
        roles: Sequence[str],
        *,
        roles_fn: Callable[[str], str] = default_role,
        seed: int | None = 0,
        others: OthersPolicy = random_action,
        threaded: bool = False,
        timeout_s: float | None = None,
        render_mode: str | None = None,
        what: str = "game",
        batched: bool = True,
    ) -> None:
        if n_copies < 1:
            raise ValueError(f"n_copies must be >= 1, got {n_copies}")
        if not roles:
            raise ValueError("name at least one role to train")
        self.what = what
        self.games: list[Any] = []
        try:
            for _ in range(n_copies):
                self.games.append(make())
            found = group_roles(list(self.games[0].possible_agents), roles_fn)
            self._roles = {r: self._role(r, found) for r in dict.fromkeys(roles)}
            agents = {r: spec.agents for r, spec in self._roles.items()}
            self._batch = batched_copies(self.games[0], n_copies, agents) if batched else None
        except BaseException:
            for env in self.games:
                env.close()
            raise
        self.n_copies = n_copies
        self.roles_fn = roles_fn
        self.found_roles = found  # every role of the game, trained or not
        self._role_of = {a: r for r, agents in found.items() for a in agents}
        self.others = others
        self.threaded = threaded
        self.timeout_s = timeout_s
        self.render_mode = render_mode
        self._copies = [_Copy(env) for env in self.games]
        self._next_seeds: np.ndarray | None = None
        self._started = False
        self._cond = threading.Condition()
        self._active = set(self._roles)  # views that take part in the next step
        self._pending: dict[str, np.ndarray] = {}
        self._submitted_at: dict[str, int] = {}
        self._results: dict[str, Result] = {}
        self._gen = 0  # joint steps taken
        self._aborted: str | None = None
        self._frames: tuple[int, list[Any]] | None = None
        self._closed_views: set[str] = set()
        self._envs_closed = False
        self.views: dict[str, RoleVecEnv] = {r: RoleVecEnv(self, r) for r in self._roles}
        self.seed(seed)

    def _role(self, role: str, found: dict[str, tuple[str, ...]]) -> _Role:
        if role not in found:
            raise GameError(
                f"{self.what}: no agent has the role {role!r}; roles found: {roles_text(found)}"
            )
        obs_space, act_space = role_spaces(self.games[0], role, found[role])
        return _Role(role, found[role], obs_space, act_space)

    # ------------------------------------------------------------------ control
    def seed(self, seed: int | None) -> list[int]:
        """Copy c plays ``seed + c`` at the next reset (fresh random seeds for None)."""
        n = self.n_copies
        if seed is None:
            fresh = np.random.SeedSequence().generate_state(n, dtype=np.uint64) >> np.uint64(2)
            seeds = fresh.astype(np.int64)
        else:
            seeds = np.arange(n, dtype=np.int64) + int(seed)
        with self._cond:
            self._next_seeds = seeds
        return [int(s) for s in seeds]

    def reset(self) -> None:
        """Start new episodes in every copy (the seeds given to :meth:`seed`, else each
        copy's next seed); not while a step waits for views."""
        with self._cond:
            self._check()
            if self._pending:
                raise RuntimeError(f"{self.what}: reset while views wait for a joint step")
            self._reset_all()

    def abort(self, reason: str) -> None:
        """Break the game: every waiting and later call raises ``JointGameAborted(reason)``."""
        with self._cond:
            if self._aborted is None:
                self._aborted = reason
            self._cond.notify_all()

    def retire(self, role: str) -> None:
        """``role``'s view takes no more steps: its agents act by ``others`` from now on and
        the other views step without waiting for it."""
        with self._cond:
            self._active.discard(role)
            self._pending.pop(role, None)
            if self._aborted is None and self._pending and self._active <= set(self._pending):
                self._step_now()

    def close(self) -> None:
        """Close every copy (views waiting are aborted)."""
        with self._cond:
            if self._aborted is None:
                self._aborted = f"{self.what} was closed"
            self._cond.notify_all()
            self._close_copies()

    def _close_copies(self) -> None:
        if not self._envs_closed:
            self._envs_closed = True
            for c in self._copies:
                c.env.close()

    @property
    def roles(self) -> dict[str, tuple[str, ...]]:
        """The trained roles and their agents (slot order within a copy)."""
        return {r: spec.agents for r, spec in self._roles.items()}

    # ------------------------------------------------------------------ views' calls
    def _check(self) -> None:
        if self._aborted is not None:
            raise JointGameAborted(f"{self.what}: aborted ({self._aborted})")

    def reset_view(self, role: str) -> np.ndarray:
        with self._cond:
            self._check()
            if not self._started or len(self._roles) == 1:
                self._pending.clear()
                self._reset_all()
            else:  # a joint game runs on: this view joins the episodes as they are
                self._pending.pop(role, None)
                self._results.pop(role, None)
            return self._observe(self._roles[role])

    def submit(self, role: str, actions: np.ndarray) -> None:
        with self._cond:
            self._check()
            if not self._started:
                raise RuntimeError(f"{self.what}: reset() before step_async()")
            if role not in self._active:
                raise RuntimeError(f"{self.what}: view {role!r} has retired")
            if role in self._pending or role in self._results:
                raise RuntimeError(f"{self.what}: view {role!r} called step_async twice")
            self._pending[role] = _checked(self._roles[role], self.n_copies, actions)
            self._submitted_at[role] = self._gen

    def wait(self, role: str) -> Result:
        with self._cond:
            self._check()
            if role not in self._pending and role not in self._results:
                raise RuntimeError(f"{self.what}: view {role!r}: step_async() before step_wait()")
            if role in self._pending:
                if self._active <= set(self._pending):
                    self._step_now()
                elif not self.threaded:
                    missing = sorted(self._active - set(self._pending))
                    raise RuntimeError(
                        f"{self.what}: view {role!r} waits for {', '.join(missing)}: without"
                        " threads, call step_async on every view before step_wait"
                    )
                else:
                    target = self._submitted_at[role] + 1
                    done = self._cond.wait_for(
                        lambda: self._gen >= target or self._aborted is not None,
                        self.timeout_s,
                    )
                    if not done:
                        missing = sorted(self._active - set(self._pending))
                        self._aborted = (
                            f"view {role!r} waited {self.timeout_s} s for {', '.join(missing)}"
                        )
                        self._cond.notify_all()
                    self._check()
            return self._results.pop(role)

    def view_closed(self, role: str) -> None:
        with self._cond:
            self._closed_views.add(role)
            if self._closed_views >= set(self._roles):
                self._close_copies()

    def frames(self) -> list[Any]:
        """Each copy's ``render()`` now (drawn once per joint step)."""
        with self._cond:
            if self._frames is None or self._frames[0] != self._gen:
                drawn = (
                    self._batch.frames()
                    if self._batch is not None
                    else [c.env.render() for c in self._copies]
                )
                self._frames = (self._gen, drawn)
            return self._frames[1]

    # ------------------------------------------------------------------ the game
    def _reset_all(self) -> None:
        if self._next_seeds is not None:
            seeds = self._next_seeds
            self._next_seeds = None
        else:
            seeds = next_seed(np.array([c.seed for c in self._copies], dtype=np.int64))
        if self._batch is not None:
            for c, s in zip(self._copies, seeds, strict=True):
                self._new_episode(c, int(s))
            self._batch.reset(np.ones(self.n_copies, dtype=bool), np.asarray(seeds, np.int64))
        else:
            for c, s in zip(self._copies, seeds, strict=True):
                self._reset_copy(c, int(s))
        self._results.clear()
        self._started = True
        self._frames = None

    def _new_episode(self, c: _Copy, seed: int) -> None:
        c.seed = seed
        c.rng = np.random.default_rng([seed, 0x07E5])  # the other roles' actions

    def _reset_copy(self, c: _Copy, seed: int) -> None:
        self._new_episode(c, seed)
        obs, _ = c.env.reset(seed=seed)
        c.obs = dict(obs)
        c.left = {}

    def _observe(self, role: _Role) -> np.ndarray:
        if self._batch is not None:
            return self._batch.observe(role.name)
        sp = role.obs_space
        out = np.zeros((self.n_copies * role.m, *sp.shape), dtype=sp.dtype)
        for ci, c in enumerate(self._copies):
            live = set(c.env.agents)
            for j, a in enumerate(role.agents):
                if a in c.obs and a in live and a not in c.left:
                    out[ci * role.m + j] = np.asarray(c.obs[a], dtype=sp.dtype).reshape(sp.shape)
        return out

    def _step_now(self) -> None:
        """Step every copy with the submitted actions; results for every submitted view."""
        try:
            results = self._step(self._pending)
        except BaseException as e:
            self._aborted = f"stepping {self.what} raised {type(e).__name__}: {e}"
            self._cond.notify_all()
            raise
        self._results.update(results)
        self._pending.clear()
        self._gen += 1
        self._cond.notify_all()

    def _step(self, actions: Mapping[str, np.ndarray]) -> dict[str, Result]:
        if self._batch is not None:
            return self._step_batched(actions)
        roles = [self._roles[r] for r in actions]
        slot_of = {a: (spec, j) for spec in roles for j, a in enumerate(spec.agents)}
        out: dict[str, Result] = {
            spec.name: (
                np.zeros((self.n_copies * spec.m, *spec.obs_space.shape), spec.obs_space.dtype),
                np.zeros(self.n_copies * spec.m, dtype=np.float32),
                np.zeros(self.n_copies * spec.m, dtype=bool),
                [{} for _ in range(self.n_copies * spec.m)],
            )
            for spec in roles
        }
        raw: dict[str, list[dict[str, float]]] = {
            s.name: [{} for _ in range(self.n_copies * s.m)] for s in roles
        }
        for ci, c in enumerate(self._copies):
            acting = [a for a in c.env.agents if a not in c.left]
            joint: dict[str, Any] = {}
            for a in acting:
                if a in slot_of:
                    spec, j = slot_of[a]
                    joint[a] = _action(spec.act_space, actions[spec.name][ci * spec.m + j])
                    continue
                if a not in self._role_of:
                    self._role_of[a] = self.roles_fn(a)
                if self._role_of[a] in actions:  # a trained role, and no slot for it
                    raise RuntimeError(f"{self.what}: agent {a!r} is not in possible_agents")
                joint[a] = self.others(a, c.obs.get(a), c.env.action_space(a), c.rng)
            obs, rew, term, trunc, infos = c.env.step(joint)
            for a in acting:
                if term.get(a) or trunc.get(a):
                    c.left[a] = "terminated" if term.get(a) else "truncated"
            c.obs = dict(obs)
            for spec in roles:
                o, r, _, _ = out[spec.name]
                for j, a in enumerate(spec.agents):
                    i = ci * spec.m + j
                    if a in acting:
                        r[i] = float(rew.get(a, 0.0))
                        raw[spec.name][i] = numeric_entries((infos or {}).get(a))
                        if a in obs:
                            o[i] = np.asarray(obs[a], dtype=o.dtype).reshape(o.shape[1:])
            ended = not c.env.agents or all(term.get(a) or trunc.get(a) for a in acting)
            if not ended:
                for a in c.left:  # left now or earlier: zeros from the next step on
                    c.obs.pop(a, None)
                continue
            for spec in roles:
                o, _, d, inf = out[spec.name]
                for j, a in enumerate(spec.agents):
                    i = ci * spec.m + j
                    d[i] = True
                    inf[i]["terminal_observation"] = o[i].copy()
                    inf[i]["TimeLimit.truncated"] = c.left.get(a) == "truncated"
            self._reset_copy(c, int(next_seed(np.array([c.seed], dtype=np.int64))[0]))
            for spec in roles:
                o = out[spec.name][0]
                for j, a in enumerate(spec.agents):
                    if a in c.obs and a in c.env.agents:
                        o[ci * spec.m + j] = np.asarray(c.obs[a], dtype=o.dtype).reshape(
                            o.shape[1:]
                        )
                    else:
                        o[ci * spec.m + j] = 0
        for spec in roles:
            if spec.features is None:
                spec.features = tuple(sorted({k for f in raw[spec.name] for k in f}))
            for i, feats in enumerate(raw[spec.name]):
                out[spec.name][3][i]["features"] = {k: feats.get(k, 0.0) for k in spec.features}
        self._frames = None
        return out

    def _step_batched(self, actions: Mapping[str, np.ndarray]) -> dict[str, Result]:
        """:meth:`_step` through the game's batched form (one array step for every copy)."""
        assert self._batch is not None
        b = self._batch
        out, ended = b.step(actions, [c.rng for c in self._copies], self.others)
        for r in actions:
            self._roles[r].features = b.features[r]
        if ended.any():
            seeds = b.restart(ended, out)
            for ci in np.flatnonzero(ended):
                self._new_episode(self._copies[ci], int(seeds[ci]))
        self._frames = None
        return out


def _checked(spec: _Role, n_copies: int, actions: Any) -> np.ndarray:
    """A view's actions as ``[N]`` ints (Discrete) or ``[N, ...]`` clipped to the Box."""
    n = n_copies * spec.m
    sp = spec.act_space
    a = np.asarray(actions)
    if isinstance(sp, gym.spaces.Discrete):
        a = a.reshape(n)
        if np.any((a < sp.start) | (a >= sp.start + sp.n)) or np.any(np.mod(a, 1) != 0):
            raise ValueError(f"role {spec.name!r}: action outside Discrete({sp.n}): {a}")
        return a.astype(np.int64)
    a = a.astype(np.float64).reshape((n, *sp.shape))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"role {spec.name!r}: action has NaN or infinite entries")
    return np.clip(a, sp.low, sp.high).astype(sp.dtype)


def _action(space: gym.spaces.Box | gym.spaces.Discrete, a: np.ndarray) -> Any:
    return int(a) if isinstance(space, gym.spaces.Discrete) else np.array(a, dtype=space.dtype)


class RoleVecEnv(VecEnv):
    """The SB3 ``VecEnv`` of one role of a :class:`JointGame` (see the module docstring)."""

    def __init__(self, game: JointGame, role: str) -> None:
        self.game = game
        self.role = role
        spec = game._roles[role]
        self.slot_agents: tuple[str, ...] = spec.agents * game.n_copies
        """The agent each slot plays (slot ``c * M + j``: agent j of the role in copy c)."""
        self.render_mode = game.render_mode
        super().__init__(len(self.slot_agents), spec.obs_space, spec.act_space)

    def copy_of(self, slot: int) -> int:
        """The game copy slot ``slot`` is in."""
        return slot // self.game._roles[self.role].m

    def reset(self) -> np.ndarray:
        obs = self.game.reset_view(self.role)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        per_copy = self.game.seed(seed)
        return [per_copy[self.copy_of(i)] for i in range(self.num_envs)]

    def step_async(self, actions: np.ndarray) -> None:
        self.game.submit(self.role, actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.game.wait(self.role)
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.game.view_closed(self.role)

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.game.frames()
        return [
            None if (f := frames[self.copy_of(i)]) is None else np.asarray(f)
            for i in range(self.num_envs)
        ]

    def _slots(self, indices: VecEnvIndices) -> Iterable[int]:
        return self._get_indices(indices)

    # The game copies' own attributes and methods, under the game's lock (a joint step in
    # another thread never runs halfway through one).
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":
            return [self.render_mode for _ in self._slots(indices)]
        games = self.game.games
        with self.game._cond:
            return [getattr(games[self.copy_of(i)], attr_name) for i in self._slots(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        with self.game._cond:
            for i in self._slots(indices):
                setattr(self.game.games[self.copy_of(i)], attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kw: Any
    ) -> list[Any]:
        games = self.game.games
        with self.game._cond:
            return [
                getattr(games[self.copy_of(i)], method_name)(*method_args, **kw)
                for i in self._slots(indices)
            ]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._slots(indices)]


def role_view_of(venv: Any) -> RoleVecEnv | None:
    """The ``RoleVecEnv`` under any SB3 wrappers, or None."""
    v = venv
    while True:
        if isinstance(v, RoleVecEnv):
            return v
        if not hasattr(v, "venv"):
            return None
        v = v.venv


T = TypeVar("T")


def run_threads(game: JointGame, work: Mapping[str, Callable[[RoleVecEnv], T]]) -> dict[str, T]:
    """Run ``work[role](view)`` for each role on a thread of its own; a role that returns
    retires (the others step on without it), one that raises aborts the game (the others
    then fail with ``JointGameAborted``). Returns each role's result; raises the first
    failure that was not an abort."""
    if not game.threaded:
        raise ValueError("run_threads needs a JointGame made with threaded=True")
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}

    def run(role: str) -> None:
        try:
            results[role] = work[role](game.views[role])
        except BaseException as e:
            errors[role] = e
            game.abort(f"role {role!r} failed: {type(e).__name__}: {e}")
        finally:
            game.retire(role)

    threads = [threading.Thread(target=run, args=(r,), name=f"role-{r}") for r in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        first = next((e for e in errors.values() if not isinstance(e, JointGameAborted)), None)
        raise first or next(iter(errors.values()))
    return results
