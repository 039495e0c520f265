"""``report.md`` from the report's data (the dict that also becomes ``metrics.json``)."""

from __future__ import annotations

from typing import Any

from rlhf_sandbox.agents.evaluation.harness.aggregate import OVERALL
from rlhf_sandbox.agents.evaluation.harness.metrics import BY_KEY, METRICS

_MARK = {"better": "better", "worse": "**worse**", "no significant difference": "same"}


def _fmt(v: float | None, key: str) -> str:
    if v is None:
        return "n/a"
    m = BY_KEY[key]
    if m.rate or m.unit == "share":
        return f"{100 * v:.1f} %"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def _cell(c: dict[str, Any], key: str) -> str:
    return f"{_fmt(c['value'], key)} [{_fmt(c['lo'], key)}, {_fmt(c['hi'], key)}]"


def _label(key: str) -> str:
    m = BY_KEY[key]
    return f"{m.label}" + (f" [{m.unit}]" if m.unit and m.unit != "share" else "")


def _table(summary: dict[str, Any], groups: list[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    lines.append("| episodes | " + " | ".join(str(summary[g]["episodes"]) for g in groups) + " |")
    for m in METRICS:
        cells = [_cell(summary[g]["metrics"][m.key], m.key) for g in groups]
        lines.append(f"| {_label(m.key)} ({m.better} is better) | " + " | ".join(cells) + " |")
    return lines


def markdown(data: dict[str, Any]) -> str:
    drivers = data["drivers"]
    groups = [*data["scenarios"], OVERALL]
    out = [f"# Evaluation: {drivers['policy']} on suite `{data['suite']}`", ""]
    if "baseline" in drivers:
        out += [f"Baseline: `{drivers['baseline']}`.", ""]
    out += [f"Note: {n}." for n in data.get("notes", [])] + ([""] if data.get("notes") else [])
    out += [
        "Values are means over episodes (rates: share of episodes) with 95 % intervals:",
        "Wilson for rates, bootstrap over episodes for the rest. Definitions: docs/HARNESS.md.",
        f"Oracle return: the `{data.get('oracle', 'courteous')}` oracle's.",
        "Score: PDMS-style, per episode; no at-fault collision (1, shared 0.5, at fault 0)",
        "times staying on the road, times the weighted mean of progress against IDM's in the",
        "same seeded episode, least time-to-collision within bound and comfort"
        + _weights(data.get("score")),
        "",
        "## Scenarios",
        "",
        "| scenario | env | episodes | settings |",
        "|---|---|---|---|",
    ]
    for name, s in data["scenarios"].items():
        settings = ", ".join(f"{k}={v}" for k, v in s["overrides"].items()) or "defaults"
        out.append(f"| {name} | {s['env_id']} | {len(s['seeds'])} | {settings} |")
    for run in drivers:
        out += ["", f"## {run}: `{drivers[run]}`", ""]
        out += _table(data["summary"][run], groups)
        ttc = data["summary"][run][OVERALL]["min_ttc_distribution"]
        if ttc:
            out += [
                "",
                "Minimum time-to-collision per episode (overall): "
                + ", ".join(f"{k} = {v:.3g}" for k, v in ttc.items()),
            ]
    if data.get("ab"):
        out += ["", "## A/B: policy - baseline", ""]
        out += [
            "Differences (policy minus baseline) with 95 % bootstrap intervals, paired by seed",
            "where both played the same seeds. Verdict per metric, in the metric's direction.",
            "",
        ]
        out += ["| metric | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
        for m in METRICS:
            cells = []
            for g in groups:
                c = data["ab"][g][m.key]
                cells.append(f"{_cell(c, m.key)} {_MARK.get(c['verdict'], c['verdict'])}")
            out.append(f"| {_label(m.key)} | " + " | ".join(cells) + " |")
    out += _collisions(data)
    out += ["", "## Plots", "", "![scenarios](scenarios.png)", "", "![ttc](ttc_hist.png)"]
    out += ["", "![speed](speed_hist.png)", "", "## Worst episodes of the policy", ""]
    for w in data["worst"]:
        why = f" (collision, fault: {w['fault']}: {w['rule']})" if w.get("fault") else ""
        out.append(f"- {w['scenario']}, seed {w['seed']}{why}: ![]({w['gif']})")
    if not data["worst"]:
        out.append("none")
    return "\n".join(out) + "\n"


def _weights(score: dict[str, Any] | None) -> str:
    if not score:
        return "."
    w = score["weights"]
    return (
        f" (weights {w['progress']:g} : {w['ttc']:g} : {w['comfort']:g}; TTC bound"
        f" {score['ttc_bound_s']:g} s). Rules of fault and the score: docs/HARNESS.md."
    )


def _collisions(data: dict[str, Any]) -> list[str]:
    """Each run's collisions with the rules' verdict on them."""
    runs = data.get("collisions") or {}
    if not runs:
        return []
    out = ["", "## Collisions and fault", ""]
    for run, rows in runs.items():
        counts = {f: sum(r["fault"] == f for r in rows) for f in ("ego", "other", "shared")}
        out.append(
            f"{run}: {len(rows)} collisions; the ego at fault in {counts['ego']}, the other"
            f" vehicle in {counts['other']}, shared in {counts['shared']}."
        )
        if rows:
            out += ["", "| scenario | seed | at [s] | fault | rule |", "|---|---|---|---|---|"]
            out += [
                f"| {r['scenario']} | {r['seed']} | {r['time_s']:.1f} | {r['fault']} |"
                f" {r['rule']} |"
                for r in rows
            ]
        out.append("")
    return out
