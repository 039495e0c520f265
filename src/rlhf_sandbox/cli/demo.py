"""``rlhf-sandbox demo``: a short RLHF run on the highway and its report (``make demo``).

It starts afresh each time: it replaces its own earlier demo folder (the marker file says
``demo`` made it) and refuses any other folder in the way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlhf_sandbox.agents.rlhf.presets import (
    DEMO_EPISODES,
    DEMO_LABELS,
    DEMO_TIMESTEPS,
    demo_settings,
)
from rlhf_sandbox.cli.common import fail, setup
from rlhf_sandbox.cli.train import train_and_print


def command(
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/demo"),
    timesteps: Annotated[int, typer.Option(min=1, help="env steps")] = DEMO_TIMESTEPS,
    labels: Annotated[int, typer.Option(min=0, help="labels")] = DEMO_LABELS,
    seed: Annotated[int, typer.Option(min=0, help="seed")] = 0,
) -> None:
    """A short RLHF run: the highway, the highway oracle with a perfect rater, a report.
    It replaces its own earlier demo folder, and refuses any other folder."""
    setup()
    from rlhf_sandbox.files import FolderError, fresh_folder

    try:
        s = demo_settings(seed, "perfect", timesteps, labels)
        fresh_folder(out, "demo", overwrite=True)
    except (FolderError, ValueError) as e:
        raise fail(str(e)) from None
    train_and_print(s, out, resume=False, report=True, baseline=True, episodes=DEMO_EPISODES)
