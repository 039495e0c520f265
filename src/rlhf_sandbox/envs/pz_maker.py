"""A PettingZoo game named by a spec (``MODULE[:FACTORY]`` and its settings), built as
copies stepped together (:class:`~rlhf_sandbox.envs.pz_joint.JointGame`): the game's roles,
the role a run trains, and one role as an SB3 ``VecEnv`` (what ``make_vec_env`` gives for
a game spec)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlhf_sandbox.envs.pz_game import (
    GameError,
    group_roles,
    load_factory,
    load_roles_fn,
    make_game,
    roles_text,
    split_settings,
)
from rlhf_sandbox.envs.pz_joint import JointGame, RoleVecEnv

__all__ = ["GameMaker", "game_maker", "game_vec_env"]


@dataclass(frozen=True)
class GameMaker:
    """How to build copies of the game ``spec`` names, and its roles (agents by role)."""

    spec: str
    make: Callable[[], Any]
    roles_fn: Callable[[str], str]
    roles: dict[str, tuple[str, ...]]
    role: str | None  # the role env_kwargs names (``role=``), if any

    @property
    def what(self) -> str:
        return f"env {self.spec!r}"

    def trained_role(self) -> str:
        """The role named in the settings, else the game's only role (GameError if it has
        several, listing them)."""
        if self.role is not None:
            return self.role
        if len(self.roles) != 1:
            raise GameError(
                f"{self.what} has {len(self.roles)} roles: name the one to train with"
                " --env-arg role=ROLE (env_kwargs.role in a settings file); roles found:"
                f" {roles_text(self.roles)}"
            )
        return next(iter(self.roles))

    def game(self, n_copies: int, roles: Sequence[str], **kw: Any) -> JointGame:
        """A :class:`JointGame` of ``n_copies`` copies training ``roles`` (``kw``: its options)."""
        return JointGame(self.make, n_copies, roles, roles_fn=self.roles_fn, what=self.what, **kw)


def game_maker(
    spec: str, env_kwargs: Mapping[str, Any], render_mode: str | None = None
) -> GameMaker:
    """The game ``spec`` names (``MODULE[:FACTORY]``) with ``env_kwargs`` (the factory's
    keywords, plus ours: ``role``, ``roles_fn``); one game is built to read its roles."""
    settings = split_settings(env_kwargs)
    factory = load_factory(spec)
    roles_fn = load_roles_fn(settings.roles_fn)
    fkw = dict(settings.factory_kwargs)
    if render_mode is not None:
        fkw["render_mode"] = render_mode

    def make() -> Any:
        return make_game(spec, factory, fkw)

    probe = make()
    try:
        roles = group_roles(list(probe.possible_agents), roles_fn)
    finally:
        probe.close()
    return GameMaker(spec, make, roles_fn, roles, settings.role)


def game_vec_env(
    spec: str,
    n_envs: int,
    seed: int | None,
    env_kwargs: Mapping[str, Any],
    render_mode: str | None = None,
) -> RoleVecEnv:
    """One role of the game ``spec`` as an SB3 ``VecEnv`` of ``n_envs // M`` copies (at
    least one) of the role's M agents; the other roles act at random."""
    maker = game_maker(spec, env_kwargs, render_mode)
    role = maker.trained_role()
    m = len(maker.roles.get(role, ())) or 1  # an unknown role: JointGame names the roles
    game = maker.game(max(1, n_envs // m), (role,), seed=seed, render_mode=render_mode)
    return game.views[role]
