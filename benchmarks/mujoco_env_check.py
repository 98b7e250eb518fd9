"""The real pusher env (``LCVG-PusherMuJoCo-v0``) checked, and timed beside the learned simulator.

Usage::

    python benchmarks/mujoco_env_check.py                 # 50 episodes, 1 torch thread, 1 llvmpipe thread
    python benchmarks/mujoco_env_check.py --episodes 10 --json mujoco_env_check.json

In one process, on one torch thread (``torch.set_num_threads``) and, unless ``LP_NUM_THREADS`` is set,
one thread of Mesa's llvmpipe (MuJoCo's renderer on a CPU-only host draws with threads of its own):

1. a scripted reach steered by the TRUE tip (:class:`agents.policies.ScriptedReacher` reading
   ``info["tip_px"]``) over ``--episodes`` seeded episodes of the registered env (100 steps at most):
   success rate and mean return, scored by the true tip; beside them the share of those episodes whose
   last frame the learned env's criterion (M's mask centroid within the success radius) also calls a
   success;
2. the action mapping's step response: from ``--starts`` seeded starts, one action of 1 along each axis
   then no-ops; the true tip's mean displacement in pixels after 1, 2, 4 and 8 steps (starts where the
   workspace's edge clipped the target are left out and counted);
3. speed, steps per second of ``env.step`` (step + render) with random actions, resets untimed: the real
   env without and with the learned criterion, and ``LCVG-Pusher-v0`` (the bundled model), in
   ``--rounds`` interleaved rounds; the median round is printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")  # before MuJoCo's GL context exists: one llvmpipe thread

import argparse
import json
import time
from typing import Any

import gymnasium
import numpy as np
import torch

import lcvg_env  # noqa: F401  (registers the ids)
from lcvg_agents.policies import ScriptedReacher

REAL, LEARNED = "LCVG-PusherMuJoCo-v0", "LCVG-Pusher-v0"


def scripted_reach(episodes: int, seed: int) -> dict[str, Any]:
    """Success, return and length of the true-tip scripted reach; the learned criterion at the end."""
    env = gymnasium.make(REAL)
    policy = ScriptedReacher(env.action_space, env.unwrapped.max_displacement, point="tip_px")
    success, learned, returns, lengths = [], [], [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total, steps, done = 0.0, 0, False
        while not done:
            action = policy(obs[None], {k: np.asarray(v)[None] for k, v in info.items()})[0]
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        success.append(info["is_success"])
        learned.append(info["learned_success"])
        returns.append(total)
        lengths.append(steps)
    env.close()
    return {
        "episodes": episodes,
        "success_rate": float(np.mean(success)),
        "mean_return": float(np.mean(returns)),
        "mean_length": float(np.mean(lengths)),
        "learned_criterion_success_rate": float(np.mean(learned)),
    }


def step_response(starts: int, seed: int) -> dict[str, Any]:
    """Mean true-tip displacement (px) after k steps of one action of 1 then no-ops, per direction."""
    env = gymnasium.make(REAL, learned_criterion=False).unwrapped
    md, checkpoints = env.max_displacement, (1, 2, 4, 8)
    out: dict[str, Any] = {"max_displacement": md}
    for name, direction in (("+x", (1, 0)), ("-x", (-1, 0)), ("+y", (0, 1)), ("-y", (0, -1))):
        action = np.array(direction, dtype=np.float32)
        moved, clipped = [], 0
        for i in range(starts):
            _, info = env.reset(seed=seed + i)
            tip0, target0, path = info["tip_px"], info["target_px"], []
            for k in range(max(checkpoints)):
                _, _, _, _, info = env.step(action if k == 0 else np.zeros(2, np.float32))
                path.append(info["tip_px"] - tip0)
                if k == 0 and not np.allclose(info["target_px"] - target0, md * action, atol=1e-4):
                    clipped += 1
                    break
            else:
                moved.append([path[k - 1] for k in checkpoints])
        mean = np.mean(moved, axis=0)  # (len(checkpoints), 2)
        final_error = np.linalg.norm(np.array(moved)[:, -1] - md * action, axis=-1)
        out[name] = {
            "starts": len(moved),
            "clipped": clipped,
            **{f"after_{k}": [round(float(v), 2) for v in mean[j]] for j, k in enumerate(checkpoints)},
            "error_after_8_median": float(np.median(final_error)),
            "error_after_8_max": float(final_error.max()),
        }
    env.close()
    return out


def steps_per_second(env: gymnasium.Env, steps: int, warmup: int, seed: int) -> float:
    """``env.step`` calls per second with seeded random actions; resets are not timed."""
    env.action_space.seed(seed)
    env.reset(seed=seed)
    elapsed = 0.0
    for i in range(warmup + steps):
        action = env.action_space.sample()
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        if i >= warmup:
            elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    return steps / elapsed


def speed(steps: int, warmup: int, rounds: int, seed: int) -> dict[str, float]:
    envs = {
        "real (MuJoCo step + render)": gymnasium.make(REAL, learned_criterion=False),
        "real + learned criterion (M on each frame)": gymnasium.make(REAL),
        "learned sim LCVG-Pusher-v0": gymnasium.make(LEARNED),
    }
    rates: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(rounds):  # interleaved: a neighbour's load falls on every env alike
        for name, env in envs.items():
            rates[name].append(steps_per_second(env, steps, warmup, seed))
    for env in envs.values():
        env.close()
    return {name: float(np.median(r)) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=50, help="scripted-reach episodes (seeded)")
    parser.add_argument("--starts", type=int, default=20, help="starts of the step response")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per env and round")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "LP_NUM_THREADS": os.environ["LP_NUM_THREADS"],
    }
    print(f"torch threads {result['torch_threads']}, llvmpipe threads {result['LP_NUM_THREADS']}")
    result["scripted_reach"] = reach = scripted_reach(args.episodes, args.seed)
    print(
        f"scripted reach steered by the true tip, {reach['episodes']} episodes: "
        f"success {reach['success_rate']:.2f}, mean return {reach['mean_return']:.3f}, "
        f"mean length {reach['mean_length']:.1f} steps; "
        f"learned criterion on the same last frames: {reach['learned_criterion_success_rate']:.2f}"
    )
    result["step_response"] = response = step_response(args.starts, args.seed)
    print(
        f"step response (one action of 1, then no-ops; max_displacement {response['max_displacement']} px):"
    )
    for name in ("+x", "-x", "+y", "-y"):
        r = response[name]
        print(
            f"  {name}: tip moved (dx, dy) after 1 step {r['after_1']}, 2 {r['after_2']}, 4 {r['after_4']}, "
            f"8 {r['after_8']}; |error| after 8 median {r['error_after_8_median']:.2f} px, "
            f"max {r['error_after_8_max']:.2f} px ({r['starts']} starts, {r['clipped']} clipped)"
        )
    result["steps_per_second"] = rates = speed(args.steps, args.warmup, args.rounds, args.seed)
    for name, rate in rates.items():
        print(f"  {name}: {rate:.1f} steps/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
