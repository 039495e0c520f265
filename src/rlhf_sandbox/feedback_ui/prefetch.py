"""Clips loaded and drawn off the UI thread, so that the next pair appears at once.

A :class:`Prefetcher` owns one worker thread with its own store connection (sqlite3
connections belong to one thread). :meth:`Prefetcher.request` queues a clip id; the worker
reads the clip and draws it at the panel size (our worlds re-rendered from their states,
other envs' frames scaled to fit) in two passes: first frame 0 of every clip asked for (a
pair can show as soon as both first frames are drawn: a few milliseconds), then the other
frames, one at a time, the clip on screen first. A clip just put on screen waits
:data:`REST_DELAY_S` for its other frames (the playback holds its first frame meanwhile):
a rater who answers at once never waits for frames of a pair they did not watch.
:meth:`Prefetcher.get` returns a :class:`LoadedClip` as soon as its first frame is there;
its ``frames`` grow while it plays (a frame not drawn yet shows the latest one that is).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.feedback_ui.subject import Subject, positions, subject_for

CACHE_SIZE = 24  # drawn clips kept (a pair shown, pairs ahead, a few undone)
CHUNKS_KEPT = 4  # clip chunks kept in memory (a rollout's clips share one)
BATCH = 1  # frames drawn between looks at the queue of first frames
REST_DELAY_S = 0.15  # a clip just put on screen gets its other frames after this [s]
BACKGROUND = (24, 26, 30)

Key = tuple[str, tuple[int, int]]
Mark = tuple[float, float, float] | None  # where the judged subject is in a frame


@dataclass
class LoadedClip:
    """A clip to show: ``frames`` (pygame Surfaces of the panel's size; the first
    ``len(frames)`` of ``n_frames``, more while the worker draws), ``marks`` (where the
    judged subject is in each frame, or None) and the ``subject``."""

    id: str
    frames: list[Any]
    fps: float  # frames per second of play
    substeps: int  # frames per policy step
    T: int  # policy steps
    env_id: str
    error: str = ""  # why there is nothing to show (frames is then one message-less frame)
    n_frames: int = 0  # frames when complete (0: as many as ``frames`` holds)
    marks: list[Mark] = field(default_factory=list)
    subject: Subject | None = None

    def __post_init__(self) -> None:
        if self.n_frames <= 0:
            self.n_frames = len(self.frames)

    @property
    def complete(self) -> bool:
        return len(self.frames) >= self.n_frames

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def frame_at(self, t: float) -> int:
        """The frame shown ``t`` seconds into the clip (the last one after its end; the
        last one drawn while the worker has not reached it)."""
        k = max(0, min(int(t * self.fps), self.n_frames - 1))
        return min(k, len(self.frames) - 1)

    def mark_at(self, k: int) -> Mark:
        return self.marks[k] if k < len(self.marks) else None


def frames_of(clip: Any, size: tuple[int, int]) -> np.ndarray:
    """A clip's frames ``[S, h, w, 3]`` at ``size`` (w, h), drawn or scaled to fit."""
    drawer = FrameDrawer(clip, size)
    return np.stack([drawer.rgb(k) for k in range(drawer.n)])


class FrameDrawer:
    """Frame ``k`` of one clip at ``size``: re-rendered from its states, or its own."""

    def __init__(self, clip: Any, size: tuple[int, int]) -> None:
        self.clip, self.size = clip, size
        if clip.states is not None:
            self.renderer = _renderer(clip.env_id, json.dumps(clip.config, sort_keys=True))
            self.n = clip.T * clip.substeps + 1
        elif clip.frames is not None:
            self.renderer = None
            self.n = len(clip.frames)
        else:
            raise ValueError("this clip was stored without states or frames: nothing to show")

    def rgb(self, k: int) -> np.ndarray:
        if self.renderer is None:
            return np.asarray(self.clip.frames[k])
        w, h = self.size
        return self.renderer({name: v[k] for name, v in self.clip.states.items()}, w, h)

    def surface(self, k: int) -> Any:
        return to_surfaces(self.rgb(k)[None], self.size)[0]


_renderers: dict[tuple[str, str], Any] = {}


def _renderer(env_id: str, config_json: str) -> Any:
    """The state renderer of an env and config, built once (building one takes a while)."""
    from rlhf_sandbox.envs.replay import state_renderer

    key = (env_id, config_json)
    if key not in _renderers:
        _renderers[key] = state_renderer(env_id, json.loads(config_json))[0]
    return _renderers[key]


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


def _failed(clip_id: str, size: tuple[int, int], e: BaseException) -> LoadedClip:
    import pygame

    blank = pygame.Surface(size)
    blank.fill(BACKGROUND)
    return LoadedClip(clip_id, [blank], 1.0, 1, 1, "?", error=str(e) or type(e).__name__)


def load_clip(clips: Any, clip_id: str, size: tuple[int, int]) -> LoadedClip:
    """Read and draw one whole clip of a ClipStore; errors become a clip that says so."""
    try:
        clip = clips.get(clip_id)
        drawer = FrameDrawer(clip, size)
        frames = [drawer.surface(k) for k in range(drawer.n)]
        subject = subject_for(clip.env_id, clip.config)
        marks = positions(subject, clip, drawer.n, size)
        return LoadedClip(
            clip_id, frames, clip.fps, clip.substeps, clip.T, clip.env_id,
            marks=marks, subject=subject,
        )  # fmt: skip
    except (KeyError, ValueError, OSError) as e:
        return _failed(clip_id, size, e)


