"""Kills at the worst moments, injected so the tests are deterministic (issue 18): before
the first checkpoint, and between registering a reward-model version and the checkpoint
that counts it. The run resumes to its budget, people's labels are kept, and versions and
their files stay one to one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.reward.ensemble import RewardModelConfig
from rlhf_sandbox.agents.rlhf.loop import LoopState, RLHFLoop
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.store.db import PreferenceDB
from rlhf_sandbox.store.run_folder import RUN, RunFolder

S = RLHFSettings(
    env_id="rlhf_sandbox/HighwayFast-v0", env_kwargs={"vehicles": 8}, labels=24,
    timesteps=512, clip_seconds=4.0, query_every=1,
    ppo=PPOSettings(n_envs=2, n_steps=32, batch_size=64, n_epochs=1, net_arch=(16, 16)),
    reward_model=RewardModelConfig(n_members=2, hidden=(16, 16), max_epochs=5),
)  # fmt: skip


class Killed(BaseException):
    """What a kill -9 at this point leaves: nothing after it runs."""


def _one_to_one(out: Path) -> None:
    folder = RunFolder(out)
    with PreferenceDB(folder.db) as db:
        rows = db.reward_models(RUN)
    versions = [r.version for r in rows]
    assert versions == list(range(1, len(rows) + 1))
    assert [r.path for r in rows] == [folder.reward_model_version(v)[1] for v in versions]
    files = sorted(p.name for p in (out / "reward_models").glob("*.pt"))
    assert files == sorted(f"v{v}.pt" for v in versions)


def _killed_run(
    out: Path, monkeypatch: pytest.MonkeyPatch, owner: type, name: str, fn: Any
) -> None:
    """Train ``S`` into ``out`` with ``owner.name`` replaced by ``fn``, which kills it."""
    with monkeypatch.context() as m:
        m.setattr(owner, name, fn)
        loop = RLHFLoop(S, out)
        with pytest.raises(Killed):
            loop.train(progress=False)
        loop.close()


def _resumed(out: Path) -> LoopState:
    """Resume the run in ``out`` to its end."""
    loop = RLHFLoop(None, out, resume=True)
    state = loop.train(progress=False)
    loop.close()
    return state


def test_a_kill_before_the_first_checkpoint_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"

    def killed(self: RLHFLoop) -> None:
        raise Killed

    _killed_run(out, monkeypatch, RLHFLoop, "_checkpoint", killed)
    folder = RunFolder(out)
    assert folder.settings.exists() and not folder.loop_state.exists()
    with PreferenceDB(folder.db) as db:
        asked = len(db.queries(RUN))
        db.add_label(db.queries(RUN)[0].id, "ann", "left")  # a person labelled meanwhile
    assert asked > 0
    state = _resumed(out)
    assert state.done and state.num_timesteps >= S.timesteps
    with PreferenceDB(folder.db) as db:
        assert "ann" in {lab.rater for lab in db.labels(RUN)}  # kept
        assert len(db.queries(RUN)) == S.labels  # the budget, not more
    _one_to_one(out)


def test_versions_and_files_stay_one_to_one_through_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    real = PreferenceDB.add_reward_model
    calls = []

    def add_then_die(self: PreferenceDB, *args: object, **kw: object) -> int:
        v = real(self, *args, **kw)  # type: ignore[arg-type]
        calls.append(v)
        if len(calls) == 3:  # registered, its file written, the checkpoint not yet
            raise Killed
        return v

    _killed_run(out, monkeypatch, PreferenceDB, "add_reward_model", add_then_die)
    _resumed(out)
    _one_to_one(out)


class _DiesAtLabel:
    """A connection that dies (as a kill -9 would: the open transaction is never committed)
    when asked to store the ``n``-th synthetic label."""

    def __init__(self, conn: object, seen: list[int], n: int) -> None:
        self._conn, self._seen, self._n = conn, seen, n

    def execute(self, sql: str, args: object = ()) -> object:
        if sql.lstrip().startswith("INSERT INTO labels"):
            self._seen.append(1)
            if len(self._seen) == self._n:
                raise Killed
        return self._conn.execute(sql, args)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_kill_while_a_round_is_stored_loses_no_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A synthetic teacher's pairs and their labels are stored together: a kill between
    them left pairs that no teacher would ever label (found once by the SIGKILL test)."""
    out = tmp_path / "run"
    real = PreferenceDB._write
    seen: list[int] = []
    first_round = S.labels // 2  # more than the first rollout's share: a later round dies

    def write(self: PreferenceDB, body):  # type: ignore[no-untyped-def]
        return real(self, lambda c, again: body(_DiesAtLabel(c, seen, first_round + 2), again))

    _killed_run(out, monkeypatch, PreferenceDB, "_write", write)
    folder = RunFolder(out)
    assert folder.loop_state.exists()  # killed after a checkpoint, mid-way through a round
    state = _resumed(out)
    assert state.done and state.labels_asked == S.labels
    with PreferenceDB(folder.db) as db:
        queries = db.queries(RUN)
        assert len(queries) == S.labels
        assert db.label_count(RUN) == S.labels  # every pair asked has its teacher's label
