"""Clips loaded and drawn off the UI thread, so that the next pair appears at once.

A :class:`Prefetcher` owns one worker thread with its own store connection (sqlite3
connections belong to one thread). :meth:`Prefetcher.request` queues a clip id; the worker
reads the clip, draws every frame at the panel size (our worlds re-rendered from their
states, other envs' frames scaled to fit) and keeps the result, newest last, in a small
cache that :meth:`Prefetcher.get` reads without blocking.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_SIZE = 16  # drawn clips kept (a pair shown, a pair ahead, a few undone)
BACKGROUND = (24, 26, 30)


@dataclass(frozen=True)
class LoadedClip:
    """A clip ready to show: ``frames`` (pygame Surfaces, all of the panel's size)."""

    id: str
    frames: list[Any]
    fps: float  # frames per second of play
    substeps: int  # frames per policy step
    T: int  # policy steps
    env_id: str
    error: str = ""  # why there is nothing to show (frames is then one message-less frame)

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps

    def frame_at(self, t: float) -> int:
        """The frame shown ``t`` seconds into the clip (the last one after its end)."""
        return max(0, min(int(t * self.fps), len(self.frames) - 1))


def frames_of(clip: Any, size: tuple[int, int]) -> np.ndarray:
    """A clip's frames ``[S, h, w, 3]`` at ``size`` (w, h), drawn or scaled to fit."""
    from rlhf_sandbox.envs.replay import clip_frame, state_renderer

    w, h = size
    if clip.states is not None:
        renderer, _ = state_renderer(clip.env_id, clip.config)
        n = clip.T * clip.substeps + 1
        return np.stack([clip_frame(clip, k, (w, h), renderer) for k in range(n)])
    if clip.frames is None:
        raise ValueError("this clip was stored without states or frames: nothing to show")
    return np.asarray(clip.frames)


def to_surfaces(frames: np.ndarray, size: tuple[int, int]) -> list[Any]:
    """RGB frames ``[S, H, W, 3]`` as Surfaces of ``size``, scaled to fit (letterboxed)."""
    import pygame

    w, h = size
    out = []
    for f in frames:
        src = pygame.surfarray.make_surface(np.ascontiguousarray(f.swapaxes(0, 1)))
        if src.get_size() == (w, h):
            out.append(src)
            continue
        fh, fw = f.shape[:2]
        scale = min(w / fw, h / fh)
        sw, sh = max(1, round(fw * scale)), max(1, round(fh * scale))
        surf = pygame.Surface((w, h))
        surf.fill(BACKGROUND)
        scaled = pygame.transform.smoothscale(src, (sw, sh)) if scale < 4 else None
        if scaled is None:  # tiny frames: keep the pixels sharp
            scaled = pygame.transform.scale(src, (sw, sh))
        surf.blit(scaled, ((w - sw) // 2, (h - sh) // 2))
        out.append(surf)
    return out


def load_clip(clips: Any, clip_id: str, size: tuple[int, int]) -> LoadedClip:
    """Read and draw one clip of a ClipStore; errors become a clip that says so."""
    import pygame

    try:
        clip = clips.get(clip_id)
        frames = to_surfaces(frames_of(clip, size), size)
        return LoadedClip(clip_id, frames, clip.fps, clip.substeps, clip.T, clip.env_id)
    except (KeyError, ValueError, OSError) as e:
        blank = pygame.Surface(size)
        blank.fill(BACKGROUND)
        return LoadedClip(clip_id, [blank], 1.0, 1, 1, "?", error=str(e) or type(e).__name__)


class Prefetcher:
    """One worker thread drawing clips ahead of need; thread-safe ``request`` / ``get``."""

    def __init__(self, db_url: str | Path, clips: str | None = None) -> None:
        # a store URL (or SQLite path) and a clips URL (None: the store's default place)
        self._db_url, self._clips = str(db_url), clips
        self._jobs: queue.Queue[tuple[str, tuple[int, int]] | None] = queue.Queue()
        self._done: OrderedDict[tuple[str, tuple[int, int]], LoadedClip] = OrderedDict()
        self._asked: set[tuple[str, tuple[int, int]]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="clip-prefetch", daemon=True)
        self._thread.start()

    def request(self, clip_id: str, size: tuple[int, int]) -> None:
        """Ask for ``clip_id`` drawn at ``size``; a clip cached or asked already is not redone."""
        key = (clip_id, size)
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return
            if key in self._asked:
                return
            self._asked.add(key)
        self._jobs.put(key)

    def get(self, clip_id: str, size: tuple[int, int]) -> LoadedClip | None:
        """The drawn clip, or None while it is not ready (never blocks)."""
        with self._lock:
            return self._done.get((clip_id, size))

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5.0)

    def _work(self) -> None:
        from rlhf_sandbox.store.clips import ClipStore

        clips = ClipStore.open(self._db_url, self._clips)
        db = clips.db
        try:
            while (job := self._jobs.get()) is not None:
                loaded = load_clip(clips, *job)
                with self._lock:
                    self._asked.discard(job)
                    self._done[job] = loaded
                    while len(self._done) > CACHE_SIZE:
                        self._done.popitem(last=False)
        finally:
            db.close()
