"""The judged NPC is obvious: arena_v0 clips ring the NPC of their slot (not NPC 0), the
legend and each clip name it; a PettingZoo game's clips name the agent and its role, and
ring it where the game's ``subject_position`` says."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pygame
import pytest
from label_helpers import key, settle

from rlhf_sandbox.config import config_to_dict
from rlhf_sandbox.envs.arena_config import ArenaConfig
from rlhf_sandbox.envs.arena_single import ArenaAgentsCore, clip_subjects
from rlhf_sandbox.feedback_ui.label_app import LabelApp
from rlhf_sandbox.feedback_ui.label_widgets import BG, PANEL_BG
from rlhf_sandbox.feedback_ui.subject import MARK, Subject, legend_of, positions, subject_for
from rlhf_sandbox.sim.arena.params import SIZE
from rlhf_sandbox.store.clips import Clip, ClipStore
from rlhf_sandbox.store.db import PreferenceDB

DB = Path("store") / "prefs.sqlite"
ROLES: Any = ("companion", "villager", "companion")  # companion_0 is NPC 0, companion_1 NPC 2
T = 6


def _arena_clips(slots: list[int], seed: int = 3) -> list[Clip]:
    """One clip per entry of ``slots``: slot k of a world whose slots are the two
    companions (slot 0 NPC 0, slot 1 NPC 2), recorded as the loop records them (the slot's
    subject entry merged into the clip config)."""
    cfg = ArenaConfig(roles=ROLES, layout="open")
    core = ArenaAgentsCore(cfg, 1, (0, 2))
    core.reset_slots(np.ones(2, dtype=bool), np.array([seed, seed + 1]))
    rng = np.random.default_rng(0)
    states, obs = [core.slot_states()], []
    for _ in range(T):
        obs.append(core.observe())
        core.step(rng.integers(0, 9, size=2))
        states.append(core.slot_states())
    entries = clip_subjects(core)
    return [
        Clip(
            run="main",
            env_id="arena_v0",
            config={**config_to_dict(cfg), **entries[k]},
            seed=seed,
            slot=k,
            start_step=0,
            fps=10.0,
            policy_hz=10.0,
            obs=np.stack([o[k] for o in obs]).astype(np.float32),
            actions=np.zeros(T, np.int64),
            rewards=np.zeros(T, np.float32),
            states={name: np.stack([s[name][k] for s in states]) for name in states[0]},
        )
        for k in slots
    ]


def _store(run: Path, clips: list[Clip]) -> list[str]:
    with PreferenceDB(run / DB) as db:
        db.add_run("main")
        ids = ClipStore(run / "store", db).add(clips)
        db.add_query("main", ids[0], ids[1], "manual", None, 1)
    return ids


def _figure_px(state_pos: np.ndarray, figure: int, size: tuple[int, int]) -> tuple[float, float]:
    """Where sim.arena.draw puts figure ``figure`` in a frame of ``size`` (the test's own
    arithmetic: 12 m square, centred, y up)."""
    w, h = size
    scale = min(w, h) / SIZE
    x, y = state_pos[figure]
    return (w - SIZE * scale) / 2 + x * scale, (h - SIZE * scale) / 2 + (SIZE - y) * scale


def _mark_around(app: Any, centre: Any, r: int) -> int:
    """MARK pixels within ``r`` px of ``centre`` (window pixels of the canvas)."""
    px = pygame.surfarray.array3d(app.screen)
    cx, cy = round(centre[0]), round(centre[1])
    box = px[max(0, cx - r) : cx + r + 1, max(0, cy - r) : cy + r + 1]
    return int(np.all(box == np.array(MARK), axis=-1).sum())


def _mark_in(app: LabelApp, rect: tuple[int, int, int, int]) -> int:
    """MARK pixels inside ``rect`` (x, y, w, h)."""
    x, y, w, h = rect
    px = pygame.surfarray.array3d(app.screen)[x : x + w, y : y + h]
    return int(np.all(px == np.array(MARK), axis=-1).sum())


def _drawn(
    app: LabelApp, font: pygame.font.Font, s: str, colour: tuple, at: tuple, bg: tuple = BG
) -> bool:
    """``s`` drawn at ``at`` in ``colour`` on ``bg``, pixel for pixel."""
    img = font.render(s, True, colour)
    want = pygame.Surface(img.get_size())
    want.fill(bg)
    want.blit(img, (0, 0))
    x, y = at
    w, h = img.get_size()
    got = pygame.surfarray.array3d(app.screen)[x : x + w, y : y + h]
    return got.shape == (w, h, 3) and np.array_equal(got, pygame.surfarray.array3d(want))


def _legend_at() -> tuple[int, int]:
    from rlhf_sandbox.feedback_ui.label_view import MARGIN, RUBRIC_LINES, TOP

    return MARGIN + 26, TOP + 30 + 18 * RUBRIC_LINES + 2 + 1


def _paused(run: Path) -> LabelApp:
    app = LabelApp(run, rater="alice", seed=0)
    settle(app)
    key("space")
    app.frame()
    while app.prefetch.busy():  # every frame drawn
        app.frame(wait_s=0.01)
    app.frame()
    return app


def test_ring_sits_on_the_slots_npc_not_npc_0(tmp_path: Path) -> None:
    """Two clips of slot 1 (companion_1, NPC 2): the yellow ring is drawn around NPC 2 in
    both panels and nowhere near NPC 0; the legend and each panel name companion_1."""
    from rlhf_sandbox.feedback_ui.label_view import MARK_TEXT

    clips = _arena_clips([1, 1])
    _store(tmp_path, clips)
    app = _paused(tmp_path)
    try:
        got = app.ctl.loaded()
        assert got is not None
        by_id = {c.id: c for c in clips}
        size = app.view.panel_size
        for shown, (x, y, _, _) in zip(got, app.view.lay.panels, strict=True):
            k = shown.frame_at(app.ctl.play.t)
            pos = by_id[shown.id].states["pos"][k]  # type: ignore[index]
            judged = _figure_px(pos, 3, size)  # NPC 2 is figure 3 (figure 0: the player)
            npc0 = _figure_px(pos, 1, size)
            assert np.hypot(judged[0] - npc0[0], judged[1] - npc0[1]) > 40  # apart on screen
            assert _mark_around(app, (x + judged[0], y + judged[1]), 18) > 20
            assert _mark_around(app, (x + npc0[0], y + npc0[1]), 10) == 0
        legend = "Judge the companion companion_1, ringed in yellow in both clips."
        assert _drawn(app, app.view.fonts.normal, legend, MARK_TEXT, _legend_at())
        for x, y, _, _ in app.view.lay.panels:  # each clip names its NPC, under its name
            small = app.view.fonts.small
            assert _drawn(app, small, "judge:", MARK_TEXT, (x + 8, y + 28), PANEL_BG)
            assert _drawn(app, small, "companion_1", MARK_TEXT, (x + 8, y + 44), PANEL_BG)
    finally:
        app.close()


def test_old_clip_without_subject_rings_npc_0() -> None:
    """A clip recorded before the subject entry (or of a single-NPC id) rings NPC 0."""
    clip = _arena_clips([1, 0])[0]
    old = {k: v for k, v in clip.config.items() if k != "subject"}
    size = (480, 270)
    for env_id, name in [
        ("arena_v0", "the env's agent (NPC 0: the companion or the guard)"),
        ("rlhf_sandbox/ArenaCompanion-v0", "the companion companion_0"),
    ]:
        sub = subject_for(env_id, old)
        assert sub.name == name
        marks = positions(sub, clip, T + 1, size)
        assert marks[0] is not None
        assert marks[0][:2] == pytest.approx(_figure_px(clip.states["pos"][0], 1, size))  # type: ignore[index]
    marks = positions(subject_for("arena_v0", clip.config), clip, T + 1, size)
    assert marks[0] is not None
    assert marks[0][:2] == pytest.approx(_figure_px(clip.states["pos"][0], 3, size))  # type: ignore[index]


def test_a_pair_of_two_npcs_says_which_is_which(tmp_path: Path) -> None:
    """Slot 0 (companion_0) against slot 1 (companion_1): the legend says which NPC each
    side judges, and each panel's ring is on its own NPC."""
    clips = _arena_clips([0, 1])
    _store(tmp_path, clips)
    app = _paused(tmp_path)
    try:
        got = app.ctl.loaded()
        assert got is not None
        by_id = {c.id: c for c in clips}
        agents = [by_id[c.id].config["subject"]["agent"] for c in got]
        assert sorted(agents) == ["companion_0", "companion_1"]
        legend = (
            f"Judge the companion ringed in yellow in each clip: {agents[0]} on the left,"
            f" {agents[1]} on the right."
        )
        from rlhf_sandbox.feedback_ui.label_view import MARK_TEXT

        assert _drawn(app, app.view.fonts.normal, legend, MARK_TEXT, _legend_at())
        size = app.view.panel_size
        for shown, (x, y, _, _) in zip(got, app.view.lay.panels, strict=True):
            k = shown.frame_at(app.ctl.play.t)
            clip = by_id[shown.id]
            figure = clip.config["subject"]["npc"] + 1
            other = 4 - figure  # the other companion (figures 1 and 3)
            pos = clip.states["pos"][k]  # type: ignore[index]
            assert _mark_around(app, np.add((x, y), _figure_px(pos, figure, size)), 18) > 20
            assert _mark_around(app, np.add((x, y), _figure_px(pos, other, size)), 10) == 0
    finally:
        app.close()


