"""The evaluation report: tables, metrics.json, episodes.csv, plots, clips and GIFs.

``write_report(out, policy, baseline)`` writes, all at once (into a temporary folder
beside ``out``, renamed onto it at the end, so a failed run leaves nothing half-written):

* ``report.md``: per-scenario and overall tables; the A/B table with a baseline;
* ``metrics.json``: the same numbers, intervals included, and the suite's scenarios;
* ``episodes.csv``: one row per episode and policy (:data:`CSV_COLUMNS`);
* ``scenarios.png``, ``ttc_hist.png``, ``speed_hist.png``;
* ``worst/NN_<scenario>_seed<seed>.gif``: the K worst episodes of the policy (collisions
  first, then leaving the road, then the lowest courteous return), re-rendered from their
  world states;
* ``store/``: a ClipStore and PreferenceDB with the episodes as clips (run names
  ``policy`` and ``baseline``) so the feedback app can show and rate them; or, with
  ``store=URL``, no ``store/``: the clips go to that shared store under the run names
  ``NAME/policy`` and ``NAME/baseline`` (``NAME``: ``store_run``, by default the report
  folder's name; refused if the store has them already), written last, after every file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.evaluation.harness import plots
from rlhf_sandbox.agents.evaluation.harness.ab import compare_runs, comparisons_json
from rlhf_sandbox.agents.evaluation.harness.aggregate import OVERALL, summarize_run
from rlhf_sandbox.agents.evaluation.harness.collisions import collisions_json
from rlhf_sandbox.agents.evaluation.harness.markdown import markdown
from rlhf_sandbox.agents.evaluation.harness.metrics import (
    COMFORT_ACCEL,
    COMFORT_JERK,
    METRIC_KEYS,
    MIN_PROGRESS,
    NO_FAULT,
    TTC_BOUND,
    WEIGHTS,
)
from rlhf_sandbox.agents.evaluation.harness.runner import Episode, ScenarioResult, SuiteResult
from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.replay import clip_frame, state_renderer
from rlhf_sandbox.files import check_out_folder, replacing_folder, write_gif
from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RunFolder

SCORE_TERMS = ("score_no_fault", "score_progress", "score_ttc", "score_comfort", "idm_progress")
CSV_COLUMNS = (
    "policy", "scenario", "env_id", "episode", "seed", "steps", "duration_s", "terminated",
    *METRIC_KEYS, "lane_changes", "fault", "fault_rule", *SCORE_TERMS, "clip_id",
)  # fmt: skip
CLIP_MODES = ("all", "worst", "none")
GIF_SECONDS = 8.0  # the GIF of a worst episode shows its last seconds
GIF_FPS = 7.5  # frames per second of those GIFs (every other state at 15 Hz)


def worst(run: SuiteResult, k: int) -> list[Episode]:
    """The ``k`` worst episodes: at-fault collisions, other collisions, off-road, then the
    lowest score and the lowest oracle return."""
    key = [
        (
            -e.metrics.get("at_fault_collision", 0.0),
            -e.metrics["collision"],
            -e.metrics["off_road"],
            e.metrics.get("score", 1.0),
            e.metrics["oracle_return"],
        )
        for e in run.episodes
    ]
    order = sorted(range(len(key)), key=lambda i: key[i])
    return [run.episodes[i] for i in order[:k]]


def write_report(
    out: str | Path,
    policy: SuiteResult,
    baseline: SuiteResult | None = None,
    *,
    worst_k: int = 3,
    clips: str = "all",
    overwrite: bool = False,
    n_boot: int = 2000,
    store: str | None = None,
    clips_url: str | None = None,
    store_run: str | None = None,
    oracle: str = "courteous",
) -> Path:
    """Write the report folder ``out`` atomically; returns ``out / "report.md"``. ``out``
    must be new (or empty), or an earlier report of ``evaluate`` with ``overwrite``
    (:func:`~rlhf_sandbox.files.check_out_folder`); a FolderError otherwise.

    ``store``: a shared store's URL for the episodes' clips instead of ``out/store``
    (``clips_url``: where its chunks go), under ``store_run`` (default: ``out``'s name).
    ``oracle``: the spec of the oracle whose returns the runs' ``oracle_return`` holds."""
    if clips not in CLIP_MODES:
        raise ValueError(f"clips must be one of {CLIP_MODES}, got {clips!r}")
    out = Path(out)
    check_out_folder(out, "evaluate", overwrite=overwrite)
    target = None
    if store is not None:
        if clips == "none":
            raise ValueError("--store stores the episodes as clips: not with --clips none")
        names = store_run_names(store_run or out.resolve().name, baseline is not None)
        target = (store, clips_url, names)
    with replacing_folder(out, "evaluate", overwrite=overwrite) as tmp:
        _write(tmp, policy, baseline, worst_k, clips, n_boot, target, oracle)
    return out / "report.md"


def _write(
    d: Path,
    policy: SuiteResult,
    baseline: SuiteResult | None,
    worst_k: int,
    clips: str,
    n_boot: int,
    target: tuple[str, str | None, dict[str, str]] | None = None,
    oracle: str = "courteous",
) -> None:
    runs = {"policy": policy} if baseline is None else {"policy": policy, "baseline": baseline}
    summaries = {name: summarize_run(r, n_boot) for name, r in runs.items()}
    ab = compare_runs(policy, baseline, n_boot) if baseline is not None else None
    bad = worst(policy, worst_k)
    clip_ids = _clip_ids(runs, clips, {id(e) for e in bad})
    gifs = _gifs(d / "worst", policy, bad)
    scenarios = [s.scenario.name for s in policy.scenarios]
    labels = {name: f"{name}: {r.driver}" for name, r in runs.items()}
    plots.scenario_bars(
        d / "scenarios.png",
        {labels[n]: s for n, s in summaries.items()},
        list(labels.values()),
        [*scenarios, OVERALL],
    )
    plots.histograms(
        d / "ttc_hist.png", d / "speed_hist.png", {labels[n]: r for n, r in runs.items()}
    )
    notes = []
    if baseline is not None:
        hz = {r.scenario.name: r.config.policy_hz for r in baseline.scenarios}
        differ = [
            r.scenario.name
            for r in policy.scenarios
            if hz.get(r.scenario.name) not in (None, r.config.policy_hz)
        ]
        if differ:
            notes.append(
                "the two policies decide at different rates in "
                + ", ".join(differ)
                + ": returns are sums over decisions, so compare them with care"
            )
    data: dict[str, Any] = {
        "format": "rlhf_sandbox.harness_report/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suite": policy.suite,
        "drivers": {name: r.driver for name, r in runs.items()},
        "oracle": oracle,
        "wall_seconds": {name: round(r.wall_s, 3) for name, r in runs.items()},
        "scenarios": {s.scenario.name: _scenario_json(s) for s in policy.scenarios},
        "summary": summaries,
        "ab": comparisons_json(ab) if ab is not None else None,
        "notes": notes,
        "worst": [
            {
                "scenario": e.scenario,
                "seed": e.seed,
                "gif": g,
                "clip_id": clip_ids.get(id(e)),
                "fault": e.fault.fault if e.fault else None,
                "rule": e.fault.rule if e.fault else None,
            }
            for e, g in zip(bad, gifs, strict=True)
        ],
        "score": SCORE_DEFINITION,
        "collisions": {name: collisions_json(r, clip_ids) for name, r in runs.items()},
    }
    (d / "metrics.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    (d / "episodes.csv").write_text(_csv(runs, clip_ids))
    (d / "report.md").write_text(markdown(data))
    if target is None and clip_ids:
        folder = RunFolder(d)  # a report folder keeps its clips as a run folder does
        with PreferenceDB(folder.db) as db:
            _store_clips(ClipStore(folder.store_dir, db), runs, {n: n for n in runs}, clip_ids)
    elif (
        target is not None
    ):  # last: a report that failed on the way left nothing in the shared store
        url, where, names = target
        shared = ClipStore.open(url, where)
        try:
            _store_clips(shared, runs, names, clip_ids, new=True)
        finally:
            shared.db.close()


SCORE_DEFINITION = {
    "formula": "no_fault x on_road x (w_progress progress + w_ttc ttc + w_comfort comfort)"
    " / (w_progress + w_ttc + w_comfort)",
    "no_fault": NO_FAULT,
    "weights": WEIGHTS,
    "ttc_bound_s": TTC_BOUND,
    "comfort": {"max_abs_accel": COMFORT_ACCEL, "max_abs_jerk": COMFORT_JERK},
    "progress": f"own / IDM's in the same seeded episode over as long, at most 1 (1 when IDM"
    f" made less than {MIN_PROGRESS:g} m)",
}


def _scenario_json(s: ScenarioResult) -> dict[str, Any]:
    return {
        "env_id": s.scenario.env_id,
        "description": s.scenario.description,
        "overrides": s.scenario.overrides,
        "seeds": list(s.scenario.seeds),
        "policy_hz": s.config.policy_hz,
    }


def _csv(runs: dict[str, SuiteResult], clip_ids: dict[int, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for name, run in runs.items():
        for s in run.scenarios:
            for e in s.episodes:
                m = e.metrics
                w.writerow([
                    name, e.scenario, s.scenario.env_id, e.index, e.seed, int(m["steps"]),
                    m["duration_s"], int(e.terminated), *(_cell(m[k]) for k in METRIC_KEYS),
                    int(m["lane_changes"]), e.fault.fault if e.fault else "",
                    e.fault.rule if e.fault else "",
                    *(_cell(m.get(k, np.nan)) for k in SCORE_TERMS), clip_ids.get(id(e), ""),
                ])  # fmt: skip
    return buf.getvalue()


def _cell(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.6g}"


def store_run_names(name: str, baseline: bool) -> dict[str, str]:
    """The clip run names of an evaluation's episodes in a shared store: ``NAME/policy``
    (and ``NAME/baseline``)."""
    if not name.strip():
        raise ValueError("--store-run: give a run name")
    return {k: f"{name}/{k}" for k in ("policy", "baseline")[: 1 + baseline]}


def check_store_runs(db: PreferenceDB, names: dict[str, str]) -> None:
    """ValueError when the store has one of the run names already."""
    taken = [n for n in names.values() if db.has_run(n)]
    if taken:
        raise ValueError(f"{db.where} has run {taken[0]!r} already: pick another --store-run")


def check_store_target(
    store: str | None, clips_url: str | None, store_run: str | None, out: Path, clips: str,
    baseline: bool,
) -> tuple[str, str | None, str] | None:  # fmt: skip
    """``evaluate --store``: reach the store now and check the run names are free in it
    (before any episode); (URL, clips URL, run name) for :func:`write_report`, or None
    without a store. Every problem is a ValueError."""
    if store is None:
        if store_run is not None or clips_url is not None:
            raise ValueError("--store-run and --clips-url go with --store URL")
        return None
    if clips == "none":
        raise ValueError("--store stores the episodes as clips: not with --clips none")
    name = store_run if store_run is not None else out.resolve().name
    shared = ClipStore.open(store, clips_url)
    try:
        check_store_runs(shared.db, store_run_names(name, baseline))
    finally:
        shared.db.close()
    return store, clips_url, name


def _episode_clip(run_name: str, s: ScenarioResult, e: Episode, clip_id: str | None = None) -> Clip:
    states = s.replay(e)
    t = e.rewards.shape[0]
    substeps = (next(iter(states.values())).shape[0] - 1) // t
    hz = float(s.config.policy_hz)
    return Clip(
        run=run_name, env_id=s.scenario.env_id, config=config_to_dict(s.config), seed=e.seed,
        slot=e.index, start_step=0, fps=hz * substeps, policy_hz=hz, obs=e.obs,
        actions=e.actions, rewards=e.rewards, features=dict(e.features), states=states,
        id=clip_id or uuid.uuid4().hex,
    )  # fmt: skip


def _clip_ids(runs: dict[str, SuiteResult], mode: str, bad: set[int]) -> dict[int, str]:
    """The clip id of each episode to store as a clip; ``{id(episode): clip id}``."""
    if mode == "none":
        return {}
    return {
        id(e): uuid.uuid4().hex
        for run in runs.values()
        for e in run.episodes
        if mode == "all" or id(e) in bad
    }


def _store_clips(
    store: ClipStore,
    runs: dict[str, SuiteResult],
    names: dict[str, str],
    ids: dict[int, str],
    *,
    new: bool = False,
) -> None:
    """Store the chosen episodes (those in ``ids``) as clips, one chunk per scenario, clip
    run ``names[policy]``; ``new``: each run must be new in the store (else ValueError)."""
    if not ids:
        return
    if new:
        check_store_runs(store.db, names)
    for name, run in runs.items():
        info = {"driver": run.driver, "suite": run.suite}
        if not new:
            store.db.add_run(names[name], info)
        elif not store.db.create_run(names[name], {**info, "token": uuid.uuid4().hex}):
            check_store_runs(store.db, {name: names[name]})  # raced: another took it
        for s in run.scenarios:
            chosen = [e for e in s.episodes if id(e) in ids]
            store.add([_episode_clip(names[name], s, e, ids[id(e)]) for e in chosen])


def _gifs(folder: Path, run: SuiteResult, bad: list[Episode]) -> list[str]:
    """GIFs of the last seconds of each bad episode, drawn from its replayed states."""

    by_name = {s.scenario.name: s for s in run.scenarios}
    names = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, e in enumerate(bad):
        s = by_name[e.scenario]
        clip = _episode_clip("policy", s, e)
        renderer, size = state_renderer(clip.env_id, clip.config)
        n = clip.T * clip.substeps + 1
        stride = max(1, round(clip.fps / GIF_FPS))
        ks = range(n - 1, max(-1, n - 1 - round(GIF_SECONDS * clip.fps)), -stride)[::-1]
        frames = np.stack([clip_frame(clip, k, size, renderer) for k in ks])
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", e.scenario)  # a suite's name: data, not a path
        name = f"{i + 1:02d}_{slug}_seed{e.seed}.gif"
        ms = 1000.0 * stride / clip.fps
        write_gif(folder / name, frames, ms)
        names.append(f"worst/{name}")
    return names
