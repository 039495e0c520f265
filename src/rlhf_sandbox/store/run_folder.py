"""A run folder: where each of a run's files lies, and which store its rows go to.

The one owner of the layout; everything else asks a :class:`RunFolder` for a path::

    settings.json          the run's settings (JSON)
    store/prefs.sqlite     the folder's own store, clip chunks in store/chunks/ ...
    store.json             ... or, for a run on a shared store (``train --store URL``), that
                           store's URL without its password, the clips URL and the run name
    checkpoint/loop.json   the loop's state, naming the files of the last checkpoint
    checkpoint/KIND-TAG.pt its policy, optimiser and reward model (with .json)
    reward_models/vN.pt    every reward-model version (with .json), named in the store
    policy.pt              the final policy and reward model (with .json)
    reward_model.pt
    report/                report.md, report.json, plots, GIF
    tb/                    TensorBoard logs
    roles/ROLE/            a run of several roles: one run folder per role
    export/FORMAT/         what ``export`` writes by default (a policy a game can run)

The run name inside the folder's own store is :data:`RUN`. A report folder of
``evaluate`` keeps its episodes' clips the same way (``store/prefs.sqlite``), as does a
judging folder of ``queue``; ``arena train`` writes ``policy.pt`` and ``settings.json``.
Names read back from a store or a file (a reward model's file, a checkpoint tag, a role)
are checked against the form written here: they are data, never paths.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.files import atomic_path
from rlhf_sandbox.store.url import parse_clips_url, parse_store_url, same_store, without_password

RUN = "main"
"""The run name inside a run folder's own store."""

SETTINGS = "settings.json"
STORE_DIR = "store"
DB_FILE = "prefs.sqlite"
STORE_FILE = "store.json"
CHECKPOINT = "checkpoint"
LOOP_STATE = "loop.json"
REWARD_MODELS = "reward_models"
POLICY = "policy.pt"
REWARD_MODEL = "reward_model.pt"
REPORT = "report"
TB = "tb"
ROLES = "roles"
EXPORT = "export"
ROLES_FILE = "roles.json"  # a run of several roles: the roles it trains, in order

RUN_FILES = (
    CHECKPOINT, STORE_DIR, SETTINGS, STORE_FILE, REWARD_MODELS, POLICY, "policy.json",
    REWARD_MODEL, "reward_model.json", REPORT, ROLES, ROLES_FILE,
)  # fmt: skip
"""What a run writes into its folder: a new run starts only where none of them is."""

REWARD_MODEL_NAME = re.compile(REWARD_MODELS + r"/v[1-9][0-9]{0,9}\.pt")
CHECKPOINT_TAG = re.compile(r"[0-9]{6}")
ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def is_role_name(name: object) -> bool:
    """Whether ``name`` is of the form a role's folder is named: letters, digits, ``_``
    and ``-`` (no dots, no slashes), at most 64."""
    return isinstance(name, str) and ROLE_NAME.fullmatch(name) is not None


def is_reward_model_name(name: object) -> bool:
    """Whether ``name`` is of the form a reward-model version is recorded under."""
    return isinstance(name, str) and REWARD_MODEL_NAME.fullmatch(name) is not None


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


