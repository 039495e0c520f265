"""The teacher of a run as one value: parsed once, checked with the env, one spec."""

from __future__ import annotations

import pytest

from rlhf_sandbox.agents.rlhf.settings import RLHFSettings, build_settings
from rlhf_sandbox.agents.teachers.teacher import Teacher


def test_parse_and_spec() -> None:
    assert Teacher.parse("courteous") == Teacher("courteous", "perfect")
    assert Teacher.parse("courteous:mistake").spec == "courteous:mistake"
    assert Teacher.parse("human").spec == "human" and Teacher.parse("human").human
    for bad, why in (("nice", "unknown teacher 'nice'"), ("env:lazy", "unknown rater preset"),
                     ("human:perfect", "takes no rater")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            Teacher.parse(bad)


def test_the_settings_check_the_teacher_with_the_env() -> None:
    with pytest.raises(ValueError, match="reads driving features"):
        RLHFSettings(env_id="Pendulum-v1", teacher="courteous")
    with pytest.raises(ValueError, match=r"RaterConfig\.eps_mistake"):
        build_settings(
            {"env_id": "rlhf_sandbox/HighwayFast-v0"}, {"rater_overrides.eps_mistake": 2}
        )
    s = build_settings({"env_id": "rlhf_sandbox/HighwayFast-v0"}, {"teacher": "courteous:myopic"})
    assert (s.teacher, s.rater, s.teacher_value.spec) == ("courteous", "myopic", "courteous:myopic")


def test_the_arena_role_is_resolved_once() -> None:
    s = RLHFSettings(env_id="arena_v0", teacher="guard")
    assert s.env_kwargs["role"] == "guard"  # the oracle names the role
    kept = RLHFSettings(env_id="arena_v0", teacher="env", env_kwargs={"role": "companion"})
    assert kept.env_kwargs["role"] == "companion"
    with pytest.raises(ValueError, match="role=ROLE"):
        RLHFSettings(env_id="arena_v0", teacher="env")
    assert RLHFSettings.from_json(s.to_json()) == s  # saved with the role: resume agrees


def test_a_spec_whose_first_part_is_not_built_in_is_module_attr() -> None:
    t = Teacher.parse("my_pkg.oracles:CALM:mistake")
    assert (t.oracle, t.rater, t.plugin) == ("my_pkg.oracles:CALM", "mistake", True)
    assert Teacher.parse(t.spec) == t and Teacher.parse("m:A").rater == "perfect"
    assert not Teacher.parse("courteous:mistake").plugin
    for bad in ("m:A:perfect:x", "m-x:A", "m:"):
        with pytest.raises(ValueError):
            Teacher.parse(bad)
