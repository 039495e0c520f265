"""``rlhf-sandbox queue`` (queries from stored clips) and ``rlhf-sandbox raters``.

``queue --run runs/NAME --policies A B | --clips G [--clips G2] | --demos`` adds queries
for people to label (``label``); ``raters --run runs/NAME [--json]`` reports how they
answered (see :mod:`rlhf_sandbox.agents.rater_stats` for the definitions).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli_store import ClipsURLOption, StoreURLOption, open_store
from rlhf_sandbox.cli_train import _fail

QUERY_RUN = "main"  # the run a run folder's own queries belong to (agents.rlhf.RUN)


def _open(run: Path, create: bool = False) -> Any:
    """The run folder's store; ``create``: a new one in a folder that has none (a judging
    session without a trainer), never inside a file."""
    from rlhf_sandbox.store.clips import FOLDER_DB, ClipStore
    from rlhf_sandbox.store.db import PreferenceDB

    db_path = run / FOLDER_DB
    if not db_path.is_file():
        if not create:
            raise ValueError(f"no store in {run} ({db_path} not found)")
        if run.exists() and not run.is_dir():
            raise ValueError(f"{run} is a file, not a run folder")
        db_path.parent.mkdir(parents=True, exist_ok=True)
    return ClipStore(run / "store", PreferenceDB(db_path))


def queue(
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
    pairs: Annotated[int | None, typer.Option(min=1, help="at most this many pairs")] = None,
    raters_per_query: Annotated[int, typer.Option(min=1, help="raters wanted per query")] = 1,
    repeat_share: Annotated[
        float, typer.Option(help="share of pairs asked again, sides swapped")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of pairing and placement")] = 0,
    query_run: Annotated[str, typer.Option(help="run name of the queries in the store")] = (
        QUERY_RUN
    ),
    store_url: StoreURLOption = None,
    clips_url: ClipsURLOption = None,
) -> None:
    """Turn stored clips into queries: policies head to head, clip groups, demonstrations."""
    import numpy as np

    from rlhf_sandbox.agents import clip_queue as cq

    chosen = [policies is not None, bool(clips), demos]
    try:
        if sum(chosen) != 1:
            raise ValueError("give exactly one of --policies A B, --clips G, --demos")
        if policies is not None and policies[0] == policies[1]:
            raise ValueError(
                f"--policies needs two different clip groups, got {policies[0]!r} twice"
            )
        if not 0.0 <= repeat_share <= 1.0:
            raise ValueError(f"--repeat-share must be in [0, 1], got {repeat_share}")
        if run is None and store_url is None:
            raise ValueError("give --run (a run folder) or --store (a store URL)")
        fresh = [p for p in (run, run / "store") if not p.exists()] if run else []
        if store_url is not None:
            store = open_store(store_url, clips_url)
        else:
            assert run is not None
            store = _open(run, create=policies is not None or bool(clips))
    except ValueError as e:
        raise _fail(str(e)) from None
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
    except ValueError as e:
        store.db.close()
        if fresh:  # a new judging folder that got nothing: leave no empty store behind
            shutil.rmtree(fresh[0], ignore_errors=True)
        raise _fail(str(e)) from None
    finally:
        store.db.close()
    n_rep = sum(p.method.endswith(cq.REPEAT) for p in made)
    typer.echo(
        f"queued {len(ids)} queries ({len(ids) - n_rep} pairs + {n_rep} repeats, "
        f"{raters_per_query} rater(s) each) in {store.db.where if store_url else f'{run}/store'}"
        f", run {query_run!r}"
    )


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def raters(
    run: Annotated[Path | None, typer.Option(help="run folder to report on")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    alpha: Annotated[float, typer.Option(help="significance level of the bias test")] = 0.05,
    store_url: StoreURLOption = None,
    clips_url: ClipsURLOption = None,
) -> None:
    """Per-rater counts, agreement (kappa), self-consistency, position bias; win rates."""
    from rlhf_sandbox.agents import clip_queue as cq
    from rlhf_sandbox.agents.rater_stats import report

    try:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"--alpha must be in (0, 1), got {alpha}")
        if store_url is not None:
            store = open_store(store_url, clips_url)
        elif run is None:
            raise ValueError("give --run (a run folder) or --store (a store URL)")
        else:
            store = _open(run)
    except ValueError as e:
        raise _fail(str(e)) from None
    db = store.db
    try:
        queries, labels = db.queries(), db.labels()
        demo_kind = {d.clip: d.kind for d in db.demonstrations()}
        groups: dict[str, str] = {}

        def group_of(clip: str) -> str:
            if clip not in groups:
                groups[clip] = demo_kind.get(clip) or db.get_clip(clip).run
            return groups[clip]

        rep = report(
            queries, labels, group_of, head_to_head=lambda q: cq.is_head_to_head(q.method),
            alpha=alpha,
        )  # fmt: skip
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps(rep.to_json(), indent=2))
        return
    _tables(rep, len(queries), len(labels))


def _tables(rep: Any, n_queries: int, n_labels: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{n_queries} queries, {n_labels} labels")
    t = Table(title="raters")
    for col in ("rater", "labels", "left/right/equal/skip", "left share [95%]", "bias p"):
        t.add_column(col, justify="right" if col != "rater" else "left")
    t.add_column("self-consistency (repeats)", justify="right")
    for r in rep.raters:
        c = r.choices
        counts = "/".join(str(c.get(k, 0)) for k in ("left", "right", "equal", "cant_tell"))
        lo, hi = r.left_interval
        share = f"{_fmt(r.left_share)} [{lo:.2f}, {hi:.2f}]"
        p = f"{r.position_p:.3g}" + (" [bold red]biased[/]" if r.position_biased else "")
        sc = f"{_fmt(r.self_consistency)} ({r.repeats})"
        t.add_row(r.rater, str(r.labels), counts, share, p, sc)
    console.print(t)
    if rep.pairs:
        a = Table(title="agreement (Cohen's kappa)")
        for col in ("raters", "shared items", "agreement", "kappa"):
            a.add_column(col)
        for p in rep.pairs:
            a.add_row(" / ".join(p.raters), str(p.items), _fmt(p.agreement), _fmt(p.kappa))
        console.print(a)
    if rep.fleiss is not None:
        console.print(f"Fleiss' kappa: {_fmt(rep.fleiss)} over {rep.fleiss_items} items")
    if rep.win_rates:
        w = Table(title="win rates (head to head; ties count half)")
        for col in ("group", "answers", "wins", "losses", "ties", "win rate [95% Wilson]"):
            w.add_column(col)
        for g in rep.win_rates:
            lo, hi = g.interval
            w.add_row(
                g.group, str(g.answers), str(g.wins), str(g.losses), str(g.ties),
                f"{g.rate:.2f} [{lo:.2f}, {hi:.2f}]",
            )  # fmt: skip
        console.print(w)
