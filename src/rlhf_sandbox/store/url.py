"""Store and clip URLs.

A store URL names the preference database:

* ``sqlite:///runs/NAME/prefs.sqlite`` (a relative path) or ``sqlite:////abs/prefs.sqlite``
  (SQLAlchemy's spelling: the path is what follows ``sqlite:///``); a plain file path means
  the same;
* ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?options]`` (``postgres://`` too), any URL
  that libpq reads.

A clips URL says where clip arrays (``.npz`` chunks) are written, and read from first:

* ``file:///shared/clips`` (or a plain path): a folder, shared between machines by the
  team's own means (NFS, SMB); each machine names its own mount point;
* ``db``: inside the store's database (``chunks`` table), reachable by whoever reaches it.

Default: for SQLite, the folder of the database file (as a run folder's ``store/`` always
was); for PostgreSQL, ``db``. A chunk is always looked for in both places, so a store whose
clips were copied into the database and later got files (or the other way round) reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rlhf_sandbox.store.rows import StoreURLError

POSTGRES_SCHEMES = ("postgresql", "postgres")
IN_DB = "db"


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: ``kind`` is "sqlite" (with ``path``) or "postgresql"."""

    kind: str
    url: str
    path: Path | None = None

    def default_clips(self) -> ClipsURL:
        if self.path is not None:
            return ClipsURL(self.path.parent)
        return ClipsURL(None)


@dataclass(frozen=True)
class ClipsURL:
    """Where chunks are written: a folder (``path``), or the database (``path`` None)."""

    path: Path | None


_PASSWORD = re.compile(r"(?<=://)([^:/@]*):[^@/]*@")


def shown(url: object) -> str:
    """``url`` for a message: any ``USER:PASSWORD@`` written ``USER:***@`` (a URL may be
    malformed anywhere else, so this does not parse it)."""
    return repr(_PASSWORD.sub(r"\1:***@", str(url)))


def parse_store_url(url: str | Path) -> StoreURL:
    """``url`` as a :class:`StoreURL`; an unknown scheme or an empty path is a StoreURLError."""
    if isinstance(url, Path):
        return StoreURL("sqlite", f"sqlite:///{url}", url)
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "":
        if not text:
            raise StoreURLError("empty store URL: use sqlite:///PATH or postgresql://...")
        return StoreURL("sqlite", f"sqlite:///{text}", Path(text))
    if scheme == "sqlite":
        if not text.lower().startswith("sqlite:///") or len(text) == len("sqlite:///"):
            raise StoreURLError(
                f"store URL {shown(url)}: give a file, sqlite:///relative/path or"
                " sqlite:////abs/path"
            )
        path = Path(unquote(text[len("sqlite:///") :]))
        return StoreURL("sqlite", f"sqlite:///{path}", path)
    if scheme in POSTGRES_SCHEMES:
        try:  # no host: libpq's local socket
            urlsplit(text).port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise StoreURLError(f"store URL {shown(url)}: the port is not a number") from None
        return StoreURL("postgresql", "postgresql://" + text.split("://", 1)[1])
    raise StoreURLError(
        f"unknown store URL scheme {scheme!r} in {shown(url)}: use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB"
    )


def parse_clips_url(url: str | Path | None, store: StoreURL) -> ClipsURL:
    """``--clips``: ``file:///DIR``, a path, or ``db``; None means the store's default."""
    if url is None:
        return store.default_clips()
    if isinstance(url, Path):
        return ClipsURL(url)
    text = url.strip()
    if text == IN_DB:
        return ClipsURL(None)
    if text.lower().startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise StoreURLError(f"clips URL {url!r}: use file:///ABSOLUTE/DIR")
        return ClipsURL(Path(unquote(parts.path)))
    if "://" in text or not text:
        raise StoreURLError(f"clips URL {url!r}: use file:///DIR, a folder path, or db")
    return ClipsURL(Path(text))


def without_password(url: str) -> tuple[str, bool]:
    """``url`` with any password taken out (``USER:PW@`` and ``?password=``), and whether it
    had one: what may be written to a file. A SQLite URL has none."""
    u = parse_store_url(url)
    if u.kind != "postgresql":
        return u.url, False
    parts = urlsplit(u.url)
    had = False
    netloc = parts.netloc
    if "@" in netloc:
        cred, _, hosts = netloc.rpartition("@")
        user, sep, _pw = cred.partition(":")
        had = bool(sep)
        netloc = f"{user}@{hosts}" if user else hosts
    query = []
    for item in parts.query.split("&") if parts.query else []:
        if item.split("=", 1)[0].lower() == "password":
            had = True
        else:
            query.append(item)
    clean = parts._replace(netloc=netloc, query="&".join(query)).geturl()
    return clean, had


def same_store(a: str, b: str) -> bool:
    """Whether two store URLs name the same store: the same SQLite file (paths resolved),
    or the same PostgreSQL server, port, database, user and options (passwords aside)."""
    ua, ub = parse_store_url(a), parse_store_url(b)
    if ua.kind != ub.kind:
        return False
    if ua.path is not None and ub.path is not None:
        return ua.path.resolve() == ub.path.resolve()
    from psycopg.conninfo import conninfo_to_dict

    def key(url: str) -> dict[str, object]:
        d: dict[str, object] = {
            k: v for k, v in conninfo_to_dict(url).items() if k != "password" and v is not None
        }
        d.setdefault("port", "5432")
        d["port"] = str(d["port"])
        return d

    try:
        return key(ua.url) == key(ub.url)
    except Exception:  # a URL libpq cannot read names no store of ours
        return False
