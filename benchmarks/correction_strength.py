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

``--players 2`` (Atari Tennis data) runs the two-player protocol of ``lcvg control-gain --players 2``
instead (:mod:`lcvg_env.control_gain_players`: all 81 command pairs, the players located by colour) and
prints per strength, fraction and player the range of the per-direction median gains with the other
player moving, the largest cross-axis median, the share of rollouts where the player was lost, the same
range over the commands the game allows, and whether every range is inside issue 20's [0.7, 1.3]::

    python benchmarks/correction_strength.py --checkpoint atari_tennis --data data/atari-tennis \
        --players 2 --split train --strengths 0.6 0.8 1.0 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from lcvg_env.checkpoint import Checkpoint
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
TWO_PLAYER_GAIN_RANGE = (0.7, 1.3)


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
    parser.add_argument("--players", type=int, choices=(1, 2), default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = open_model(args.checkpoint)
    if ckpt.config.correction_passes < 1:
        raise SystemExit(
            f"{args.checkpoint} has no lag correction (correction_passes 0): bundle it with "
            "`lcvg checkpoint bundle ... --correction-passes 1` first."
        )
    if args.players == 2:
        two_players(ckpt, args)
        return
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


def two_players(ckpt: Checkpoint, args: argparse.Namespace) -> None:
    """The sweep with the two-player protocol (module docstring)."""
    from lcvg_env.control_gain_players import (
        TwoPlayerGainConfig,
        make_two_player_batch,
        measure_two_players,
    )
    from lcvg_env.metrics.players import PlayerLocator, reachable_area

    cfg = TwoPlayerGainConfig(starts=args.starts, steps=args.steps, split=args.split)
    base = ckpt.config
    size = (base.height, base.width)
    locator = PlayerLocator(size=size)
    starts = load_start_frames(args.data, args.split, args.starts, size)
    area = reachable_area(args.data, cfg.reach_split, size, cfg.reach_tolerance_px)
    lo, hi = TWO_PLAYER_GAIN_RANGE
    print(
        f"{args.checkpoint}: {base.correction_passes} correction pass(es); {args.starts} starts of "
        f"{args.split!r}, {args.steps} steps, all 81 command pairs; target: each player's gain in {lo}-{hi} "
        "in every direction (per-direction medians, the other player moving)"
    )
    print(
        "| strength | fraction | player | gain range | max cross | lost | allowed commands: range | targets |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for strength in args.strengths:
        ckpt.generator.cfg = dataclasses.replace(base, correction_strength=strength)
        t0 = time.perf_counter()
        batch = make_two_player_batch(ckpt, cfg.batch_size, cfg)
        result = measure_two_players(batch, locator, starts, cfg, area)
        for e, f in zip(result["players"], result["players_feasible"], strict=True):
            g, a = e["other_moving"], f["other_moving"]
            ok = g["min_gain"] is not None and lo <= g["min_gain"] and g["max_gain"] <= hi
            print(
                f"| {strength:g} | {e['fraction']:.0%} | {e['player']} {e['name']} | "
                f"{g['min_gain']:.2f} {g['min_gain_direction']}-"
                f"{g['max_gain']:.2f} {g['max_gain_direction']} | "
                f"{g['max_cross']:.2f} | {g['lost']:.1%} | {a['min_gain']:.2f}-{a['max_gain']:.2f} | "
                f"{'met' if ok else 'missed'} |"
            )
        print(f"(strength {strength:g}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
