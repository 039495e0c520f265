"""The reward overlay: the run's latest reward model's per-step reward of a clip.

Computed on a worker thread (loading torch and the model takes a moment), with its own
store connection. Each request looks up the run's latest model version first, so a model
the trainer fitted meanwhile is used for the next clip.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RewardCurve:
    """Per-step reward of one clip (``rewards`` [T]), or a ``message`` saying why not."""

    clip_id: str
    version: int  # the reward model's version (0: none)
    rewards: np.ndarray | None
    message: str = ""


def clip_rewards(model: Any, clip: Any) -> np.ndarray:
    """The model's normalised reward of each of the clip's steps, float32 ``[T]``."""
    from rlhf_sandbox.agents.reward.absorbing import flagged

    return np.asarray(model.predict(flagged(clip.obs), clip.actions), dtype=np.float32)


class RewardOverlay:
    """Worker thread computing :class:`RewardCurve` s; ``request`` / ``get`` never block."""

    def __init__(
        self, run_dir: str | Path, db_url: str | Path, run: str, clips: str | None = None
    ) -> None:
        self._run_dir, self._db_url, self._run = Path(run_dir), str(db_url), run
        self._clips = clips  # a clips URL; None: the store's default place
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._done: dict[str, RewardCurve] = {}
        self._asked: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self, clip_id: str) -> None:
        """Ask for ``clip_id``'s curve (again, if the model may have changed)."""
        with self._lock:
            if clip_id in self._asked:
                return
            self._asked.add(clip_id)
            if self._thread is None:  # started on first use: torch loads only if asked
                self._thread = threading.Thread(target=self._work, name="overlay", daemon=True)
                self._thread.start()
        self._jobs.put(clip_id)

    def get(self, clip_id: str) -> RewardCurve | None:
        with self._lock:
            return self._done.get(clip_id)

    def close(self, timeout_s: float = 0.3) -> None:
        """Stop the worker; one busy loading torch is a daemon and does not hold the exit."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=timeout_s)

    def _work(self) -> None:
        import torch

        from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble
        from rlhf_sandbox.store.clips import ClipStore
        from rlhf_sandbox.store.run_folder import RunFolder

        torch.set_num_threads(1)  # small nets; leave the cores to the trainer
        clips = ClipStore.open(self._db_url, self._clips)
        db = clips.db
        model: Any = None
        version = 0
        try:
            while (cid := self._jobs.get()) is not None:
                row = db.latest_reward_model(self._run)
                curve: RewardCurve
                try:
                    if row is None:
                        curve = RewardCurve(cid, 0, None, "no reward model yet")
                    else:
                        if row.version != version:
                            path = RunFolder(self._run_dir).reward_model_file(row.path)
                            model = RewardEnsemble.load(path, device="cpu")
                            version = row.version
                        rewards = clip_rewards(model, clips.get(cid))
                        curve = RewardCurve(cid, version, rewards)
                except (OSError, ValueError, KeyError) as e:
                    curve = RewardCurve(cid, version, None, f"reward model: {e}")
                with self._lock:
                    self._asked.discard(cid)
                    self._done[cid] = curve
        finally:
            db.close()
