"""Scenario suites: seeded driving scenarios read from TOML files, validated on load.

A suite file::

    name = "standard"
    description = "what it covers"

    [defaults]                      # optional; every scenario starts from these
    episodes = 20
    seed = 1000                     # episode k is seeded seed + k
    config = { vehicles = 20 }      # DrivingConfig fields

    [[scenario]]
    name = "highway_low"
    env = "rlhf_sandbox/HighwayFast-v0"
    config = { density = 0.6 }      # merged over the defaults' config
    # seeds = [1, 2, 3]             # instead of seed + episodes: these seeds exactly

    [[scenario.event]]              # critical events (any number; sim/driving/events.py)
    kind = "cut_in"
    at = 3.0                        # trigger: seconds, or within = metres to the actor
    gap = [4.0, 10.0]               # a value, or a [lo, hi] range drawn per episode
    relative_speed = -4.0

The shipped suites (``smoke``, ``standard``, ``stress``, ``critical``) are package data beside this
module; :func:`load_suite` takes one of their names or a path. Every problem is a
:class:`SuiteError` whose one-line message names the file, the scenario and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rlhf_sandbox.config import ConfigError, config_to_dict
from rlhf_sandbox.envs import DRIVING_IDS
from rlhf_sandbox.envs.driving import driving_config
from rlhf_sandbox.envs.driving_config import DrivingConfig
from rlhf_sandbox.sim.driving.events import PARAMS, parse_event

EVENT_KINDS = tuple(PARAMS)

SHIPPED = ("smoke", "standard", "stress", "critical")
MAX_EPISODES = 10_000
# Set by the driver under test (``idm`` drives the ego itself), never by a scenario.
DRIVER_FIELDS = ("ego_driver",)
_SUITE_KEYS = {"name", "description", "defaults", "scenario"}
_DEFAULT_KEYS = {"episodes", "seed", "config"}
_SCENARIO_KEYS = {"name", "env", "description", "episodes", "seed", "seeds", "config", "event"}


class SuiteError(ConfigError):
    """A suite file is missing, malformed or invalid; the message names where."""


@dataclass(frozen=True)
class Scenario:
    """One scenario: an env id, its settings and the seeds of its episodes."""

    name: str
    env_id: str
    config: DrivingConfig
    seeds: tuple[int, ...]
    description: str = ""

    @property
    def episodes(self) -> int:
        return len(self.seeds)

    @property
    def overrides(self) -> dict[str, Any]:
        """The settings that differ from the env id's defaults (JSON-ready)."""
        base = config_to_dict(driving_config(self.env_id.split("/")[-1], None, {}))
        return {k: v for k, v in config_to_dict(self.config).items() if base[k] != v}


@dataclass(frozen=True)
class Suite:
    """A named list of scenarios (names unique)."""

    name: str
    scenarios: tuple[Scenario, ...]
    description: str = ""
    source: str = ""  # the file it came from

    @property
    def episodes(self) -> int:
        return sum(s.episodes for s in self.scenarios)

    def with_episodes(self, episodes: int) -> Suite:
        """The same suite with ``episodes`` per scenario (the first seeds, or more from the
        first one on): quick runs of a big suite."""
        if episodes < 1:
            raise SuiteError(f"episodes must be >= 1, got {episodes}")
        out = []
        for s in self.scenarios:
            seeds = s.seeds[:episodes] + tuple(
                s.seeds[0] + k for k in range(len(s.seeds), episodes)
            )
            out.append(Scenario(s.name, s.env_id, s.config, seeds, s.description))
        return Suite(self.name, tuple(out), self.description, self.source)


def suite_path(name_or_path: str | Path) -> Path:
    """The file of a shipped suite's name, or the given path."""
    text = str(name_or_path)
    if text in SHIPPED:
        return Path(str(resources.files(__package__) / "suites" / f"{text}.toml"))
    p = Path(text)
    if p.suffix != ".toml" and not p.exists():
        raise SuiteError(
            f"unknown suite {text!r}: give one of {', '.join(SHIPPED)} or a path to a .toml file"
        )
    return p


