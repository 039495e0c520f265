"""Sweep files: a grid of ``train`` runs over seeds, teachers, budgets and any setting.

A sweep file (TOML)::

    [sweep]                          # optional: how each run is reported and scheduled
    eval_episodes = 10               # report: evaluation episodes per policy
    baseline = false                 # report: also PPO on the oracle reward (doubles the time)
    gif = true                       # report: policy.gif
    cpus_per_run = 1                 # Ray CPUs reserved by each run

    [base]                           # the settings of every run, as in train's --config
    env_id = "rlhf_sandbox/Highway-v0"
    labels = 200
    timesteps = 20_000
    env_kwargs = { lanes = 3, policy_hz = 5 }
    ppo = { n_envs = 8 }

    [grid]                           # every combination of these values is one run
    seeds = [0, 1, 2]                # sets seed and ppo.seed, as train's --seed does
    teacher = ["courteous:perfect", "courteous:mistake"]   # SPEC[:RATER], as --teacher
    labels = [50, 200]
    ppo.n_steps = [64, 128]          # dotted keys reach into ppo, reward_model,
    env_kwargs.vehicles = [10, 20]   # env_kwargs and rater_overrides

Every run's settings are built and checked on load; a problem is a :class:`SweepConfigError`
whose one-line message names the file and the key, value or run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.rlhf.settings import SEED, RLHFSettings, build_settings

MAX_RUNS = 10_000
SEEDS = "seeds"  # the grid key that sets seed and ppo.seed together
_TOP_KEYS = ("sweep", "base", "grid")
_TABLES = ("ppo", "reward_model", "env_kwargs", "rater_overrides")  # dotted grid keys
_RATER_KEYS = ("beta", "gamma", "eps_mistake", "skip", "equal")
_ID_MAX = 96  # longer run ids are cut and given a hash of the whole


class SweepConfigError(ValueError):
    """A sweep file is missing, malformed or invalid; the message names where."""


@dataclass(frozen=True)
class SweepOptions:
    """How each run of a sweep is reported and scheduled (the ``[sweep]`` table)."""

    eval_episodes: int = 10
    """report: evaluation episodes per policy"""
    baseline: bool = False
    """report: also train PPO on the oracle reward (doubles a run's time)"""
    gif: bool = True
    """report: write policy.gif"""
    cpus_per_run: float = 1.0
    """Ray CPUs reserved by each run (torch runs on one thread)"""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: its id, the swept values that make it, its settings."""

    run_id: str
    values: dict[str, Any]  # grid key -> value, in the grid's key order
    settings: RLHFSettings


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: options, swept keys and every run."""

    source: str
    options: SweepOptions
    keys: tuple[str, ...]
    runs: tuple[RunSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "rlhf_sandbox.sweep/1",
            "source": self.source,
            "options": self.options.to_json(),
            "keys": list(self.keys),
            "runs": [
                {"run_id": r.run_id, "values": r.values, "settings": r.settings.to_json()}
                for r in self.runs
            ],
        }


def load_sweep(path: str | Path) -> SweepPlan:
    """Read and validate a sweep file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise SweepConfigError(f"sweep file not found: {p}") from None
    except OSError as e:
        raise SweepConfigError(f"sweep file {p}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise SweepConfigError(f"sweep file {p}: malformed TOML ({e})") from None
    return parse_sweep(data, str(p))


def parse_sweep(data: dict[str, Any], source: str = "<sweep>") -> SweepPlan:
    """A plan from the dict of a sweep file; ``source`` names it in errors."""
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise SweepConfigError(
            f"{source}: unknown table {unknown[0]!r}; known: {', '.join(_TOP_KEYS)}"
        )
    options = _options(_table(data.get("sweep", {}), f"{source}: [sweep]"), source)
    base = _table(data.get("base", {}), f"{source}: [base]")
    grid = _grid(_table(data.get("grid", {}), f"{source}: [grid]"), source)
    keys = tuple(grid)
    combos = list(itertools.product(*grid.values()))
    if len(combos) > MAX_RUNS:
        raise SweepConfigError(f"{source}: {len(combos)} runs; at most {MAX_RUNS}")
    runs: list[RunSpec] = []
    seen: dict[str, str] = {}  # settings -> run id
    ids: set[str] = set()
    for combo in combos:
        values = dict(zip(keys, combo, strict=True))
        rid = run_id(values)
        try:
            s = _settings(base, values)
        except (ValueError, TypeError) as e:
            where = ", ".join(f"{k} = {v!r}" for k, v in values.items()) or "the base settings"
            raise SweepConfigError(f"{source}: run with {where}: {e}") from None
        key = repr(s.to_json())
        if key in seen or rid in ids:
            raise SweepConfigError(f"{source}: runs {seen.get(key, rid)} and {rid} are the same")
        seen[key] = rid
        ids.add(rid)
        runs.append(RunSpec(rid, values, s))
    return SweepPlan(source, options, keys, tuple(runs))


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SweepConfigError(f"{where} must be a table")
    return value


def _options(d: dict[str, Any], source: str) -> SweepOptions:
    names = [f.name for f in dataclasses.fields(SweepOptions)]
    for k, v in d.items():
        where = f"{source}: [sweep] {k}"
        if k not in names:
            raise SweepConfigError(
                f"{source}: [sweep] unknown key {k!r}; known: {', '.join(names)}"
            )
        if k in ("baseline", "gif") and not isinstance(v, bool):
            raise SweepConfigError(f"{where} must be true or false, got {v!r}")
        if k == "eval_episodes" and (type(v) is not int or v < 1):
            raise SweepConfigError(f"{where} must be an integer >= 1, got {v!r}")
        if k == "cpus_per_run" and (type(v) not in (int, float) or not 0 < v <= 1024):
            raise SweepConfigError(f"{where} must be a number > 0, got {v!r}")
    kw = dict(d)
    if "cpus_per_run" in kw:
        kw["cpus_per_run"] = float(kw["cpus_per_run"])
    return SweepOptions(**kw)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _grid(raw: dict[str, Any], source: str) -> dict[str, list[Any]]:
    """``[grid]`` flattened to dotted keys, each checked and given a non-empty list."""
    top = {f.name for f in dataclasses.fields(RLHFSettings)} - set(_TABLES) - {"seed"}
    nested = {
        "ppo": {f.name for f in dataclasses.fields(PPOSettings)} - {"seed"},
        "reward_model": {f.name for f in dataclasses.fields(RewardModelConfig)},
        "rater_overrides": set(_RATER_KEYS),
    }
    grid: dict[str, list[Any]] = {}
    for key, values in _flatten(raw).items():
        where = f"{source}: [grid] {key}"
        head, dot, rest = key.partition(".")
        if key in ("seed", "ppo.seed"):
            raise SweepConfigError(f"{where}: sweep seeds with seeds = [...] (sets both seeds)")
        if key != SEEDS and not (key in top or (head == "env_kwargs" and dot and rest)):
            known = nested.get(head)
            if not dot or known is None or rest not in known:
                hint = f"; known in {head}: {', '.join(sorted(known))}" if known else ""
                raise SweepConfigError(
                    f"{where}: unknown key; use seeds, an RLHFSettings field or "
                    f"ppo.*, reward_model.*, env_kwargs.*, rater_overrides.*{hint}"
                )
        if not isinstance(values, list) or not values:
            raise SweepConfigError(f"{where} must be a non-empty list of values, got {values!r}")
        if any(isinstance(v, dict) for v in values):
            raise SweepConfigError(f"{where}: values must not be tables")
        if len({repr(v) for v in values}) != len(values):
            raise SweepConfigError(f"{where}: values must be distinct, got {values!r}")
        if key == SEEDS and any(type(v) is not int or v < 0 for v in values):
            raise SweepConfigError(f"{where} must be integers >= 0, got {values!r}")
        grid[key] = values
    return grid


def _settings(base: dict[str, Any], values: dict[str, Any]) -> RLHFSettings:
    """A run's settings: [base] with the grid's values, built as ``train`` builds them."""
    keys = {SEEDS: SEED}  # the grid's "seeds" is train's --seed
    s = build_settings(base, {keys.get(k, k): v for k, v in values.items()})
    if s.teacher_value.human:
        raise ValueError("a sweep runs synthetic teachers only, not human")
    return s


def run_id(values: dict[str, Any]) -> str:
    """A folder name from the swept values: ``labels=50_seed=1_teacher=courteous-mistake``."""
    if not values:
        return "run"
    parts = []
    for k, v in values.items():
        name = "seed" if k == SEEDS else k
        text = ",".join(map(str, v)) if isinstance(v, list) else str(v)
        parts.append(f"{name}={text}")
    rid = re.sub(r"[^A-Za-z0-9._=,+-]", "-", "_".join(parts))
    if len(rid) > _ID_MAX:
        digest = hashlib.sha256(rid.encode()).hexdigest()[:8]
        rid = f"{rid[: _ID_MAX - 9]}-{digest}"
    return rid


def check_envs(plan: SweepPlan) -> None:
    """Build every distinct env of the plan once: a bad env setting is a SweepConfigError
    naming the run, before Ray is started."""
    from rlhf_sandbox.agents.rlhf.run import check_env

    checked: set[str] = set()
    for spec in plan.runs:
        key = repr((spec.settings.env_id, spec.settings.env_kwargs))
        if key not in checked:
            try:
                check_env(spec.settings)
            except ValueError as e:
                raise SweepConfigError(f"{plan.source}: run {spec.run_id}: {e}") from None
            checked.add(key)