GAME = """
def parallel_env(**kw):
    raise RuntimeError("not needed to label")


def subject_position(agent, info):
    if "x" not in info:
        return None
    return info["x"], info["y"]
"""


def _game_clips(env_id: str, n: int = 2) -> list[Clip]:
    """Frame clips of a foreign game (black 64 x 32 frames) whose agent walks right along
    y = 1/4: ``features`` x, y hold its place as fractions of the frame."""
    xs = np.linspace(0.2, 0.8, T, dtype=np.float32)
    return [
        Clip(
            run="main",
            env_id=env_id,
            config={"n": 1, "subject": {"agent": "adversary_1", "role": "adversary"}},
            seed=0,
            slot=1,
            start_step=0,
            fps=10.0,
            policy_hz=10.0,
            obs=np.zeros((T, 3), np.float32),
            actions=np.zeros(T, np.int64),
            rewards=np.zeros(T, np.float32),
            features={
                "x": xs,
                "y": np.full(T, 0.25, np.float32),
                "terminated": np.zeros(T, np.float32),
            },
            frames=np.zeros((T + 1, 32, 64, 3), np.uint8),
        )
        for _ in range(n)
    ]


def test_a_games_clips_name_its_agent_and_role(tmp_path: Path) -> None:
    """No position hook (the module cannot be imported here): the caption alone."""
    _store(tmp_path, _game_clips("no_such_game_module_xyz:parallel_env"))
    app = _paused(tmp_path)
    try:
        from rlhf_sandbox.feedback_ui.label_view import MARGIN, MARK_TEXT

        got = app.ctl.loaded()
        assert got is not None and all(c.subject is not None for c in got)
        legend = "Judge adversary_1 (role adversary)."
        at = (MARGIN, _legend_at()[1])
        assert _drawn(app, app.view.fonts.normal, legend, MARK_TEXT, at)
        assert all(m is None for c in got for m in c.marks)
        assert all(_mark_in(app, r) == 0 for r in app.view.lay.panels)  # no ring anywhere
    finally:
        app.close()


