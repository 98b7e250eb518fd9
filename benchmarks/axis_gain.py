"""A per-axis action map, measured: the env's control gain with each action's x and y scaled before the env.

In the pusher data the tip moves about 1.9 px per pixel of the whole mask's translation along x and 1.1
along y (``benchmarks/label_axes.py``). A generator that learns the data's relation then moves the tip
further per commanded pixel sideways than up and down, and the diagonals land off their line. Scaling the
action's x component by ``sx`` (and y by ``sy``) before the env sees it is the map an env would apply if
its action meant the tip's displacement rather than the mask's. This runs the protocol of ``lcvg
control-gain`` (the env as a user gets it, bf16; frame 0 of 48 episodes of ``--split``; a constant command
in each of 8 directions for 5 steps at 50 % and 100 % of the action range; the tip by the independent
detector) once per scale pair on the same weights. The gain and the cross-axis error are measured
against the command before the scaling, as a user would give it. Choose the scales on the training
split's starts, then measure them on the test split::

    python benchmarks/axis_gain.py --checkpoint B --data data/pusher --split train --sx 1 0.7 --threads 2
    python benchmarks/axis_gain.py --checkpoint B --data data/pusher --split test --sx 1 0.7 --threads 2

Not part of the env: docs/fidelity.md, "Mixed gaps and still pairs", says where it stands.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from lcvg_env.control_gain import (
    ControlGainConfig,
    load_start_frames,
    load_tip_detector,
    make_batch,
    measure,
)


def scaled(step: Callable[[np.ndarray], object], sx: float, sy: float) -> Callable[[np.ndarray], object]:
    """``step`` with the actions (B, dims) scaled along x (column 0) and y (column 1) first."""

    def scaled_step(actions: np.ndarray) -> object:
        out = np.array(actions, dtype=np.float32, copy=True)
        out[:, 0] *= sx
        out[:, 1] *= sy
        return step(out)

    return scaled_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="pusher")
    parser.add_argument("--data", default="data/pusher")
    parser.add_argument("--split", default="train")
    parser.add_argument("--sx", type=float, nargs="+", default=[1.0, 0.8, 0.7, 0.6], help="Scales of x.")
    parser.add_argument("--sy", type=float, default=1.0, help="Scale of y (one value).")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ControlGainConfig(split=args.split, fractions=(0.5, 1.0), steps=(5,))
    batch = make_batch(args.checkpoint, cfg.batch_size, cfg)
    if batch.mode != "translation":
        raise SystemExit(f"{args.checkpoint}: {batch.mode} control; the axis scales need translation.")
    detector = load_tip_detector("pusher")
    starts = load_start_frames(args.data, args.split, cfg.starts, batch.sim.size)
    step = batch.step
    targets = "gain in (0.8, 1.2), cross-axis < 0.2"
    print(f"{args.checkpoint}: {cfg.starts} starts of {args.split!r}, 5 steps; targets: {targets}")
    heads = ("sx", "sy", "fraction", "gain range over 8 directions", "max cross-axis")
    print("| " + " | ".join(heads) + " | per direction (E NE N NW W SW S SE) |")
    print("|---|---|---|---|---|---|")
    for sx in args.sx:
        start = time.perf_counter()
        batch.step = scaled(step, sx, args.sy)  # type: ignore[method-assign]
        result = measure(batch, detector, starts, cfg)
        gain = np.nanmedian(result.gain, axis=0)[..., 0]  # (D, F): median over starts, 5 steps
        cross = np.nanmedian(result.cross, axis=0)[..., 0]
        for f, fraction in enumerate(cfg.fractions):
            g, c = gain[:, f], cross[:, f]
            each = " ".join(f"{v:.2f}" for v in g)
            span = f"{g.min():.2f}-{g.max():.2f}"
            print(f"| {sx} | {args.sy} | {fraction:.0%} | {span} | {c.max():.2f} | {each} |")
        print(f"(sx {sx}: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
