"""Load an LCVG environment, run a random policy and record a video.

    python examples/random_policy.py --checkpoint runs/pusher/model.safetensors --steps 100 --out random.mp4

Without ``--checkpoint`` the id's model is resolved ($LCVG_HOME/checkpoints/pusher.safetensors, then
the packaged one); if none exists, the error says which command trains it.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np

import lcvg_env  # noqa: F401  (registers LCVG-*-v0)
from lcvg_env.env import write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="LCVG-Pusher-v0")
    parser.add_argument("--checkpoint", help="A .safetensors checkpoint (default: resolved from the id).")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="random.mp4")
    args = parser.parse_args()

    kwargs = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    env = gymnasium.make(args.env, render_mode="rgb_array", **kwargs)
    env.action_space.seed(args.seed)
    env.reset(seed=args.seed)
    frames, returns = [env.render()], [0.0]
    for _ in range(args.steps):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(env.render())
        returns[-1] += float(reward)
        if terminated or truncated:
            env.reset()
            frames.append(env.render())
            returns.append(0.0)
    env.close()
    path = write_video(frames, args.out, fps=env.metadata["render_fps"], scale=4)
    print(f"{path}: {len(frames)} frames, episode returns {np.round(returns, 3).tolist()}")


if __name__ == "__main__":
    main()
