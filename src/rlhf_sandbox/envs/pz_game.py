"""Your own PettingZoo game behind ``--env MODULE[:FACTORY]``: the spec, its import, its roles.

How an ``--env`` spec is read (:func:`rlhf_sandbox.envs.ids.is_game_spec`), in this order:

1. a Gymnasium id keeps its Gymnasium meaning: one in ``gymnasium.registry``, or
   ``MODULE:ID`` whose ID is not a Python name (``my_envs:Maze-v0``: gymnasium's own form,
   importing MODULE registers ID);
2. ``arena_v0`` is our PettingZoo arena;
3. anything else of the form ``MODULE`` or ``MODULE:ATTR`` (dotted Python names) is a
   PettingZoo game: ATTR a callable returning a ``ParallelEnv`` (a factory function, a
   class), or a module with a ``parallel_env`` function (``mpe2:simple_v3``); ``MODULE``
   alone means ``MODULE:parallel_env``.

The env settings (``--env-arg k=v``, ``env_kwargs`` in a settings file) go to the factory as
keywords, except ours (:data:`OUR_ARGS`): ``role`` (the role trained) and ``roles_fn``
(``MODULE:ATTR`` of a function agent name -> role; default :func:`default_role`).

Importing MODULE runs its code with this process's rights, as a plug-in teacher's import
does; the module is found on PYTHONPATH, among the installed packages, or in the current
folder (searched last). Every problem with a spec is one :class:`GameError` (a ValueError)
that names it: a missing module or attribute, a factory that raises or does not return a
ParallelEnv, an unknown role (the roles found are listed), spaces other than Box and
Discrete, agents of one role with different spaces.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from rlhf_sandbox.envs.spaces import space_to_json

ROLE = "role"
ROLES_FN = "roles_fn"
OUR_ARGS = (ROLE, ROLES_FN)  # env settings that are ours, not the factory's
DEFAULT_ATTR = "parallel_env"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_NAME}(\.{_NAME})*")
_GAME = re.compile(rf"(?P<module>{_DOTTED.pattern})(:(?P<attr>{_DOTTED.pattern}))?")


class GameError(ValueError):
    """A PettingZoo game spec, its settings or its game cannot be used; names what is wrong."""


def is_gym_module_id(spec: str) -> bool:
    """Whether ``spec`` is gymnasium's ``MODULE:ID`` form (ID not a Python name)."""
    module, sep, name = spec.partition(":")
    return bool(sep and name and _DOTTED.fullmatch(module) and not _DOTTED.fullmatch(name))


def game_form(spec: str) -> bool:
    """Whether ``spec`` has the form of a game: ``MODULE`` or ``MODULE:ATTR``, Python names
    (:func:`rlhf_sandbox.envs.ids.is_game_spec` also rules out the Gymnasium ids)."""
    return _GAME.fullmatch(spec) is not None


