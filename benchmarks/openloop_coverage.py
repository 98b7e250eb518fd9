"""Where the real arm went that the training video never showed: the open-loop gap split by data coverage.

``lcvg sim-to-real ... --positions OUT.npz`` keeps every sequence's tips: the learned env's detected tip
and MuJoCo's true tip at the measured steps. The learned simulator can only draw the arm where its
training video showed it; the MuJoCo env's workspace is the controller's, and may reach further. This
script marks the cells (4 px per 64 px of frame, :func:`lcvg_env.control.region.default_cell`) that the
training split's TRUE tip (``tip_px``, every frame) ever visited, then prints per measured step the share
of MuJoCo's true tips outside them and the median learned-vs-true distance over the sequences inside and
outside that coverage. All ground truth: the data's annotations and MuJoCo's tip; no model is run.

    lcvg sim-to-real pusher --starts 50 --steps 30 --seed 1000 --threads 1 --actuation data --region data \\
        --positions openloop_1000.npz
    python benchmarks/openloop_coverage.py --positions openloop_1000.npz --data data/pusher
"""

from __future__ import annotations

import argparse

import numpy as np

from lcvg_env.control.region import MotionRegion
from lcvg_env.reach_check import data_tips


def median(values: np.ndarray) -> str:
    found = values[np.isfinite(values)]
    return f"{np.median(found):.2f}" if found.size else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", required=True, help="the .npz of `lcvg sim-to-real --positions`")
    parser.add_argument("--data", default="data/pusher", help="the dataset the model was trained on")
    parser.add_argument("--split", default="train", help="its split whose true tips mark the coverage")
    parser.add_argument("--size", type=int, default=64, help="frame size of the open-loop run (px)")
    args = parser.parse_args()

    with np.load(args.positions, allow_pickle=False) as saved:
        learned, true, steps = saved["learned_tip"], saved["true_tip"], list(saved["steps"])
    size = (args.size, args.size)
    tips = data_tips(args.data, args.split, size)
    coverage = MotionRegion.from_centroids(tips, size, source=f"{args.data} ({args.split}) true tips")
    dist = np.linalg.norm(learned - true, axis=-1)  # (S, N, K), NaN: the learned tip not found
    covered = coverage.contains(true)  # (S, N, K)
    print(
        f"{args.positions}: {true.shape[0]} starts x {true.shape[1]} sequences; coverage: the "
        f"{int(coverage.visited.sum())} cells of {coverage.cell} px that {len(tips)} true tips of "
        f"{args.data} ({args.split}) visited"
    )
    print("\n| step | MuJoCo's tip outside the data's | median distance: inside | outside | all |")
    print("|---|---|---|---|---|")
    for k, step in enumerate(steps):
        d, c = dist[..., k], covered[..., k]
        print(f"| {step} | {1 - c.mean():.1%} | {median(d[c])} | {median(d[~c])} | {median(d)} |")


if __name__ == "__main__":
    main()
