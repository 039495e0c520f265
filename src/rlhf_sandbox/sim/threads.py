"""Serial or threaded: pick, call by call, whichever way of running a kernel is faster.

A batched world's copies are independent, so the compiled substeps can run them one after
another or spread over numba's threads and give the same states either way; only the speed
differs. Which is faster depends on the batch and, above all, on whether the machine's
other cores are free: on an idle 2-core machine 20 copies run twice as fast on two threads;
with other jobs on the second core a threaded call waits for a descheduled thread, up to
ten times slower than serial. A fixed threshold cannot be right for both, so where threads
are allowed (:func:`set_threads`; on by default) :class:`ThreadChoice` measures: it times
both ways at the start, then keeps the faster and tries the other now and then (backing off
while it keeps losing), switching when the other has become faster.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

SERIAL, THREADED = 0, 1
_ALLOWED = os.environ.get("RLHF_SANDBOX_THREADS", "1") == "1"
_LOCAL = threading.local()  # .serial: this thread's calls run serial (serial_here)
_STARTED_IN: int | None = None  # the process that started numba's threads
_MANY = False  # whether it has two or more (numba.set_num_threads later lowers what runs)


def set_threads(allowed: bool) -> bool:
    """Allow or forbid threaded kernel calls in this process; returns the previous setting.
    Allowed by default (``RLHF_SANDBOX_THREADS=0`` forbids them from outside)."""
    global _ALLOWED
    before, _ALLOWED = _ALLOWED, bool(allowed)
    return before


@contextmanager
def serial_here() -> Iterator[None]:
    """Inside the block, kernel calls made by this thread run serial; other threads are
    not affected. For callers that spread independent work over threads of their own (the
    harness runs scenarios side by side): numba's threads would only compete with them."""
    before = getattr(_LOCAL, "serial", False)
    _LOCAL.serial = True
    try:
        yield
    finally:
        _LOCAL.serial = before


def threads_usable() -> bool:
    """Whether this process may run numba's threads, and has at least two of them.

    The first call starts the thread pool and keeps the answer (lowering the count later
    with ``numba.set_num_threads`` makes threaded calls slower, so they are not chosen).
    A process forked after that (multiprocessing's default on Linux) answers False: GNU
    OpenMP cannot run in a child forked from a process whose OpenMP threads started, and
    numba terminates such a child.
    """
    global _STARTED_IN, _MANY
    if not _ALLOWED or getattr(_LOCAL, "serial", False):
        return False
    if _STARTED_IN is not None:
        return _MANY and os.getpid() == _STARTED_IN
    import numba

    openmp = _loaded_openmp()
    before = openmp.omp_get_max_threads() if openmp is not None else 0
    _MANY = numba.get_num_threads() >= 2  # starts the pool
    _STARTED_IN = os.getpid()
    if openmp is not None:
        openmp.omp_set_num_threads(before)  # see _loaded_openmp
    return _MANY


def _loaded_openmp() -> ctypes.CDLL | None:
    """GNU OpenMP's runtime, if a library in this process loaded it already (torch does).

    numba's OpenMP layer shares that runtime (same ``libgomp.so.1``), and starting its pool
    sets the calling thread's OpenMP thread count to numba's. torch reads that count once
    it has started, so it then ran its ops on two threads instead of the one a script had
    asked for, and an RLHF run came out slightly different each time (summation order).
    The count is put back after the start; numba's own threaded calls keep theirs (numba
    passes it with each call).
    """
    try:
        return ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD)
    except OSError:  # not loaded: nothing else in the process uses OpenMP yet
        return None


class ThreadChoice:
    """The faster of two interchangeable ways of running a call, from their recent timings.

    ``pick()`` says which way to run the next call; ``record(way, seconds_per_unit)``
    reports how long it took per unit of work (e.g. per copy and vehicle simulated, so that
    calls of different sizes compare). The first call of each way is not counted (thread
    start-up, cache loading); then the two alternate until each has ``window`` timings, and
    the one with the smaller median is kept. The other is tried after ``first_gap`` calls,
    then after twice as many each time it loses again (at most ``max_gap``); when its
    median comes out smaller it becomes the one kept.
    """

    def __init__(self, window: int = 3, first_gap: int = 8, max_gap: int = 512) -> None:
        self._times = (deque[float](maxlen=window), deque[float](maxlen=window))
        self._seen = [0, 0]
        self._way = SERIAL
        self._first_gap = first_gap
        self._max_gap = max_gap
        self._gap = first_gap  # calls of the kept way between tries of the other
        self._until_try = first_gap

    @property
    def way(self) -> int:
        """The way kept for now (SERIAL or THREADED)."""
        return self._way

    def _measuring(self) -> bool:
        return any(len(t) < (t.maxlen or 1) for t in self._times)

    def pick(self) -> int:
        """The way to run the next call."""
        if self._measuring():
            return SERIAL if self._seen[SERIAL] <= self._seen[THREADED] else THREADED
        return 1 - self._way if self._until_try <= 0 else self._way

    def record(self, way: int, seconds_per_unit: float) -> None:
        """Report a call run ``way``; may change the way kept."""
        was_measuring = self._measuring()
        self._seen[way] += 1
        if self._seen[way] > 1:  # the first call of each way is start-up
            self._times[way].append(seconds_per_unit)
        if was_measuring:
            if not self._measuring():
                self._way = min((SERIAL, THREADED), key=lambda w: statistics.median(self._times[w]))
            return
        if way == self._way:
            self._until_try -= 1
            return
        if statistics.median(self._times[way]) < statistics.median(self._times[self._way]):
            self._way = way
            self._gap = self._first_gap
        else:
            self._gap = min(2 * self._gap, self._max_gap)
        self._until_try = self._gap
