"""How far a 16-step rollout's arm is from the real one when the controls that drive it are fitted as a
translation, a rotation or an affine map (Eq. 5): the evaluation protocol of ``lcvg evaluate`` with the
control parameterization of the labels varied, judged by the independent tip detector against the true tip.

The env's action is a translation of the mask; the real arm turns about its shoulder and foreshortens. This
measures how much of the rollout's detection distance comes from the labels' parameterization rather than
from the generator (docs/fidelity.md, "Labels").

    python benchmarks/label_modes.py --checkpoint pusher --data data/pusher --split test --episodes 16
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lcvg_env.control.warp import CONTROL_DIMS
from lcvg_env.data import open_episodes
from lcvg_env.evaluation.video import ground_truth, rollout
from lcvg_env.metrics.detector import load_detector
from lcvg_env.model import open_model, to_frames

STEPS_SHOWN = (1, 4, 8, 16)


def detection_distances(ckpt, detector, episodes, frames: int, mode: str) -> np.ndarray:
    """(E, frames - 1) distance (px) between the tip detected in each generated frame and the true tip."""
    size = (ckpt.config.height, ckpt.config.width)
    rows = []
    for ep in episodes:
        real = ep.frames(size=size)[:frames]
        tips = ground_truth(ep, size, len(real), "tip_px")
        if tips is None:
            raise SystemExit(f"{ep.name}: no tip_px annotations; this needs the built-in pusher data.")
        generated = to_frames(rollout(ckpt.generator, real, mode).generated)  # (T, H, W, 3) uint8
        found = detector.detect(generated).xy.numpy()
        rows.append(np.linalg.norm(found - tips.numpy(), axis=1)[1:])  # step 0 is the real frame
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="pusher", help="model name or checkpoint file")
    parser.add_argument("--data", default="data/pusher", help="pusher dataset (with tip_px)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--frames", type=int, default=17, help="1 real + (frames - 1) generated")
    modes = ["translation", "rotation", "affine"]
    parser.add_argument("--modes", nargs="+", default=modes, choices=sorted(CONTROL_DIMS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = open_model(args.checkpoint)
    detector = load_detector("pusher")
    episodes = [ep for ep in open_episodes(args.data, split=args.split) if ep.num_frames >= args.frames]
    episodes = episodes[: args.episodes]
    print(
        f"{len(episodes)} episodes of {args.split}, {args.frames - 1} generated steps; the env's mode: "
        f"{ckpt.control_mode}"
    )
    shown_steps = [s for s in STEPS_SHOWN if s < args.frames]
    print("labels        DD mean  " + "  ".join(f"DD@{s:<3d}" for s in shown_steps) + "  no tip  seconds")
    for mode in args.modes:
        start = time.perf_counter()
        dist = detection_distances(ckpt, detector, episodes, args.frames, mode)  # (E, T-1)
        per_step = np.nanmean(dist, axis=0)
        shown = "  ".join(f"{per_step[s - 1]:6.2f}" for s in shown_steps)
        print(
            f"{mode:<12s} {np.nanmean(dist):8.2f}  {shown}  {np.isnan(dist).mean():6.3f}  "
            f"{time.perf_counter() - start:7.0f}"
        )


if __name__ == "__main__":
    main()
