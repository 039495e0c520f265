"""Steps per second of HighwayFast-v0 beside highway-env's highway-fast-v0 (and EnvPool's).

Run: ``make bench`` (sets up the peers' venvs), or ``.venv/bin/python bench/env_speed.py``.

Same configuration on both sides, checked below: 3 lanes, 20 NPC vehicles, 5 Hz simulation,
1 Hz policy, 30 s episodes, discrete meta-actions, random actions, resets inside the timed
loop. Ours is measured through the public APIs: ``gymnasium.make`` (one env) and
``gymnasium.make_vec`` (the batched VectorEnv), with the compiled backend (default) and
the numpy reference backend. PPO: SB3 PPO, MlpPolicy, n_steps=64, batch_size=256,
n_epochs=4, 16 envs, one torch thread, on both sides (ours through ``CoreVecEnv``).

Targets (issue 2): single env >= 20x highway-env; batched >= 2x EnvPool's two-thread figure
(25,000 steps/s); PPO timesteps/s >= 40x PPO on highway-fast-v0.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym
import numpy as np
from common import median_of, rate, run_peer, save, single_thread

import rlhf_sandbox  # noqa: F401  (registers the ids)
from rlhf_sandbox.envs.driving_config import ID_DEFAULTS
from rlhf_sandbox.sim.threads import set_threads

ENV_ID = "rlhf_sandbox/HighwayFast-v0"
PEER_CONFIG = {
    "lanes_count": 3,
    "vehicles_count": 20,
    "simulation_frequency": 5,
    "policy_frequency": 1,
    "duration": 30,
}


def check_same_config() -> None:
    """Our HighwayFast-v0 uses the settings highway-fast-v0 is measured with."""
    env = gym.make(ENV_ID)
    c = env.unwrapped.config  # type: ignore[attr-defined]
    ours = {
        "lanes_count": c.lanes,
        "vehicles_count": c.vehicles,
        "simulation_frequency": c.sim_hz,
        "policy_frequency": c.policy_hz,
        "duration": c.duration,
    }
    assert ours == PEER_CONFIG, f"config differs from highway-fast-v0: {ours}"
    assert ID_DEFAULTS["HighwayFast-v0"]["lanes"] == 3
    env.close()


def single(backend: str, seconds: float) -> float:
    env = gym.make(ENV_ID, backend=backend)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def chunk() -> int:
        for _ in range(100):
            _, _, term, trunc, _ = env.step(int(rng.integers(5)))
            if term or trunc:
                env.reset()
        return 100

    return rate(chunk, seconds)


def batched(n: int, backend: str, seconds: float) -> float:
    env = gym.make_vec(ENV_ID, num_envs=n, backend=backend)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def chunk() -> int:
        for _ in range(10):
            env.step(rng.integers(5, size=n))
        return 10 * n

    return rate(chunk, seconds)


def ppo(seconds: float, n_envs: int = 16) -> float:
    import time

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from rlhf_sandbox.envs.driving import DrivingCore, driving_config
    from rlhf_sandbox.envs.sb3 import CoreVecEnv

    venv = VecMonitor(CoreVecEnv(DrivingCore(driving_config("HighwayFast-v0", None, {}), n_envs)))
    venv.seed(0)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=256, n_epochs=4, device="cpu", seed=0)
    per_rollout = 64 * n_envs
    model.learn(per_rollout)  # warm-up
    start = time.perf_counter()
    model.learn(per_rollout * 2, reset_num_timesteps=False)
    warm = (time.perf_counter() - start) / 2
    rollouts = max(2, round(seconds / warm))
    start = time.perf_counter()
    model.learn(per_rollout * rollouts, reset_num_timesteps=False)
    return per_rollout * rollouts / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="median over this many")
    ap.add_argument("--no-peers", action="store_true", help="measure ours only")
    args = ap.parse_args()
    single_thread()
    # Batched worlds use numba's threads where they measure faster (the library's default;
    # set here too, so RLHF_SANDBOX_THREADS=0 in the shell does not change the figures).
    set_threads(True)
    check_same_config()
    sec, rep = args.seconds, args.repeats
    res: dict = {"ours": {}, "peer": {}}
    for backend in ("numba", "numpy"):
        m, _ = median_of(lambda b=backend: single(b, sec), rep)
        res["ours"][f"single_{backend}"] = m
        print(f"ours  single env ({backend}): {m:10,.0f} steps/s")
        for n in (1, 16, 256, 1024):
            m, _ = median_of(lambda n=n, b=backend: batched(n, b, sec), rep)
            res["ours"][f"batched_{backend}_{n}"] = m
            print(f"ours  make_vec N={n:<5d} ({backend}): {m:10,.0f} steps/s")
    m, _ = median_of(lambda: ppo(max(sec, 6.0)), rep)
    res["ours"]["ppo16"] = m
    print(f"ours  SB3 PPO, 16 envs:       {m:10,.0f} timesteps/s")
    if not args.no_peers:
        envs = [
            run_peer("highway", "highway_peer.py", "--what", "env", "--seconds", str(max(sec, 10)))
            for _ in range(rep)
        ]
        envs = [e for e in envs if e]
        ppos = [
            run_peer(
                "highway", "highway_peer.py", "--what", "ppo", "--seconds", "30", "--n-envs", "16"
            )
            for _ in range(min(rep, 2))
        ]
        ppos = [p for p in ppos if p]
        if envs:
            assert all(e["config"][k] == v for e in envs for k, v in PEER_CONFIG.items())
            res["peer"]["highway_env"] = float(np.median([e["steps_per_s"] for e in envs]))
            res["peer"]["highway_env_version"] = envs[0]["version"]
            ep = envs[0].get("envpool")
            if ep and ep.get("runs"):
                for run in ep["runs"]:
                    key = f"envpool_{run['num_envs']}env_{run['num_threads']}thr"
                    res["peer"][key] = float(
                        np.median(
                            [
                                r["steps_per_s"]
                                for e in envs
                                for r in e["envpool"]["runs"]
                                if r["num_envs"] == run["num_envs"]
                            ]
                        )
                    )
                res["peer"]["envpool_version"] = ep["version"]
        if ppos:
            res["peer"]["ppo16_highway_env"] = float(
                np.median([p["timesteps_per_s"] for p in ppos])
            )
    report(res)
    print("saved", save("env_speed", res))


def row(name: str, ours: float, peer: float | None, peer_name: str, target: float) -> None:
    if peer is None:
        print(f"| {name} | {ours:,.0f} | (no peer) | | |")
        return
    r = ours / peer
    ok = "met" if r >= target else "MISSED"
    print(f"| {name} | {ours:,.0f} | {peer:,.0f} ({peer_name}) | {r:.1f}x | >= {target:g}x {ok} |")


def report(res: dict) -> None:
    ours, peer = res["ours"], res["peer"]
    print("\n| measure | ours | peer | ratio | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    row("single env", ours["single_numba"], peer.get("highway_env"), "highway-env", 20)
    best = max(v for k, v in ours.items() if k.startswith("batched_numba"))
    row("batched, best N", best, peer.get("envpool_2env_2thr"), "EnvPool, 2 threads", 2)
    row("SB3 PPO, 16 envs", ours["ppo16"], peer.get("ppo16_highway_env"), "PPO on highway-env", 40)


if __name__ == "__main__":
    main()
