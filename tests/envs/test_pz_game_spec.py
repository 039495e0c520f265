"""A user's PettingZoo game named ``MODULE[:FACTORY]``: how a spec is told from a Gymnasium
id, its import, its roles, and one clear error for each way it can be wrong.

The game is ``tiny_pz_game`` beside this file (pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import gymnasium as gym
import pytest
import tiny_pz_game
from pettingzoo.test import parallel_api_test, parallel_seed_test

from rlhf_sandbox.envs.ids import (
    check_env_id,
    check_train_env_id,
    is_core_env,
    is_game_spec,
    trains_by_role,
)
from rlhf_sandbox.envs.pz_game import (
    GameError,
    clip_subject,
    default_role,
    group_roles,
    load_factory,
    load_roles_fn,
    numeric_entries,
    split_settings,
)
from rlhf_sandbox.envs.pz_maker import game_maker
from rlhf_sandbox.envs.vector import make_vec_env

GAME = "tiny_pz_game"


def test_the_tiny_game_passes_pettingzoos_own_tests() -> None:
    parallel_api_test(tiny_pz_game.parallel_env(), num_cycles=100)
    parallel_api_test(tiny_pz_game.parallel_env(leave_at=3, catch_radius=0.0), num_cycles=100)
    parallel_seed_test(tiny_pz_game.parallel_env, num_cycles=50)


@pytest.mark.parametrize(
    ("spec", "game"),
    [
        (GAME, True),
        (f"{GAME}:parallel_env", True),
        (f"{GAME}:TinyChase", True),
        ("some.package.module:make_game", True),
        ("Pendulum-v1", False),  # registered: Gymnasium
        ("rlhf_sandbox/Highway-v0", False),
        ("arena_v0", False),  # ours
        (f"{GAME}:Chase-v0", False),  # gymnasium's MODULE:ID form
        ("not a spec", False),
        ("a:b:c", False),
    ],
)
def test_a_spec_is_a_game_unless_it_is_a_gymnasium_id(spec: str, game: bool) -> None:
    assert is_game_spec(spec) is game


def test_registered_ids_keep_their_gymnasium_meaning() -> None:
    assert not trains_by_role("Pendulum-v1") and trains_by_role(GAME) and trains_by_role("arena_v0")
    assert not is_core_env(GAME) and not is_core_env("Pendulum-v1")
    check_env_id("gymnasium.envs.classic_control:CartPole-v1")  # gymnasium's own form
    with pytest.raises(ValueError, match="registered no env id 'Chase-v0'"):
        check_env_id(f"{GAME}:Chase-v0")
    with pytest.raises(ValueError, match="no module named 'no_such_mod'"):
        check_env_id("no_such_mod:Chase-v0")


def test_a_module_alone_or_its_attribute_names_the_factory() -> None:
    assert load_factory(GAME) is tiny_pz_game.parallel_env
    assert load_factory(f"{GAME}:TinyChase") is tiny_pz_game.TinyChase
    rps = load_factory("pettingzoo.classic:rps_v2")  # a submodule's parallel_env
    assert rps().possible_agents == ["player_0", "player_1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_game_module", "no module named 'no_such_game_module'"),
        (f"{GAME}:nope", "module 'tiny_pz_game' has no attribute 'nope'"),
        (f"{GAME}:NOT_CALLABLE", "NOT_CALLABLE is a int, not a callable"),
        ("json", r"module 'json' has no parallel_env\(\)"),
        ("json:decoder", r"module 'json.decoder' has no parallel_env\(\)"),
    ],
)
def test_a_spec_that_names_no_factory_is_one_error(spec: str, message: str) -> None:
    with pytest.raises(GameError, match=message):
        load_factory(spec)


def test_an_unknown_name_says_it_is_neither_an_id_nor_a_module() -> None:
    with pytest.raises(ValueError, match="no registered Gymnasium id") as e:
        check_train_env_id("Pendulum")
    assert "no module named 'Pendulum'" in str(e.value)
    check_train_env_id(GAME)
    check_train_env_id("arena_v0")


def test_roles_by_default_are_the_names_before_the_last_underscore() -> None:
    assert default_role("adversary_0") == "adversary"
    assert default_role("red_team_12") == "red_team"
    assert default_role("pistonball") == "pistonball"
    assert default_role("_0") == "_0"
    agents = ["chaser_0", "chaser_1", "runner_0"]
    assert group_roles(agents, default_role) == {
        "chaser": ("chaser_0", "chaser_1"),
        "runner": ("runner_0",),
    }
    fn = load_roles_fn(f"{GAME}:one_team")
    assert group_roles(agents, fn) == {"everyone": tuple(agents)}
    with pytest.raises(GameError, match="expected MODULE:ATTR"):
        load_roles_fn("one_team")
    with pytest.raises(GameError, match="has no attribute 'nope'"):
        load_roles_fn(f"{GAME}:nope")


def test_our_settings_are_split_from_the_factorys() -> None:
    s = split_settings({"role": "chaser", "roles_fn": "m:f", "max_cycles": 9})
    assert (s.factory_kwargs, s.role, s.roles_fn) == ({"max_cycles": 9}, "chaser", "m:f")
    with pytest.raises(GameError, match="role must be a role name"):
        split_settings({"role": 3})


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        (f"{GAME}:not_a_game", {}, "returned a object, not a PettingZoo ParallelEnv"),
        (f"{GAME}:raises", {}, "the factory raised RuntimeError: the level file is missing"),
        (GAME, {"speed": 2}, "raised TypeError: .*speed"),
        (GAME, {"role": "guard"}, r"no agent has the role 'guard'; roles found: chaser"
         r" \(chaser_0, chaser_1\), runner \(runner_0\)"),
        (GAME, {}, "has 2 roles: name the one to train with --env-arg role=ROLE"),
        (f"{GAME}:mixed_spaces", {"role": "chaser"}, "agents 'chaser_0' and 'chaser_1' have"
         " different observation spaces"),
        (f"{GAME}:multi_discrete", {"role": "chaser"}, "acts in a MultiDiscrete; only Box and"
         " Discrete actions"),
        (GAME, {"role": "chaser", "roles_fn": f"{GAME}:nope"}, "has no attribute 'nope'"),
    ],
)  # fmt: skip
def test_a_game_that_cannot_be_trained_is_one_error(
    spec: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(GameError, match=message):
        make_vec_env(spec, 4, 0, **kwargs)


def test_pettingzoos_own_games_are_checked_as_any_other() -> None:
    with pytest.raises(GameError, match="an AEC env; give its parallel_env"):
        make_vec_env("pettingzoo.classic.rps_v2:env", 1, 0)
    with pytest.raises(GameError, match="'player_0' observes a Discrete; only Box observations"):
        make_vec_env("pettingzoo.classic.rps_v2", 1, 0)


def test_one_role_needs_no_name_and_roles_fn_regroups() -> None:
    maker = game_maker(GAME, {"n_chasers": 1, "roles_fn": f"{GAME}:one_team"})
    assert maker.roles == {"everyone": ("chaser_0", "runner_0")}
    assert maker.trained_role() == "everyone"
    venv = make_vec_env(GAME, 4, 0, roles_fn=f"{GAME}:one_team")
    assert venv.num_envs == 3  # one copy of chaser_0, chaser_1, runner_0
    venv.close()


def test_numeric_info_entries_are_features_and_the_rest_is_left_out() -> None:
    import numpy as np

    info = {"d": 1.5, "n": 2, "ok": True, "f32": np.float32(0.5), "name": "x", "v": [1, 2]}
    info |= {"arr": np.zeros(3), "nested": {"a": 1}, "a/b": 1.0}
    assert numeric_entries(info) == {"d": 1.5, "n": 2.0, "ok": 1.0, "f32": 0.5}
    assert numeric_entries(None) == {}


def test_a_clips_subject_is_read_from_its_config() -> None:
    assert clip_subject({"subject": {"agent": "chaser_1", "role": "chaser"}}) == (
        "chaser_1",
        "chaser",
    )
    assert clip_subject({"lanes": 3}) is None


def test_gymnasium_ids_are_untouched_by_the_game_route() -> None:
    venv = make_vec_env("Pendulum-v1", 2, 0)
    assert venv.num_envs == 2 and isinstance(venv.observation_space, gym.spaces.Box)
    venv.close()
