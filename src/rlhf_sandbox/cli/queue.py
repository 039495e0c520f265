"""``rlhf-sandbox queue``: queries from stored clips, for people to label (``label``).

``queue --run runs/NAME --policies A B | --clips G [--clips G2] | --demos`` adds queries to a
run folder's store (a new judging folder when it has none) or a shared one (``--store``).
``--question TEXT --rubric FILE`` sets what raters of the run are asked (shown above the
clips in ``label``); with neither clip option they are set alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.cli.common import (
    ClipsURLOption,
    StoreURLOption,
    fail,
    open_store,
    read_rubric,
    store_errors,
)
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB, check_task
from rlhf_sandbox.store.run_folder import RUN, RunFolder


def _set_task(db: PreferenceDB, run: str, question: str | None, rubric: str | None) -> None:
    """Set the run's question and rubric; one not given keeps its stored value."""
    if question is None and rubric is None:
        return
    old = db.run_question(run)
    q = question if question is not None else (old.question if old else "")
    r = rubric if rubric is not None else (old.rubric if old else "")
    db.set_run_question(run, q, r)


def command(
    run: Annotated[
        Path | None, typer.Option(help="run folder whose store gets the queries (made if new)")
    ] = None,
    policies: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="two clip groups head to head: clip run names, or folders with a store"
            " (runs/NAME, reports/NAME), optionally FOLDER:GROUP (reports/NAME:baseline)"
        ),
    ] = None,
    clips: Annotated[
        list[str] | None, typer.Option(help="clip group(s) to pair among (repeatable)")
    ] = None,
    demos: Annotated[
        bool, typer.Option(help="demonstrations and corrections against policy clips")
    ] = False,
    collisions: Annotated[
        Path | None,
        typer.Option(
            help="an evaluate report folder: its collision clips, for people to judge whose"
            " fault each was (rate mode, fault tags), beside the rules' verdicts"
        ),
    ] = None,
    pairs: Annotated[int | None, typer.Option(min=1, help="at most this many pairs")] = None,
    raters_per_query: Annotated[int, typer.Option(min=1, help="raters wanted per query")] = 1,
    repeat_share: Annotated[
        float, typer.Option(help="share of pairs asked again, sides swapped")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of pairing and placement")] = 0,
    query_run: Annotated[str, typer.Option(help="run name of the queries in the store")] = RUN,
    question: Annotated[
        str | None,
        typer.Option(help="the question raters see above the clips (one line), for this run"),
    ] = None,
    rubric: Annotated[
        Path | None, typer.Option(help="a UTF-8 text file: how to judge, shown under the question")
    ] = None,
    store_url: StoreURLOption = None,
    clips_url: ClipsURLOption = None,
) -> None:
    """Turn stored clips into queries: policies head to head, clip groups, demonstrations;
    set the question and rubric raters see."""
    import numpy as np

    from rlhf_sandbox.agents.feedback import clip_queue as cq
    from rlhf_sandbox.agents.feedback import fault_calls as fc

    chosen = [policies is not None, bool(clips), demos, collisions is not None]
    task_only = sum(chosen) == 0 and (question is not None or rubric is not None)
    try:
        rubric_text = read_rubric(rubric)
        if question is not None or rubric is not None:
            check_task(question or "", rubric_text or "")
        if sum(chosen) != 1 and not task_only:
            raise ValueError(
                "give exactly one of --policies A B, --clips G, --demos, --collisions REPORT"
            )
        if collisions is not None:
            fc.collision_rows(collisions)  # a report with no collision clip: nothing written
        if policies is not None and policies[0] == policies[1]:
            raise ValueError(
                f"--policies needs two different clip groups, got {policies[0]!r} twice"
            )
        if not 0.0 <= repeat_share <= 1.0:
            raise ValueError(f"--repeat-share must be in [0, 1], got {repeat_share}")
        if run is None and store_url is None:
            raise ValueError("give --run (a run folder) or --store (a store URL)")
        fresh = [p for p in (run, RunFolder(run).store_dir) if not p.exists()] if run else []
        if store_url is not None:
            store = open_store(store_url, clips_url)
        else:
            assert run is not None
            make = policies is not None or bool(clips) or collisions is not None
            store = RunFolder(run).open_store(create=make)
    except store_errors() as e:
        raise fail(str(e)) from None
    if task_only:
        try:
            _set_task(store.db, query_run, question, rubric_text)
        finally:
            store.db.close()
        typer.echo(f"set the question and rubric of run {query_run!r}")
        return
    if collisions is not None:
        _queue_collisions(store, collisions, query_run, question, rubric_text, fresh)
        return
    rng = np.random.default_rng(seed)
    try:
        if policies is not None:
            a, b = (cq.resolve_group(store, g) for g in policies)
            made = cq.head_to_head(a, b, rng, pairs)
        elif clips:
            rows = [r for g in clips for r in cq.resolve_group(store, g)]
            made = cq.among(rows, rng, pairs)
        else:
            made = cq.demos_vs_policy(store.db, query_run, rng, pairs)
        if not made:
            raise ValueError("no pair of clips of the same env and length to compare")
        made = cq.with_repeats(made, repeat_share, rng)
        for g in [*(policies or ()), *(clips or ())]:  # other stores' clips, now it is sure
            cq.import_group(store, g)
        ids = cq.enqueue(store.db, query_run, made, raters_per_query)
        _set_task(store.db, query_run, question, rubric_text)
    except ValueError as e:
        store.db.close()
        if fresh:  # a new judging folder that got nothing: leave no empty store behind
            shutil.rmtree(fresh[0], ignore_errors=True)
        raise fail(str(e)) from None
    finally:
        store.db.close()
    n_rep = sum(p.method.endswith(cq.REPEAT) for p in made)
    typer.echo(
        f"queued {len(ids)} queries ({len(ids) - n_rep} pairs + {n_rep} repeats, "
        f"{raters_per_query} rater(s) each) in {store.db.where if store_url else f'{run}/store'}"
        f", run {query_run!r}"
    )


def _queue_collisions(
    store: ClipStore, report: Path, run: str, question: str | None, rubric: str | None,
    fresh: list[Path],
) -> None:  # fmt: skip
    """The report's collision clips into ``store`` for rating, with the fault question."""
    from rlhf_sandbox.agents.feedback import fault_calls as fc

    try:
        n = fc.queue_collisions(store, report, run)
        _set_task(store.db, run, question or fc.QUESTION, rubric or fc.RUBRIC)
    except ValueError as e:
        store.db.close()
        if fresh:
            shutil.rmtree(fresh[0], ignore_errors=True)
        raise fail(str(e)) from None
    finally:
        store.db.close()
    tags = ",".join(fc.TAGS)
    typer.echo(
        f"queued {n} collision clips of {report} (run {run!r}) with the rules' verdicts;"
        f' rate them: rlhf-sandbox label ... --mode rate --tags "{tags}"'
    )
