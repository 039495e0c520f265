"""A joint game of our arena steps its copies through the batched core (one array step for
every copy) and gives what the copies stepped one by one through ``arena_v0``'s PettingZoo
face give: observations, rewards, dones, features, terminal observations, seeds, frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlhf_sandbox.envs.pz_joint import JointGame
from rlhf_sandbox.envs.pz_maker import game_maker

ARENA = "rlhf_sandbox.envs.arena_v0:parallel_env"
# a big catch distance and short episodes: catches (terminated) and time limits (truncated)
SMALL = {"max_steps": 12, "catch_distance": 3.0, "scripted_roles": ("villager",)}


def _game(
    batched: bool, n: int = 4, trained: tuple[str, ...] = ("companion", "guard"), **kw: Any
) -> JointGame:
    return game_maker(ARENA, {**SMALL, **kw}).game(n, trained, seed=5, batched=batched)


def _play(game: JointGame, steps: int, retire: str | None = None) -> list[Any]:
    """Random actions (the same for both games) on every view, stepped by hand."""
    rng = np.random.default_rng(1)
    views = dict(game.views)
    out: list[Any] = [{r: v.reset() for r, v in views.items()}]
    for t in range(steps):
        if retire is not None and t == steps // 2:
            game.retire(retire)
            views.pop(retire)
        for v in views.values():
            n = getattr(v.action_space, "n", None)  # Discrete(9), or a velocity Box
            v.step_async(
                rng.integers(0, n, v.num_envs) if n else rng.uniform(-1.2, 1.2, (v.num_envs, 2))
            )
        out.append({r: v.step_wait() for r, v in views.items()})
    return out


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert type(a) is type(b) and a == b


def test_the_arena_is_stepped_batched_and_a_foreign_game_copy_by_copy() -> None:
    assert _game(True)._batch is not None
    assert _game(False)._batch is None
    assert game_maker("tiny_pz_game", {}).game(2, ("chaser",))._batch is None


@pytest.mark.parametrize("roles", [("companion", "guard"), ("companion",)])
def test_batched_steps_give_what_the_copies_stepped_one_by_one_give(roles: tuple[str, ...]) -> None:
    # one role: two companions a copy, and the guard (not trained, not scripted) at random
    kw = {} if len(roles) == 2 else {"roles": ("companion", "companion", "guard", "villager")}
    a, b = _play(_game(True, 4, roles, **kw), 60), _play(_game(False, 4, roles, **kw), 60)
    _same(a, b)
    dones = np.concatenate([step[r][2] for step in a[1:] for r in roles])
    truncated = [
        i["TimeLimit.truncated"]
        for step in a[1:]
        for r in roles
        for i in step[r][3]
        if "TimeLimit.truncated" in i
    ]
    assert dones.any() and any(truncated) and not all(truncated)  # catches and time limits


def test_a_retired_roles_agents_act_at_random_as_they_would_copy_by_copy() -> None:
    _same(_play(_game(True), 40, retire="guard"), _play(_game(False), 40, retire="guard"))


def test_continuous_actions_and_frames_match() -> None:
    a, b = _game(True, n=2, continuous=True), _game(False, n=2, continuous=True)
    _same(_play(a, 30), _play(b, 30))
    a.render_mode = b.render_mode = "rgb_array"
    for g in (a, b):
        for env in g.games:
            env.render_mode = "rgb_array"
        if g._batch is not None:
            g._batch.render_mode = "rgb_array"
    fa, fb = a.frames(), b.frames()
    assert len(fa) == 2 and fa[0].shape == (480, 480, 3)
    _same(fa, fb)


def test_the_same_seed_gives_the_same_run_and_copy_c_plays_seed_plus_c() -> None:
    four = game_maker(ARENA, SMALL).game(4, ("companion", "guard"), seed=5)
    two = game_maker(ARENA, SMALL).game(2, ("companion", "guard"), seed=7)
    o4 = {r: v.reset() for r, v in four.views.items()}
    o2 = {r: v.reset() for r, v in two.views.items()}
    for r in o4:
        np.testing.assert_array_equal(o4[r][2:], o2[r])
    rng = np.random.default_rng(0)
    for _ in range(30):  # past several episode ends
        act = {r: rng.integers(0, 9, 2) for r in o4}
        for r in o4:
            four.views[r].step_async(np.concatenate([rng.integers(0, 9, 2), act[r]]))
            two.views[r].step_async(act[r])
        for r in o4:
            s4, s2 = four.views[r].step_wait(), two.views[r].step_wait()
            for x, y in zip(s4[:3], s2[:3], strict=True):
                np.testing.assert_array_equal(x[2:], y)
