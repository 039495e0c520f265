"""What the reward model learns where the NPC suite fails (issue 20): companion and spread,
beside push, which passes.

Run: ``.venv/bin/python bench/reward_shape.py [TASK ...]`` (about 8 minutes on this 2-core machine)
after ``bench/npc_suite.py`` has run the tasks' PPO references and RLHF cells of seed 0:
their policies (``bench/results/npc_suite/policies/``) make the behaviours.

For each task, segments are recorded the way the RLHF loop records them (clips of the NPC
suite's length) from four behaviours: uniformly random actions, the PPO reference of seed 0
(trained on the teacher's reward), the same with 30 % of its actions random, and the RLHF
policy of seed 0. LABELS random pairs of the training segments (env seed 0) are labelled by
the perfect rater and fitted by the ensemble with the loop's defaults (``RewardModelConfig``)
for SEEDS; every score is measured on segments of other episodes (env seed 7):

* pool agreement: of POOL random pairs whose oracle returns differ by at least 0.1 of their
  std (the report's rule), the share the model orders as the oracle does;
* step correlation: of the learned and the oracle reward, per step;
* ceiling: an MLP (64, 64) regressed on the oracle's reward of every training step (about
  100 times the information of the labels), the same two scores: how much of the oracle a
  function of one step's observation and action can hold at all;
* companion: the mean oracle and learned reward (each standardised over the steps) per band
  of distance to the player, the same with the distance given to the model as an input, and
  a model fitted on OWN_LABELS pairs of the RLHF policy's own segments only (what the loop
  asks about late in a run), with its held-out agreement on those pairs;
* spread: the step correlation of the oracle with its own formula computed from the
  agent's observation (minus half the landmarks' distances to their nearest agent; the
  collision term left out), a check that the reward is a function of what the agent sees.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np
import reward_ideas as ri
from common import ROOT, machine, save, single_thread

POLICIES = ROOT / "bench" / "results" / "npc_suite" / "policies"
LABELS = 500
OWN_LABELS = 2000  # companion: pairs of the RLHF policy's own segments
POOL = 3000
SEEDS = (0, 1, 2)
EPS = 0.3  # the noisy reference's share of random actions
BANDS = (0.0, 0.6, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 20.0)  # [m] distance to the player
SIZE = 12.0  # [m] the arena's side: the observation's player offset is divided by it
TASKS: dict[str, tuple[str, dict[str, Any], str, int, int, int, int]] = {
    # env id and settings, teacher, clip steps, actions, env slots, vector steps per behaviour
    "companion": ("rlhf_sandbox/ArenaCompanion-v0", {}, "companion", 30, 9, 8, 1000),
    "spread": ("mpe2:simple_spread_v3", {}, "env", 10, 5, 12, 700),
    "push": ("mpe2:simple_push_v3", {"role": "agent"}, "env", 10, 5, 12, 700),
}


def behaviours(name: str, n_actions: int, seed: int) -> list[Any]:
    from rlhf_sandbox.agents.policy.ppo import load_policy

    def policy(key: str, eps: float, k: int) -> Any:
        path = POLICIES / f"{name}__{key}.pt"
        if not path.is_file():
            sys.exit(f"Error: {path} is missing: run bench/npc_suite.py --tasks {name} first")
        p = load_policy(path)
        rng = np.random.default_rng([seed, k])

        def act(obs: np.ndarray) -> np.ndarray:
            a, _ = p.predict(obs, deterministic=False)
            return np.where(rng.random(len(obs)) < eps, rng.integers(0, n_actions, len(obs)), a)

        return act

    return ["random", policy("ppo__s0", 0.0, 1), policy("ppo__s0", EPS, 2),
            policy("perfect__500__s0", 0.0, 3)]  # fmt: skip


def record(task: ri.Task, n_actions: int, seed: int) -> tuple[Any, ...]:
    """Segments of the four behaviours, concatenated: inputs, actions, oracle rewards and
    the oracle's terms (``{name: [M, T]}``)."""
    import torch

    torch.manual_seed(seed)  # the policies sample their actions with torch's generator
    parts = [
        ri.segments_and_terms(task, b, seed * 100 + i)
        for i, b in enumerate(behaviours(task.name, n_actions, seed))
    ]
    x, a, r = (np.concatenate([p[k] for p in parts]) for k in range(3))
    terms = {n: np.concatenate([p[3][n] for p in parts]) for n in parts[0][3]}
    return x, a, r, terms