def test_a_games_position_hook_rings_its_agent(tmp_path: Path, monkeypatch) -> None:
    """The game module's ``subject_position(agent, info)`` places the ring: frame k follows
    step k - 1, whose features are the agent's info; fractions of the game's frame land
    where the app letterboxes it (64 x 32 into 480 x 270: 480 x 240, 15 px down)."""
    (tmp_path / "tiny_subject_game.py").write_text(GAME)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tiny_subject_game", raising=False)
    clips = _game_clips("tiny_subject_game:parallel_env")
    sub = subject_for(clips[0].env_id, clips[0].config)
    assert sub.agent == "adversary_1" and sub.marked
    marks = positions(sub, clips[0], T + 1, (480, 270))
    assert marks[0] is None  # before the clip's first step: no info, no ring
    for k in range(1, T + 1):
        mark = marks[k]
        assert mark is not None
        assert mark[:2] == pytest.approx((480 * float(clips[0].features["x"][k - 1]), 15 + 60))
    run = tmp_path / "run"
    _store(run, clips)
    app = _paused(run)
    try:
        got = app.ctl.loaded()
        assert got is not None
        from rlhf_sandbox.feedback_ui.label_view import MARGIN, MARK_TEXT

        legend = "Judge adversary_1 (role adversary), ringed in yellow in both clips."
        assert _drawn(app, app.view.fonts.normal, legend, MARK_TEXT, (MARGIN + 26, _legend_at()[1]))
        assert all(_mark_in(app, r) == 0 for r in app.view.lay.panels)  # frame 0: no ring
        for _ in range(3):
            key(".")  # a frame forward
        app.frame()
        for shown, (x, y, _, _) in zip(got, app.view.lay.panels, strict=True):
            k = shown.frame_at(app.ctl.play.t)
            assert k == 3
            want = (x + 480 * float(clips[0].features["x"][k - 1]), y + 15 + 60)
            assert _mark_around(app, want, 24) > 20
    finally:
        app.close()