def import_module(name: str, what: str) -> types.ModuleType:
    """Import ``name`` (its code runs); the current folder is searched after PYTHONPATH and
    the installed packages. ``what`` starts the error message (``env 'x:y'``)."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise GameError(
                f"{what}: no module named {name!r} (is its folder on PYTHONPATH, or the current"
                " folder?)"
            ) from None
        raise GameError(f"{what}: importing {name!r} failed: {e}") from None
    except Exception as e:  # the user's module raised while importing
        raise GameError(f"{what}: importing {name!r} raised {type(e).__name__}: {e}") from None


def _resolve(spec: str, what: str) -> Any:
    """The object ``MODULE:ATTR`` names (a submodule is imported when it is not yet an
    attribute); ``MODULE`` alone: the module."""
    m = _GAME.fullmatch(spec)
    if m is None:
        raise GameError(f"{what}: expected MODULE or MODULE:ATTR (Python names), got {spec!r}")
    name, attr = m.group("module"), m.group("attr")
    obj: Any = import_module(name, what)
    path = name
    for part in (attr or "").split(".") if attr else ():
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(path)
            except ModuleNotFoundError:
                raise GameError(f"{what}: module {name!r} has no attribute {attr!r}") from None
            except Exception as e:
                raise GameError(
                    f"{what}: importing {path!r} raised {type(e).__name__}: {e}"
                ) from None
        else:
            raise GameError(f"{what}: module {name!r} has no attribute {attr!r}")
    return obj


def load_factory(spec: str) -> Callable[..., Any]:
    """The game factory ``spec`` names: ATTR itself when callable, else its (or the
    module's) ``parallel_env``. GameError when there is none."""
    what = f"env {spec!r}"
    obj = _resolve(spec, what)
    if isinstance(obj, types.ModuleType):
        factory = getattr(obj, DEFAULT_ATTR, None)
        if not callable(factory):
            raise GameError(
                f"{what}: module {obj.__name__!r} has no {DEFAULT_ATTR}(); name the factory as"
                " MODULE:ATTR (a callable returning a PettingZoo ParallelEnv)"
            )
        return factory
    if not callable(obj):
        raise GameError(
            f"{what}: {spec.partition(':')[2]} is a {type(obj).__name__}, not a callable"
            " returning a PettingZoo ParallelEnv"
        )
    return obj


def default_role(agent: str) -> str:
    """An agent's role: its name before the last ``_`` (``adversary_0`` -> ``adversary``);
    a name without ``_`` is its own role."""
    head, sep, _ = agent.rpartition("_")
    return head if sep and head else agent


def load_roles_fn(spec: str | None) -> Callable[[str], str]:
    """The role function ``spec`` (``MODULE:ATTR``) names; :func:`default_role` for None."""
    if spec is None:
        return default_role
    what = f"env setting roles_fn={spec!r}"
    if not isinstance(spec, str) or ":" not in spec:
        raise GameError(f"{what}: expected MODULE:ATTR, a function agent name -> role")
    fn = _resolve(spec, what)
    if not callable(fn):
        raise GameError(f"{what}: {type(fn).__name__} is not callable")
    return fn


@dataclass(frozen=True)
class GameSettings:
    """An env's settings split into the factory's keywords and ours."""

    factory_kwargs: dict[str, Any]
    role: str | None
    roles_fn: str | None


def split_settings(env_kwargs: Mapping[str, Any]) -> GameSettings:
    """``env_kwargs`` as the factory's keywords, ``role`` and ``roles_fn``."""
    kw = dict(env_kwargs)
    role, roles_fn = kw.pop(ROLE, None), kw.pop(ROLES_FN, None)
    if role is not None and not isinstance(role, str):
        raise GameError(f"env setting role must be a role name, got {role!r}")
    if roles_fn is not None and not isinstance(roles_fn, str):
        raise GameError(f"env setting roles_fn must be MODULE:ATTR, got {roles_fn!r}")
    return GameSettings(kw, role, roles_fn)


def make_game(spec: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """One game from ``factory(**kwargs)``, checked to be a ParallelEnv (GameError if not,
    or if the factory raised)."""
    what = f"env {spec!r}"
    try:
        env = factory(**kwargs)
    except Exception as e:  # the user's code: a bad setting is the usual cause
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no settings"
        raise GameError(f"{what}: the factory raised {type(e).__name__}: {e} ({given})") from None
    if not is_parallel_env(env):
        kind = type(env).__name__
        hint = (
            ": an AEC env; give its parallel_env, or wrap it in"
            " pettingzoo.utils.conversions.aec_to_parallel"
            if _is_aec(env)
            else ""
        )
        raise GameError(
            f"{what}: the factory returned a {kind}, not a PettingZoo ParallelEnv{hint}"
        )
    return env


def _is_aec(env: Any) -> bool:
    from pettingzoo import AECEnv

    return isinstance(env, AECEnv)


def is_parallel_env(env: Any) -> bool:
    """A PettingZoo ParallelEnv, or an object with its API (``possible_agents``, ``reset``,
    ``step``, ``observation_space(agent)``, ``action_space(agent)``)."""
    from pettingzoo import ParallelEnv  # where a game is asked for only

    if isinstance(env, ParallelEnv):
        return True
    needed = ("possible_agents", "reset", "step", "observation_space", "action_space")
    return not _is_aec(env) and all(hasattr(env, k) for k in needed)


def group_roles(
    agents: list[str] | tuple[str, ...], roles_fn: Callable[[str], str]
) -> dict[str, tuple[str, ...]]:
    """Agents by role, in the order of ``agents`` (PettingZoo's ``possible_agents``)."""
    out: dict[str, list[str]] = {}
    for a in agents:
        role = roles_fn(a)
        if not isinstance(role, str) or not role:
            raise GameError(f"the role function gave {role!r} for agent {a!r} (want a name)")
        out.setdefault(role, []).append(a)
    return {r: tuple(v) for r, v in out.items()}


def roles_text(roles: Mapping[str, tuple[str, ...]]) -> str:
    """``chaser (chaser_0, chaser_1), runner (runner_0)``."""
    return ", ".join(f"{r} ({', '.join(a)})" for r, a in roles.items())


def role_spaces(
    env: Any, role: str, agents: tuple[str, ...]
) -> tuple[gym.spaces.Box, gym.spaces.Box | gym.spaces.Discrete]:
    """The observation and action space every agent of ``role`` shares (GameError if they
    differ, or are not a Box observation and a Box or Discrete action)."""
    first_obs, first_act = env.observation_space(agents[0]), env.action_space(agents[0])
    if not isinstance(first_obs, gym.spaces.Box):
        raise GameError(
            f"role {role!r}: agent {agents[0]!r} observes a {type(first_obs).__name__};"
            " only Box observations can be trained"
        )
    if not isinstance(first_act, gym.spaces.Box | gym.spaces.Discrete):
        raise GameError(
            f"role {role!r}: agent {agents[0]!r} acts in a {type(first_act).__name__};"
            " only Box and Discrete actions can be trained"
        )
    for a in agents[1:]:
        obs, act = env.observation_space(a), env.action_space(a)
        for kind, mine, theirs in (("observation", obs, first_obs), ("action", act, first_act)):
            if not _same(mine, theirs):
                raise GameError(
                    f"role {role!r}: agents {agents[0]!r} and {a!r} have different {kind}"
                    f" spaces ({theirs} and {mine}); one policy per role needs one space (give"
                    " a roles_fn that tells them apart)"
                )
    return first_obs, first_act


def _same(a: gym.Space[Any], b: gym.Space[Any]) -> bool:
    try:
        return space_to_json(a) == space_to_json(b)
    except TypeError:
        return False


def numeric_entries(info: Mapping[str, Any] | None) -> dict[str, float]:
    """An agent's ``info`` entries that are scalar numbers (bools as 0 or 1), as floats;
    everything else (strings, arrays, dicts) is left out, except a ``"features"`` mapping
    (our arena's convention), whose scalar entries count too (a top-level entry of the same
    name wins)."""
    info = info or {}
    nested = info.get("features")
    out = _scalars(nested) if isinstance(nested, Mapping) else {}
    out.update(_scalars(info))
    return out


def _scalars(entries: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in entries.items():
        if not isinstance(k, str) or not k or "/" in k:
            continue
        if isinstance(v, bool | int | float) or (
            hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0 and v.dtype.kind in "biuf"
        ):
            out[k] = float(v)
    return out


SUBJECT = "subject"  # a game clip's config key: {"agent": name, "role": role}


def clip_subject(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """The judged agent's (name, role) stored in a game clip's config, or None."""
    sub = config.get(SUBJECT)
    if isinstance(sub, Mapping) and isinstance(sub.get("agent"), str):
        return str(sub["agent"]), str(sub.get("role", ""))
    return None
