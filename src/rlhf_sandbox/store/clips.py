"""Clips (short segments of an episode) and their files.

A :class:`Clip` holds a segment's policy-rate arrays (``obs``, ``actions``, ``rewards``,
``features``, T steps) and, for replay, EITHER the world ``states`` at the simulation
rate (S = T * substeps + 1 entries, for exact re-rendering by our own worlds) OR
rendered ``frames`` (S RGB images, for envs that are not ours). A clip of a foreign env
recorded without frames has neither: synthetic teachers need no pictures.

:class:`ClipStore` writes clips in chunks: one compressed ``.npz`` per :meth:`ClipStore.add`
call, written atomically (a file in a folder, or a row of the database's ``chunks`` table),
then one database row per clip. Chunks are read with ``allow_pickle=False``: no pickle in
our files.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.files import write_atomic
from rlhf_sandbox.store.db import ClipRow, PreferenceDB, utc_now
from rlhf_sandbox.store.names import VERIFY, chunk_name_problem
from rlhf_sandbox.store.url import parse_clips_url, parse_store_url

CHUNK_DIR = "chunks"


class ClipFileError(ValueError):
    """A chunk file is missing, corrupt, or does not hold the clip; names the file."""


def _array(name: str, value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ValueError(f"Clip.{name}: expected a numpy array, got {type(value).__name__}")
    if value.dtype.hasobject:
        raise ValueError(f"Clip.{name}: object arrays are not allowed (no pickle)")
    return value


def _check_key(field_name: str, key: Any) -> None:
    if not isinstance(key, str) or not key or "/" in key:
        raise ValueError(f"Clip.{field_name}: names must be non-empty strings without '/'")


@dataclass(frozen=True, eq=False, kw_only=True)
class Clip:
    """A segment of one episode; validated on construction (errors name the field)."""

    run: str
    env_id: str
    config: dict[str, Any]
    seed: int
    slot: int
    start_step: int
    fps: float
    policy_hz: float
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    states: dict[str, np.ndarray] | None = None
    frames: np.ndarray | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        for name in ("id", "run", "env_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Clip.{name}: expected a non-empty string")
        if "/" in self.id:
            raise ValueError("Clip.id: must not contain '/'")
        for name in ("seed", "slot", "start_step"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool):
                raise ValueError(f"Clip.{name}: expected an int, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("fps", "policy_hz"):
            v = getattr(self, name)
            if not isinstance(v, int | float | np.floating) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"Clip.{name}: expected a positive finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not isinstance(self.config, dict):
            raise ValueError("Clip.config: expected a dict")
        try:
            json.dumps(self.config)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Clip.config: not JSON-serialisable ({e})") from e

        obs = _array("obs", self.obs)
        if obs.dtype != np.float32 or obs.ndim < 1 or obs.shape[0] < 1:
            raise ValueError(
                f"Clip.obs: expected float32 [T, ...] with T >= 1, got {obs.dtype} {obs.shape}"
            )
        t = obs.shape[0]
        actions = _array("actions", self.actions)
        if actions.ndim < 1 or actions.shape[0] != t:
            raise ValueError(f"Clip.actions: expected leading axis T={t}, got {actions.shape}")
        rewards = _array("rewards", self.rewards)
        if rewards.dtype != np.float32 or rewards.shape != (t,):
            raise ValueError(
                f"Clip.rewards: expected float32 [{t}], got {rewards.dtype} {rewards.shape}"
            )
        if not isinstance(self.features, Mapping):
            raise ValueError("Clip.features: expected a dict name -> array")
        for k, v in self.features.items():
            _check_key("features", k)
            a = _array(f"features[{k!r}]", v)
            if a.dtype != np.float32 or a.shape != (t,):
                raise ValueError(
                    f"Clip.features[{k!r}]: expected float32 [{t}], got {a.dtype} {a.shape}"
                )

        if self.states is not None and self.frames is not None:
            raise ValueError("Clip.states / Clip.frames: give at most one of them")
        if self.states is None and self.frames is None:  # no replay: synthetic teachers only
            if not math.isclose(self.fps, self.policy_hz, rel_tol=1e-6):
                raise ValueError(f"Clip.fps: {self.fps} != policy_hz {self.policy_hz}")
            return
        if self.states is not None:
            if not isinstance(self.states, Mapping) or not self.states:
                raise ValueError("Clip.states: expected a non-empty dict name -> array")
            s = None
            for k, v in self.states.items():
                _check_key("states", k)
                a = _array(f"states[{k!r}]", v)
                if a.ndim < 1 or (s is not None and a.shape[0] != s):
                    raise ValueError(f"Clip.states[{k!r}]: leading axes differ ({a.shape})")
                s = a.shape[0]
            where = "states"
        else:
            f = _array("frames", self.frames)
            if f.dtype != np.uint8 or f.ndim != 4 or f.shape[3] != 3:
                raise ValueError(
                    f"Clip.frames: expected uint8 [S, H, W, 3], got {f.dtype} {f.shape}"
                )
            s = f.shape[0]
            where = "frames"
        assert s is not None
        if s < t + 1 or (s - 1) % t:
            raise ValueError(f"Clip.{where}: leading axis S={s} is not T * substeps + 1 for T={t}")
        substeps = (s - 1) // t
        if not math.isclose(self.fps, self.policy_hz * substeps, rel_tol=1e-6):
            raise ValueError(
                f"Clip.fps: {self.fps} != policy_hz {self.policy_hz} * substeps {substeps}"
            )

    @property
    def T(self) -> int:
        return int(self.obs.shape[0])

    @property
    def substeps(self) -> int:
        """Simulation states per policy step (``states``/``frames`` has T * substeps + 1)."""
        if self.states is None and self.frames is None:
            return 1
        n = self.frames.shape[0] if self.frames is not None else _first(self.states).shape[0]
        return (int(n) - 1) // self.T

    @property
    def duration_s(self) -> float:
        """Seconds of play the clip covers (T / policy_hz)."""
        return self.T / self.policy_hz

    def arrays(self) -> dict[str, np.ndarray]:
        """The clip's arrays under the chunk keys ``<id>/obs``, ``<id>/states/x``, ..."""
        p = self.id
        out = {f"{p}/obs": self.obs, f"{p}/actions": self.actions, f"{p}/rewards": self.rewards}
        out.update({f"{p}/features/{k}": v for k, v in self.features.items()})
        if self.states is not None:
            out.update({f"{p}/states/{k}": v for k, v in self.states.items()})
        if self.frames is not None:
            out[f"{p}/frames"] = self.frames
        return out


