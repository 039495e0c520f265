"""``rlhf-sandbox export``: a trained policy as files a game runs without SB3 or torch.

``export --run DIR [--role R] --format onnx|numpy [--out PATH] [--overwrite]``. DIR is a
run folder with ``policy.pt`` and its ``policy.json`` (``train``, ``ppo``; ``arena train``
writes no ``policy.json``); a run of several roles keeps one run folder per role under
``roles/`` and needs ``--role``. ``--format onnx`` writes ``policy.onnx`` (needs the
``export`` extra), ``--format numpy`` writes ``policy.npz`` and ``npc_policy.py`` (numpy
only); both write ``policy.json`` beside. PATH
(default ``DIR/[roles/R/]export/FORMAT``) is a new folder, or an earlier export replaced
with ``--overwrite``. Bad input is one line on stderr, ``Error: ...``, exit code 2, and
nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rlhf_sandbox.cli.common import check_out_parent, fail, one_torch_thread, role_folder, setup

if TYPE_CHECKING:
    from rlhf_sandbox.store.run_folder import RunFolder


def command(
    run: Annotated[
        Path, typer.Option(help="the run folder with policy.pt and policy.json (train or ppo)")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="onnx (an ONNX model) or numpy (a forward in numpy only)"),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(help="the role to export, in a run of several roles (roles/ROLE/)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="folder for the export, new (default: DIR/export/FORMAT, with --role in a run"
            " of roles DIR/roles/ROLE/export/FORMAT)"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace --out when it holds an earlier output of export")
    ] = False,
) -> None:
    """Export a trained policy for a game: ONNX, or numpy weights with a numpy forward."""
    setup()
    from rlhf_sandbox.agents.policy.export import COMMAND, FORMATS, onnx_missing
    from rlhf_sandbox.files import check_out_folder, json_path

    try:
        if fmt is None:
            raise ValueError(f"give --format: {' or '.join(FORMATS)}")
        if fmt not in FORMATS:
            raise ValueError(f"unknown --format {fmt!r}; known: {', '.join(FORMATS)}")
        if fmt == "onnx" and (why := onnx_missing()) is not None:
            raise ValueError(f"--format onnx: {why}")
        folder, role = role_folder(run, role)
        if not folder.policy.is_file():
            raise ValueError(
                f"no {folder.policy.name} in {folder.path} yet (a run writes it when it ends)"
            )
        if not json_path(folder.policy).is_file():
            raise ValueError(
                f"{folder.policy}: no {json_path(folder.policy).name} beside it, which says"
                " the network's spaces and layers (`arena train` does not write it; a `train`"
                " or `ppo` run does)"
            )
        dest = out if out is not None else folder.export / fmt
        check_out_folder(dest, COMMAND, overwrite=overwrite)
        check_out_parent(dest)
        extra = _source(folder, role)
    except ValueError as e:
        raise fail(str(e)) from None
    one_torch_thread()
    from rlhf_sandbox.agents.policy.export import actor_of, export_to_folder
    from rlhf_sandbox.agents.policy.ppo import load_policy

    try:
        policy = load_policy(folder.policy)
        actor = actor_of(policy)
        written = export_to_folder(policy, dest, fmt, overwrite=overwrite, **extra)
    except (ValueError, FileNotFoundError, KeyError) as e:  # FolderError is a ValueError
        raise fail(str(e) if not isinstance(e, KeyError) else f"{folder.policy}: {e!r}") from None
    a = actor.action_space
    what = f"{a} actions from {actor.obs_dim} observation values"
    typer.echo(f"wrote {dest}/: {', '.join(p.name for p in written)} ({what})")
    _hint(dest, fmt, actor.obs_dim)


def _settings(rf: RunFolder) -> dict[str, Any]:
    data = rf.read_settings()  # a JSONDecodeError is a ValueError
    if not isinstance(data.get("env_kwargs") or {}, dict):
        raise ValueError(f"{rf.settings}: env_kwargs is not a JSON object")
    return data


def _source(rf: RunFolder, role: str | None) -> dict[str, Any]:
    """What the export records of where it came from: env id and settings, role, steps."""
    from rlhf_sandbox.files import json_path

    settings = _settings(rf) if rf.settings.is_file() else {}
    saved = json.loads(json_path(rf.policy).read_text())  # a JSONDecodeError: a ValueError
    if not isinstance(saved, dict):
        raise ValueError(f"{json_path(rf.policy)}: not a JSON object")
    source = {
        "env_id": settings.get("env_id", saved.get("env_id")),
        "env_kwargs": settings.get("env_kwargs"),
        "role": role,
        "num_timesteps": saved.get("num_timesteps"),
    }
    return {k: v for k, v in source.items() if v is not None}


def _hint(dest: Path, fmt: str, obs_dim: int) -> None:
    """Three lines: how a game runs the export."""
    if fmt == "numpy":
        lines = (
            f"run it with numpy only (copy {dest}/ into the game):",
            f'  import sys; sys.path.insert(0, "{dest}"); from npc_policy import load',
            f'  policy = load("{dest}"); action = policy.act(obs)  # one obs, or a batch [N, ...]',
        )
    else:
        lines = (
            "run it with onnxruntime and numpy (or any runtime of ONNX opset 15):",
            f'  import onnxruntime as ort; s = ort.InferenceSession("{dest}/policy.onnx")',
            f'  (action,) = s.run(["action"], {{"obs": np.float32(obs).reshape(-1, {obs_dim})}})',
        )
    for line in lines:
        typer.echo(line)
