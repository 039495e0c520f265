"""The ``critical`` suite separates policies (issue 21): per scenario, each policy's score
with its 95 % bootstrap interval, and which pairs of policies the intervals separate.

Run: ``.venv/bin/python bench/critical_suite.py --trained runs/ppo`` (a run folder of
``rlhf-sandbox ppo`` or an SB3 zip; without it the trained policy is left out). Policies:
``idm``, ``constant:SLOWER``, ``random`` and the trained one, each over the whole suite
(6 scenarios x 20 seeded episodes) as ``evaluate`` plays them. Two policies are separated
in a scenario when their score intervals do not overlap. Saved as ``critical_suite``.
"""

from __future__ import annotations

import argparse
import itertools
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from common import save, single_thread

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.agents.evaluation.harness import load_suite, parse_driver, run_suite
from rlhf_sandbox.agents.evaluation.harness.aggregate import OVERALL, summarize

KEYS = ("score", "collision", "at_fault_collision", "progress")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trained", default=None, help="a run folder or SB3 zip of a trained policy")
    ap.add_argument("--episodes", type=int, default=None, help="per scenario")
    args = ap.parse_args()
    single_thread()
    suite = load_suite("critical")
    if args.episodes:
        suite = suite.with_episodes(args.episodes)
    specs = ["idm", "constant:SLOWER", "random"] + ([args.trained] if args.trained else [])
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for spec in specs:
        run = run_suite(parse_driver(spec), suite)
        groups = {s.scenario.name: list(s.episodes) for s in run.scenarios}
        groups[OVERALL] = run.episodes
        table[spec] = {}
        for name, eps in groups.items():
            m = summarize(eps)
            table[spec][name] = {k: [m[k].value, m[k].lo, m[k].hi] for k in KEYS}
    names = [*table[specs[0]]]
    label = {s: ("trained" if s == args.trained else s) for s in specs}
    print("| scenario | " + " | ".join(label[s] for s in specs) + " | pairs not separated |")
    print("|---" * (len(specs) + 2) + "|")
    separation: dict[str, list[str]] = {}
    for name in names:
        cells = []
        for s in specs:
            v, lo, hi = table[s][name]["score"]
            cells.append(f"{v:.2f} [{lo:.2f}, {hi:.2f}]")
        same = []
        for a, b in itertools.combinations(specs, 2):
            _, alo, ahi = table[a][name]["score"]
            _, blo, bhi = table[b][name]["score"]
            if alo <= bhi and blo <= ahi:
                same.append(f"{label[a]} ~ {label[b]}")
        separation[name] = same
        print(f"| {name} | " + " | ".join(cells) + f" | {', '.join(same) or 'none'} |")
    print("saved", save("critical_suite", {"policies": label, "table": table,
                                           "overlapping_pairs": separation}))  # fmt: skip


if __name__ == "__main__":
    main()
