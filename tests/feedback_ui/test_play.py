"""Play and correction mode, headless: scripted key events -> stored clips that re-render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygame
import pytest

from rlhf_sandbox.envs.replay import render_clip
from rlhf_sandbox.feedback_ui import play_keys as keys
from rlhf_sandbox.feedback_ui.correct import replay_policy
from rlhf_sandbox.feedback_ui.episode import open_store
from rlhf_sandbox.feedback_ui.play import PlayApp
from rlhf_sandbox.feedback_ui.session import PlaySession
from rlhf_sandbox.feedback_ui.worlds import PlayWorld

HIGHWAY = "rlhf_sandbox/Highway-v0"
SMALL = {"policy_hz": 5, "duration": 20.0, "lanes": 3, "vehicles": 12}  # 3 substeps a step


def key(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k)


def up(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYUP, key=k)


def test_keys_map_to_actions() -> None:
    assert keys.driving_discrete([], "highway") == keys.IDLE
    assert keys.driving_discrete(["right"], "highway") == keys.FASTER
    assert keys.driving_discrete(["right", "up"], "highway") == keys.LANE_LEFT  # the last
    assert keys.driving_discrete(["up"], "intersection") == keys.FASTER
    assert keys.arena_move({"right"}) == 1 and keys.arena_move({"up"}) == 3
    assert keys.arena_move({"up", "left"}) == 4 and keys.arena_move({"s"}) == 7
    assert keys.arena_move({"left", "right"}) == 0
    np.testing.assert_allclose(keys.driving_continuous({"right", "down"}, "highway"), [1, 0.3])


def test_play_demonstration_is_stored_and_rerenders(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    world = PlayWorld(HIGHWAY, SMALL)
    session = PlaySession(world, store, db_run="main", rater="ann", clip_steps=6, seed=5)
    # frame 0 shows the start and gives step 0's keys; step i >= 1 takes the keys of the
    # frames 3i - 2 .. 3i (step i - 1's substeps): frame 4 -> step 2, frame 13 -> step 5
    script = {4: [key(pygame.K_RIGHT), up(pygame.K_RIGHT)], 13: [key(pygame.K_DOWN)]}
    app = PlayApp(session, realtime=False, script=script)
    shot = tmp_path / "play.png"
    saved = app.run(max_steps=12, screenshot_at=(3, shot))
    assert len(saved.demonstrations) == 2 and not saved.corrections
    rows = store.db.demonstrations("main")
    assert [(r.kind, r.rater, r.replaces) for r in rows] == [("demonstration", "ann", None)] * 2
    first = store.get(saved.demonstrations[0])
    assert first.T == 6 and first.substeps == 3 and first.seed == 5 and first.start_step == 0
    expected = [keys.IDLE, keys.IDLE, keys.FASTER, keys.IDLE, keys.IDLE, keys.LANE_RIGHT]
    assert first.actions.tolist() == expected
    assert set(first.features) >= {"speed", "collision", "terminated"}
    frames = render_clip(first)
    assert frames.shape[0] == first.T * first.substeps + 1 == 19
    assert all(f.std() > 10 for f in frames)  # road, grass and cars: not blank
    second = store.get(saved.demonstrations[1])
    assert second.start_step == 6
    np.testing.assert_array_equal(second.states["x"][0], first.states["x"][-1])  # back to back
    img = pygame.image.load(str(shot))
    assert img.get_size()[1] > frames.shape[1] and pygame.surfarray.array3d(img).std() > 10


def test_quit_saves_what_was_played(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    session = PlaySession(PlayWorld(HIGHWAY, SMALL), store, db_run="main", rater="a", clip_steps=4)
    app = PlayApp(session, realtime=False, script={3 * 6 + 1: [key(pygame.K_ESCAPE)]})
    saved = app.run()  # no step limit: Esc ends it
    # 7 steps were taken (the 7th step's frames were showing): clips [0, 4) and [3, 7)
    assert [store.get(c).start_step for c in saved.demonstrations] == [0, 3]
    assert len(store.db.clip_ids()) == 2


def test_correction_pair_starts_from_the_same_state(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    world = PlayWorld(HIGHWAY, SMALL)

    def idle(obs: np.ndarray) -> int:
        return keys.IDLE

    session = PlaySession(
        world, store, db_run="main", rater="bob", clip_steps=5, seed=2, policy=idle
    )
    script = {7: [key(pygame.K_t)], 10: [key(pygame.K_UP)], 16: [key(pygame.K_RIGHT)]}
    saved = PlayApp(session, realtime=False, script=script).run(max_steps=12)
    assert len(saved.corrections) == 1 and not saved.demonstrations
    mine_id, theirs_id = saved.corrections[0]
    (row,) = store.db.demonstrations("main")
    assert (row.kind, row.clip, row.replaces, row.rater) == (
        "correction",
        mine_id,
        theirs_id,
        "bob",
    )
    mine, theirs = store.get(mine_id), store.get(theirs_id)
    assert mine.T == theirs.T == 5 and mine.start_step == theirs.start_step == 3
    for k in mine.states:  # the same start state, then different drives
        np.testing.assert_array_equal(mine.states[k][0], theirs.states[k][0])
    np.testing.assert_array_equal(mine.obs[0], theirs.obs[0])
    assert theirs.actions.tolist() == [keys.IDLE] * 5
    assert mine.actions.tolist() == [keys.IDLE, keys.LANE_LEFT, keys.IDLE, keys.FASTER, keys.IDLE]
    assert mine.states["target_speed"][-1] > theirs.states["target_speed"][-1]  # FASTER
    assert render_clip(theirs).shape[0] == 16


def test_fork_replays_the_person_exactly(tmp_path: Path) -> None:
    """The restored world is the whole state: the person's actions replayed from the
    snapshot give the person's states (so the policy's replay starts where they did)."""
    world = PlayWorld(HIGHWAY, SMALL)
    world.reset(9)
    world.step(keys.FASTER)
    snap = world.snapshot()
    actions = [keys.LANE_LEFT, keys.IDLE, keys.SLOWER, keys.IDLE]
    live = replay_policy(world, _seq(actions), 4)
    again = replay_policy(world.fork(snap), _seq(actions), 4)
    for k in live.states[0]:
        np.testing.assert_array_equal(
            np.stack([s[k] for s in live.states]), np.stack([s[k] for s in again.states])
        )
    np.testing.assert_array_equal(np.stack(live.obs), np.stack(again.obs))


def _seq(actions: list[int]) -> Callable[[np.ndarray], int]:
    it = iter(actions)
    return lambda obs: next(it)


@pytest.mark.parametrize("role", ["npc", "player"])
def test_arena_play(tmp_path: Path, role: str) -> None:
    store = open_store(tmp_path)
    world = PlayWorld("rlhf_sandbox/ArenaCompanion-v0", {"max_steps": 50}, role)  # type: ignore[arg-type]
    session = PlaySession(world, store, db_run="main", rater="cy", clip_steps=5, seed=1)
    script = {0: [key(pygame.K_UP)], 4: [key(pygame.K_LEFT)]}
    saved = PlayApp(session, realtime=False, script=script).run(max_steps=10)
    ids = saved.demonstrations if role == "npc" else saved.clips
    assert len(ids) == 2
    assert len(store.db.demonstrations()) == (2 if role == "npc" else 0)
    clip = store.get(ids[0])
    assert clip.T == 5 and clip.substeps == 1 and clip.fps == clip.policy_hz == 10.0
    if role == "npc":
        assert clip.actions.tolist() == [3, 3, 3, 3, 4]  # N, then NW with left held too
    frames = render_clip(clip)
    assert frames.shape == (6, 480, 480, 3) and frames.std() > 10


def test_hud_shortens_long_seeds() -> None:
    from rlhf_sandbox.feedback_ui.session import short_seed

    assert short_seed(12345) == "12345"
    assert short_seed(12345678901234567890) == "...567890"


def test_play_says_why_an_episode_ended(tmp_path: Path) -> None:
    """Issue 19: `play` did not say why an episode ended. Time up, a collision, off road:
    each one is said on the HUD (and kept in what the session saved)."""
    from rlhf_sandbox.feedback_ui.session import end_reason
    from rlhf_sandbox.feedback_ui.worlds import StepOut

    store = open_store(tmp_path)
    short = {**SMALL, "duration": 1.0}  # 5 decisions, then time up
    session = PlaySession(PlayWorld(HIGHWAY, short), store, db_run="main", rater="a", clip_steps=2)
    for _ in range(5):
        session.step([], set())
    assert session.saved.endings == ["time up (1 s)"]
    assert session.message.startswith("episode ended: time up (1 s)")
    assert "demonstration clip(s)" in session.message
    w = session.world
    crash = StepOut(-1.0, True, False, {"collision": 1.0, "off_road": 0.0}, [], np.zeros(()))
    off = StepOut(-1.0, True, False, {"collision": 0.0, "off_road": 1.0}, [], np.zeros(()))
    assert (end_reason(w, crash), end_reason(w, off)) == ("collision", "off road")
    app = PlayApp(session, realtime=False)
    session.end_episode(end_reason(w, crash))
    app.draw(session.world.state())  # the HUD shows the message
    assert session.message.startswith("episode ended: collision")
    pygame.display.quit()
