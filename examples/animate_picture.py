"""Animate your own picture: reset the env from any RGB image and move its foreground in a circle.

    python examples/animate_picture.py photo.png --checkpoint runs/pusher/model.safetensors --out anim.mp4

The picture is resized to the model's frame size; the mask network decides what the foreground is.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from PIL import Image

from lcvg_env.env import LCVGEnv, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture", help="Any RGB image file (png, jpg, ...).")
    parser.add_argument(
        "--checkpoint", help="A .safetensors checkpoint (default: the installed 'pusher' model)."
    )
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--out", default="animated.mp4")
    args = parser.parse_args()

    picture = np.asarray(Image.open(args.picture).convert("RGB"))
    env = LCVGEnv(args.checkpoint, task="none")  # no goal: just the animation
    obs, info = env.reset(options={"frame": picture})
    print(f"foreground covers {info['mask'].mean():.1%} of the frame, centroid {info['centroid_px']}")
    frames = [obs]
    for t in range(args.steps):
        angle = 2 * math.pi * t / args.steps  # a circle: right, down, left, up
        obs, *_ = env.step(np.array([math.cos(angle), math.sin(angle)], dtype=np.float32))
        frames.append(obs)
    print(f"wrote {write_video(frames, args.out, fps=env.metadata['render_fps'], scale=4)}")


if __name__ == "__main__":
    main()
