"""A run of several roles with each role's learner in a process of its own (forked; the game
stays in the run's process): the same seed gives the same run, and the same run as on
threads in what it counts; a learner that fails, or whose process dies, stops the others
instead of leaving them waiting; a learner that cannot start is raised by the constructor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rlhf_sandbox.agents.rlhf import roles
from rlhf_sandbox.agents.rlhf.roles import RolesPlan, RolesRun, can_fork, plan_roles
from rlhf_sandbox.agents.rlhf.settings import TEACHER, RLHFSettings, build_settings
from rlhf_sandbox.agents.teachers.oracles import oracle_from_callable
from rlhf_sandbox.envs.pz_joint import JointGameAborted

pytestmark = pytest.mark.skipif(not can_fork(), reason="learners in processes need fork")

SMALL = {"ppo.n_envs": 4, "ppo.n_steps": 64, "timesteps": 512, "clip_seconds": 1.0}


def _boom(f: Any) -> Any:
    raise ValueError("the teacher broke")


def _die(f: Any) -> Any:
    os._exit(3)  # the learner's process dies without a word


BOOM = oracle_from_callable(_boom, name="boom", features=("distance",))
DIE = oracle_from_callable(_die, name="die", features=("distance",))


def _plan(guard: str = "guard", labels: int = 10) -> RolesPlan:
    def build(role: str, spec: str, n: int) -> RLHFSettings:
        values = {"env_id": "arena_v0", TEACHER: spec, "labels": n, "env_kwargs.role": role}
        return build_settings(None, {**values, **SMALL})

    return plan_roles(
        {"companion": "companion", "guard": guard}, {"companion": labels, "guard": labels}, build
    )


def _train(out: Path, plan: RolesPlan, processes: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    run = RolesRun(out, plan, processes=processes)
    try:
        assert run.processes is processes
        seen: list[dict[str, int]] = []
        states = run.train(progress=seen.append)
    finally:
        run.close()
    policies = {
        r: torch.load(out / "roles" / r / "policy.pt", weights_only=False) for r in run.roles
    }
    return {r: vars(s) for r, s in states.items()}, policies


def _tensors(x: Any) -> list[np.ndarray]:
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return [x.numpy()] if isinstance(x, torch.Tensor) else []


def test_the_same_seed_gives_the_same_run_in_processes_and_counts_as_on_threads(
    tmp_path: Path,
) -> None:
    plan = _plan()
    a_states, a_pol = _train(tmp_path / "a", plan, processes=True)
    b_states, b_pol = _train(tmp_path / "b", plan, processes=True)
    for r in ("companion", "guard"):
        assert a_states[r]["num_timesteps"] == 512 and a_states[r]["labels_asked"] == 10
        fits = [[{k: v for k, v in h.items() if k != "seconds"} for h in s[r]["history"]]
                for s in (a_states, b_states)]  # fmt: skip
        assert fits[0] == fits[1] and len(fits[0]) > 1
        for x, y in zip(_tensors(a_pol[r]), _tensors(b_pol[r]), strict=True):
            np.testing.assert_array_equal(x, y)
    t_states, _ = _train(tmp_path / "t", plan, processes=False)
    for r in ("companion", "guard"):
        for key in ("num_timesteps", "labels_asked", "model_version", "iteration", "done"):
            assert t_states[r][key] == a_states[r][key]


def test_a_learner_that_fails_stops_the_other_and_its_error_is_raised(tmp_path: Path) -> None:
    run = RolesRun(tmp_path / "boom", _plan(f"{__name__}:BOOM"), processes=True)
    try:
        with pytest.raises(ValueError, match="the teacher broke"):
            run.train()
        assert isinstance(run._servers["companion"].error, JointGameAborted)
    finally:
        run.close()
    assert not any(p.is_alive() for p in run._procs.values())


def test_a_learner_whose_process_dies_stops_the_other(tmp_path: Path) -> None:
    run = RolesRun(tmp_path / "die", _plan(f"{__name__}:DIE"), processes=True)
    try:
        with pytest.raises(
            RuntimeError, match=r"role 'guard'.*ended without a result \(exit code 3\)"
        ):
            run.train()
    finally:
        run.close()
    assert not any(p.is_alive() for p in run._procs.values())


def test_a_learner_that_cannot_start_is_raised_by_the_constructor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = roles.RLHFLoop

    def loop(settings: Any, out: Path, **kw: Any) -> Any:
        if Path(out).name == "guard":
            raise FileExistsError(f"{out} holds store/prefs.sqlite already")
        return real(settings, out, **kw)

    monkeypatch.setattr(roles, "RLHFLoop", loop)  # what the forked learners call
    with pytest.raises(FileExistsError, match=r"prefs\.sqlite"):
        RolesRun(tmp_path / "taken", _plan(), processes=True)


def test_learners_run_torch_on_one_thread_whatever_this_process_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not only the CLI's rule: OpenMP threads started here before the fork cannot run in a
    # forked learner (GNU OpenMP hangs in the child's first large op), so learners use one.
    real = roles.RLHFLoop

    def loop(settings: Any, out: Path, **kw: Any) -> Any:
        if torch.get_num_threads() != 1:
            raise RuntimeError(f"a learner runs torch on {torch.get_num_threads()} threads")
        return real(settings, out, **kw)

    monkeypatch.setattr(roles, "RLHFLoop", loop)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        RolesRun(tmp_path / "omp", _plan(), processes=True).close()
    finally:
        torch.set_num_threads(before)