def test_legend_of_a_mixed_pair() -> None:
    a = Subject("the guard guard_0", agent="guard_0", role="guard")
    b = Subject("the guard guard_1", agent="guard_1", role="guard")
    assert legend_of([a, a]) == "Judge the guard guard_0."
    assert (
        legend_of([a, b])
        == "Judge the guard in each clip: guard_0 on the left, guard_1 on the right."
    )


def test_play_rings_the_npc_the_person_drives(tmp_path: Path) -> None:
    """``play arena_v0 --npc companion_1``: the window rings NPC 2, not NPC 0."""
    from rlhf_sandbox.feedback_ui.episode import open_store
    from rlhf_sandbox.feedback_ui.play import PlayApp
    from rlhf_sandbox.feedback_ui.session import PlaySession
    from rlhf_sandbox.feedback_ui.worlds import PlayWorld

    world = PlayWorld("arena_v0", {"roles": ROLES, "layout": "open"}, "npc", "companion_1")
    store = open_store(tmp_path)
    session = PlaySession(world, store, db_run="main", rater="ann", clip_steps=2, seed=3)
    app = PlayApp(session, realtime=False)
    try:
        state = world.state()
        app.draw(state)
        judged = _figure_px(state["pos"], 3, app.view)
        npc0 = _figure_px(state["pos"], 1, app.view)
        assert np.hypot(judged[0] - npc0[0], judged[1] - npc0[1]) > 40
        assert _mark_around(app, judged, 30) > 20
        assert _mark_around(app, npc0, 12) == 0
    finally:
        pygame.display.quit()
        store.db.close()


