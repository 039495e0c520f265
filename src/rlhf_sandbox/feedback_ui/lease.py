"""The app's heartbeat: its claims renewed every few seconds on a thread of its own.

Claims are short leases (:data:`~rlhf_sandbox.store.db_claims.DEFAULT_LEASE_S`, 8 s), so
that the queries of an app that crashed or was killed go back to the other raters within
seconds. A running app keeps its own alive: a :class:`LeaseKeeper` renews the claims on
the items it holds (the one on screen and those drawn ahead) every
:data:`~rlhf_sandbox.store.db_claims.RENEW_S` seconds, with its own store connection, so
that a slow store never stalls the window. It also reads, less often, what the store says
of the run's trainer (:meth:`PreferenceDB.trainer_status`), for the waiting screen, and the
run's question and rubric (set or changed while the app runs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rlhf_sandbox.store.db import PreferenceDB, RunTaskRow, TrainerStatus
from rlhf_sandbox.store.db_claims import RENEW_S

STATUS_EVERY_S = 5.0


class LeaseKeeper:
    """Renews ``rater``'s claims on :meth:`hold` 's query ids every ``renew_s`` seconds."""

    def __init__(
        self,
        db_url: str,
        rater: str,
        lease_s: float,
        *,
        run: str | None = None,
        renew_s: float = RENEW_S,
        finished: Callable[[], bool] | None = None,
    ) -> None:
        self._db_url, self.rater, self.lease_s = db_url, rater, lease_s
        self.run, self.renew_s = run, min(renew_s, lease_s / 3)
        self._finished = finished  # another sign that the trainer is done (its run folder)
        self._held: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self.status: TrainerStatus | None = None
        self.task: RunTaskRow | None = None  # the run's question and rubric, read again
        self.renewals = 0
        self.error = ""  # the last failure to reach the store ("" while it answers)
        self._thread = threading.Thread(target=self._work, name="claims-lease", daemon=True)
        self._thread.start()

    def hold(self, query_ids: list[str]) -> None:
        """The query ids whose claims to keep (replacing the previous list)."""
        with self._lock:
            self._held = list(query_ids)

    def close(self, timeout_s: float = 0.5) -> None:
        """Stop renewing (before the app gives its claims back)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=timeout_s)

    def _work(self) -> None:
        db = PreferenceDB.open(self._db_url)
        next_status = 0.0
        try:
            while not self._stop:
                with self._lock:
                    held = list(self._held)
                try:
                    if held:
                        db.renew_claims(self.rater, held, self.lease_s)
                        self.renewals += 1
                    now = time.monotonic()
                    if self.run is not None and now >= next_status:
                        self.status = self._trainer(db)
                        self.task = db.run_question(self.run)
                        next_status = now + STATUS_EVERY_S
                    self.error = ""
                except Exception as e:  # shown on screen; tried again next time
                    self.error = f"cannot renew claims: {' '.join(str(e).split())[:120]}"
                self._wake.wait(self.renew_s)
        finally:
            db.close()

    def _trainer(self, db: PreferenceDB) -> TrainerStatus:
        assert self.run is not None
        st = db.trainer_status(self.run)
        if st.state != "finished" and self._finished is not None and self._finished():
            return TrainerStatus("finished", st.age_s, "run folder")
        return st
