"""Shared test settings: headless pygame, one torch thread, and the driving backends."""

from __future__ import annotations

import os

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
