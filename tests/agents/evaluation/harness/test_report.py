"""The report folder: files written, well formed, atomic."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from rlhf_sandbox.agents.evaluation.harness import SuiteResult, evaluate, write_report
from rlhf_sandbox.agents.evaluation.harness import report as report_mod
from rlhf_sandbox.agents.evaluation.harness.metrics import METRIC_KEYS
from rlhf_sandbox.envs.replay import render_clip
from rlhf_sandbox.files import FolderError
from rlhf_sandbox.store.clips import ClipStore
from rlhf_sandbox.store.db import PreferenceDB


@pytest.fixture(scope="module")
def report_dir(
    smoke_runs: dict[str, SuiteResult], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("reports") / "ab"
    write_report(out, smoke_runs["random"], smoke_runs["idm"], worst_k=2, n_boot=300)
    return out


def test_metrics_json(report_dir: Path, smoke_runs: dict[str, SuiteResult]) -> None:
    data = json.loads((report_dir / "metrics.json").read_text())
    assert data["drivers"] == {"policy": "random", "baseline": "idm"}
    assert set(data["scenarios"]) == {"highway", "merge", "intersection"}
    overall = data["summary"]["policy"]["overall"]
    assert overall["episodes"] == len(smoke_runs["random"].episodes)
    for k in METRIC_KEYS:
        cell = overall["metrics"][k]
        assert cell["lo"] <= cell["value"] <= cell["hi"], k
    assert data["ab"]["overall"]["collision"]["verdict"] == "worse"
    assert {"p5", "p25", "p50"} <= set(overall["min_ttc_distribution"])
    assert len(data["worst"]) == 2 and data["worst"][0]["gif"].startswith("worst/")


def test_episodes_csv(report_dir: Path, smoke_runs: dict[str, SuiteResult]) -> None:
    with (report_dir / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(report_mod.CSV_COLUMNS)
    n = len(smoke_runs["random"].episodes)
    assert len(rows) == 2 * n
    assert {r["policy"] for r in rows} == {"policy", "baseline"}
    crashed = [r for r in rows if r["policy"] == "policy" and r["collision"] == "1"]
    assert crashed and all(r["terminated"] == "1" for r in crashed)
    assert all(r["clip_id"] for r in rows)


def test_pngs_and_gifs_open_and_are_not_blank(report_dir: Path) -> None:
    for name in ("scenarios.png", "ttc_hist.png", "speed_hist.png"):
        img = iio.imread(report_dir / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 5, name
    gifs = sorted((report_dir / "worst").glob("*.gif"))
    assert len(gifs) == 2
    frames = iio.imread(gifs[0], index=None)
    assert frames.shape[0] > 10 and frames[-1].std() > 5
    md = (report_dir / "report.md").read_text()
    assert "## A/B: policy - baseline" in md and "](worst/" in md and "**worse**" in md


def test_episodes_are_clips_the_app_can_show(
    report_dir: Path, smoke_runs: dict[str, SuiteResult]
) -> None:
    with PreferenceDB(report_dir / "store" / "prefs.sqlite") as db:
        store = ClipStore(report_dir / "store", db)
        ids = store.ids("policy")
        assert len(ids) == len(smoke_runs["random"].episodes)
        assert len(store.ids("baseline")) == len(ids)
        clip = store.get(ids[0])
    assert clip.states is not None and clip.substeps > 1
    frames = render_clip(clip)
    assert frames.shape[0] == clip.T * clip.substeps + 1 and frames.std() > 5


def test_existing_folder_refused_and_failures_leave_nothing(
    smoke_runs: dict[str, SuiteResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FolderError, match="did not write"):
        write_report(out, smoke_runs["idm"], overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_mod.plots, "histograms", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(tmp_path / "new", smoke_runs["idm"], clips="none", worst_k=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no half-written folder


def test_python_api_single_policy(tiny_suite: Path, tmp_path: Path) -> None:
    policy, base, path = evaluate(
        "constant", tiny_suite, out=tmp_path / "c", episodes=2, clips="worst", worst_k=1
    )
    assert base is None and path is not None and path.is_file()
    assert [len(s.episodes) for s in policy.scenarios] == [2, 2]
    rows = (tmp_path / "c" / "episodes.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    assert sum(1 for r in rows[1:] if r.rstrip(",").count(",") == len(rows[0].split(",")) - 2) >= 1
    data = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert data["ab"] is None and np.isfinite(data["summary"]["policy"]["overall"]["episodes"])
