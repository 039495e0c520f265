"""Which store a training run writes to, and under which run name.

By default a run folder keeps its own SQLite store (``out/store/prefs.sqlite``, clip chunks
beside it) and its run name inside it is :data:`RUN` (``main``). With ``train --store URL``
the run writes its clips, queries, labels and reward-model versions to that store instead
(a team's PostgreSQL database, or any SQLite file), under a run name that must be new in it
(default: the run folder's name). The run folder then holds ``store.json``: the store's URL
*without its password*, the clips URL, the run name, and whether a password was taken out
(then ``--resume`` and ``write_report`` need the URL again, and check it names the same
store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.files import atomic_path
from rlhf_sandbox.store.clips import FOLDER_DB
from rlhf_sandbox.store.url import (
    parse_clips_url,
    parse_store_url,
    same_store,
    without_password,
)

RUN = "main"  # the run name inside a run folder's own database
STORE_FILE = "store.json"  # in a run folder that writes to a store elsewhere


@dataclass(frozen=True)
class RunStore:
    """Where a run's rows go: ``url`` (may hold a password: never written), ``clips`` (a
    clips URL; None: the store's default place), ``run`` (the run name in the store)."""

    url: str
    clips: str | None
    run: str
    shared: bool  # False: the run folder's own store

    @property
    def password(self) -> bool:
        return without_password(self.url)[1]

    def to_json(self) -> dict[str, Any]:
        url, had = without_password(self.url)
        return {"url": url, "password": had, "clips": self.clips, "run": self.run}


def local(out: Path) -> RunStore:
    return RunStore(str(out / FOLDER_DB), None, RUN, False)


def _absolute(url: str, clips: str | None) -> tuple[str, str | None]:
    """SQLite paths and clip folders made absolute (a resume may run from elsewhere)."""
    u = parse_store_url(url)
    if u.path is not None:
        url = f"sqlite:///{u.path.resolve()}"
    if clips is not None:
        place = parse_clips_url(clips, u)
        if place.path is not None:
            clips = f"file://{place.path.resolve()}"
    return url, clips


def new_run_store(out: Path, url: str | None, clips: str | None, run: str | None) -> RunStore:
    """The store of a new run in ``out``; ValueError for a bad combination or URL."""
    if url is None:
        if run is not None:
            raise ValueError("--store-run names the run inside a shared store: give --store URL")
        if clips is not None:
            raise ValueError("--clips-url goes with --store URL")
        return local(out)
    name = (run if run is not None else out.resolve().name).strip()
    if not name:
        raise ValueError("--store-run: give a run name")
    url, clips = _absolute(url, clips)
    return RunStore(url, clips, name, True)


def saved_run_store(
    out: Path, url: str | None = None, clips: str | None = None, run: str | None = None
) -> RunStore:
    """The store of the run already in ``out`` (for resuming it and for its report).

    ``url``: the store's URL given again; needed when the saved one had a password, and
    checked to name the same store. ``run``: checked against the saved run name."""
    path = out / STORE_FILE
    if not path.is_file():
        if url is not None or run is not None:
            raise ValueError(f"{out} keeps its store in the run folder: drop --store/--store-run")
        return local(out)
    try:
        saved = json.loads(path.read_text())
        saved_url, had, name = str(saved["url"]), bool(saved["password"]), str(saved["run"])
        saved_clips = saved.get("clips")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    if run is not None and run != name:
        raise ValueError(f"{out} is run {name!r} in its store, not {run!r}")
    if url is not None:
        if not same_store(url, saved_url):
            raise ValueError(f"--store names another store than this run's ({saved_url})")
        use = url
    elif had:
        raise ValueError(
            f"this run's store {saved_url} needs its password: give --store URL again "
            "(the run folder keeps the URL without it)"
        )
    else:
        use = saved_url
    return RunStore(use, clips if clips is not None else saved_clips, name, True)


def save(out: Path, rs: RunStore) -> None:
    """Write ``out/store.json`` (atomically); nothing for a run folder's own store."""
    if rs.shared:
        with atomic_path(out / STORE_FILE) as tmp:
            tmp.write_text(json.dumps(rs.to_json(), indent=2) + "\n")