class _Reader:
    """Clips read through a small cache of opened chunks (a rollout's clips share one)."""

    def __init__(self, clips: Any) -> None:
        self.clips = clips
        self._chunks: OrderedDict[str, Any] = OrderedDict()  # chunk name -> NpzFile

    def get(self, clip_id: str) -> Any:
        import io
        import zipfile

        from rlhf_sandbox.store.clips import ClipFileError, clips_of_npz

        row = self.clips.db.get_clip(clip_id)
        z = self._chunks.get(row.chunk)
        if z is None:
            data = self.clips.read_chunk(row.chunk, clip_id)
            try:
                z = np.load(io.BytesIO(data), allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise ClipFileError(f"clip file {row.chunk}: cannot read ({e})") from e
            self._chunks[row.chunk] = z
            while len(self._chunks) > CHUNKS_KEPT:
                self._chunks.popitem(last=False)[1].close()
        else:
            self._chunks.move_to_end(row.chunk)
        return clips_of_npz(z, [row], row.chunk)[0]


class Prefetcher:
    """One worker thread drawing clips ahead of need; thread-safe ``request`` / ``get``."""

    def __init__(self, db_url: str | Path, clips: str | None = None) -> None:
        # a store URL (or SQLite path) and a clips URL (None: the store's default place)
        self._db_url, self._clips = str(db_url), clips
        self._first: deque[Key] = deque()  # clips whose first frame is wanted
        self._rest: deque[Key] = deque()  # clips with frames still to draw, urgent first
        self._drawers: dict[Key, FrameDrawer] = {}
        self._hold_until: dict[Key, float] = {}  # clips put on screen: rest frames after
        self._done: OrderedDict[Key, LoadedClip] = OrderedDict()
        self._asked: set[Key] = set()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._work, name="clip-prefetch", daemon=True)
        self._thread.start()

    def request(self, clip_id: str, size: tuple[int, int], urgent: bool = False) -> None:
        """Ask for ``clip_id`` drawn at ``size``; a clip cached or asked already is not
        redone. ``urgent`` (the clip on screen): its remaining frames are drawn next."""
        key = (clip_id, size)
        with self._cv:
            if urgent:
                self._hold_until[key] = time.monotonic() + REST_DELAY_S
            if key in self._done:
                self._done.move_to_end(key)
                if urgent and key in self._rest and self._rest[0] != key:
                    self._rest.remove(key)
                    self._rest.appendleft(key)
                self._cv.notify()
                return
            if key in self._asked:
                return
            self._asked.add(key)
            self._first.append(key)
            self._cv.notify()

    def get(self, clip_id: str, size: tuple[int, int]) -> LoadedClip | None:
        """The clip as drawn so far (at least its first frame), or None (never blocks)."""
        with self._cv:
            return self._done.get((clip_id, size))

    def busy(self) -> bool:
        """Frames are still being drawn (the app redraws as they arrive)."""
        with self._cv:
            return bool(self._first or self._rest)

    def close(self, timeout_s: float = 0.5) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=timeout_s)

    # ------------------------------------------------------------------ the worker
    def _next_job(self) -> tuple[str, Key] | None:
        with self._cv:
            while True:
                if self._stop:
                    return None
                if self._first:
                    return "first", self._first.popleft()
                now, wake = time.monotonic(), None
                for key in self._rest:  # urgent first; one just shown waits a moment
                    until = self._hold_until.get(key, 0.0)
                    if until <= now:
                        return "rest", key
                    wake = until if wake is None else min(wake, until)
                self._cv.wait(None if wake is None else wake - now)

    def _work(self) -> None:
        from rlhf_sandbox.store.clips import ClipStore

        clips = ClipStore.open(self._db_url, self._clips)
        reader = _Reader(clips)
        try:
            while (job := self._next_job()) is not None:
                kind, key = job
                if kind == "first":
                    self._start(reader, key)
                else:
                    self._continue(key)
        finally:
            clips.db.close()

    def _start(self, reader: _Reader, key: Key) -> None:
        clip_id, size = key
        try:
            clip = reader.get(clip_id)
            drawer = FrameDrawer(clip, size)
            subject = subject_for(clip.env_id, clip.config)
            loaded = LoadedClip(
                clip_id, [drawer.surface(0)], clip.fps, clip.substeps, clip.T, clip.env_id,
                n_frames=drawer.n, marks=positions(subject, clip, drawer.n, size),
                subject=subject,
            )  # fmt: skip
        except (KeyError, ValueError, OSError) as e:
            loaded, drawer = _failed(clip_id, size, e), None
        with self._cv:
            self._asked.discard(key)
            self._done[key] = loaded
            if drawer is not None and not loaded.complete:
                self._drawers[key] = drawer
                self._rest.append(key)
            while len(self._done) > CACHE_SIZE:
                old, _ = self._done.popitem(last=False)
                self._drawers.pop(old, None)
                self._hold_until.pop(old, None)
                if old in self._rest:
                    self._rest.remove(old)

    def _continue(self, key: Key) -> None:
        with self._cv:
            drawer, loaded = self._drawers.get(key), self._done.get(key)
        if drawer is None or loaded is None:
            with self._cv:
                if key in self._rest:
                    self._rest.remove(key)
            return
        k0 = len(loaded.frames)
        try:
            new = [drawer.surface(k) for k in range(k0, min(k0 + BATCH, loaded.n_frames))]
        except (KeyError, IndexError, ValueError, OSError) as e:  # play what was drawn
            new = []
            loaded.n_frames, loaded.error = k0, f"frame {k0}: {e}"
        with self._cv:
            loaded.frames.extend(new)  # the UI thread reads len(frames): append only
            if loaded.complete:
                self._drawers.pop(key, None)
                self._hold_until.pop(key, None)
                if key in self._rest:
                    self._rest.remove(key)
