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
  ``policy`` and ``baseline``) so the feedback app can show and rate them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_sandbox.agents.harness import plots
from rlhf_sandbox.agents.harness.ab import compare_runs, comparisons_json
from rlhf_sandbox.agents.harness.aggregate import OVERALL, summarize_run
from rlhf_sandbox.agents.harness.markdown import markdown
from rlhf_sandbox.agents.harness.metrics import METRIC_KEYS
from rlhf_sandbox.agents.harness.runner import Episode, ScenarioResult, SuiteResult
from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.replay import clip_frame, state_renderer
from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.db import PreferenceDB

CSV_COLUMNS = (
    "policy", "scenario", "env_id", "episode", "seed", "steps", "duration_s", "terminated",
    *METRIC_KEYS, "lane_changes", "clip_id",
)  # fmt: skip
CLIP_MODES = ("all", "worst", "none")
GIF_SECONDS = 8.0  # the GIF of a worst episode shows its last seconds
GIF_FPS = 7.5  # frames per second of those GIFs (every other state at 15 Hz)


def worst(run: SuiteResult, k: int) -> list[Episode]:
    """The ``k`` worst episodes: collisions, then off-road, then lowest courteous return."""
    key = [
        (-e.metrics["collision"], -e.metrics["off_road"], e.metrics["oracle_return"])
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
) -> Path:
    """Write the report folder ``out`` atomically; returns ``out / "report.md"``."""
    if clips not in CLIP_MODES:
        raise ValueError(f"clips must be one of {CLIP_MODES}, got {clips!r}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pick a new folder or overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the folder the usual mode
    try:
        _write(tmp, policy, baseline, worst_k, clips, n_boot)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{time.time_ns()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.md"


def _write(
    d: Path,
    policy: SuiteResult,
    baseline: SuiteResult | None,
    worst_k: int,
    clips: str,
    n_boot: int,
) -> None:
    runs = {"policy": policy} if baseline is None else {"policy": policy, "baseline": baseline}
    summaries = {name: summarize_run(r, n_boot) for name, r in runs.items()}
    ab = compare_runs(policy, baseline, n_boot) if baseline is not None else None
    bad = worst(policy, worst_k)
    clip_ids = _clips(d / "store", runs, clips, {id(e) for e in bad})
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
        "wall_seconds": {name: round(r.wall_s, 3) for name, r in runs.items()},
        "scenarios": {s.scenario.name: _scenario_json(s) for s in policy.scenarios},
        "summary": summaries,
        "ab": comparisons_json(ab) if ab is not None else None,
        "notes": notes,
        "worst": [
            {"scenario": e.scenario, "seed": e.seed, "gif": g, "clip_id": clip_ids.get(id(e))}
            for e, g in zip(bad, gifs, strict=True)
        ],
    }
    (d / "metrics.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    (d / "episodes.csv").write_text(_csv(runs, clip_ids))
    (d / "report.md").write_text(markdown(data))


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
                    int(m["lane_changes"]), clip_ids.get(id(e), ""),
                ])  # fmt: skip
    return buf.getvalue()


def _cell(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.6g}"


def _episode_clip(run_name: str, s: ScenarioResult, e: Episode) -> Clip:
    states = s.replay(e)
    t = e.rewards.shape[0]
    substeps = (next(iter(states.values())).shape[0] - 1) // t
    hz = float(s.config.policy_hz)
    return Clip(
        run=run_name, env_id=s.scenario.env_id, config=config_to_dict(s.config), seed=e.seed,
        slot=e.index, start_step=0, fps=hz * substeps, policy_hz=hz, obs=e.obs,
        actions=e.actions, rewards=e.rewards, features=dict(e.features), states=states,
    )  # fmt: skip


def _clips(root: Path, runs: dict[str, SuiteResult], mode: str, bad: set[int]) -> dict[int, str]:
    """Store the episodes as clips; ``{id(episode): clip id}``."""
    if mode == "none":
        return {}
    ids: dict[int, str] = {}
    with PreferenceDB(root / "prefs.sqlite") as db:
        store = ClipStore(root, db)
        for name, run in runs.items():
            db.add_run(name, {"driver": run.driver, "suite": run.suite})
            for s in run.scenarios:
                chosen = [e for e in s.episodes if mode == "all" or id(e) in bad]
                made = [_episode_clip(name, s, e) for e in chosen]
                for e, cid in zip(chosen, store.add(made), strict=True):
                    ids[id(e)] = cid
    return ids


def _gifs(folder: Path, run: SuiteResult, bad: list[Episode]) -> list[str]:
    """GIFs of the last seconds of each bad episode, drawn from its replayed states."""
    import imageio.v3 as iio

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
        name = f"{i + 1:02d}_{e.scenario}_seed{e.seed}.gif"
        ms = 1000.0 * stride / clip.fps
        iio.imwrite(folder / name, frames, extension=".gif", duration=ms, loop=0)
        names.append(f"worst/{name}")
    return names
