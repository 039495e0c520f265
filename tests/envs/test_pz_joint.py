"""The joint-stepping layer of PettingZoo games: a role's SB3 view (shapes, seeding, agents
that leave, episode ends, features, frames) and several views on the same game copies,
stepped by hand and from one thread per view (with abort, timeout and retire)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
import tiny_pz_game

from rlhf_sandbox.envs.pz_joint import (
    JointGame,
    JointGameAborted,
    RoleVecEnv,
    role_view_of,
    run_threads,
)
from rlhf_sandbox.envs.pz_maker import game_maker
from rlhf_sandbox.envs.vector import make_vec_env

GAME = "tiny_pz_game"
ROLES = ("chaser", "runner")


def _view(n_envs: int = 4, seed: int = 0, **kw: Any) -> Any:
    return make_vec_env(GAME, n_envs, seed, role="chaser", **kw)


def _rollout(venv: Any, steps: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    out = [(np.asarray(venv.reset()),)]
    for _ in range(steps):
        obs, rew, done, _ = venv.step(rng.integers(0, 5, venv.num_envs))
        out.append((obs.copy(), rew.copy(), done.copy()))
    return out


def _same(a: list[tuple[np.ndarray, ...]], b: list[tuple[np.ndarray, ...]]) -> bool:
    return all(
        all(np.array_equal(x, y) for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(a, b, strict=True)
    )


def test_a_roles_view_has_a_slot_per_agent_of_the_role_in_whole_copies() -> None:
    venv = _view(n_envs=5)  # 2 chasers a copy: 5 slots round down to 2 copies
    view = role_view_of(venv)
    assert isinstance(view, RoleVecEnv) and view.role == "chaser"
    assert venv.num_envs == 4
    assert view.slot_agents == ("chaser_0", "chaser_1", "chaser_0", "chaser_1")
    assert [view.copy_of(i) for i in range(4)] == [0, 0, 1, 1]
    obs = venv.reset()
    assert obs.shape == (4, 5) and obs.dtype == np.float32
    obs, rew, done, infos = venv.step(np.zeros(4, dtype=np.int64))
    assert obs.shape == (4, 5) and rew.shape == (4,) and done.shape == (4,)
    assert set(infos[0]["features"]) == {"caught", "distance"}  # "team" is a string
    assert venv.get_attr("metadata")[0]["render_fps"] == 10
    venv.close()


def test_the_same_seed_gives_the_same_run_and_copy_c_plays_seed_plus_c() -> None:
    a, b = _rollout(_view(seed=7), 80), _rollout(_view(seed=7), 80)
    assert _same(a, b)
    assert not _same(a, _rollout(_view(seed=8), 80))
    # copy 1 of a game seeded 7 plays what copy 0 of one seeded 8 plays, episode after
    # episode (its runner's random moves included), given the same actions
    two, one = _view(n_envs=4, seed=7), _view(n_envs=2, seed=8)
    o2, o1 = two.reset(), one.reset()
    assert np.array_equal(o2[2:], o1)
    rng = np.random.default_rng(0)
    for _ in range(60):  # two episodes and more
        act = rng.integers(0, 5, 2)
        o2, r2, d2, _ = two.step(np.concatenate([rng.integers(0, 5, 2), act]))
        o1, r1, d1, _ = one.step(act)
        assert np.array_equal(o2[2:], o1) and np.array_equal(r2[2:], r1)
        assert np.array_equal(d2[2:], d1)


def test_an_agent_that_leaves_gets_zeros_until_the_game_ends() -> None:
    venv = _view(n_envs=2, leave_at=3, catch_radius=0.0, max_cycles=8)
    venv.reset()
    for t in range(1, 9):
        obs, rew, done, infos = venv.step(np.array([1, 1]))
        if t <= 3:  # chaser_0 plays, and on step 3 it leaves (its last observation)
            assert np.any(obs[0] != 0) and rew[0] < 0
        if 3 < t < 8:
            assert np.all(obs[0] == 0) and rew[0] == 0 and not done[0]
            assert infos[0]["features"] == {"caught": 0.0, "distance": 0.0}
            assert np.any(obs[1] != 0) and rew[1] < 0 and not done[1]
    assert done.all()  # the game's end, for both
    assert not infos[0]["TimeLimit.truncated"]  # chaser_0 was terminated
    assert infos[1]["TimeLimit.truncated"]  # chaser_1 ran out of time
    assert np.all(infos[0]["terminal_observation"] == 0)
    assert np.any(obs[0] != 0)  # the new episode's first observation


def test_an_episode_ends_when_no_agent_is_left() -> None:
    game = tiny_pz_game.TinyChase(max_cycles=5)
    view = JointGame(lambda: game, 1, ("chaser",)).views["chaser"]
    view.reset()
    for t in range(1, 6):
        _, _, done, infos = view.step(np.zeros(2, dtype=np.int64))
        assert done.all() == (t == 5)
    assert "terminal_observation" in infos[0] and game.t == 0  # reset in the same step


def test_frames_are_the_copys_and_drawn_only_when_asked() -> None:
    venv = _view(n_envs=4, render_mode="rgb_array")
    venv.reset()
    venv.step(np.zeros(4, dtype=np.int64))
    imgs = venv.get_images()
    assert len(imgs) == 4 and imgs[0].shape == (48, 48, 3)
    assert imgs[0] is imgs[1] and not np.array_equal(imgs[0], imgs[2])
    plain = _view(n_envs=2)
    plain.reset()
    assert plain.get_images() == [None, None]


def _joint(**kw: Any) -> JointGame:
    return game_maker(GAME, {"catch_radius": 0.0}).game(2, ROLES, seed=3, **kw)


def _script(role: str, steps: int) -> np.ndarray:
    n = 4 if role == "chaser" else 2
    return np.random.default_rng(len(role)).integers(0, 5, (steps, n))


def test_two_views_share_the_copies_and_step_them_once_per_joint_step() -> None:
    game = _joint()
    chaser, runner = game.views["chaser"], game.views["runner"]
    assert (chaser.num_envs, runner.num_envs) == (4, 2)
    chaser.reset()
    runner.reset()  # the copies started with the first view's reset: not again
    assert [c.env.t for c in game._copies] == [0, 0]
    chaser.step_async(np.zeros(4, dtype=np.int64))
    with pytest.raises(RuntimeError, match="waits for runner: without threads"):
        chaser.step_wait()
    runner.step_async(np.zeros(2, dtype=np.int64))
    chaser.step_wait()
    runner.step_wait()
    assert [c.env.t for c in game._copies] == [1, 1]
    with pytest.raises(RuntimeError, match="step_async\\(\\) before step_wait"):
        runner.step_wait()
    game.close()


def _by_hand(steps: int) -> dict[str, list[tuple[np.ndarray, ...]]]:
    game = _joint()
    out: dict[str, list[tuple[np.ndarray, ...]]] = {r: [] for r in ROLES}
    for r in ROLES:
        out[r].append((game.views[r].reset(),))
    for t in range(steps):
        for r in ROLES:
            game.views[r].step_async(_script(r, steps)[t])
        for r in ROLES:
            obs, rew, done, _ = game.views[r].step_wait()
            out[r].append((obs, rew, done))
    return out


def test_one_thread_per_view_steps_as_the_hand_does() -> None:
    steps = 60
    game = _joint(threaded=True, timeout_s=30)

    def work(view: RoleVecEnv) -> list[tuple[np.ndarray, ...]]:
        script = _script(view.role, steps)
        got = [(view.reset(),)]
        for t in range(steps):
            if view.role == "runner":
                time.sleep(0.001)  # the views arrive in either order
            obs, rew, done, _ = view.step(script[t])
            got.append((obs, rew, done))
        return got

    got = run_threads(game, {r: work for r in ROLES})
    want = _by_hand(steps)
    for r in ROLES:
        assert _same(got[r], want[r])
    assert [c.env.t for c in game._copies] == [(steps % 25)] * 2


def test_sb3_learners_on_their_own_threads_train_their_roles_together() -> None:
    from stable_baselines3 import PPO

    game = _joint(threaded=True, timeout_s=120)
    learners = {
        r: PPO("MlpPolicy", v, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
        for r, v in game.views.items()
    }

    def learn(view: RoleVecEnv) -> int:
        return learners[view.role].learn(128).num_timesteps

    assert run_threads(game, {r: learn for r in ROLES}) == {"chaser": 128, "runner": 128}


def test_a_failed_thread_aborts_the_others_instead_of_leaving_them_waiting() -> None:
    game = _joint(threaded=True)  # no timeout: only the abort can free the chaser

    def chaser(view: RoleVecEnv) -> None:
        view.reset()
        while True:
            view.step(np.zeros(4, dtype=np.int64))

    def runner(view: RoleVecEnv) -> None:
        view.reset()
        for _ in range(5):
            view.step(np.zeros(2, dtype=np.int64))
        raise KeyError("the runner's learner broke")

    t0 = time.monotonic()
    with pytest.raises(KeyError, match="the runner's learner broke"):
        run_threads(game, {"chaser": chaser, "runner": runner})
    assert time.monotonic() - t0 < 10
    with pytest.raises(JointGameAborted, match="role 'runner' failed: KeyError"):
        game.views["chaser"].reset()


def test_a_wait_past_the_timeout_aborts_the_game() -> None:
    game = _joint(threaded=True, timeout_s=0.2)
    chaser = game.views["chaser"]
    chaser.reset()
    chaser.step_async(np.zeros(4, dtype=np.int64))
    with pytest.raises(JointGameAborted, match=r"waited 0\.2 s for runner"):
        chaser.step_wait()
    with pytest.raises(JointGameAborted):
        game.views["runner"].step_async(np.zeros(2, dtype=np.int64))


def test_a_view_that_finishes_retires_and_the_others_step_on() -> None:
    game = _joint(threaded=True, timeout_s=30)
    steps = {"chaser": 40, "runner": 10}

    def work(view: RoleVecEnv) -> int:
        view.reset()
        for _ in range(steps[view.role]):
            view.step(np.zeros(view.num_envs, dtype=np.int64))
        return steps[view.role]

    assert run_threads(game, {r: work for r in ROLES}) == steps
    assert [c.env.t for c in game._copies] == [40 % 25] * 2
    with pytest.raises(RuntimeError, match="view 'runner' has retired"):
        game.views["runner"].step_async(np.zeros(2, dtype=np.int64))


def test_views_are_safe_to_call_from_many_threads_at_once() -> None:
    game = _joint(threaded=True, timeout_s=30)
    for v in game.views.values():
        v.reset()
    errors: list[BaseException] = []

    def frames() -> None:
        try:
            for _ in range(200):
                game.views["chaser"].get_images()
                game.views["runner"].get_attr("max_cycles")
        except BaseException as e:  # pragma: no cover - the failure being tested for
            errors.append(e)

    threads = [threading.Thread(target=frames) for _ in range(3)]
    for t in threads:
        t.start()
    run_threads(
        game,
        {r: lambda v: [v.step(np.zeros(v.num_envs, np.int64)) for _ in range(30)] for r in ROLES},
    )
    for t in threads:
        t.join()
    assert not errors
