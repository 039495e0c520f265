"""A sweep's summary: one row per run in CSV, JSON and Markdown, and a plot comparing them.

``summary.csv`` columns: ``run_id``, one per swept key (``seed`` for ``seeds``), then
:data:`METRIC_COLUMNS`, ``wall_s``, ``status`` (``ok``, ``failed``, ``pending``), ``host``
and ``error``. ``summary.png``: the trained policy's mean oracle return by each swept
value, one point per run (coloured by seed when seeds are swept), the mean as a bar.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhf_sandbox.agents.sweep.config import SEEDS, SweepPlan
from rlhf_sandbox.files import atomic_path

METRIC_COLUMNS = (
    "oracle_return", "env_return", "ended_early", "random_oracle_return",
    "oracle_ppo_return", "heldout_accuracy", "labels_given", "timesteps",
)  # fmt: skip
STATUSES = ("ok", "failed", "pending")


@dataclass(frozen=True)
class RunRow:
    """A run as the summary shows it."""

    run_id: str
    values: dict[str, Any]
    status: str  # ok | failed | pending
    metrics: dict[str, Any]
    wall_s: float | None
    host: str | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "values": self.values,
            "status": self.status,
            **{k: self.metrics.get(k) for k in METRIC_COLUMNS},
            "wall_s": self.wall_s,
            "host": self.host,
            "error": self.error,
        }


def column(key: str) -> str:
    return "seed" if key == SEEDS else key


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


def write_summary(out: Path, plan: SweepPlan, rows: list[RunRow]) -> None:
    """``summary.csv``, ``summary.json`` and ``summary.md`` (each written atomically)."""
    header = ["run_id", *map(column, plan.keys), *METRIC_COLUMNS, "wall_s", "status"]
    header += ["host", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        j = r.to_json()
        w.writerow([
            r.run_id, *(_cell(r.values[k]) for k in plan.keys),
            *(_cell(j[k]) for k in METRIC_COLUMNS), _cell(r.wall_s), r.status,
            r.host or "", r.error or "",
        ])  # fmt: skip
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    data = {
        "format": "rlhf_sandbox.sweep_summary/1",
        "source": plan.source,
        "keys": list(plan.keys),
        "options": plan.options.to_json(),
        "counts": counts,
        "runs": [r.to_json() for r in rows],
    }
    with atomic_path(out / "summary.csv") as tmp:
        tmp.write_text(buf.getvalue())
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(markdown(plan, rows, counts))


def markdown(plan: SweepPlan, rows: list[RunRow], counts: dict[str, int]) -> str:
    cols = ["oracle_return", "env_return", "ended_early", "heldout_accuracy", "labels_given"]
    head = ["run", *map(column, plan.keys), *cols, "wall [s]", "status"]
    lines = [
        f"# Sweep: {plan.source}",
        "",
        f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ".",
        "Returns are the trained policy's means over the report's evaluation episodes"
        f" ({plan.options.eval_episodes} per run, fresh seeds).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        j = r.to_json()
        status = r.status if r.error is None else f"{r.status}: {r.error[:120]}"
        cells = [
            f"[{r.run_id}](runs/{r.run_id}/report/report.md)" if r.status == "ok" else r.run_id
        ]
        cells += [_cell(r.values[k]) for k in plan.keys]
        cells += [f"{j[k]:.2f}" if isinstance(j[k], float) else _cell(j[k]) for k in cols]
        cells += [_cell(r.wall_s), status.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "![oracle return by swept value](summary.png)", ""]
    return "\n".join(lines)


def write_plot(path: Path, plan: SweepPlan, rows: list[RunRow]) -> None:
    """Mean oracle return of each run by swept value; one panel per swept key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    keys = [k for k in plan.keys if k != SEEDS] or list(plan.keys) or [""]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys) + 1, 3.4), squeeze=False)
    seeds = sorted({r.values[SEEDS] for r in rows if SEEDS in r.values})
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], keys, strict=True):
        labels = [_cell(v) for v in _values(plan, key)]
        for i, label in enumerate(labels):
            here = [r for r in rows if not key or _cell(r.values[key]) == label]
            ok = [r for r in here if r.status == "ok" and _y(r) is not None]
            ys = np.array([_y(r) for r in ok], dtype=float)
            if ys.size:
                ax.bar(i, ys.mean(), width=0.6, color="0.85", zorder=1)
            for j, r in enumerate(ok):
                s = r.values.get(SEEDS)
                color = cmap(seeds.index(s) % 10) if s in seeds else "tab:blue"
                dx = 0.25 * ((j + 0.5) / len(ok) - 0.5)
                ax.scatter(i + dx, ys[j], s=18, color=color, zorder=2)
            failed = sum(r.status == "failed" for r in here)
            if failed:
                where = ("data", "axes fraction")
                ax.annotate(
                    f"{failed} failed", (i, 0), xycoords=where, ha="center", color="tab:red"
                )
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
        ax.set_xlabel(column(key) if key else "run")
        ax.set_ylabel("oracle return (mean)")
    if seeds and len(seeds) <= 10:
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=cmap(i % 10), label=f"seed {s}")
            for i, s in enumerate(seeds)
        ]
        axes[0][-1].legend(handles=handles, fontsize=7)
    fig.suptitle(f"Sweep: oracle return by swept value ({len(rows)} runs)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _values(plan: SweepPlan, key: str) -> list[Any]:
    if not key:
        return [""]
    seen: list[Any] = []
    for spec in plan.runs:
        if spec.values[key] not in seen:
            seen.append(spec.values[key])
    return seen


def _y(r: RunRow) -> float | None:
    v = r.metrics.get("oracle_return")
    return float(v) if isinstance(v, int | float) else None
