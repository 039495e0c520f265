"""Behaviour features on hand-made situations (states written with set_state)."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_sandbox.sim.arena.params import GUARD, VILLAGER, ArenaParams
from rlhf_sandbox.sim.arena.world import ArenaWorld

STILL = np.zeros((1, 3, 2))  # controlled NPCs asked to stand still
ALL = np.array([0, 1, 2])


@pytest.fixture(params=["numpy", "numba"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "numba":
        pytest.importorskip("numba")
    return str(request.param)


def _world(roles: tuple[int, ...], layout: str, backend: str) -> ArenaWorld:
    w = ArenaWorld(ArenaParams(roles=roles, layout=layout, player_mode=0, backend=backend), 1)
    w.reset(np.ones(1, dtype=bool), np.array([0]))
    return w


def _place(w: ArenaWorld, pos: list[tuple[float, float]], **extra: object) -> None:
    s = w.get_state()
    s["pos"][0] = np.asarray(pos, dtype=float)
    s["vel"][0] = 0.0
    s["heading"][0] = 0.0
    for k, v in extra.items():
        s[k][0] = v
    w.set_state(s)


def test_blocking_and_personal_space(backend: str) -> None:
    w = _world((VILLAGER, VILLAGER, VILLAGER), "open", backend)
    wp = int(np.argmin(np.linalg.norm(w.waypoints[0] - [6.0, 6.0], axis=-1)))
    # player walks east toward (6, 6); NPC 0 ahead on its path, NPC 1 ahead but 1.5 m
    # aside, NPC 2 behind it, 0.9 m away (inside the personal space)
    _place(w, [(4.5, 6.0), (6.4, 6.05), (6.4, 7.5), (3.6, 6.0)], wp=[wp, 0, 0, 0])
    w.step(STILL, ALL)
    f = w.features
    assert w.vel[0, 0, 0] > 0.5 and abs(w.vel[0, 0, 1]) < 1e-9  # the player moves east
    assert f["blocking"][0].tolist() == [1.0, 0.0, 0.0]
    assert f["in_personal_space"][0].tolist() == [0.0, 0.0, 1.0]
    for _ in range(4):
        w.step(STILL, ALL)
    assert w.features["personal_space_time"][0, 0] == 0.0
    assert w.features["personal_space_time"][0, 1] == 0.0


def test_guard_sees_pursues_and_escape_is_reported_once(backend: str) -> None:
    w = _world((GUARD,), "rooms", backend)
    still = np.zeros((1, 1, 2))
    # guard at (3, 3) facing east; player 2 m east in the same room: seen at once
    _place(w, [(5.0, 3.0), (3.0, 3.0)])
    w.step(still, np.array([0]))
    assert w.alert[0, 0] and w.features["line_of_sight"][0, 0] == 1.0
    # the player is moved to the far room: out of sight; the guard gives up after 3 s
    s = w.get_state()
    s["pos"][0, 0] = (9.0, 9.0)
    w.set_state(s)
    escaped_at = []
    for t in range(40):
        w.step(still, np.array([0]))
        if w.features["escaped"][0, 0]:
            escaped_at.append(t)
    assert len(escaped_at) == 1 and 28 <= escaped_at[0] <= 32
    assert not w.alert[0, 0] and not w.caught[0]


def test_catch_and_collisions(backend: str) -> None:
    w = _world((GUARD, VILLAGER), "open", backend)
    # guard 0.5 m from the player (discs overlap; a catch), villager at the south wall
    _place(w, [(6.0, 6.0), (6.5, 6.0), (2.0, 0.62)])
    push = np.array([[[0.0, 0.0], [0.0, -2.0]]])  # the villager drives into the wall
    w.step(push, np.array([0, 1]))
    f = w.features
    assert f["caught"][0].tolist() == [1.0, 0.0] and w.caught[0]
    assert f["agent_collision"][0].tolist() == [1.0, 0.0]
    assert np.linalg.norm(w.pos[0, 1] - w.pos[0, 0]) >= 0.6 - 1e-6  # pushed apart
    assert f["wall_collision"][0].tolist() == [0.0, 1.0]
    assert w.pos[0, 2, 1] >= 0.3 + 0.3 - 1e-9  # still outside the wall, slid not sunk


def test_player_can_be_driven_from_outside(backend: str) -> None:
    """A keyboard player: ``player_vel`` replaces the script, capped at player_speed."""
    w = _world((VILLAGER,), "open", backend)
    _place(w, [(6.0, 6.0), (2.0, 2.0)])
    for _ in range(10):
        w.step(np.zeros((1, 1, 2)), np.array([0]), player_vel=np.array([[0.0, 5.0]]))
    assert w.pos[0, 0, 0] == 6.0  # straight north
    assert abs(w.vel[0, 0, 1] - 1.5) < 1e-9  # top speed reached, not exceeded
