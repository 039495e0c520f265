"""``rlhf-sandbox raters``: how people answered: counts, agreement, self-consistency,
position bias, win rates (see :mod:`rlhf_sandbox.agents.feedback.rater_stats`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from rlhf_sandbox.cli.common import (
    ClipsURLOption,
    RoleOption,
    StoreURLOption,
    fail,
    open_store,
    role_folder,
    store_errors,
)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def command(
    run: Annotated[Path | None, typer.Option(help="run folder to report on")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    alpha: Annotated[float, typer.Option(help="significance level of the bias test")] = 0.05,
    store_url: StoreURLOption = None,
    clips_url: ClipsURLOption = None,
    role: RoleOption = None,
) -> None:
    """Per-rater counts, agreement (kappa), self-consistency, position bias; win rates."""
    from rlhf_sandbox.agents.feedback import clip_queue as cq
    from rlhf_sandbox.agents.feedback.fault_calls import fault_agreement
    from rlhf_sandbox.agents.feedback.rater_stats import report

    try:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"--alpha must be in (0, 1), got {alpha}")
        if store_url is not None:
            store = open_store(store_url, clips_url)
        elif run is None:
            raise ValueError("give --run (a run folder) or --store (a store URL)")
        else:
            store = role_folder(run, role)[0].open_store()
    except store_errors() as e:
        raise fail(str(e)) from None
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
        fault = fault_agreement(db)
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps({**rep.to_json(), "fault": [f.to_json() for f in fault]}, indent=2))
        return
    _tables(rep, len(queries), len(labels))
    if fault:
        _fault_table(fault)


def _fault_table(rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="fault calls against the rules (docs/HARNESS.md)")
    for col in ("rater", "calls", "as the rules [95% Wilson]", "can't tell", "rules -> theirs"):
        t.add_column(col)
    for f in rows:
        lo, hi = f.interval
        share = f"{_fmt(f.share)} [{lo:.2f}, {hi:.2f}]"
        conf = "; ".join(
            f"{a}: " + ", ".join(f"{b} {n}" for b, n in sorted(row.items()))
            for a, row in sorted(f.confusion.items())
        )
        t.add_row(f.rater, str(f.called), share, str(f.cant_tell), conf)
    Console().print(t)


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