@dataclass(frozen=True)
class RunFolder:
    """The files of the run in ``path`` (which need not exist yet)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    # ---- paths ------------------------------------------------------------------------
    @property
    def settings(self) -> Path:
        return self.path / SETTINGS

    @property
    def store_dir(self) -> Path:
        """The folder of the own store: the database and ``chunks/``."""
        return self.path / STORE_DIR

    @property
    def db(self) -> Path:
        """The own store's SQLite file."""
        return self.store_dir / DB_FILE

    @property
    def store_file(self) -> Path:
        return self.path / STORE_FILE

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def loop_state(self) -> Path:
        return self.checkpoint / LOOP_STATE

    @property
    def policy(self) -> Path:
        return self.path / POLICY

    @property
    def reward_model(self) -> Path:
        return self.path / REWARD_MODEL

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def tb(self) -> Path:
        return self.path / TB

    @property
    def export(self) -> Path:
        """Where ``export`` writes by default, one folder per format."""
        return self.path / EXPORT

    @property
    def roles_file(self) -> Path:
        """A run of several roles: what it trains (``agents.rlhf.roles``)."""
        return self.path / ROLES_FILE

    def roles(self) -> list[str]:
        """The roles of a run of several roles, sorted: the folders in ``roles/`` that hold
        a settings file; a name not of a role's form (:func:`is_role_name`) or a link is
        not listed. ``[]`` for a run of one role."""
        folder = self.path / ROLES
        if not folder.is_dir():
            return []
        return sorted(
            p.name
            for p in folder.iterdir()
            if is_role_name(p.name) and not p.is_symlink() and (p / SETTINGS).is_file()
        )

    def role(self, name: str) -> RunFolder:
        """The run folder of role ``name`` (which need not exist yet); a name not of a role's
        form is a ValueError and no path is made of it."""
        if not is_role_name(name):
            raise ValueError(
                f"role {name!r} is not a role name (letters, digits, _ and -, at most 64)"
            )
        return RunFolder(self.path / ROLES / name)

    def checkpoint_file(self, kind: str, tag: str) -> Path:
        """``checkpoint/KIND-TAG.pt``; ``tag`` (read back from ``loop.json``) must be one of
        ours, six digits."""
        if not (isinstance(tag, str) and CHECKPOINT_TAG.fullmatch(tag)):
            raise ValueError(f"{self.loop_state}: checkpoint {tag!r} is not one of ours")
        return self.checkpoint / f"{kind}-{tag}.pt"

    def reward_model_version(self, version: int) -> tuple[Path, str]:
        """Where reward-model version ``version`` goes, and the name the store records."""
        name = f"{REWARD_MODELS}/v{int(version)}.pt"
        return self.path / name, name

    def reward_model_file(self, name: str) -> Path:
        """The file of a reward-model version as the store names it; a name not of our
        form (a path, ``..``) is a ValueError and nothing is opened."""
        if not is_reward_model_name(name):
            raise ValueError(
                f"reward model {name!r} is not a reward model's file name"
                f" ({REWARD_MODELS}/v<N>.pt); it was not opened"
            )
        return self.path / name

    def run_files(self) -> list[str]:
        """Which of a run's files are in the folder already."""
        return [p for p in RUN_FILES if (self.path / p).exists()]

    # ---- settings -----------------------------------------------------------------------
    def read_settings(self) -> dict[str, Any]:
        """``settings.json`` as a dict (FileNotFoundError when there is none)."""
        data = json.loads(self.settings.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{self.settings}: not a JSON object")
        return data

    def write_settings(self, data: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.settings) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n")

    # ---- which store ------------------------------------------------------------------
    def local_store(self) -> RunStore:
        return RunStore(str(self.db), None, RUN, False)

    def new_store(self, url: str | None, clips: str | None, run: str | None) -> RunStore:
        """The store of a new run here; ValueError for a bad combination or URL."""
        if url is None:
            if run is not None:
                raise ValueError(
                    "--store-run names the run inside a shared store: give --store URL"
                )
            if clips is not None:
                raise ValueError("--clips-url goes with --store URL")
            return self.local_store()
        name = (run if run is not None else self.path.resolve().name).strip()
        if not name:
            raise ValueError("--store-run: give a run name")
        url, clips = _absolute(url, clips)
        return RunStore(url, clips, name, True)

    def saved_store(
        self, url: str | None = None, clips: str | None = None, run: str | None = None
    ) -> RunStore:
        """The store of the run already here (for resuming it and for its report).

        ``url``: the store's URL given again; needed when the saved one had a password,
        and checked to name the same store. ``run``: checked against the saved run name."""
        path = self.store_file
        if not path.is_file():
            if url is not None or run is not None:
                raise ValueError(
                    f"{self.path} keeps its store in the run folder: drop --store/--store-run"
                )
            return self.local_store()
        try:
            saved = json.loads(path.read_text())
            saved_url, had, name = str(saved["url"]), bool(saved["password"]), str(saved["run"])
            saved_clips = saved.get("clips")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: unreadable ({e})") from None
        if run is not None and run != name:
            raise ValueError(f"{self.path} is run {name!r} in its store, not {run!r}")
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

    def save_store(self, rs: RunStore) -> None:
        """Write ``store.json`` (atomically); nothing for a run folder's own store."""
        if rs.shared:
            with atomic_path(self.store_file) as tmp:
                tmp.write_text(json.dumps(rs.to_json(), indent=2) + "\n")

    def open_store(self, *, create: bool = False) -> Any:
        """The folder's own :class:`~rlhf_sandbox.store.clips.ClipStore`; ``create``: a new
        one in a folder that has none (never inside a file)."""
        from rlhf_sandbox.store.clips import ClipStore
        from rlhf_sandbox.store.db import PreferenceDB

        if not self.db.is_file():
            if not create:
                raise ValueError(f"no store in {self.path} ({self.db} not found)")
            if self.path.exists() and not self.path.is_dir():
                raise ValueError(f"{self.path} is a file, not a run folder")
            self.store_dir.mkdir(parents=True, exist_ok=True)
        return ClipStore(self.store_dir, PreferenceDB(self.db))


def store_root(folder: str | Path) -> Path | None:
    """The folder of the store a path names: a run (or report) folder's ``store/``, or a
    store folder itself; None when it holds no store."""
    p = Path(folder)
    for root in (p / STORE_DIR, p):
        if (root / DB_FILE).is_file():
            return root
    return None


def store_db(root: Path) -> Path:
    """The database of the store folder ``root`` (see :func:`store_root`)."""
    return root / DB_FILE


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
