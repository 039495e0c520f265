"""``rlhf-sandbox label``: the labelling app on a run folder.

``label --run runs/NAME [--rater NAME] [--mode compare|rate] [--tags a,b,c]`` opens a window
comparing (or rating) the run's clips; it can run beside ``train --teacher human`` on the
same folder, and several at once (each query goes to ``raters_per_query`` raters).
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.cli.common import ClipsURLOption, RoleOption, fail, role_folder, setup


def _tags(spec: str) -> list[str]:
    tags = [t.strip() for t in spec.split(",") if t.strip()]
    if len(set(tags)) != len(tags):
        raise ValueError(f"--tags {spec!r}: a tag is given twice")
    return tags


def command(
    run: Annotated[
        Path | None,
        typer.Option(help="run folder (as `train --out` made it); with --store: optional"),
    ] = None,
    rater: Annotated[
        str | None, typer.Option(help="your name, recorded with each label [default: $USER]")
    ] = None,
    mode: Annotated[str, typer.Option(help="compare (two clips) or rate (one clip)")] = "compare",
    tags: Annotated[
        str, typer.Option(help="tags to offer, comma-separated (at most 8)")
    ] = "unsafe,off-task,unnatural,boring",
    store_run: Annotated[
        str | None, typer.Option(help="run name inside the store [default: main, or the only one]")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the left/right placement")] = None,
    fps: Annotated[int, typer.Option(min=1, help="frames drawn per second")] = 60,
    store: Annotated[
        str | None, typer.Option(help="a shared store's URL (postgresql://USER@HOST:PORT/DB)")
    ] = None,
    clips_url: ClipsURLOption = None,
    role: RoleOption = None,
) -> None:
    """Label a run's clips in a window: compare pairs or rate clips, with tags and comments."""
    from rlhf_sandbox.feedback_ui.items import MODES
    from rlhf_sandbox.feedback_ui.label_keys import MAX_TAGS

    if mode not in MODES:
        raise fail(f"unknown mode {mode!r}: compare or rate")
    try:
        tag_list = _tags(tags)
    except ValueError as e:
        raise fail(str(e)) from None
    if len(tag_list) > MAX_TAGS:
        raise fail(f"--tags: at most {MAX_TAGS} tags, got {len(tag_list)}")
    if store is None and run is None:
        raise fail("give --run (a run folder) or --store (a store URL)")
    if run is None:
        run = Path(".")
    elif not run.is_dir():
        raise fail(f"run folder {run} not found")
    else:
        try:
            run = role_folder(run, role)[0].path
        except ValueError as e:
            raise fail(str(e)) from None
    from rlhf_sandbox.store.run_folder import RunFolder

    own = RunFolder(run).db
    if store is None and not own.is_file():
        raise fail(f"{run}: no {own} (not a run folder: make one with `train`)")
    name = rater or os.environ.get("USER") or getpass.getuser()
    if not name.strip():
        raise fail("--rater: give a name")
    setup(window=True)
    import pygame

    from rlhf_sandbox.feedback_ui.label_app import LabelApp
    from rlhf_sandbox.store.db import SchemaVersionError, StoreConnectionError

    try:
        app = LabelApp(
            run, rater=name.strip(), mode=mode, tags=tag_list, run=store_run, seed=seed,
            store=store, clips=clips_url,
        )  # fmt: skip
    except (ValueError, FileNotFoundError, SchemaVersionError, StoreConnectionError) as e:
        raise fail(str(e)) from None
    except pygame.error as e:
        raise fail(f"cannot open a window ({e}); is there a display?") from None
    app.run(fps=fps)
    done = len(app.ctl.acked) - len(app.ctl.undone)
    where = app.db.where if store else run  # (a URL may hold a password: not printed)
    typer.echo(f"{done} {'labels' if mode == 'compare' else 'ratings'} saved by {name} in {where}")
    exit_now()


def exit_now() -> None:
    """End the process at once, as a program run from a terminal (not under a test's
    runner, which replaces stdout). Every answer is committed, the claims are given back,
    the window and the store are closed: what is left is the interpreter's teardown of
    the modules the command line imported (torch's alone takes 0.4 s), which would hold
    a quit past half a second."""
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        return
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)
