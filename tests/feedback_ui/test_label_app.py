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


# ---------------------------------------------------------------------- issue 19

QUESTION = "Which car merges more politely?"
RUBRIC = "A polite merge keeps a gap of 2 s.\nBraking hard in front of someone is bad."


def _drawn(app: LabelApp, font: pygame.font.Font, s: str, colour, at: tuple[int, int]) -> bool:
    """``s`` is on the canvas at ``at``, pixel for pixel as the view draws it."""
    from rlhf_sandbox.feedback_ui.label_widgets import BG

    img = font.render(s, True, colour)
    want = pygame.Surface(img.get_size())
    want.fill(BG)
    want.blit(img, (0, 0))
    x, y = at
    w, h = img.get_size()
    got = pygame.surfarray.array3d(app.screen)[x : x + w, y : y + h]
    return got.shape == (w, h, 3) and np.array_equal(got, pygame.surfarray.array3d(want))


def _mark_pixels(app: LabelApp, rect: tuple[int, int, int, int]) -> int:
    from rlhf_sandbox.feedback_ui.subject import MARK

    x, y, w, h = rect
    px = pygame.surfarray.array3d(app.screen)[x : x + w, y : y + h]
    return int(np.all(px == np.array(MARK), axis=-1).sum())


def test_question_rubric_and_legend_stored_and_drawn(driving_run: Path) -> None:
    """The run's question and rubric (from the store) above the clips, and the legend
    naming the judged car, which is ringed in both clips where the ego is."""
    from rlhf_sandbox.feedback_ui.label_view import MARGIN, TOP
    from rlhf_sandbox.feedback_ui.label_widgets import DIM, TEXT

    _queries(driving_run, 1)
    with PreferenceDB(driving_run / DB) as db:
        db.set_run_question("main", QUESTION, RUBRIC)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        key("space")  # paused: one frame to look at
        app.frame()
        fonts = app.view.fonts
        assert _drawn(app, fonts.question, QUESTION, TEXT, (MARGIN, TOP))
        assert _drawn(
            app, fonts.small, "A polite merge keeps a gap of 2 s.", DIM, (MARGIN, TOP + 30)
        )
        got = app.ctl.loaded()
        assert got is not None
        subject = got[0].subject
        assert subject is not None and "green car" in subject.legend()
        for clip, (x, y, _, _) in zip(got, app.view.lay.panels, strict=True):
            k = clip.frame_at(app.ctl.play.t)
            mark = clip.mark_at(k)
            assert mark is not None
            mx, my, r = mark
            ring = (x + int(mx - r) - 2, y + int(my - r) - 2, int(2 * r) + 5, int(2 * r) + 5)
            assert _mark_pixels(app, ring) > 20  # the ring around the ego, in both clips
            # the ego's own green is inside the ring: the ring is where the ego is
            from rlhf_sandbox.sim.driving.draw import EGO

            inner = pygame.surfarray.array3d(app.screen)[
                x + int(mx - r / 2) : x + int(mx + r / 2), y + int(my - r / 2) : y + int(my + r / 2)
            ]
            assert np.all(inner == np.array(EGO), axis=-1).sum() > 10
        assert _mark_pixels(app, (0, TOP, 1020, 100)) > 10  # the ring in the legend
    finally:
        app.close()


def test_rate_mode_says_which_end_is_good(driving_run: Path) -> None:
    from rlhf_sandbox.feedback_ui.label_view import MARGIN, SCALE, TOP, header_height
    from rlhf_sandbox.feedback_ui.label_widgets import TEXT

    app = LabelApp(driving_run, rater="alice", mode="rate")
    try:
        settle(app)
        y = TOP + header_height("rate") - 20 - 4 + 2  # the line under the legend
        assert any(
            _drawn(app, app.view.fonts.small, SCALE, TEXT, (MARGIN, y + d)) for d in range(-3, 4)
        )
        names = {b.value: b.text for b in app.view.buttons if b.action == "score"}
        assert names[1] == "very bad" and names[5] == "very good"
    finally:
        app.close()


