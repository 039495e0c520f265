"""``report.md`` from ``report.json``'s data: returns, how far to trust the reward model,
labels, the policy."""

from __future__ import annotations

from typing import Any

from rlhf_sandbox.agents.rlhf.settings import RLHFSettings


def num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def markdown(s: RLHFSettings, data: dict[str, Any], gif: bool) -> str:
    lines = [
        f"# RLHF run: {s.env_id}, teacher {s.teacher_value.spec}",
        "",
        f"{s.timesteps} env steps, {s.labels} labels asked, clips of {s.clip_seconds} s,"
        f" queries by {s.query_method}, {s.ppo.algo.upper()} with {s.ppo.n_envs} envs.",
        "",
        "## Policy returns (mean over evaluation episodes, fresh seeds)",
        "",
        "| policy | oracle return | env return | episodes ended early |",
        "|---|---|---|---|",
    ]
    for k, v in data["scores"].items():
        lines.append(
            f"| {k} | {num(v['oracle_return'])} | {num(v['env_return'])}"
            f" | {v['terminated']}/{v['episodes']} |"
        )
    lines += ["", "![returns](returns.png)", ""]
    lines += fidelity_lines(data.get("fidelity"), s)
    versions = data["reward_model_versions"]
    last = versions[-1] if versions else {}
    lines += [
        "## Reward model fits",
        "",
        f"{len(versions)} versions; the last: accuracy {num(last.get('heldout_accuracy'))} on"
        f" the {last.get('n_heldout', 0)} pairs that chose its epoch (early stopping, so"
        f" biased upwards), train accuracy {num(last.get('train_accuracy'))}. Learned vs"
        f" oracle reward per evaluation step: Pearson r ="
        f" {num(data['learned_oracle_correlation'])}.",
        "",
        "![reward model](reward_model.png) ![correlation](correlation.png)",
        "",
        "## Labels",
        "",
        ", ".join(f"{k}: {v}" for k, v in data["labels"].items()) or "none",
        "",
        "![labels](labels.png)",
        "",
    ]
    if gif:
        lines += ["## The policy", "", "![policy](policy.gif)", ""]
    return "\n".join(lines)


def fidelity_lines(f: dict[str, Any] | None, s: RLHFSettings) -> list[str]:
    """The section "How far to trust the reward model"."""
    out = ["## How far to trust the reward model", ""]
    if not f:
        return [*out, "No reward model was fitted (no usable labels).", ""]
    seeds = f["eval_seeds"]
    held = f["heldout_labels"]
    if "pool" in f:
        pool = f["pool"]
        policies = ", ".join(f["pool_policies"])
        out += [
            f"On a fixed pool of {pool['n_pairs']} pairs of {f['clip_steps']}-step clips cut from"
            f" {f['segments']} segments of the evaluation episodes (seeds {seeds[0]} to"
            f" {seeds[-1]}) of policies the model never trained on ({policies}):",
            "",
            "| measure | value |",
            "|---|---|",
            f"| agreement with the teacher, pairs whose oracle returns differ by at least"
            f" {pool['gap']:.3g} (0.1 x std of segment returns) | {pool['counted']['text']} |",
            f"| agreement, all pairs whose oracle returns differ | {pool['all_pairs']['text']} |",
        ]
    else:
        out += ["No oracle: the model is measured against people's held-out labels.", ""]
        out += ["| measure | value |", "|---|---|"]
    out.append(
        f"| agreement on held-out labels (the {held['test_share']:.0%} of queries no fit saw;"
        f" {held['n_equal']} equal, {held['n_cant_tell']} can't tell not counted)"
        f" | {held['agreement']['text']} |"
    )
    if "pool" in f:
        d = f["distance"]
        value = num(d["distance"]) if d["distance"] is not None else f"n/a ({d['reason']})"
        out += [
            f"| distance learned vs oracle, potential shaping removed (0 same, 0.71"
            f" unrelated, 1 opposite; {d['method']}) | {value}"
            f" (without removing shaping: {num(d['plain'])}) |",
            f"| correlation of segment returns | {num(f['segment_return_correlation'])} |",
        ]
    raters = f.get("raters")
    if raters is not None:
        if raters["agreement"] is None:
            text = "every query had one rater: no agreement between people to compare with"
        else:
            text = (
                f"{raters['agreement']['text']} over {raters['shared_answers']} shared answers"
                f" of {raters['rater_pairs']} pairs of raters"
            )
        out.append(f"| people's agreement with each other | {text} |")
    out.append("")
    if f.get("features"):
        out += [
            "Behaviour features: correlation with the learned reward beside the oracle's"
            " (per evaluation step; **opposite** where the signs differ and |oracle| >= 0.1).",
            "",
            "| feature | learned | oracle | |",
            "|---|---|---|---|",
        ]
        for r in f["features"]:
            flag = "**opposite**" if r["opposite"] else ""
            out.append(
                f"| {r['name']} | {num(r['corr_learned'])} | {num(r['corr_oracle'])} | {flag} |"
            )
        out.append("")
    if f.get("curve"):
        out += ["![fidelity as labels grow](fidelity.png)", ""]
    warns = f.get("warnings") or []
    out += ["### Warnings", ""]
    out += [f"- **{w['message']}**. Try: {w['what_to_try']}" for w in warns] or ["None."]
    return [*out, ""]
