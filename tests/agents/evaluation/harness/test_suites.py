"""Suite files: the shipped ones validate; bad ones fail with one line naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf_sandbox.agents.evaluation.harness.suites import (
    SHIPPED,
    SuiteError,
    load_suite,
    suite_path,
)
from rlhf_sandbox.envs import DRIVING_IDS

GOOD = """
name = "mine"
[defaults]
episodes = 3
seed = 7
[[scenario]]
name = "a"
env = "rlhf_sandbox/Highway-v0"
config = { lanes = 2, density = 1.5 }
[[scenario]]
name = "b"
env = "rlhf_sandbox/Merge-v0"
seeds = [4, 9]
"""


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suites_load_from_package_data(name: str) -> None:
    path = suite_path(name)
    assert path.is_file() and path.suffix == ".toml"
    suite = load_suite(name)
    assert suite.name == name and suite.scenarios
    assert len({s.name for s in suite.scenarios}) == len(suite.scenarios)
    for s in suite.scenarios:
        assert s.env_id in DRIVING_IDS and s.episodes >= 1
        assert s.config.ego_driver == "agent"


def test_standard_covers_the_issue_scenarios() -> None:
    scenarios = {s.name: s for s in load_suite("standard").scenarios}
    roads = {s.config.road for s in scenarios.values()}
    assert roads == {"highway", "merge", "intersection"}
    densities = sorted(s.config.density for s in scenarios.values() if s.config.road == "highway")
    assert densities[0] < 1.0 < densities[-1]
    assert any(s.config.aggressiveness[0] >= 0.5 for s in scenarios.values())


def test_user_suite_from_a_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text(GOOD)
    suite = load_suite(p)
    a, b = suite.scenarios
    assert a.seeds == (7, 8, 9) and a.config.lanes == 2 and a.config.density == 1.5
    assert a.overrides == {"lanes": 2, "density": 1.5}
    assert b.seeds == (4, 9) and b.config.road == "merge"
    assert suite.episodes == 5
    assert suite.with_episodes(4).scenarios[1].seeds == (4, 9, 6, 7)


BAD = [
    ('name = "x"\n', "no scenarios"),
    (GOOD.replace("seed = 7", "sed = 7"), "unknown key 'sed'"),
    (GOOD.replace("density = 1.5", "density = 9.0"), "DrivingConfig.density must be <= 5.0"),
    (GOOD.replace("lanes = 2", "lanez = 2"), "unknown setting 'lanez'"),
    (GOOD.replace("Merge-v0", "Merge-v9"), "env 'rlhf_sandbox/Merge-v9' is not a driving env"),
    (GOOD.replace('name = "b"', 'name = "a"'), "names must be unique; repeated: a"),
    (GOOD.replace("seeds = [4, 9]", "seeds = [4, 9]\nepisodes = 2"), "either seeds"),
    (GOOD.replace("seeds = [4, 9]", "seeds = [4, 4]"), "seeds must be distinct"),
    (GOOD.replace("episodes = 3", "episodes = 0"), "episodes must be an integer >= 1"),
    (GOOD.replace("episodes = 3", 'episodes = "3"'), "episodes must be an integer >= 1"),
    (GOOD.replace("density = 1.5", 'ego_driver = "idm"'), "set by the driver under test"),
    (GOOD.replace('env = "rlhf_sandbox/Merge-v0"', ""), "scenario 'b': env is missing"),
    (GOOD.replace("[defaults]", "[defaults"), "malformed TOML"),
    # a scenario given by seeds = [...] used to skip these two checks
    (GOOD.replace("seeds = [4, 9]", "seeds = [4, 9]\ndescription = 5"), "description must be"),
    (
        GOOD.replace("seeds = [4, 9]", "seeds = [" + ", ".join(map(str, range(10_001))) + "]"),
        "at most 10000 seeds",
    ),
]


@pytest.mark.parametrize(("text", "fragment"), BAD)
def test_bad_suites_fail_with_one_clear_line(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(SuiteError) as err:
        load_suite(p)
    msg = str(err.value)
    assert fragment in msg
    assert str(p) in msg and "\n" not in msg


def test_missing_and_unknown_suites() -> None:
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite("/nonexistent/suite.toml")
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")
