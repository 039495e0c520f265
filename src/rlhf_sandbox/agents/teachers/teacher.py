"""The teacher of a run, as one value: who answers its queries, and through which rater.

``--teacher`` (and ``teacher = "..."`` in a settings or sweep file) is parsed once into a
:class:`Teacher`; the run's settings validate it with the env (oracle known, rater known,
oracle fits the env, the arena's NPC role resolved), and :attr:`Teacher.spec` is the one
canonical form written on labels, banners and reports (``courteous:perfect``, ``human``).

An oracle is named by a string that :meth:`Teacher.resolve` turns into an
:class:`~rlhf_sandbox.agents.teachers.oracles.Oracle`: a built-in name, or a user's own
``MODULE:ATTR`` (:mod:`~rlhf_sandbox.agents.teachers.plugin`), whose spec then reads
``MODULE:ATTR:RATER``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rlhf_sandbox.agents.teachers.oracles import (
    ORACLE_NAMES,
    Oracle,
    get_oracle,
    oracle_env_kind,
)
from rlhf_sandbox.agents.teachers.plugin import is_plugin_spec, load_oracle
from rlhf_sandbox.agents.teachers.raters import PRESETS, SyntheticRater, rater_config
from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS
from rlhf_sandbox.envs.ids import ARENA_V0, is_game_spec

HUMAN = "human"
TEACHERS = (*ORACLE_NAMES, HUMAN)
DEFAULT_RATER = "perfect"
ARENA_ROLES = ("companion", "guard")  # the NPC roles arena_v0 trains (one per run)


@dataclass(frozen=True)
class Teacher:
    """``oracle`` judged through the B-Pref ``rater`` preset, or people (``human``)."""

    oracle: str
    rater: str = DEFAULT_RATER

    def __post_init__(self) -> None:
        if self.oracle not in TEACHERS and not is_plugin_spec(self.oracle):
            raise ValueError(
                f"unknown teacher {self.oracle!r}; known: {', '.join(TEACHERS)}, or your own"
                " oracle as MODULE:ATTR"
            )
        if self.rater not in PRESETS:
            raise ValueError(f"unknown rater preset {self.rater!r}; known: {', '.join(PRESETS)}")

    @classmethod
    def parse(cls, spec: str) -> Teacher:
        """``SPEC[:RATER]``: ``"courteous:mistake"`` -> Teacher("courteous", "mistake");
        a SPEC whose first part is not a built-in name is ``MODULE:ATTR``
        (``"my_oracles:calm:mistake"`` -> Teacher("my_oracles:calm", "mistake")). The rater
        defaults to perfect; ``"human"`` takes none."""
        parts = spec.split(":")
        n = 1 if parts[0] in TEACHERS else 2  # parts naming the oracle
        if parts[0] == HUMAN and len(parts) > 1:
            raise ValueError("the human teacher takes no rater preset")
        if len(parts) < n:  # one unknown name: the message lists the known ones
            return cls(spec)
        if len(parts) > n + 1:
            raise ValueError(
                f"teacher {spec!r}: give ORACLE[:RATER] (ORACLE one of"
                f" {', '.join(ORACLE_NAMES)}, or MODULE:ATTR), or human"
            )
        return cls(":".join(parts[:n]), parts[n] if len(parts) > n else DEFAULT_RATER)

    @property
    def human(self) -> bool:
        return self.oracle == HUMAN

    @property
    def plugin(self) -> bool:
        """Whether the oracle is a user's own (``MODULE:ATTR``)."""
        return self.oracle not in TEACHERS

    @property
    def spec(self) -> str:
        """The canonical form: ``ORACLE:RATER``, or ``human``."""
        return HUMAN if self.human else f"{self.oracle}:{self.rater}"

    def resolve(self) -> Oracle | None:
        """The oracle's reward function; None for people."""
        if self.human:
            return None
        return load_oracle(self.oracle) if self.plugin else get_oracle(self.oracle)

    def rater_for(self, overrides: Mapping[str, float], seed: int) -> SyntheticRater | None:
        """The synthetic rater (the preset with ``overrides``); None for people."""
        if self.human:
            return None
        return SyntheticRater(rater_config(self.rater, **overrides), seed)

    def check(self, env_id: str) -> None:
        """ValueError unless the oracle can read ``env_id``'s behaviour features."""
        if self.human:
            return
        if self.plugin:  # its features are checked on the env itself (rlhf.run.check_env)
            load_oracle(self.oracle)
            return
        kind = oracle_env_kind(self.oracle)
        ok = {"driving": DRIVING_IDS, "arena": (*ARENA_IDS, ARENA_V0)}.get(kind)
        if ok is not None and is_game_spec(env_id):
            raise ValueError(
                f"teacher {self.oracle!r} reads {kind} features of our worlds; the PettingZoo"
                f" game {env_id!r} has none (use teacher 'env' for its own reward, your own"
                " oracle as MODULE:ATTR over its info entries, or human)"
            )
        if ok is not None and env_id not in ok:
            raise ValueError(
                f"teacher {self.oracle!r} reads {kind} features; env {env_id!r} has none"
                f" (use one of {', '.join(ok)}, or teacher 'env')"
            )

    def env_kwargs(self, env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``env_kwargs`` with arena_v0's NPC role resolved, once: the one given, else the
        oracle's own role (companion, guard); any other teacher must be told the role."""
        kw = dict(env_kwargs)
        if env_id != ARENA_V0 or "role" in kw:
            return kw
        if self.oracle not in ARENA_ROLES:
            raise ValueError(
                f"arena_v0 trains one NPC role and teacher {self.spec!r} names none: give it"
                f" with --env-arg role=ROLE ({' or '.join(ARENA_ROLES)}; env_kwargs.role in a"
                " settings file)"
            )
        kw["role"] = self.oracle
        return kw


def resolve_oracle(spec: str) -> Oracle:
    """The oracle ``spec`` names: a built-in name or ``MODULE:ATTR`` (no rater, not human)."""
    if spec in ORACLE_NAMES:
        return get_oracle(spec)
    if is_plugin_spec(spec):
        return load_oracle(spec)
    raise ValueError(
        f"unknown oracle {spec!r}; known: {', '.join(ORACLE_NAMES)}, or your own as MODULE:ATTR"
    )
