"""How the pusher data's arm follows its commands: the response ``actuation="data"`` applies, and how
well it predicts held-out motion.

The built-in pusher episodes record the end-effector target's displacement sent before every frame
(``commands``) and the true tip (``tip_px``). :func:`lcvg_env.control.actuation.fit_actuator` fits, per
image axis, the tip's motion of a step as a weighted sum of the last L commands (in pixels, through the
camera). This script fits it on one split for several L and prints, on another split, the share of the
tip motion's variance it explains (R^2), against L = 1 (the command of the step alone, which is what the
env's ``actuation="direct"`` assumes up to a gain), and the step response: the share of one command
that has arrived after 1, 2, 4, 6 steps. Everything is ground truth of the data; no model is involved.

    python benchmarks/arm_response.py --data data/pusher --fit-split train --test-split test
"""

from __future__ import annotations

import argparse

import numpy as np

from lcvg_env.control.actuation import DEFAULT_TAPS, Actuator, fit_actuator, lagged
from lcvg_env.data import open_episodes
from lcvg_env.data.pusher import command_pixels


def split_pairs(data: str, split: str, size: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every episode's (commands (T-1, 2), tip motions (T-1, 2)) px of ``split``."""
    commands, motions = [], []
    for ep in open_episodes(data, split=split):
        u, d = command_pixels(ep.annotations(), ep.source, size)
        commands.append(u)
        motions.append(d)
    return commands, motions


def held_out_r2(act: Actuator, commands: list[np.ndarray], motions: list[np.ndarray]) -> np.ndarray:
    """R^2 per axis (2,) of the fitted (unscaled) response's prediction of ``motions``."""
    taps = act.taps * np.asarray(act.fitted_sum)[:, None]  # (2, L) as fitted, before scaling to 1
    x = np.concatenate([lagged(u, act.length) for u in commands])  # (N, 2, L)
    y = np.concatenate(motions)  # (N, 2)
    pred = np.einsum("nal,al->na", x, taps)
    return 1.0 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fit-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument(
        "--size", type=int, default=None, help="Frame size of the pixels (default: the data's)."
    )
    parser.add_argument("--taps", type=int, nargs="+", default=[1, 2, 3, 4, DEFAULT_TAPS, 8])
    args = parser.parse_args()

    fit_u, fit_d = split_pairs(args.data, args.fit_split, args.size)
    test_u, test_d = split_pairs(args.data, args.test_split, args.size)
    steps = sum(len(u) for u in fit_u)
    norms = np.linalg.norm(np.concatenate(fit_u), axis=1)
    moved = np.linalg.norm(np.concatenate(fit_d), axis=1)
    print(
        f"fit on {args.fit_split} ({len(fit_u)} episodes, {steps} steps), R^2 on {args.test_split} "
        f"({len(test_u)} episodes); command per step median {np.median(norms):.2f} px, tip motion "
        f"median {np.median(moved):.2f} px"
    )
    print(
        f"{'taps':>4} | {'R2 x':>6} {'R2 y':>6} | {'sum x':>6} {'sum y':>6} | "
        "arrived after 1 / 2 / 4 / 6 steps (x; y)"
    )
    for taps in args.taps:
        act = fit_actuator(fit_u, fit_d, taps)
        r2 = held_out_r2(act, test_u, test_d)
        resp = act.step_response(6)  # (6, 2)
        arrived = "; ".join(" / ".join(f"{resp[s - 1, a]:.2f}" for s in (1, 2, 4, 6)) for a in range(2))
        print(
            f"{taps:>4} | {r2[0]:6.3f} {r2[1]:6.3f} | "
            f"{act.fitted_sum[0]:6.3f} {act.fitted_sum[1]:6.3f} | {arrived}"
        )
        if taps == DEFAULT_TAPS:
            print(f"     taps x {act.taps[0].round(3).tolist()}, y {act.taps[1].round(3).tolist()}")


if __name__ == "__main__":
    main()
