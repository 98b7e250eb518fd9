"""Train a PPO agent to reach goals inside the learned simulator, on a CPU, in a fixed time budget.

    python examples/train_reach_agent.py --minutes 30 --out runs/agents/reach

The recipe that matches the scripted controller on ``LCVG-Pusher-v0`` in 30 minutes on 2 cores
(docs/agents.md, Results): the goal observation (``observation="dict"``), the agent reading the
image through spatial-softmax keypoints and the goal as a vector (never the foreground position:
it finds the arm in the pixels), 16 environments in one batched forward pass of a compiled world
model, and 5 PPO epochs per rollout. Prints the held-out evaluation; the run folder holds the model,
TensorBoard logs and a video of the agent.
"""

from __future__ import annotations

import argparse
import json

from lcvg_agents.config import Args
from lcvg_agents.train import train


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="LCVG-Pusher-v0")
    parser.add_argument("--checkpoint", help="A .safetensors checkpoint (default: resolved from the id).")
    parser.add_argument("--minutes", type=float, default=30.0, help="Wall-clock budget for learning.")
    parser.add_argument("--timesteps", type=int, default=5_000_000, help="Upper bound on env steps.")
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true", help="Run the world model eagerly.")
    parser.add_argument("--out", default=None, help="Run folder (default runs/agents/<run name>).")
    args = parser.parse_args(argv)

    env_kwargs: dict = {"observation": "dict", "compile": not args.no_compile}
    if args.checkpoint:
        env_kwargs["checkpoint"] = args.checkpoint
    result = train(
        Args(
            env_id=args.env,
            algo="ppo",
            total_timesteps=args.timesteps,
            n_envs=args.n_envs,
            seed=args.seed,
            out=args.out,
            env_kwargs=env_kwargs,
            hyperparams={"n_epochs": 5},
            features="keypoints",
            eval_freq=20_000,
            eval_episodes=16,
            time_limit_min=args.minutes,
            progress=False,
        )
    )
    report = {
        "run_dir": str(result.run_dir),
        "success_rate": result.evaluation.success_rate,
        "mean_return": result.evaluation.mean_return,
        **result.evaluation.extra,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
