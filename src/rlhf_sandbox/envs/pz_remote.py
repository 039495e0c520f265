"""A role's view of a :class:`~rlhf_sandbox.envs.pz_joint.JointGame` used from another
process: its learner runs there, the game stays here.

:class:`RemoteRoleVecEnv` (the learner's process) is a :class:`RoleVecEnv` whose calls go
over a ``multiprocessing`` connection; :class:`ViewServer` (a thread of the game's process)
answers them on the real view, so every rule of the joint game holds (a step waits for the
other views, ``abort`` and ``retire`` free them). The learner's process also reports on
the same connection: ``("ready", steps)``, ``("done", result)``, ``("error", exception)``;
the game's process tells it ``("train",)`` or ``("close",)`` (:meth:`ViewServer.tell`).

A call's reply is ``("ok", value)`` or ``("err", exception)``, raised again in the
learner's process (``AttributeError`` from ``get_attr`` stays one, so SB3's probes work;
a :class:`~rlhf_sandbox.envs.pz_joint.JointGameAborted` stays one too).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from rlhf_sandbox.envs.pz_joint import JointGame, JointGameAborted, RoleVecEnv


def sendable(e: BaseException) -> BaseException:
    """``e`` if the connection can carry it, else a RuntimeError with its type and message
    (a message between our own processes, never a file)."""
    from multiprocessing.reduction import ForkingPickler  # what Connection.send uses

    try:
        ForkingPickler.loads(ForkingPickler.dumps(e))
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")
    return e


class RemoteRoleVecEnv(RoleVecEnv):
    """The view of ``role`` served over ``conn`` (see the module docstring); ``slot_agents``,
    spaces and ``render_mode`` as the real view's."""

    def __init__(
        self,
        conn: Any,
        role: str,
        slot_agents: Sequence[str],
        m: int,
        spaces: tuple[gym.spaces.Box, gym.spaces.Box | gym.spaces.Discrete],
        render_mode: str | None,
    ) -> None:
        self.conn = conn
        self.role = role
        self.slot_agents = tuple(slot_agents)
        self.render_mode = render_mode
        self._m = m
        self._closed = False
        VecEnv.__init__(self, len(self.slot_agents), spaces[0], spaces[1])

    def _call(self, what: str, *args: Any) -> Any:
        self.conn.send((what, args))
        kind, value = self.conn.recv()
        if kind == "err":
            raise value
        return value

    def copy_of(self, slot: int) -> int:
        return slot // self._m

    def reset(self) -> np.ndarray:
        obs = self._call("reset")
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        return self._call("seed", seed)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        return self._call("step", self._actions)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._call("close")

    def get_images(self) -> Sequence[np.ndarray | None]:
        return self._call("get_images")

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", attr_name, indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", attr_name, value, indices)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kw: Any
    ) -> list[Any]:
        return self._call("env_method", method_name, method_args, indices, kw)


def remote_view_args(game: JointGame, role: str) -> tuple[Any, ...]:
    """What :class:`RemoteRoleVecEnv` needs of ``role``'s view besides the connection."""
    view = game.views[role]
    return (
        role,
        view.slot_agents,
        len(game.roles[role]),
        (view.observation_space, view.action_space),
        view.render_mode,
    )


class ViewServer:
    """Answers the calls of ``role``'s learner on ``conn`` (a thread of this process), and
    keeps what it reports: ``ready`` (and the learner's steps so far), ``result``, ``error``.

    When the learner is done, fails or its process ends, its role retires from the game; a
    failure (or a process that ends without a word) also aborts the game, so the other
    learners are not left waiting."""

    def __init__(self, game: JointGame, role: str, conn: Any, exitcode: Any = None) -> None:
        self.game, self.role, self.conn = game, role, conn
        self.view = game.views[role]
        self.exitcode = exitcode  # () -> the learner process's exit code, for messages
        self.steps = 0  # the learner's env steps (its SB3 num_timesteps)
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.ready = threading.Event()  # "ready", or the learner's end
        self.ended = threading.Event()  # the connection closed
        self._send = threading.Lock()
        self.thread = threading.Thread(target=self._serve, name=f"serve-{role}", daemon=True)
        self.thread.start()

    def tell(self, *message: Any) -> None:
        """Send ``message`` to the learner (``"train"``, ``"close"``); ignored once it ended."""
        if self.ended.is_set():
            return
        with self._send, contextlib.suppress(OSError, EOFError):
            self.conn.send(message)

    def _reply(self, kind: str, value: Any) -> None:
        with self._send:
            self.conn.send((kind, value))

    def _serve(self) -> None:
        try:
            while True:
                try:
                    what, args = self.conn.recv()
                except (EOFError, OSError):
                    if not self.finished:
                        code = self.exitcode() if self.exitcode is not None else None
                        self._fail(RuntimeError(
                            f"role {self.role!r}: its learner's process ended without a result"
                            f" (exit code {code})"
                        ))  # fmt: skip
                    return
                if what == "ready":
                    self.steps = int(args[0])
                    self.ready.set()
                elif what == "done":
                    self.result, self.finished = args[0], True
                    self.game.retire(self.role)
                elif what == "error":
                    self._fail(args[0])
                else:
                    self._answer(what, args)
        finally:
            self.ended.set()
            self.ready.set()

    def _fail(self, e: BaseException) -> None:
        self.error, self.finished = e, True
        if not isinstance(e, JointGameAborted):
            self.game.abort(f"role {self.role!r} failed: {type(e).__name__}: {e}")
        self.game.retire(self.role)
        self.ready.set()

    def _answer(self, what: str, args: tuple[Any, ...]) -> None:
        v = self.view
        try:
            if what == "step":
                v.step_async(args[0])
                value: Any = v.step_wait()
                self.steps += v.num_envs
            elif what == "reset":
                value = v.reset()
            elif what == "seed":
                value = list(v.seed(args[0]))
            elif what == "close":
                v.close()
                value = None
            elif what == "get_images":
                value = list(v.get_images())
            elif what == "get_attr":
                value = v.get_attr(args[0], args[1])
            elif what == "set_attr":
                v.set_attr(args[0], args[1], args[2])
                value = None
            elif what == "env_method":
                value = v.env_method(args[0], *args[1], indices=args[2], **args[3])
            else:
                raise ValueError(f"unknown call {what!r}")
        except BaseException as e:  # the learner raises it
            self._reply("err", sendable(e))
            return
        self._reply("ok", value)
