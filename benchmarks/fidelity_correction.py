"""How many lag-correction passes? Control gain by the tip detector for 0, 1, 2 passes, same run.

Issue 16's error budget (docs/fidelity.md) finds that the generator draws the arm part of the way to
where its mask is sent. ``GeneratorConfig.correction_passes`` fits the lag of M(x_hat) behind the sent
mask (Eq. 5) and renders again with the mask moved on by it. This runs the protocol of ``lcvg
control-gain`` (frame 0 of 48 held-out test episodes, a constant command in each of 8 directions for k
steps, realized motion ``r = d(x^k) - d(x^0)`` by the independent tip detector) with the checkpoint's
generator in fp32 and each number of passes, and prints the gain ``(r . u) / (k c)`` per direction
and the largest cross-axis error ``|r x u| / (k c)`` (medians over start frames). Usage::

    python benchmarks/fidelity_correction.py --checkpoint CKPT --data data/pusher --passes 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from lcvg_env.control.control_range import default_max_displacement
from lcvg_env.control.warp import pixels_to_normalized
from lcvg_env.control_gain import DIRECTIONS, direction_vectors, gain_and_cross, load_start_frames
from lcvg_env.metrics.detector import load_detector
from lcvg_env.model import open_model, to_model_range


@torch.no_grad()
def gains(
    generator, starts: torch.Tensor, detector, command_px: float, steps: int
) -> tuple[np.ndarray, float]:
    """Median gain per direction (8,) and the largest median cross-axis error."""
    size = tuple(starts.shape[-2:])
    u = direction_vectors()  # (8, 2)
    tracks = np.zeros((len(starts), len(u), 1, 2, 2))  # (S, D, F=1, start + after, 2)
    tracks[:, :, 0, 0] = detector.detect(starts).xy.numpy()[:, None]  # NaN where not found
    for d, direction in enumerate(u):
        control_px = torch.tensor(direction * command_px, dtype=torch.float32).expand(len(starts), 2)
        control = pixels_to_normalized(control_px, "translation", size)
        x = starts
        for _ in range(steps):
            x = generator.step(x, control, "translation").frame.clamp(-1, 1)
        tracks[:, d, 0, 1] = detector.detect(x).xy.numpy()
    gain, cross = gain_and_cross(tracks, u, np.array([command_px]), np.array([steps]))  # (S, D, 1, 1)
    per_dir, cross = np.nanmedian(gain[..., 0, 0], axis=0), np.nanmedian(cross[..., 0, 0], axis=0)  # (D,)
    return per_dir, float(cross.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="pusher")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--starts", type=int, default=48)
    parser.add_argument("--passes", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--max-displacement", type=float, default=None, help="Default: the checkpoint's.")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = open_model(args.checkpoint)
    if ckpt.control_mode != "translation":
        raise SystemExit(
            f"This benchmark drives translation models; {args.checkpoint} is {ckpt.control_mode}."
        )
    max_disp = args.max_displacement or default_max_displacement(ckpt.extra)
    size = (ckpt.config.height, ckpt.config.width)
    starts = to_model_range(load_start_frames(args.data, args.split, args.starts, size))
    detector = load_detector("pusher")
    print(
        f"{args.checkpoint} (step {ckpt.step}, composite {ckpt.config.composite_margin}), "
        f"{len(starts)} starts of {args.data} ({args.split}), {args.steps} steps, "
        f"max_displacement {max_disp:g} px"
    )
    print(
        f"{'passes':>6} {'range':>5}  "
        + " ".join(f"{n:>5}" for n, _ in DIRECTIONS)
        + "  median  worst  cross"
    )
    for passes in args.passes:
        ckpt.generator.cfg = dataclasses.replace(ckpt.config, correction_passes=passes)
        for frac in args.fractions:
            start = time.perf_counter()
            g, cross = gains(ckpt.generator, starts, detector, frac * max_disp, args.steps)
            print(
                f"{passes:>6} {frac:>5.0%}  " + " ".join(f"{v:5.2f}" for v in g)
                + f"  {np.median(g):6.2f} {g.min():6.2f} {cross:6.2f}   ({time.perf_counter() - start:.0f} s)"
            )  # fmt: skip


if __name__ == "__main__":
    main()
