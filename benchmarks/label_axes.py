"""How far the true gripper tip moves per pixel of the translation label, along x and along y.

The labels of stage 2 and of the evaluation are translations fitted between M's masks of consecutive real
frames (Eq. 5). The pusher arm turns about a shoulder that does not move, so the tip's step is longer than
the whole mask's and, since the arm sweeps mostly sideways, longer along x than along y. A generator that
learns the data's relation between the mask's move and the next frame moves the tip by these factors per
commanded pixel, axis by axis, where the env's gain target asks for 1 on both (docs/fidelity.md, "Mixed
gaps and still pairs").

Per axis, over every consecutive pair of the split's first ``--episodes`` episodes whose true tips are
known: the least-squares factor of tip step on label (tip px per label px, through the origin), its
reverse (label px per tip px), the medians of |label| and |tip step|, and their correlation::

    python benchmarks/label_axes.py --checkpoint pusher --data data/pusher --split train --episodes 240
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from lcvg_env.control.fit import fit_controls
from lcvg_env.control.warp import normalized_to_pixels
from lcvg_env.data import open_episodes
from lcvg_env.evaluation.video import ground_truth
from lcvg_env.model import open_model


def labels_and_steps(checkpoint: str, data: str, split: str, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N, 2) and true tip steps (N, 2), px (x, y) at the model's size, over pairs with known tips."""
    ckpt = open_model(checkpoint, device="cpu")
    h, w = ckpt.config.height, ckpt.config.width
    labels, steps = [], []
    for i, ep in enumerate(open_episodes(data, split=split)):
        if i >= episodes:
            break
        tips = ground_truth(ep, (h, w), ep.num_frames, "tip_px")
        if tips is None:
            raise SystemExit(f"{ep.name} of {data} ({split}) has no tip_px annotations: use pusher data.")
        masks = ckpt.binary_masks(ep.frames((h, w))).float()  # (T, H, W)
        fit = fit_controls(masks[:-1], masks[1:], "translation")
        labels.append(normalized_to_pixels(fit.params_norm, "translation", (h, w)).numpy())
        steps.append(np.asarray(tips[1:] - tips[:-1], dtype=np.float64))
    label, step = np.concatenate(labels), np.concatenate(steps)
    known = np.isfinite(step).all(axis=1)
    return label[known], step[known]


def axis_factors(label: np.ndarray, step: np.ndarray) -> dict[str, tuple[float, ...]]:
    """Per axis ("x", "y") of labels and tip steps (N, 2): tip px per label px and label px per tip px
    (least squares through the origin), the medians of |label| and |tip step|, and their correlation."""
    out = {}
    for axis, name in ((0, "x"), (1, "y")):
        a, b = label[:, axis], step[:, axis]
        forward, back = (a * b).sum() / (a * a).sum(), (a * b).sum() / (b * b).sum()
        medians = (np.median(np.abs(a)), np.median(np.abs(b)))
        out[name] = tuple(float(v) for v in (forward, back, *medians, np.corrcoef(a, b)[0, 1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="pusher", help="Model whose M fits the labels.")
    parser.add_argument("--data", default="data/pusher", help="Pusher data (true tips needed).")
    parser.add_argument("--split", default="train")
    parser.add_argument("--episodes", type=int, default=240)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    label, step = labels_and_steps(args.checkpoint, args.data, args.split, args.episodes)
    print(f"{args.checkpoint} on {args.data} ({args.split}): {len(label)} pairs")
    heads = ("axis", "tip px per label px", "label px per tip px")
    heads += ("median |label|", "median |tip step|", "corr")
    print("| " + " | ".join(heads) + " |")
    print("|---|---|---|---|---|---|")
    for name, row in axis_factors(label, step).items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")


if __name__ == "__main__":
    main()
