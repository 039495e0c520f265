"""Shared test settings: headless pygame, one torch thread, the driving backends, and
store URLs.

Store fixtures: every test that takes ``store_url`` runs on SQLite and PostgreSQL.
PostgreSQL: the server named by ``RLHF_SANDBOX_TEST_PG`` (``.ci/run`` starts one and sets
it); else a throwaway server that ``.ci/postgres.sh`` starts for the session from the
installed binaries; else those tests skip, saying why. Each test gets a schema of its own
(``options=-csearch_path=...`` in its URL), dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest

try:
    import torch
except ImportError:  # torch is a dependency, but the env tests do not need it
    torch = None
if torch is not None:
    torch.set_num_threads(1)

from rlhf_sandbox.envs.driving_config import DrivingConfig

# The driving world's backends, where the config has the field; else the default only.
BACKENDS = [b for b in ("numba", "numpy") if "backend" in DrivingConfig.__dataclass_fields__] or [
    "default"
]


def backend_kwargs(name: str) -> dict[str, str]:
    """Keyword arguments selecting a backend (none for "default")."""
    return {} if name == "default" else {"backend": name}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """``gymnasium.make`` / ``DrivingConfig`` keyword arguments for each driving backend."""
    return backend_kwargs(request.param)


ENV = "RLHF_SANDBOX_TEST_PG"
SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"
_why_not: list[str] = []  # why there is no server, once the session fixture has looked


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str | None]:
    """A PostgreSQL server URL, or None (with the reason in ``_why_not``)."""
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    try:
        out = subprocess.run(
            ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        _why_not.append(f"{ENV} is unset and starting a server failed: {e}")
        yield None
        return
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["?"])[-1]
        _why_not.append(f"{ENV} is unset and no server could be started: {why}")
        yield None
        return
    url, datadir = out.stdout.split()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", datadir], capture_output=True, timeout=120)


def _with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url(pg_server: str | None) -> Iterator[str]:
    """A PostgreSQL store URL whose schema is new and empty."""
    if pg_server is None:
        pytest.skip(_why_not[0] if _why_not else f"{ENV} is unset")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_schema(pg_server, schema)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/prefs.sqlite"
    return str(request.getfixturevalue("pg_url"))


# A small suite file and a tiny SB3 model (zip and run folder), for the harness and CLI tests.
TINY = """
name = "tiny"
[defaults]
episodes = 4
seed = 50
[[scenario]]
name = "highway"
env = "rlhf_sandbox/Highway-v0"
config = { lanes = 3, vehicles = 12, duration = 8.0 }
[[scenario]]
name = "intersection"
env = "rlhf_sandbox/Intersection-v0"
config = { duration = 6.0 }
"""


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("suites") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="session")
def sb3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO model trained for a few hundred steps, saved both ways: zip and run folder."""
    from rlhf_sandbox.agents.policy.ppo import PPOSettings, save_policy, train_ppo

    d = tmp_path_factory.mktemp("model")
    s = PPOSettings(n_envs=2, n_steps=32, batch_size=32, n_epochs=1, net_arch=(16, 16))
    model = train_ppo("rlhf_sandbox/HighwayFast-v0", 64, s, progress=False)
    model.save(d / "model.zip")
    run = d / "run"
    save_policy(model, run / "policy.pt", s, env_id="rlhf_sandbox/HighwayFast-v0")
    return d
