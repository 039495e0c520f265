"""Shared helpers of the benchmark scripts: timing, medians, peers in their own venvs."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / ".venv-peers"


def single_thread() -> None:
    """One torch thread (two fight each other, and the peer, on this 2-core machine)."""
    import torch

    torch.set_num_threads(1)


def rate(fn: Callable[[], int], seconds: float, warmup: int = 1) -> float:
    """Calls ``fn`` (which returns how many steps it made) for ``seconds``; steps per second."""
    for _ in range(warmup):
        fn()
    n = 0
    start = time.perf_counter()
    while True:
        n += fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    values = [fn() for _ in range(repeats)]
    return statistics.median(values), values


def run_peer(venv: str, script: str, *args: str, timeout: float = 900) -> dict | None:
    """Run ``bench/peers/<script>`` in ``.venv-peers/<venv>``; its JSON line, or None."""
    python = PEERS / venv / "bin" / "python"
    if not python.exists():
        print(f"peer venv {python.parent.parent} is missing: run `bash bench/peers/setup.sh`")
        return None
    proc = subprocess.run(
        [str(python), str(ROOT / "bench" / "peers" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
    if proc.returncode != 0:
        print(f"peer {script} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def save(name: str, results: dict) -> Path:
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **results}
    path.write_text(json.dumps(results, indent=2))
    return path
