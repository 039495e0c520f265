"""Whole-store operations: copy a store to another URL (SQLite <-> PostgreSQL, clip chunks
included) and upgrade a store's schema in place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rlhf_sandbox.store.clips import CHUNK_DIR, ClipStore
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.url import parse_store_url
from rlhf_sandbox.store.verify import check_names, unreadable_clips, without_clips


@dataclass(frozen=True)
class CopyReport:
    rows: int  # exported rows copied (runs, clips, queries, labels, ...)
    chunks: int  # clip chunks copied
    chunks_to: str  # where the chunks went
    skipped: tuple[str, ...] = ()  # clips left out: their chunks cannot be read
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out with them, by table


def require_existing(url: str) -> None:
    """A SQLite store that should be there and is not: FileNotFoundError naming it."""
    u = parse_store_url(url)
    if u.path is not None and not u.path.is_file():
        raise FileNotFoundError(f"no store at {u.path}")


def migrate_store(url: str) -> tuple[int, int]:
    """Upgrade the store at ``url`` to this code's schema; returns (old, new) versions."""
    require_existing(url)
    with PreferenceDB.open(url, migrate=True) as db:
        new = db.schema_version()
        return (db.upgraded_from or new, new)


def copy_store(
    src: str,
    dst: str,
    *,
    src_clips: str | None = None,
    dst_clips: str | None = None,
    skip_unreadable: bool = False,
) -> CopyReport:
    """Copy every row of ``src`` (claims aside) and every clip chunk its clips refer to
    into ``dst``, which must be new or empty. The rows (and chunks that go into the
    database) are one transaction; chunk files are written first and removed again if
    the transaction fails, and a SQLite file this call created is removed too: a failed
    copy leaves nothing behind.

    Every clip is read from its chunk first: a store with a clip that cannot be read is
    refused before anything is written, or with ``skip_unreadable`` copied without those
    clips and the rows that name them (the report says which)."""
    require_existing(src)
    su, du = parse_store_url(src), parse_store_url(dst)
    if su.url == du.url:
        raise ValueError("source and destination are the same store")
    created = du.path is not None and not du.path.exists()
    written: list[Path] = []
    s = ClipStore.open(src, src_clips)
    d: ClipStore | None = None
    try:
        rows = list(s.db.export_rows())
        check_names(s.db.where, rows)  # before anything is opened or written
        bad = unreadable_clips(s, rows)
        if bad and not skip_unreadable:
            cid, why = next(iter(bad.items()))
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise ValueError(
                f"store {s.db.where}: clip {cid}: {why}{more}; nothing was copied: copy the"
                " rest with --skip-unreadable"
            )
        rows, dropped = without_clips(rows, set(bad))
        names = sorted({r["chunk"] for t, r in rows if t == "clips"})
        d = ClipStore.open(dst, dst_clips)
        if not d.db.is_empty():
            raise ValueError(f"{d.db.where} is not empty: copy into a new or empty store")
        if d.root is None:
            n = d.db.import_rows(rows, ((name, s.read_chunk(name)) for name in names))
        else:
            for name in names:
                data = s.read_chunk(name)
                path = d.root / CHUNK_DIR / name
                if path.is_file() and path.read_bytes() == data:
                    continue  # the same file already (a store copied within one folder)
                d.write_chunk(name, data)
                written.append(path)
            n = d.db.import_rows(rows)
        return CopyReport(n, len(names), d.where, tuple(bad), dropped)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        if d is not None:
            d.db.close()
            d = None
        if created and du.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{du.path}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        s.db.close()
        if d is not None:
            d.db.close()


def export_store(url: str, out: str | os.PathLike[str]) -> int:
    """Write the store's rows as JSONL (see :meth:`PreferenceDB.export_jsonl`)."""
    require_existing(url)
    with PreferenceDB.open(url) as db:
        return db.export_jsonl(out)