def test_answers_while_a_pair_loads_are_refused_visibly(driving_run: Path) -> None:
    """A pair counts only for clips that were on screen: an answer pressed while the
    next pair is still being drawn used to be dropped without a word (issue 19)."""
    from rlhf_sandbox.feedback_ui.controller import LOADING

    _queries(driving_run, 2)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        real_get = app.prefetch.get
        app.prefetch.get = lambda c, size: None  # type: ignore[method-assign]  # still drawing
        key("1")  # answers the pair on screen? no: its clips are "not drawn" now
        app.frame()
        assert _labels(driving_run) == [] and app.ctl.message == LOADING
        assert app.ctl.refused == 1 and app.ctl.loading()
        assert not any(b.enabled for b in app.view.buttons if b.action == "answer")
        app.prefetch.get = real_get  # type: ignore[method-assign]
        settle(app)
        key("1")
        app.frame()
        assert [lb.choice for lb in _labels(driving_run)] == ["left"]
        # the next pair, drawn but not shown yet: an answer in the same turn is refused
        app.run_until(lambda: app.ctl.loaded() is not None, 30)
        cur = app.ctl.current
        assert cur is not None
        cur.shown_at = None  # as if the frame showing it had not been flipped yet
        app.ctl.handle("answer", "right")
        assert len(_labels(driving_run)) == 1 and app.ctl.message == LOADING
    finally:
        app.close()


def test_undo_gives_back_the_tags_and_comment(driving_run: Path) -> None:
    """Undo used to drop the tags and comment given with the answer (issue 19)."""
    _queries(driving_run, 2)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        key("q")
        key("r")
        key("return")
        type_text("too close")
        key("return")
        key("1")
        settle(app)
        assert app.ctl.tags_on == set() and app.ctl.comment == ""
        key("z")
        settle(app)
        assert app.ctl.tags_on == {"unsafe", "boring"} and app.ctl.comment == "too close"
        assert _labels(driving_run) == []
        key("2")  # answered again with what was given
        app.frame()
        rows = _labels(driving_run)
        assert [(r.choice, r.tags, r.comment) for r in rows] == [
            ("right", ["unsafe", "boring"], "too close")
        ]
    finally:
        app.close()


def test_waiting_screen_tells_the_trainer_state(frames_run: Callable) -> None:
    from rlhf_sandbox.store.db import TrainerStatus

    run, _ = frames_run(2)
    app = LabelApp(run, rater="alice", poll_s=0.05)
    try:
        app.frame()
        view = app.view
        with PreferenceDB(run / DB) as db:
            db.trainer_beat("main")
        view.trainer = None
        app.keeper.status = TrainerStatus("running", 3.0, "beat")
        app.frame()
        assert "running" in view._trainer_line(app.ctl)[0]
        app.keeper.status = TrainerStatus("finished", 3.0, "beat")
        app.frame()
        assert "has finished" in view._trainer_line(app.ctl)[0]
        app.keeper.status = TrainerStatus("quiet", 700.0, "beat")
        app.frame()
        assert "not been seen for 11 min" in view._trainer_line(app.ctl)[0]
        # and the keeper reads the store: a finished trainer is seen as finished
        with PreferenceDB(run / DB) as db:
            db.trainer_beat("main", "finished")
        app.keeper.status = None
        app.keeper._wake.set()
        app.run_until(lambda: app.keeper.status is not None, 10)
        st = app.keeper.status
        assert st is not None and st.state == "finished"
    finally:
        app.close()


def test_a_smaller_window_scales_the_clips_and_clicks_still_land(driving_run: Path) -> None:
    _queries(driving_run, 1)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        key("space")
        app.frame()
        pygame.display.set_mode((510, 364), pygame.RESIZABLE)
        pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, size=(510, 364), w=510, h=364))
        app.frame()
        win = pygame.display.get_surface()
        assert win.get_size() == (510, 364)
        scale = app._place[2]
        assert abs(scale - 0.5) < 0.01  # the whole canvas, half size: nothing cropped
        small = pygame.transform.smoothscale(app.screen, (510, 364))
        diff = np.abs(
            pygame.surfarray.array3d(small).astype(int) - pygame.surfarray.array3d(win).astype(int)
        )
        assert diff.mean() < 3.0
        click(button_at(app, "answer", "right"))
        app.frame()
        assert [lb.choice for lb in _labels(driving_run)] == ["right"]
    finally:
        app.close()


def test_nothing_is_redrawn_while_nothing_changes(driving_run: Path) -> None:
    _queries(driving_run, 1)
    app = LabelApp(driving_run, rater="alice", seed=0)
    try:
        settle(app)
        key("space")  # paused
        app.frame()
        while app.prefetch.busy():
            app.frame(wait_s=0.01)
        app.frame()
        before = app.draws
        for _ in range(30):
            app.frame()
        assert app.draws == before
        key(".")  # one step: one redraw
        app.frame()
        assert app.draws == before + 1
    finally:
        app.close()