POS_GAME = '''
"""Two walkers on a 40 x 40 frame; each tells its place in ``info`` (x, y fractions)."""
import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

COLOURS = {"walker_0": (0, 0, 255), "walker_1": (0, 255, 0)}
MOVES = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)


class Walk(ParallelEnv):
    metadata = {"name": "walk_v0", "render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.possible_agents = ["walker_0", "walker_1"]
        self.render_mode = render_mode
        self.agents = []

    def observation_space(self, agent):
        return gym.spaces.Box(0.0, 1.0, (2,), np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(5)

    def _info(self, a):
        return {"x": float(self.pos[a][0]), "y": float(self.pos[a][1])}

    def reset(self, seed=None, options=None):
        rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.pos = {a: rng.uniform(0.2, 0.8, 2) for a in self.agents}
        self.t = 0
        obs = {a: self.pos[a].astype(np.float32) for a in self.agents}
        return obs, {a: self._info(a) for a in self.agents}

    def step(self, actions):
        for a in self.agents:
            self.pos[a] = np.clip(self.pos[a] + 0.05 * MOVES[int(actions[a])], 0.1, 0.9)
        self.t += 1
        obs = {a: self.pos[a].astype(np.float32) for a in self.agents}
        done = {a: False for a in self.agents}
        trunc = {a: self.t >= 30 for a in self.agents}
        infos = {a: self._info(a) for a in self.agents}
        if self.t >= 30:
            self.agents = []
        return obs, {a: 0.0 for a in obs}, done, trunc, infos

    def render(self):
        img = np.zeros((40, 40, 3), dtype=np.uint8)
        for a in self.agents:
            x, y = (self.pos[a] * 40).astype(int)
            img[y - 1 : y + 2, x - 1 : x + 2] = COLOURS[a]
        return img


def parallel_env(**kw):
    return Walk(**kw)


def subject_position(agent, info):
    return info["x"], info["y"]
'''


def test_a_games_ring_follows_its_agent_through_the_recorder(tmp_path: Path, monkeypatch) -> None:
    """End to end: a game module with ``subject_position``, clips recorded by the loop's
    recorder (frames for people, info as features, the slot's agent in the config): the ring
    of every frame but the first is on the square the game drew for walker_1."""
    from rlhf_sandbox.agents.rlhf.recording import ClipSource, RecordClips
    from rlhf_sandbox.envs.pz_game import SUBJECT
    from rlhf_sandbox.envs.pz_joint import role_view_of
    from rlhf_sandbox.envs.vector import make_vec_env
    from rlhf_sandbox.feedback_ui.prefetch import load_clip

    (tmp_path / "walk_subject_game.py").write_text(POS_GAME)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "walk_subject_game:parallel_env"
    venv = make_vec_env(spec, 2, 0, render_mode="rgb_array", role="walker")
    try:
        rec = RecordClips(venv, capacity=16, frames=True)
        rec.reset()
        rng = np.random.default_rng(1)
        for _ in range(8):
            rec.step(rng.integers(0, 5, size=rec.num_envs))
        view = role_view_of(venv)
        assert view is not None and list(view.slot_agents) == ["walker_0", "walker_1"]
        entries = tuple({SUBJECT: {"agent": a, "role": view.role}} for a in view.slot_agents)
        source = ClipSource("main", spec, {}, 10.0, entries)
        clip = rec.clip(1, int(rec.order()[0]), 6, source)
    finally:
        venv.close()
    assert clip.frames is not None and clip.config[SUBJECT]["agent"] == "walker_1"
    with PreferenceDB(tmp_path / DB) as db:
        db.add_run("main")
        store = ClipStore(tmp_path / "store", db)
        (cid,) = store.add([clip])
        size = (480, 270)
        shown = load_clip(store, cid, size)
    assert shown.subject is not None and shown.subject.legend().startswith("Judge walker_1")
    assert shown.mark_at(0) is None
    scale = 270 / 40  # 40 x 40 frames letterboxed into 480 x 270
    for k in range(1, len(clip.frames)):
        mark = shown.mark_at(k)
        assert mark is not None
        green = np.argwhere(np.all(clip.frames[k] == (0, 255, 0), axis=-1))  # walker_1's square
        assert len(green) == 9
        cy, cx = green.mean(axis=0) + 0.5  # its centre, in the game's pixels
        assert abs(mark[0] - ((480 - 270) / 2 + cx * scale)) < scale
        assert abs(mark[1] - cy * scale) < scale
