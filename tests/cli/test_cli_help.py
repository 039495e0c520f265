"""The help of a ``train`` flag that sets a setting is that setting's doc (one source)."""

from __future__ import annotations

import typer

from rlhf_sandbox.agents.policy.ppo import PPOSettings
from rlhf_sandbox.agents.rlhf.settings import DEVICE, SEED, TEACHER, RLHFSettings
from rlhf_sandbox.cli import app
from rlhf_sandbox.cli.train import FLAGS
from rlhf_sandbox.config import doc_of


def test_train_flags_show_the_fields_docs() -> None:
    params = {p.name: p for p in typer.main.get_command(app).commands["train"].params}  # type: ignore[attr-defined]
    checked = 0
    for flag, path in FLAGS.items():
        head, _, rest = path.partition(".")
        if rest and head == "ppo":
            want = doc_of(PPOSettings, rest)
        elif not rest and path not in (SEED, DEVICE, TEACHER):
            want = doc_of(RLHFSettings, path)
        else:
            continue  # shorthands (seed, device; teacher takes a spec) and rater overrides
        assert params[flag].help == want, flag
        checked += 1
    assert checked >= 10


def test_every_flag_of_train_sets_a_known_setting() -> None:
    params = {p.name for p in typer.main.get_command(app).commands["train"].params}  # type: ignore[attr-defined]
    assert set(FLAGS) <= params
