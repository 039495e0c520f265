"""Our RLHF loop beside imitation 1.0.1's PreferenceComparisons on Pendulum-v1.

Run: ``.venv/bin/python bench/rlhf_pendulum.py`` (``make bench`` first creates imitation's
venv, ``.venv-peers/imitation``; see bench/peers/README.md).

Both sides: Pendulum-v1, 8 envs, a 100,000-step budget, 500 labels from a synthetic teacher
on the env reward that is Boltzmann-rational with temperature 1 (ours: the ``stochastic``
rater, beta = 1; imitation: ``SyntheticGatherer``'s default), 100-step fragments, and the
PPO settings and network sizes of imitation's preference-comparisons tutorial:
n_steps 256 per env, batch 64, 10 epochs, lr 2e-3, ent_coef 0.01, clip 0.1, gamma 0.97,
GAE 0.95, a (32, 32) policy; a (32, 32) reward net. Differences, by design: our query clips
come from PPO's own rollouts (imitation samples extra ones) and our budget counts them;
imitation trains 122,880 PPO steps for its 100k budget (whole rounds of 20,480), so we also
report its return at 102,400 PPO steps ("equal PPO steps"), from the peer's mid-run check.
Each side runs its seeds in its own process, one torch thread, interleaved seed by seed.
Return: mean over 10 deterministic episodes of the true Pendulum reward.

Targets (issue 4): our median return >= imitation's; our median wall time <= 0.6x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, run_peer, save

SETTINGS = {
    "env_id": "Pendulum-v1",
    "teacher": "env",
    "rater": "stochastic",
    "labels": 500,
    "timesteps": 100_000,
    "clip_seconds": 5.0,  # 100 steps at Pendulum's 20 Hz (dt = 0.05 s)
    "query_every": 5,
    "query_method": "random",
    "ppo": {
        "n_envs": 8, "n_steps": 256, "batch_size": 64, "n_epochs": 10,
        "learning_rate": 2e-3, "ent_coef": 0.01, "clip_range": 0.1, "gamma": 0.97,
        "gae_lambda": 0.95, "net_arch": [32, 32], "device": "cpu",
    },
    # 3 epochs a round, as imitation's tutorial trains its reward net (warm start both sides)
    "reward_model": {"hidden": [32, 32], "max_epochs": 3, "patience": 3, "device": "cpu"},
}  # fmt: skip

OURS = """
import json, sys, time, torch
torch.set_num_threads(1)
import rlhf_sandbox
from rlhf_sandbox.agents.rlhf.loop import RLHFLoop
from rlhf_sandbox.agents.rlhf.settings import RLHFSettings
from rlhf_sandbox.agents.policy.ppo import load_policy
from rlhf_sandbox.agents.evaluation.rollouts import evaluate, sb3_policy
d = json.loads(sys.argv[1]); seed = int(sys.argv[2]); out = sys.argv[3]
d["seed"] = seed; d["ppo"]["seed"] = seed; d["reward_model"]["seed"] = seed
loop = RLHFLoop(RLHFSettings.from_json(d), out)
t0 = time.perf_counter(); c0 = time.process_time()
state = loop.train(progress=False)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
env_steps = loop.recorder.env_steps
loop.close()
res = evaluate(sb3_policy(load_policy(out + "/policy.pt")), "Pendulum-v1", 10, 10_000 + seed, 10)
print(json.dumps({"seed": seed, "seconds": seconds, "cpu_seconds": cpu, "return": res.mean,
    "return_std": res.std, "ppo_steps": state.num_timesteps, "env_steps": env_steps,
    "labels": state.labels_asked}))
"""


def ours(seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rlhf-pendulum-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", OURS, json.dumps(SETTINGS), str(seed), f"{tmp}/run"],
            capture_output=True, text=True, timeout=1800,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--no-peer", action="store_true", help="our side only")
    args = ap.parse_args()
    rows: dict[str, list[dict]] = {"ours": [], "imitation": []}
    for seed in args.seeds:
        t = time.perf_counter()
        rows["ours"].append(ours(seed))
        print(f"seed {seed} ours: {json.dumps(rows['ours'][-1])} ({time.perf_counter() - t:.0f} s)")
        if args.no_peer:
            continue
        peer = run_peer(
            "imitation", "imitation_pendulum.py", "--seeds", str(seed),
            "--timesteps", "100000", "--comparisons", "500", timeout=1800,
        )  # fmt: skip
        if peer is None:
            args.no_peer = True
            continue
        rows["imitation"].append(peer)
        print(f"seed {seed} imitation: seconds {peer['seconds']:.1f}, return {peer['return']:.1f}")

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[side])

    summary = {"settings": SETTINGS, "seeds": args.seeds, "rows": rows}
    print(f"\nPendulum-v1, 100k env steps, 500 labels, seeds {args.seeds} (medians):")
    print(
        f"  ours       {med('ours', 'seconds'):6.1f} s   return {med('ours', 'return'):8.1f}"
        f"   PPO steps {med('ours', 'ppo_steps'):,.0f}, env steps {med('ours', 'env_steps'):,.0f}"
    )
    if rows["imitation"]:
        eq = statistics.median(r["at_budget"]["return"] for r in rows["imitation"])
        print(
            f"  imitation  {med('imitation', 'seconds'):6.1f} s   return "
            f"{med('imitation', 'return'):8.1f}   PPO steps {med('imitation', 'ppo_steps'):,.0f},"
            f" env steps {med('imitation', 'env_steps'):,.0f}"
        )
        print(f"  imitation at 102,400 PPO steps (equal PPO steps): return {eq:8.1f}")
        t_ratio = med("ours", "seconds") / med("imitation", "seconds")
        r_ok = med("ours", "return") >= med("imitation", "return")
        print(
            f"  time ratio ours / imitation = {t_ratio:.2f} (target <= 0.6: "
            f"{'PASS' if t_ratio <= 0.6 else 'FAIL'}); return at least imitation's: "
            f"{'PASS' if r_ok else 'FAIL'}"
        )
        summary.update(time_ratio=t_ratio, imitation_equal_steps_return=eq)
    path = save("rlhf_pendulum", summary)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
