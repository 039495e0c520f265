"""The report's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.harness.metrics import BY_KEY, TTC_CAP
from rlhf_sandbox.agents.evaluation.harness.runner import SuiteResult
from rlhf_sandbox.files import atomic_path

BAR_METRICS = (
    "score", "collision", "at_fault_collision", "off_road", "mean_speed", "progress",
    "short_headway", "min_ttc", "hard_brakes_per_min", "oracle_return",
)  # fmt: skip
COLOURS = ("tab:blue", "tab:orange")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def scenario_bars(
    path: Path, summaries: dict[str, dict[str, Any]], names: list[str], scenarios: list[str]
) -> None:
    """One panel per metric: a bar per scenario (and overall) per run, with 95 % intervals.

    ``summaries[run_name]`` is :func:`aggregate.summarize_run`'s output for that run.
    """
    plt = _pyplot()
    cols = 4
    rows = -(-len(BAR_METRICS) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    x = np.arange(len(scenarios))
    width = 0.8 / max(len(names), 1)
    for ax, key in zip(axes.ravel(), BAR_METRICS, strict=False):
        for j, name in enumerate(names):
            cells = [summaries[name][s]["metrics"][key] for s in scenarios]
            val = np.array([_f(c["value"]) for c in cells])
            lo = np.array([_f(c["lo"]) for c in cells])
            hi = np.array([_f(c["hi"]) for c in cells])
            err = np.stack([np.nan_to_num(val - lo), np.nan_to_num(hi - val)])
            ax.bar(
                x + (j - (len(names) - 1) / 2) * width, np.nan_to_num(val), width,
                yerr=np.maximum(err, 0.0), capsize=2, color=COLOURS[j % 2], label=name,
            )  # fmt: skip
        m = BY_KEY[key]
        unit = f" [{m.unit}]" if m.unit else ""
        ax.set_title(f"{m.label}{unit}\n({m.better} is better)", fontsize=9)
        ax.set_xticks(x, scenarios, rotation=35, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes.ravel()[len(BAR_METRICS) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Per-scenario metrics with 95 % intervals", fontsize=11)
    _save(plt, fig, path)


def _f(v: float | None) -> float:
    return np.nan if v is None else float(v)


def histograms(path_ttc: Path, path_speed: Path, runs: dict[str, SuiteResult]) -> None:
    """Minimum time-to-collision per episode, and the ego's speed over all steps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(0.0, TTC_CAP, 21)
    for j, (name, run) in enumerate(runs.items()):
        v = np.array([e.metrics["min_ttc"] for e in run.episodes])
        ax.hist(v, bins=bins, alpha=0.6, color=COLOURS[j % 2], label=f"{name} ({v.size} ep.)")
    ax.set(xlabel="minimum time-to-collision per episode [s] (10 = no threat)", ylabel="episodes")
    ax.legend(fontsize=8)
    _save(plt, fig, path_ttc)

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for j, (name, run) in enumerate(runs.items()):
        v = np.concatenate([e.features["speed"] for e in run.episodes])
        ax.hist(v, bins=30, alpha=0.6, color=COLOURS[j % 2], label=f"{name} ({v.size} steps)")
    ax.set(xlabel="ego speed [m/s] (every policy step)", ylabel="steps")
    ax.legend(fontsize=8)
    _save(plt, fig, path_speed)
