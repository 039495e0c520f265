"""Serial or threaded kernel calls: the choice follows the timings, and never changes results."""

from __future__ import annotations

import multiprocessing

import numba
import numpy as np
import pytest

from rlhf_sandbox.sim import threads
from rlhf_sandbox.sim.driving import world as world_mod
from rlhf_sandbox.sim.driving.params import WorldParams
from rlhf_sandbox.sim.driving.world import DrivingWorld, EgoCommand
from rlhf_sandbox.sim.threads import SERIAL, THREADED, ThreadChoice


def _run(choice: ThreadChoice, cost: dict[int, float], calls: int) -> list[int]:
    ways = []
    for _ in range(calls):
        way = choice.pick()
        choice.record(way, cost[way])
        ways.append(way)
    return ways


def test_measures_both_then_keeps_the_faster() -> None:
    c = ThreadChoice(window=3, first_gap=8)
    ways = _run(c, {SERIAL: 2.0, THREADED: 1.0}, 8)
    # Alternating until each way has 3 counted timings (its first call is not counted).
    assert ways == [SERIAL, THREADED] * 4
    assert c.way == THREADED
    ways = _run(c, {SERIAL: 2.0, THREADED: 1.0}, 60)
    assert ways.count(SERIAL) <= 3  # only tries, backing off: after 8, 16, 32 calls


def test_switches_when_the_kept_way_gets_slower() -> None:
    c = ThreadChoice(window=3, first_gap=4)
    _run(c, {SERIAL: 2.0, THREADED: 1.0}, 8)
    assert c.way == THREADED
    # The other cores get busy: threaded calls now take 5x as long as serial ones.
    ways = _run(c, {SERIAL: 2.0, THREADED: 10.0}, 12)
    assert c.way == SERIAL
    assert ways[4:9] == [SERIAL] * 5  # the try that won, then serial until the next try


def test_a_lost_try_doubles_the_gap() -> None:
    c = ThreadChoice(window=1, first_gap=2, max_gap=8)
    ways = _run(c, {SERIAL: 1.0, THREADED: 3.0}, 40)
    tries = [i for i, w in enumerate(ways) if w == THREADED][2:]  # after the measuring
    gaps = np.diff(tries).tolist()
    assert gaps[:3] == [5, 9, 9]  # 4, then 8 (the cap) serial calls between tries


def _forked_child_answer(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(threads.threads_usable())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread")
def test_a_forked_child_of_a_threaded_process_stays_serial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads, "_ALLOWED", True)
    assert threads.threads_usable()  # starts numba's threads here
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_forked_child_answer, args=(queue,))
    p.start()
    answer = queue.get(timeout=60)
    p.join(timeout=60)
    assert answer is False


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread")
@pytest.mark.parametrize("road", ["highway", "merge", "intersection"])
def test_threaded_calls_give_the_serial_states(road: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(threaded: bool) -> dict[str, np.ndarray]:
        monkeypatch.setattr(world_mod, "_CHOICES", {})
        monkeypatch.setattr(world_mod, "threads_usable", lambda: threaded)
        w = DrivingWorld(WorldParams(road=road, vehicles=12, lanes=2, policy_hz=1), 6)
        w.reset(np.ones(6, dtype=bool), np.arange(6) + 40)
        cmd = EgoCommand(np.full(6, 3), np.zeros(6), np.zeros(6))
        for t in range(12):  # alternates serial and threaded calls while measuring
            if t == 6:  # two slots idle from here on: they must be left as they are
                w.active = np.array([True, False, True, True, False, True])
            w.step(cmd)
        if threaded:
            seen = world_mod._CHOICES[(road, 6)]._seen
            assert min(seen) >= 4, seen  # both ways really ran
        return w.get_state()

    monkeypatch.setattr(threads, "_ALLOWED", True)
    assert threads.threads_usable()  # numba's threads start here, not in the kernel call
    serial, mixed = run(False), run(True)
    for k in serial:
        np.testing.assert_array_equal(serial[k], mixed[k], err_msg=k)


def test_set_threads_false_keeps_worlds_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(world_mod, "_CHOICES", {})
    before = threads.set_threads(True)
    try:
        assert threads.set_threads(False) is True  # returns the previous setting
        assert not threads.threads_usable()
        w = DrivingWorld(WorldParams(road="highway", vehicles=6, lanes=2), 4)
        w.reset(np.ones(4, dtype=bool), np.arange(4))
        w.step(EgoCommand(np.ones(4, dtype=np.int64), np.zeros(4), np.zeros(4)))
        assert world_mod._CHOICES == {}  # no choice made: serial only
    finally:
        threads.set_threads(before)


def _in_fresh_python(code: str, **env_vars: str) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "RLHF_SANDBOX_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, **env_vars}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_threads_are_on_unless_forbidden() -> None:
    code = "from rlhf_sandbox.sim import threads; print(threads.threads_usable())"
    assert _in_fresh_python(code) == str(numba.config.NUMBA_NUM_THREADS >= 2)
    assert _in_fresh_python(code, RLHF_SANDBOX_THREADS="0") == "False"


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread")
def test_starting_the_threads_leaves_torch_on_its_thread_count() -> None:
    # torch and numba share GNU OpenMP's runtime; numba's start set its thread count to
    # numba's, so torch ran on 2 threads after set_num_threads(1) (an RLHF run was then not
    # reproducible). Checked in a fresh process: the pool starts once per process.
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "assert torch.get_num_threads() == 1\n"  # torch's own start, before numba's
        "from rlhf_sandbox.sim import threads\n"
        "import numba\n"
        "assert threads.threads_usable()\n"
        "print(torch.get_num_threads(), numba.get_num_threads())"
    )
    assert _in_fresh_python(code) == f"1 {numba.config.NUMBA_NUM_THREADS}"


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread")
def test_serial_here_keeps_only_this_thread_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(threads, "_ALLOWED", True)
    assert threads.threads_usable()
    other: list[bool] = []
    with threads.serial_here():
        assert not threads.threads_usable()
        t = threading.Thread(target=lambda: other.append(threads.threads_usable()))
        t.start()
        t.join()
        with threads.serial_here():  # nested: still serial after the inner block
            pass
        assert not threads.threads_usable()
    assert other == [True]
    assert threads.threads_usable()
