"""Connecting to Ray: a local instance by default, or a cluster given by address.

Used by ``sweep`` and ``evaluate --ray``. Ray is an optional dependency (the ``ray``
extra); without it :func:`connect` raises :class:`RayUnavailable` with the install line.
"""

from __future__ import annotations

import contextlib
import os
import socket


class RayUnavailable(ValueError):
    """Ray is not installed, or the cluster cannot be started or reached."""


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at ``address`` (``ray://host:10001``, ``host:6379`` or
    ``auto``), or start a local Ray of ``num_cpus`` CPUs (default: all of this machine)
    without its dashboard. An already initialised Ray is used as it is. Returns whether
    this call started the connection (the caller then shuts it down)."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "Ray is not installed; install it with pip install 'rlhf-sandbox[ray]'"
        ) from None
    if address and address not in ("auto", "local"):
        check_reachable(address)  # Ray itself retries an unreachable address for minutes
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            cpus = num_cpus or os.cpu_count() or 1
            # "local": a new instance, even where a cluster was started on this machine before
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        where = address or "a local Ray"
        raise RayUnavailable(f"cannot start or reach {where}: {' '.join(str(e).split())}") from None
    return True


def disconnect(started: bool) -> None:
    """Shut Ray down if :func:`connect` returned True (this process started it)."""
    if started:
        import ray

        ray.shutdown()


def one_core_task() -> contextlib.AbstractContextManager[None]:
    """Around a Ray task's work: the world kernels stay serial when the task reserved fewer
    than two CPUs (numba's threads would take cores Ray gave to other tasks); elsewhere, and
    outside Ray, nothing changes."""
    from rlhf_sandbox.sim.threads import serial_here

    cpus = None
    try:
        import ray

        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            if ctx.worker.mode == ray.WORKER_MODE:  # a task or actor, not the driver
                cpus = ctx.get_assigned_resources().get("CPU", 0.0)
    except (ImportError, AttributeError, AssertionError):  # no Ray, or one without these
        cpus = None
    return serial_here() if cpus is not None and cpus < 2 else contextlib.nullcontext()


def ray_installed() -> bool:
    """Whether the ``ray`` package can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`RayUnavailable` unless ``address`` (``HOST:PORT`` or
    ``ray://HOST:PORT``) accepts a TCP connection within ``timeout_s``."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailable(
            f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT, auto or local"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise RayUnavailable(f"cannot reach Ray at {address} ({e.strerror or e})") from None
