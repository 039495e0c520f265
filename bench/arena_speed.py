"""Agent-steps/s of arena_v0 (4 NPC agents) beside mpe2's simple_tag_v3 (4 agents), one run.

Measures, each ``--repeats`` times (medians reported):
* simple_tag_v3 parallel_env, random actions (in its own venv, ``.venv-peers/mpe2``);
* arena_v0 parallel_env, random actions through the PettingZoo API;
* the batched arena (``ArenaBatch``) with N = 1, 16, 256, 1024 worlds, random actions,
  same-step autoreset: one array call per step for all N worlds.

Targets: the parallel env at least 2x simple_tag's agent-steps/s; the batched form at
least 20x (judged at N >= 256; N = 1 and 16 are shown for the curve). Both are taken
against the peer measured in the same run, so a busy machine slows both sides.
Usage: ``.venv/bin/python bench/arena_speed.py [--seconds 3] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from common import median_of, rate, run_peer

from rlhf_sandbox.envs import arena_v0
from rlhf_sandbox.envs.arena_config import ArenaConfig

ROLES = ("companion", "guard", "villager", "villager")  # 4 agents, as many as simple_tag
SIZES = (1, 16, 256, 1024)
SINGLE_TARGET, BATCH_TARGET = 2.0, 20.0
QUOTED = 8_900  # [agent-steps/s] simple_tag_v3 on this machine when idle (the figure)


def parallel_rate(seconds: float, backend: str) -> float:
    """Agent-steps/s of one arena_v0 parallel_env with random actions (resets included)."""
    env = arena_v0.parallel_env(roles=ROLES, backend=backend)
    env.reset(seed=0)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(i)

    def burst() -> int:
        n = 0
        for _ in range(200):
            if not env.agents:
                env.reset()
            acts = {a: env.action_space(a).sample() for a in env.agents}
            env.step(acts)
            n += len(acts)
        return n

    return rate(burst, seconds)


def batch_rate(n_worlds: int, seconds: float, backend: str) -> float:
    """Agent-steps/s of ``n_worlds`` batched arenas (4 agents each), random actions."""
    batch = arena_v0.ArenaBatch(ArenaConfig(roles=ROLES, backend=backend), n_worlds)
    batch.reset(np.ones(n_worlds, dtype=bool), np.arange(n_worlds, dtype=np.int64))
    rng = np.random.default_rng(0)
    calls = max(1, 2048 // n_worlds)

    def burst() -> int:
        for _ in range(calls):
            batch.step_autoreset(rng.integers(0, 9, (n_worlds, len(ROLES))))
        return calls * n_worlds * len(ROLES)

    return rate(burst, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="numba,numpy", help="world step backends, in order")
    args = parser.parse_args()
    s, k = args.seconds, args.repeats

    peer_runs = [run_peer("mpe2", "mpe2_peer.py", "--seconds", str(s)) for _ in range(k)]
    peers = [p for p in peer_runs if p is not None]
    peer = float(np.median([p["agent_steps_per_s"] for p in peers])) if peers else None
    peer_steps = float(np.median([p["steps_per_s"] for p in peers])) if peers else None

    rows: list[tuple[str, float, float | None]] = []  # name, agent-steps/s, target
    for be in args.backends.split(","):
        single, _ = median_of(lambda be=be: parallel_rate(s, be), k)
        rows.append((f"arena_v0 parallel_env ({be})", single, SINGLE_TARGET))
        for n in SIZES:
            r, _ = median_of(lambda n=n, be=be: batch_rate(n, s, be), k)
            rows.append((f"batched ({be}) N={n}", r, BATCH_TARGET if n >= 256 else None))

    # steps/s counts world steps: one per parallel step, N per batched call
    print(f"\nmedians of {k} runs of {s:g} s; agent-steps/s = world steps x 4 agents")
    head = (
        f"{'env':32s} {'steps/s':>10s} {'agent-steps/s':>14s} {'x simple_tag':>13s} {'target':>7s}"
    )
    print(head)
    print("-" * len(head))
    if peer is not None and peer_steps is not None:
        print(f"{'mpe2 simple_tag_v3':32s} {peer_steps:10,.0f} {peer:14,.0f} {'1.0':>13s}")
    else:
        print("no peer figure: run `bash bench/peers/setup.sh` to build .venv-peers/mpe2")
    for name, r, target in rows:
        ratio = f"{r / peer:.1f}" if peer else "n/a"
        goal = f"{target:.0f}x" if target else ""
        met = "" if not (peer and target) else (" met" if r / peer >= target else " MISSED")
        print(f"{name:32s} {r / 4:10,.0f} {r:14,.0f} {ratio:>13s} {goal:>7s}{met}")
    print(f"\nagainst the quoted simple_tag figure ({QUOTED:,} agent-steps/s on an idle machine):")
    for name, r, _ in rows:
        print(f"  {name:32s} {r / QUOTED:6.1f}x")


if __name__ == "__main__":
    main()
