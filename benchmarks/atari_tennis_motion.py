"""Per-step motion and size of both players in an Atari Tennis dataset (``lcvg data atari-tennis``), from
its ground truth: how far each player moves per step (saved pixels), in which of 8 directions, for our
player the mean displacement under each joystick command (the realized control), and each player's mask
area and bounding box in the saved frames.

Usage::

    python benchmarks/atari_tennis_motion.py /work/data/atari-tennis --split train
"""

from __future__ import annotations

import argparse

import numpy as np

from lcvg_env.data import open_episodes
from lcvg_env.data.atari_tennis_ram import OPPONENT, OURS

SECTORS = ("E", "SE", "S", "SW", "W", "NW", "N", "NE")
"""Direction names of the 8 sectors, counted from +x towards +y (y down: SE is right and down)."""
MOVING_PX = 0.05


def load(root: str, split: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per-step displacements (N, 2 players, 2), our commands (N, 2) and the players' masks over a
    split's episodes."""
    steps, commands, masks = [], [], {"ours_mask": [], "opponent_mask": []}
    for ep in open_episodes(root, split=split):
        ann = ep.annotations()
        if ann is None or "players_px" not in ann:
            raise SystemExit(f"{ep.source}: no players_px; pass a dataset made by `lcvg data atari-tennis`.")
        steps.append(np.diff(ann["players_px"], axis=0))  # (T-1, 2, 2)
        commands.append(ann["commands"])
        for key, value in masks.items():
            value.append(ann[key])
    return np.concatenate(steps), np.concatenate(commands), {k: np.concatenate(v) for k, v in masks.items()}


def sector_shares(d: np.ndarray) -> dict[str, float]:
    """Share of the (N, 2) displacements in each of the 8 direction sectors."""
    k = np.round(np.arctan2(d[:, 1], d[:, 0]) / (np.pi / 4)).astype(int) % 8
    return {name: round(float((k == i).mean()), 3) for i, name in enumerate(SECTORS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    steps, commands, masks = load(args.root, args.split)
    print(f"{len(steps)} steps")
    for key, m in masks.items():
        area, rows, cols = m.sum((1, 2)), m.any(2).sum(1), m.any(1).sum(1)
        print(
            f"{key}: area median {np.median(area):.0f} px ({np.median(area) / m[0].size:.4f} of the frame), "
            f"box median {np.median(rows):.0f} x {np.median(cols):.0f} px (h x w), "
            f"empty on {(area == 0).mean():.4f}"
        )
    for player, name in ((OURS, "ours"), (OPPONENT, "opponent")):
        d = steps[:, player]
        norm = np.linalg.norm(d, axis=1)
        moving = norm > MOVING_PX
        p = np.percentile(norm[moving], [10, 50, 90])
        print(
            f"{name}: moving on {moving.mean():.3f} of steps; |step| when moving p10/p50/p90 "
            f"{p[0]:.2f}/{p[1]:.2f}/{p[2]:.2f} px; |dx| {np.median(np.abs(d[moving, 0])):.2f}, "
            f"|dy| {np.median(np.abs(d[moving, 1])):.2f} (medians)"
        )
        print(f"{name}: direction shares (moving steps): {sector_shares(d[moving])}")
    print("ours: mean (dx, dy) px per joystick command (dx, dy), and the share of such steps:")
    for cmd in sorted({tuple(c) for c in commands.tolist()}):
        sel = (commands == cmd).all(1)
        mean = steps[sel, OURS].mean(0)
        print(f"  {cmd!s:>8}: ({mean[0]:+.2f}, {mean[1]:+.2f})  {sel.mean():.3f}")


if __name__ == "__main__":
    main()
