"""The labelling app under the SDL dummy driver: scripted keys and clicks -> store rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygame
import pytest
from label_helpers import button_at, click, key, settle, type_text

from rlhf_sandbox.feedback_ui.items import CompareSource
from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.store.db import PreferenceDB

DB = Path("store") / "prefs.sqlite"


def _queries(run: Path, n: int, raters_wanted: int = 1) -> list[str]:
    with PreferenceDB(run / DB) as db:
        ids = db.clip_ids("main")
        return [
            db.add_query("main", ids[2 * i], ids[2 * i + 1], "manual", None, raters_wanted)
            for i in range(n)
        ]


def _labels(run: Path) -> list:
    with PreferenceDB(run / DB) as db:
        return [lb for lb in db.labels("main") if lb.rater == "alice"]


def _variance(surf: pygame.Surface, rect: tuple[int, int, int, int]) -> float:
    x, y, w, h = rect
    return float(pygame.surfarray.array3d(surf)[x : x + w, y : y + h].astype(float).std())


def test_keys_and_clicks_give_exactly_the_rows(driving_run: Path) -> None:
    qids = _queries(driving_run, 3)
    app = LabelApp(driving_run, rater="alice", seed=1)
    try:
        settle(app)
        first = app.ctl.current
        assert first is not None and first.query is not None and first.query.id == qids[0]
        key("q")  # tag: unsafe
        key("e")  # tag: unnatural
        key("w")
        key("w")  # off-task on and off again
        key("return")  # type a comment
        type_text("cut in")
        type_text("x")
        key("backspace")
        type_text(" too close")
        key("return")
        key("2")  # right better
        settle(app)
        second = app.ctl.current
        assert second is not None and second is not first
        click(button_at(app, "tag", 3))  # boring
        app.frame()
        click(button_at(app, "answer", "equal"))
        settle(app)
        third = app.ctl.current
        assert third is not None
        click(button_at(app, "answer", "left"))
        app.frame()
        rows = _labels(driving_run)
        assert [(r.query, r.choice, r.tags, r.comment) for r in rows] == [
            (qids[0], "right", ["unsafe", "unnatural"], "cut in too close"),
            (qids[1], "equal", ["boring"], ""),
            (qids[2], "left", [], ""),
        ]
        assert [r.shown_left for r in rows] == [first.clips[0], second.clips[0], third.clips[0]]
        assert app.ctl.acked == [r.id for r in rows]

        key("z")  # undo: exactly the last label goes, and its pair is back
        app.frame()
        assert [r.id for r in _labels(driving_run)] == [rows[0].id, rows[1].id]
        assert app.ctl.current is third
        key("4")  # answer it again: can't tell
        app.frame()
        app.frame()
        again = _labels(driving_run)
        assert [(r.query, r.choice) for r in again[2:]] == [(qids[2], "cant_tell")]
        assert app.ctl.current is None  # nothing left: the waiting screen
    finally:
        app.close()


def test_placement_is_random_per_query(frames_run: Callable) -> None:
    run, ids = frames_run(4)
    with PreferenceDB(run / DB) as db:
        for _ in range(40):
            db.add_query("main", ids[0], ids[1])
        got = CompareSource(db, "main", "alice", 0, 60.0).take([], 40)
        lefts = [it.clips[0] for it in got]
        assert len(got) == 40 and 10 < lefts.count(ids[0]) < 30


def test_waiting_screen_then_a_query_arrives(frames_run: Callable, tmp_path: Path) -> None:
    run, ids = frames_run(2)
    app = LabelApp(run, rater="alice", poll_s=0.05)
    try:
        for _ in range(3):
            app.frame()
        assert app.ctl.current is None
        app.screenshot(tmp_path / "waiting.png")
        with PreferenceDB(run / DB) as db:  # the trainer asks
            q = db.add_query("main", ids[0], ids[1])
        settle(app, 10)
        assert app.ctl.current is not None and app.ctl.current.key == q
    finally:
        app.close()
    with PreferenceDB(run / DB) as db:
        assert db.claims() == []  # closing gave the claim back


def test_compare_screenshot_shows_both_clips(driving_run: Path, tmp_path: Path) -> None:
    _queries(driving_run, 1)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        path = app.screenshot(tmp_path / "compare.png")
        shot = pygame.image.load(str(path))
        for rect in app.view.lay.panels:
            assert _variance(shot, rect) > 10.0  # road, cars, grass: not one colour
        assert _variance(shot, (0, 0, 1020, 36)) > 5.0  # the status line
    finally:
        app.close()


def test_rate_mode_rows_and_undo(driving_run: Path, tmp_path: Path) -> None:
    app = LabelApp(driving_run, rater="alice", mode="rate", tags=["unsafe", "boring"])
    try:
        settle(app)
        path = app.screenshot(tmp_path / "rate.png")
        assert _variance(pygame.image.load(str(path)), app.view.lay.panels[0]) > 10.0
        first = app.ctl.current
        assert first is not None
        key("w")  # boring
        key("4")
        settle(app)
        second = app.ctl.current
        assert second is not None
        click(button_at(app, "thumb", -1))
        settle(app)
        key("x")  # skip: nothing stored
        settle(app)
        with PreferenceDB(driving_run / DB) as db:
            rows = db.ratings("main")
            assert [(r.clip, r.score, r.thumb, r.tags) for r in rows] == [
                (first.key, 4, None, ["boring"]),
                (second.key, None, -1, []),
            ]
            key("z")
            app.frame()
            assert [r.id for r in db.ratings("main")] == [rows[0].id]
            assert app.ctl.current is second
    finally:
        app.close()


def test_overlay_toggle_changes_what_is_drawn(driving_run: Path) -> None:
    _queries(driving_run, 1)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        key("space")  # pause, so that only the overlay differs
        app.frame()
        curve = app.view.lay.curves[0]
        before = pygame.surfarray.array3d(app.screen).copy()
        key("o")
        cur = app.ctl.current
        assert cur is not None
        app.run_until(lambda: all(app.overlay.get(c) is not None for c in cur.clips), 60)
        app.frame()
        after = pygame.surfarray.array3d(app.screen)
        x, y, w, h = curve
        assert not np.array_equal(before[x : x + w, y : y + h], after[x : x + w, y : y + h])
        got = app.overlay.get(cur.clips[0])
        assert got is not None and got.rewards is not None and got.version >= 1
        assert got.rewards.shape == (5,)  # one reward per policy step of the clip
        key("o")
        app.frame()
        off = pygame.surfarray.array3d(app.screen)
        assert np.array_equal(before[x : x + w, y : y + h], off[x : x + w, y : y + h])
    finally:
        app.close()


def test_overlay_without_a_model_says_so(frames_run: Callable) -> None:
    run, ids = frames_run(2)
    with PreferenceDB(run / DB) as db:
        db.add_query("main", ids[0], ids[1])
    app = LabelApp(run, rater="alice")
    try:
        settle(app)
        key("o")
        app.run_until(lambda: app.overlay.get(ids[0]) is not None, 30)
        got = app.overlay.get(ids[0])
        assert got is not None and got.rewards is None and "no reward model" in got.message
    finally:
        app.close()


def test_two_apps_respect_raters_wanted(frames_run: Callable) -> None:
    run, ids = frames_run(2)
    with PreferenceDB(run / DB) as db:
        q = db.add_query("main", ids[0], ids[1])  # one rater wanted
    a = LabelApp(run, rater="alice", poll_s=0.05)
    b = LabelApp(run, rater="bob", poll_s=0.05)
    try:
        settle(a)
        for _ in range(5):
            b.frame()
        assert a.ctl.current is not None and a.ctl.current.key == q
        assert b.ctl.current is None  # alice holds it
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("bad", [["a"] * 9])
def test_too_many_tags_refused(frames_run: Callable, bad: list[str]) -> None:
    run, _ = frames_run(1)
    with pytest.raises(ValueError, match="at most 8"):
        LabelApp(run, rater="alice", tags=bad)