def load_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name, or a suite file by path; validated."""
    path = suite_path(name_or_path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SuiteError(f"suite file not found: {path}") from None
    except OSError as e:
        raise SuiteError(f"suite file {path}: cannot read ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"suite file {path}: malformed TOML ({e})") from None
    return parse_suite(data, str(path))


def parse_suite(data: dict[str, Any], source: str = "<suite>") -> Suite:
    """A suite from the dict of a TOML file; ``source`` names it in errors."""
    _known(data, _SUITE_KEYS, source)
    name = _str(data.get("name", Path(source).stem), f"{source}: name")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SuiteError(f"{source}: [defaults] must be a table")
    _known(defaults, _DEFAULT_KEYS, f"{source}: [defaults]")
    raw = data.get("scenario")
    if not isinstance(raw, list) or not raw:
        raise SuiteError(f"{source}: no scenarios (add [[scenario]] tables)")
    scenarios: list[Scenario] = []
    for i, sc in enumerate(raw):
        if not isinstance(sc, dict):
            raise SuiteError(f"{source}: scenario {i + 1} must be a table")
        label = sc.get("name", f"#{i + 1}")
        scenarios.append(_scenario(sc, defaults, f"{source}: scenario {label!r}"))
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SuiteError(f"{source}: scenario names must be unique; repeated: {', '.join(dup)}")
    desc = _str(data.get("description", ""), f"{source}: description", empty=True)
    return Suite(name, tuple(scenarios), desc, source)


def _scenario(sc: dict[str, Any], defaults: dict[str, Any], where: str) -> Scenario:
    _known(sc, _SCENARIO_KEYS, where)
    name = _str(sc.get("name"), f"{where}: name")
    env = _str(sc.get("env"), f"{where}: env")
    if env not in DRIVING_IDS:
        raise SuiteError(f"{where}: env {env!r} is not a driving env; one of {DRIVING_IDS}")
    cfg = {**_table(defaults.get("config", {}), where), **_table(sc.get("config", {}), where)}
    bad = [k for k in DRIVER_FIELDS if k in cfg]
    if bad:
        raise SuiteError(f"{where}: config.{bad[0]} is set by the driver under test, not a suite")
    if "event" in sc:
        cfg["events"] = [*cfg.get("events", []), *_events(sc["event"], where)]
    try:
        config = driving_config(env.split("/")[-1], None, cfg)
    except ConfigError as e:
        raise SuiteError(f"{where}: {e}") from None
    desc = _str(sc.get("description", ""), f"{where}: description", empty=True)
    if "seeds" in sc:
        if "seed" in sc or "episodes" in sc:
            raise SuiteError(f"{where}: give either seeds = [...] or seed and episodes, not both")
        seeds = sc["seeds"]
        if not isinstance(seeds, list) or not seeds:
            raise SuiteError(f"{where}: seeds must be a non-empty list of integers")
        for s in seeds:
            _int(s, f"{where}: seeds", lo=0)
        if len(set(seeds)) != len(seeds):
            raise SuiteError(f"{where}: seeds must be distinct")
        if len(seeds) > MAX_EPISODES:
            raise SuiteError(f"{where}: at most {MAX_EPISODES} seeds, got {len(seeds)}")
        return Scenario(name, env, config, tuple(seeds), desc)
    episodes = _int(sc.get("episodes", defaults.get("episodes")), f"{where}: episodes", lo=1)
    if episodes > MAX_EPISODES:
        raise SuiteError(f"{where}: episodes must be <= {MAX_EPISODES}, got {episodes}")
    seed = _int(sc.get("seed", defaults.get("seed", 0)), f"{where}: seed", lo=0)
    return Scenario(name, env, config, tuple(range(seed, seed + episodes)), desc)


def _events(raw: Any, where: str) -> list[str]:
    """``[[scenario.event]]`` tables as event spec strings (``events.parse_event``'s)."""
    if not isinstance(raw, list):
        raise SuiteError(f"{where}: event must be [[scenario.event]] tables")
    out = []
    for i, table in enumerate(raw):
        at = f"{where}: event {i + 1}"
        if not isinstance(table, dict):
            raise SuiteError(f"{at} must be a table")
        kind = table.get("kind")
        if not isinstance(kind, str):
            raise SuiteError(f"{at}: kind is missing (one of {', '.join(EVENT_KINDS)})")
        words = [kind]
        for key, value in table.items():
            if key == "kind":
                continue
            if isinstance(value, list) and len(value) == 2 and all(_num(v) for v in value):
                words.append(f"{key}={value[0]}:{value[1]}")
            elif _num(value) or (key == "side" and isinstance(value, str)):
                words.append(f"{key}={value}")
            else:
                raise SuiteError(f"{at}: {key} must be a number or [lo, hi], got {value!r}")
        text = " ".join(words)
        try:
            parse_event(text)
        except ValueError as e:
            raise SuiteError(f"{at}: {e}") from None
        out.append(text)
    return out


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _known(d: dict[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(d) - keys)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(keys))}"
        )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SuiteError(f"{where}: config must be a table of DrivingConfig settings")
    return value


def _str(value: Any, where: str, empty: bool = False) -> str:
    if value is None:
        raise SuiteError(f"{where} is missing")
    if not isinstance(value, str) or (not value and not empty):
        raise SuiteError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _int(value: Any, where: str, lo: int) -> int:
    if value is None:
        raise SuiteError(f"{where} is missing")
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise SuiteError(f"{where} must be an integer >= {lo}, got {value!r}")
    return value