def make_model(dim: int, n_actions: int, seed: int, **overrides: Any) -> Any:
    """A reward ensemble (``RewardModelConfig`` defaults but ``overrides``) for inputs of
    ``dim`` (the absorbing flag included) and Discrete(n_actions) actions. No env id is
    given, so ``input_features`` ``auto`` means the observation alone: the figures of the
    loop before the arena's distance input (``bench/companion_fit.py`` measures that)."""
    import gymnasium as gym

    from rlhf_sandbox.agents.reward.absorbing import reward_space
    from rlhf_sandbox.agents.reward.ensemble import RewardEnsemble, RewardModelConfig

    space = gym.spaces.Box(-np.inf, np.inf, (dim - 1,), np.float32)
    return RewardEnsemble(
        reward_space(space),
        gym.spaces.Discrete(n_actions),
        RewardModelConfig(seed=seed, **overrides),
    )


def step_rewards(model: Any, x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The model's reward of every step of segments ``x`` ``[M, T, D]``: ``[M, T]``."""
    return model.predict(x.reshape(-1, x.shape[-1]), a.reshape(-1)).reshape(x.shape[:2])


def scores(pred: np.ndarray, r: np.ndarray, left: np.ndarray, right: np.ndarray) -> dict:
    """Pool agreement by the report's rule (``fidelity.pool_agreement``) and the per-step
    correlation of the predicted rewards ``[M, T]`` with the oracle's."""
    from rlhf_sandbox.agents.evaluation.fidelity import pool_agreement

    pool = pool_agreement(pred.sum(1), r.sum(1), left, right).counted
    corr = float(np.corrcoef(pred.ravel(), r.ravel())[0, 1])
    return {"pool": pool.value, "step_corr": corr, "counted": pool.n}


def ceiling(x: np.ndarray, a: np.ndarray, r: np.ndarray, px, pa, n_actions: int, seed: int):
    """Per-step regression on the oracle's reward (MLP (64, 64), 40 epochs)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def inputs(x: np.ndarray, a: np.ndarray) -> torch.Tensor:
        z = np.concatenate([x, np.eye(n_actions)[a.astype(int)]], -1)
        return torch.tensor(z.reshape(-1, z.shape[-1]), dtype=torch.float32)

    xt, yt = inputs(x, a), torch.tensor(r.reshape(-1), dtype=torch.float32)
    net = nn.Sequential(
        nn.Linear(xt.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(40):
        for b in torch.randperm(len(xt)).split(256):
            loss = ((net(xt[b]).squeeze(-1) - yt[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return net(inputs(px, pa)).squeeze(-1).numpy().reshape(px.shape[:2])


def with_distance(x: np.ndarray) -> np.ndarray:
    """Companion's segments with the distance to the player (capped at 6 m, / 6) as an input
    before the absorbing flag."""
    d = np.linalg.norm(x[..., 4:6], axis=-1, keepdims=True) * SIZE
    return np.concatenate([x[..., :-1], np.minimum(d, 6.0) / 6.0, x[..., -1:]], -1)


def bands(pred: np.ndarray, r: np.ndarray, x: np.ndarray) -> list[dict[str, Any]]:
    """Per band of distance to the player (real steps only): the number of steps and the
    mean of the oracle's and the model's reward, each standardised over all steps."""
    d = np.linalg.norm(x[..., 4:6], axis=-1) * SIZE
    zp, zr = (pred - pred.mean()) / pred.std(), (r - r.mean()) / r.std()
    out = []
    for lo, hi in itertools.pairwise(BANDS):
        m = (d >= lo) & (d < hi) & (x[..., -1] == 0)
        n = int(m.sum())  # an empty band's means are NaN (JSON null), never a number
        out.append({"band": f"{lo:g}-{hi:g}", "steps": n,
                    "oracle": float(zr[m].mean()) if n else math.nan,
                    "learned": float(zp[m].mean()) if n else math.nan})  # fmt: skip
    return out


def spread_formula(x: np.ndarray) -> np.ndarray:
    """Minus half the landmarks' distances to their nearest agent, from each step's
    observation (self vel 2, self pos 2, landmarks 6, other agents 4, comm 4)."""
    lm = x[..., 4:10].reshape(*x.shape[:2], 3, 2)
    agents = np.concatenate(
        [np.zeros((*x.shape[:2], 1, 2)), x[..., 10:14].reshape(*x.shape[:2], 2, 2)], axis=2
    )
    d = np.linalg.norm(lm[..., :, None, :] - agents[..., None, :, :], axis=-1)
    return -0.5 * d.min(-1).sum(-1)


def run_task(name: str) -> dict[str, Any]:
    from rlhf_sandbox.agents.evaluation.fidelity import pool_pairs

    env_id, kwargs, teacher, length, n_actions, n_envs, steps = TASKS[name]
    task = ri.Task(name, env_id, kwargs, teacher, length, n_envs, steps)
    x, a, r, _ = record(task, n_actions, 0)
    px, pa, pr, _ = record(task, n_actions, 7)
    left, right = pool_pairs(len(px), POOL, seed=7)
    out: dict[str, Any] = {"segments": [len(x), len(px)], "clip_steps": length}
    variants = {"plain": (x, px)}
    if name == "companion":
        variants["with distance"] = (with_distance(x), with_distance(px))
    own = slice(3 * len(x) // 4, len(x))  # the RLHF policy's segments (the fourth behaviour)
    for label, (tx, vx) in variants.items():
        rows = []
        for seed in SEEDS:
            batch, _ = ri.labelled_batch(tx, a, r, LABELS, 0.0, seed)
            model = make_model(tx.shape[-1], n_actions, seed)
            model.fit(batch)
            pred = step_rewards(model, vx, pa)
            row = scores(pred, pr, left, right)
            if name == "companion":
                row["bands"] = bands(pred, pr, px)
            rows.append(row)
            print(f"{name} {label} seed {seed}: pool {row['pool']:.3f}, step corr"
                  f" {row['step_corr']:.3f}", flush=True)  # fmt: skip
        out[label] = rows
    if name == "companion":  # OWN_LABELS pairs of the RLHF policy's own segments only
        rows = []
        for seed in SEEDS:
            batch, _ = ri.labelled_batch(x[own], a[own], r[own], OWN_LABELS, 0.0, seed)
            model = make_model(x.shape[-1], n_actions, seed)
            fit = model.fit(batch)
            pred = step_rewards(model, px, pa)
            row = {**scores(pred, pr, left, right), "heldout": float(fit.heldout_accuracy),
                   "bands": bands(pred, pr, px)}  # fmt: skip
            rows.append(row)
            print(f"{name} own clips seed {seed}: held-out {row['heldout']:.3f}, pool"
                  f" {row['pool']:.3f}, step corr {row['step_corr']:.3f}", flush=True)  # fmt: skip
        out["own clips"] = rows
    ceil = scores(ceiling(x, a, r, px, pa, n_actions, 0), pr, left, right)
    print(f"{name} ceiling: pool {ceil['pool']:.3f}, step corr {ceil['step_corr']:.3f}")
    out["ceiling"] = ceil
    if name == "spread":
        real = px[..., -1] == 0
        f = float(np.corrcoef(spread_formula(px)[real], pr[real])[0, 1])
        out["formula_step_corr"] = f
        print(f"spread: the oracle against its formula from the observation: corr {f:.3f}")
    return out


def summary(res: dict[str, Any]) -> str:
    lines = ["| task | model | pool agreement per seed (median) | step correlation (median) |",
             "|---|---|---|---:|"]  # fmt: skip
    for name, t in res["tasks"].items():
        for label in ("plain", "with distance", "own clips"):
            if label not in t:
                continue
            pools = [r["pool"] for r in t[label]]
            per = ", ".join(f"{p:.2f}" for p in pools)
            corr = statistics.median(r["step_corr"] for r in t[label])
            what = f"{label}, {OWN_LABELS if label == 'own clips' else LABELS} labels"
            if label == "own clips":
                held = statistics.median(r["heldout"] for r in t[label])
                what += f" (held-out agreement {held:.2f})"
            lines.append(f"| {name} | {what} | {per} ({statistics.median(pools):.2f})"
                         f" | {corr:.2f} |")  # fmt: skip
        c = t["ceiling"]
        lines.append(f"| {name} | ceiling (regression) | {c['pool']:.2f} | {c['step_corr']:.2f} |")
    comp = res["tasks"].get("companion")
    if comp:
        lines += ["", "| distance [m] | steps | oracle (z) | learned (z), seeds | with distance"
                  " | own clips |", "|---|---:|---:|---|---|---|"]  # fmt: skip
        for i, b in enumerate(comp["plain"][0]["bands"]):
            cols = [
                ", ".join(f"{r['bands'][i]['learned']:+.2f}" for r in comp[label])
                for label in ("plain", "with distance", "own clips")
            ]
            lines.append(
                f"| {b['band']} | {b['steps']} | {b['oracle']:+.2f} | " + " | ".join(cols) + " |"
            )
    return "\n".join(lines)


def main() -> None:
    single_thread()
    t0 = time.perf_counter()
    names = sys.argv[1:] or list(TASKS)
    res: dict[str, Any] = {"machine": machine(), "labels": LABELS, "seeds": list(SEEDS)}
    old = ROOT / "bench" / "results" / "reward_shape.json"
    earlier = json.loads(old.read_text()).get("tasks", {}) if old.is_file() else {}
    res["tasks"] = {
        **earlier,
        **{n: run_task(n) for n in names},
    }  # a task run again replaces its own
    res["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    path: Path = save("reward_shape", res)
    print(summary(res))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
