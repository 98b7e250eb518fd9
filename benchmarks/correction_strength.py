"""How strong a lag correction? The env's control gain for several ``correction_strength`` values, one run.

``GeneratorConfig.correction_passes`` re-renders each step with the mask moved on by the lag that M's view
of the rendered frame shows (docs/fidelity.md); ``correction_strength`` is the share of that lag applied.
This runs the protocol of ``lcvg control-gain`` (the env as a user gets it, bf16; frame 0 of ``--starts``
episodes of ``--split``; a constant command in each of 8 directions for ``--steps`` steps at 50 % and
100 % of the action range; the realized motion by the independent tip detector) once per strength on the
same weights, and prints per strength and fraction the range of the per-direction median gains, the
largest per-direction median cross-axis error, and whether both meet issue 16's targets (every direction
in [0.8, 1.2], cross-axis under 0.2). Choose the strength on the training split's starts, then measure
the chosen one on the test split with ``lcvg control-gain``::

    python benchmarks/correction_strength.py --checkpoint pusher --data data/pusher --split train \
        --strengths 0.5 0.6 0.7 0.8 0.9 1.0 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from lcvg_env.control_gain import (
    ControlGainConfig,
    load_start_frames,
    load_tip_detector,
    make_batch,
    measure,
)
from lcvg_env.model import open_model

GAIN_RANGE = (0.8, 1.2)
MAX_CROSS = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="pusher", help="model name or checkpoint file")
    parser.add_argument("--data", default="data/pusher")
    parser.add_argument("--split", default="train", help="split of the start frames (choose on train)")
    parser.add_argument("--starts", type=int, default=48)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = open_model(args.checkpoint)
    if ckpt.config.correction_passes < 1:
        raise SystemExit(
            f"{args.checkpoint} has no lag correction (correction_passes 0): bundle it with "
            "`lcvg checkpoint bundle ... --correction-passes 1` first."
        )
    cfg = ControlGainConfig(starts=args.starts, fractions=(0.5, 1.0), steps=(args.steps,), split=args.split)
    detector = load_tip_detector("pusher")
    starts = load_start_frames(args.data, args.split, args.starts, (ckpt.config.height, ckpt.config.width))
    print(
        f"{args.checkpoint}: {ckpt.config.correction_passes} correction pass(es); {args.starts} starts of "
        f"{args.split!r}, {args.steps} steps, targets: gain in {GAIN_RANGE}, cross-axis < {MAX_CROSS}"
    )
    print("| strength | fraction | gain: median | range over 8 directions | max cross-axis | targets |")
    print("|---|---|---|---|---|---|")
    base = ckpt.config
    for strength in args.strengths:
        ckpt.generator.cfg = dataclasses.replace(base, correction_strength=strength)
        t0 = time.perf_counter()
        result = measure(make_batch(ckpt, cfg.batch_size, cfg), detector, starts, cfg)
        for f, frac in enumerate(cfg.fractions):
            gain = np.nanmedian(result.gain[:, :, f, 0], axis=0)  # (D,) per-direction medians
            cross = np.nanmedian(result.cross[:, :, f, 0], axis=0)
            ok = GAIN_RANGE[0] <= gain.min() and gain.max() <= GAIN_RANGE[1] and cross.max() < MAX_CROSS
            print(
                f"| {strength:g} | {frac:.0%} | {np.nanmedian(result.gain[:, :, f, 0]):.2f} | "
                f"{gain.min():.2f}-{gain.max():.2f} | {cross.max():.2f} | {'met' if ok else 'missed'} |"
            )
        print(f"(strength {strength:g}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
