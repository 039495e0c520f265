"""Peer benchmark: mpe2's simple_tag_v3 parallel_env with its default settings, random actions.

Runs inside .venv-peers/mpe2 (made by bench/peers/setup.sh), never in the project's venv.
Prints ONE line of JSON on stdout. Exits 2 when the defaults are not the ones we compare against.

    .venv-peers/mpe2/bin/python bench/peers/mpe2_peer.py --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from mpe2 import simple_tag_v3

# simple_tag_v3's defaults: 1 good agent, 3 adversaries, 2 obstacles, 25 cycles, discrete actions.
EXPECTED_AGENTS = 4
EXPECTED_MAX_CYCLES = 25


def simple_tag_speed(seconds: float, seed: int) -> dict[str, Any]:
    """Parallel steps/s and agent-steps/s (steps x agents acting); resets count in wall time."""
    env = simple_tag_v3.parallel_env()
    env.reset(seed=seed)
    n_agents = len(env.possible_agents)
    max_cycles = env.unwrapped.max_cycles  # type: ignore[attr-defined]
    continuous = env.unwrapped.continuous_actions  # type: ignore[attr-defined]
    if (n_agents, max_cycles, continuous) != (EXPECTED_AGENTS, EXPECTED_MAX_CYCLES, False):
        print(
            f"mpe2_peer: simple_tag_v3 defaults differ: {n_agents} agents, max_cycles {max_cycles},"
            f" continuous_actions {continuous}",
            file=sys.stderr,
        )
        sys.exit(2)
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(seed + i)
    steps = agent_steps = episodes = 0
    cpu, start = time.process_time(), time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        env.step(actions)
        steps += 1
        agent_steps += len(actions)
        if not env.agents:
            env.reset()
            episodes += 1
    env.close()
    return {
        "peer": "mpe2",
        "version": version("mpe2"),
        "pettingzoo": version("pettingzoo"),
        "env": "simple_tag_v3",
        "n_agents": n_agents,
        "max_cycles": max_cycles,
        "steps": steps,
        "episodes": episodes,
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu,
        "steps_per_s": steps / elapsed,
        "agent_steps_per_s": agent_steps / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(simple_tag_speed(args.seconds, args.seed)))


if __name__ == "__main__":
    main()
