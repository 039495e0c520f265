"""Teachers: which oracle fits which env, and the ``ORACLE[:RATER]`` spec of the CLI."""

from __future__ import annotations

from rlhf_sandbox.agents.oracles import ORACLE_NAMES, oracle_env_kind
from rlhf_sandbox.agents.raters import PRESETS
from rlhf_sandbox.agents.rollout import ARENA_V0
from rlhf_sandbox.envs import ARENA_IDS, DRIVING_IDS

HUMAN = "human"
TEACHERS = (*ORACLE_NAMES, HUMAN)


def check_teacher(teacher: str, env_id: str) -> None:
    """Raise ``ValueError`` unless ``teacher`` exists and its oracle can read ``env_id``."""
    if teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {teacher!r}; known: {', '.join(TEACHERS)}")
    if teacher == HUMAN:
        return
    kind = oracle_env_kind(teacher)
    ok = {"driving": DRIVING_IDS, "arena": (*ARENA_IDS, ARENA_V0)}.get(kind)
    if ok is not None and env_id not in ok:
        raise ValueError(
            f"teacher {teacher!r} reads {kind} features; env {env_id!r} has none"
            f" (use one of {', '.join(ok)}, or teacher 'env')"
        )


def parse_teacher(spec: str) -> tuple[str, str]:
    """``"courteous:mistake"`` -> ``("courteous", "mistake")``; the rater defaults to perfect."""
    oracle, _, rater = spec.partition(":")
    rater = rater or "perfect"
    if oracle not in TEACHERS:
        raise ValueError(f"unknown teacher {oracle!r}; known: {', '.join(TEACHERS)}")
    if oracle == HUMAN and _:
        raise ValueError("the human teacher takes no rater preset")
    if rater not in PRESETS:
        raise ValueError(f"unknown rater preset {rater!r}; known: {', '.join(PRESETS)}")
    return oracle, rater