def _first(d: Mapping[str, np.ndarray] | None) -> np.ndarray:
    assert d
    return next(iter(d.values()))


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` of ``arrays``, in memory."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


class ClipStore:
    """Clip arrays in chunks, their metadata in a :class:`PreferenceDB`.

    ``root`` is a folder: chunks are written to ``root/chunks/*.npz``. ``root=None``: they
    are written into the database (its ``chunks`` table, in the same transaction as the
    clip rows), where every rater who reaches the database reaches them. Reading looks in
    the folder first, then in the database, so a store may hold both.
    """

    def __init__(self, root: str | os.PathLike[str] | None, db: PreferenceDB) -> None:
        self.root = None if root is None else Path(root)
        self.db = db
        if self.root is not None:
            (self.root / CHUNK_DIR).mkdir(parents=True, exist_ok=True)

    @classmethod
    def open(
        cls,
        store: str | os.PathLike[str],
        clips: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> ClipStore:
        """The store at URL ``store`` with its clips where ``clips`` (a clips URL) says;
        see :mod:`~rlhf_sandbox.store.url` for both and the defaults."""
        u = parse_store_url(store if isinstance(store, str) else Path(store))
        place = parse_clips_url(
            clips if clips is None or isinstance(clips, str) else Path(clips), u
        )
        return cls(place.path, PreferenceDB.open(u.url, **kwargs))

    @property
    def where(self) -> str:
        """Where new chunks go, for messages."""
        return f"{self.root / CHUNK_DIR}" if self.root is not None else f"{self.db.where} (chunks)"

    def add(self, clips: Sequence[Clip]) -> list[str]:
        """Write the clips as one chunk (a file, or a database row), then their rows in
        one transaction."""
        if not clips:
            return []
        ids = [c.id for c in clips]
        if len(set(ids)) != len(ids):
            raise ValueError("ClipStore.add: duplicate clip ids in one call")
        chunk = f"{uuid.uuid4().hex}.npz"
        arrays: dict[str, np.ndarray] = {}
        for c in clips:
            arrays.update(c.arrays())
        data = npz_bytes(arrays)
        now = utc_now()
        rows = [
            ClipRow(
                id=c.id,
                run=c.run,
                chunk=chunk,
                env_id=c.env_id,
                config=c.config,
                seed=c.seed,
                slot=c.slot,
                start_step=c.start_step,
                fps=c.fps,
                policy_hz=c.policy_hz,
                T=c.T,
                created=now,
            )
            for c in clips
        ]
        if self.root is None:
            self.db.add_clips(rows, chunk=(chunk, data))
            return ids
        path = self.root / CHUNK_DIR / self._check_name(chunk)
        write_atomic(path, data)
        try:
            self.db.add_clips(rows)
        except BaseException:
            path.unlink(missing_ok=True)  # nothing references it
            raise
        return ids

    def _check_name(self, name: str, clip: str | None = None) -> str:
        """``name`` if it is of our writer's form; else (a path, ``..``) a ClipFileError
        naming the clip and the store: a name from a store is data, never a path."""
        why = chunk_name_problem(name, clip)
        if why is not None:
            raise ClipFileError(f"store {self.db.where}: {why}; it was not opened ({VERIFY})")
        return name

    def read_chunk(self, name: str, clip: str | None = None) -> bytes:
        """A chunk's bytes, from the folder or else the database; ClipFileError if neither,
        or if ``name`` is not a chunk name (``clip``: the clip that names it, for the
        message)."""
        self._check_name(name, clip)
        if self.root is not None:
            path = self.root / CHUNK_DIR / name
            try:
                return path.read_bytes()
            except FileNotFoundError:
                pass
            except OSError as e:
                raise ClipFileError(f"clip file {path}: cannot read it ({e})") from e
        data = self.db.get_chunk(name)
        if data is None:
            where = "not" if self.root is None else f"neither in {self.root / CHUNK_DIR} nor"
            raise ClipFileError(
                f"clip chunk {name} is {where} in the database ({self.db.where}); "
                "name the clips folder with --clips"
            )
        return data

    def write_chunk(self, name: str, data: bytes) -> None:
        """Put a chunk's bytes in the folder (atomically); a store without one refuses."""
        if self.root is None:
            raise ValueError("this ClipStore keeps chunks in the database: use import_rows")
        write_atomic(self.root / CHUNK_DIR / self._check_name(name), data)

    def sweep(self, *, older_than_s: float = 3600.0, delete_orphans: bool = False) -> list[Path]:
        """Remove leftovers of interrupted writes; returns the files removed.

        Temp files (``.*.part``) older than ``older_than_s`` are always removed (a younger
        one may belong to a write in progress). Chunks that no clip row refers to (the
        writer died between the rename and the database insert) are removed only with
        ``delete_orphans`` and when older than ``older_than_s``, for the same reason.
        """
        if self.root is None:
            return []  # chunks in the database are written with their rows: no leftovers
        cutoff = time.time() - older_than_s
        chunks = self.root / CHUNK_DIR
        gone = [p for p in chunks.glob(".*.part") if p.stat().st_mtime < cutoff]
        if delete_orphans:
            used = self.db.clip_chunks()
            gone += [
                p for p in chunks.glob("*.npz") if p.name not in used and p.stat().st_mtime < cutoff
            ]
        for p in gone:
            p.unlink(missing_ok=True)
        return gone

    def ids(self, run: str | None = None) -> list[str]:
        return self.db.clip_ids(run)

    def get(self, clip_id: str) -> Clip:
        """Load one clip; unknown id -> KeyError, bad chunk (or chunk name) -> ClipFileError."""
        row = self.db.get_clip(clip_id)
        data = self.read_chunk(row.chunk, clip_id)
        return clips_of_chunk(data, [row], self._where_chunk(row.chunk))[0]

    def _where_chunk(self, name: str) -> str:
        return name if self.root is None else str(self.root / CHUNK_DIR / name)


def clips_of_chunk(data: bytes, rows: Sequence[ClipRow], where: str) -> list[Clip]:
    """The clips of ``rows`` from the ``.npz`` bytes of their chunk (read with
    ``allow_pickle=False``); a chunk that does not hold one of them, or holds bad arrays,
    is a ClipFileError naming ``where`` and the clip."""
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ClipFileError(f"clip file {where}: cannot read clip {rows[0].id} ({e})") from e
    with z:
        return clips_of_npz(z, rows, where)


def clips_of_npz(z: Any, rows: Sequence[ClipRow], where: str) -> list[Clip]:
    """The clips of ``rows`` from a chunk opened with ``np.load`` (kept open by a reader
    that takes several clips of one chunk, such as the labelling app's); errors as
    :func:`clips_of_chunk`."""
    out = []
    for row in rows:
        prefix = f"{row.id}/"
        try:
            arrays = {k[len(prefix) :]: z[k] for k in z.files if k.startswith(prefix)}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise ClipFileError(f"clip file {where}: cannot read clip {row.id} ({e})") from e
        try:
            out.append(_clip(row, arrays))
        except (KeyError, ValueError) as e:
            raise ClipFileError(f"clip file {where}: bad data for clip {row.id} ({e})") from e
    return out


def _clip(row: ClipRow, arrays: dict[str, np.ndarray]) -> Clip:
    features = {k[9:]: v for k, v in arrays.items() if k.startswith("features/")}
    states = {k[7:]: v for k, v in arrays.items() if k.startswith("states/")}
    return Clip(
        id=row.id,
        run=row.run,
        env_id=row.env_id,
        config=row.config,
        seed=row.seed,
        slot=row.slot,
        start_step=row.start_step,
        fps=row.fps,
        policy_hz=row.policy_hz,
        obs=arrays["obs"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        features=features,
        states=states or None,
        frames=arrays.get("frames"),
    )
