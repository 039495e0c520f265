"""``rlhf-sandbox store ...``: the preference store behind a URL.

``store migrate URL`` upgrades a store's schema in place; ``store verify URL`` lists rows
whose names are not ours (planted paths) and clips whose chunks cannot be read; ``store copy
SRC DST`` copies a whole store (rows and clip chunks), e.g. a laptop's SQLite file up to the team's
PostgreSQL server and back; ``store export URL FILE`` writes its rows as JSONL; ``store info
URL`` shows its version and contents. URLs: ``sqlite:///PATH`` (or a path) and
``postgresql://USER@HOST:PORT/DB``; clips URLs: ``file:///DIR`` (or a path) and ``db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.cli.common import CLIPS_HELP, URL_HELP, fail, guarded, open_store, store_errors

app = typer.Typer(
    help="The preference store: migrate, verify, copy, export, info (SQLite or PostgreSQL URLs).",
    no_args_is_help=True,
)


@app.command()
@guarded
def migrate(url: Annotated[str, typer.Argument(help=URL_HELP)]) -> None:
    """Upgrade a store's schema to this version of rlhf-sandbox, in place (one transaction)."""
    from rlhf_sandbox.store.copy import migrate_store

    try:
        old, new = migrate_store(url)
    except store_errors() as e:
        raise fail(str(e)) from None
    if old == new:
        typer.echo(f"{url}: schema version {new}, nothing to do")
    else:
        typer.echo(f"{url}: schema version {old} -> {new}")


@app.command()
@guarded
def copy(
    src: Annotated[str, typer.Argument(help="the store to copy: " + URL_HELP)],
    dst: Annotated[str, typer.Argument(help="a new or empty store: " + URL_HELP)],
    src_clips: Annotated[str | None, typer.Option(help="source " + CLIPS_HELP)] = None,
    dst_clips: Annotated[str | None, typer.Option(help="destination " + CLIPS_HELP)] = None,
    skip_unreadable: Annotated[
        bool,
        typer.Option(help="copy the rest when some clips cannot be read (they are named)"),
    ] = False,
) -> None:
    """Copy a whole store (runs, clips and their chunks, queries, labels, ratings,
    demonstrations, reward models) into a new or empty one; all or nothing."""
    from rlhf_sandbox.store.copy import copy_store
    from rlhf_sandbox.store.url import shown

    try:
        r = copy_store(
            src, dst, src_clips=src_clips, dst_clips=dst_clips, skip_unreadable=skip_unreadable
        )
    except store_errors() as e:
        raise fail(str(e)) from None
    if r.skipped:
        rows = ", ".join(f"{n} {t}" for t, n in sorted(r.dropped.items()))
        typer.echo(
            f"skipped {len(r.skipped)} clip(s) whose chunks cannot be read, and the rows that"
            f" name them ({rows}): {', '.join(r.skipped)}"
        )
    typer.echo(
        f"copied {r.rows} rows and {r.chunks} clip chunks to {shown(dst)[1:-1]}"
        f" (chunks: {r.chunks_to})"
    )


@app.command()
@guarded
def export(
    url: Annotated[str, typer.Argument(help=URL_HELP)],
    out: Annotated[Path, typer.Argument(help="JSONL file to write")],
) -> None:
    """Write every row of a store as JSONL (one consistent snapshot; claims and chunks
    left out), the same bytes from either backend for the same rows."""
    from rlhf_sandbox.store.copy import export_store

    if not out.parent.is_dir():
        raise fail(f"folder {out.parent} not found")
    try:
        n = export_store(url, out)
    except store_errors() as e:
        raise fail(str(e)) from None
    typer.echo(f"wrote {n} rows to {out}")


@app.command()
@guarded
def info(url: Annotated[str, typer.Argument(help=URL_HELP)]) -> None:
    """A store's schema version, migrations and contents per run."""
    from rlhf_sandbox.store.copy import require_existing
    from rlhf_sandbox.store.db import PreferenceDB

    try:
        require_existing(url)
        with PreferenceDB.open(url) as db:
            typer.echo(f"{db.where}: schema version {db.schema_version()}")
            for v, when in db.migrations():
                typer.echo(f"  version {v} applied {when}")
            typer.echo(f"  chunks in the database: {len(db.db_chunks())}")
            for run in db.runs():
                typer.echo(
                    f"  run {run.name!r}: {len(db.clip_ids(run.name))} clips, "
                    f"{len(db.queries(run.name))} queries, {db.label_count(run.name)} labels"
                )
    except store_errors() as e:
        raise fail(str(e)) from None


@app.command()
@guarded
def verify(
    url: Annotated[str, typer.Argument(help=URL_HELP)],
    clips: Annotated[str | None, typer.Option(help=CLIPS_HELP)] = None,
) -> None:
    """List rows whose file names are not ours (a chunk named ``../x``: planted, never
    opened) and clips whose chunks cannot be read; exit 1 when there are any."""
    from rlhf_sandbox.store.verify import verify_store

    store = open_store(url, clips, must_exist=True)
    try:
        r = verify_store(store)
    except store_errors() as e:
        raise fail(str(e)) from None
    finally:
        store.db.close()
    for line in r.problems:
        typer.echo(line)
    models = f"{r.reward_models} reward model{'' if r.reward_models == 1 else 's'}"
    seen = f"{r.clips} clips in {r.chunks} chunks, {models}"
    if not r.problems:
        typer.echo(f"{r.where}: {seen}: no problem found")
        return
    n = len(r.problems)
    typer.echo(f"{r.where}: {seen}: {n} problem{'s' if n > 1 else ''}")
    raise typer.Exit(code=1)
