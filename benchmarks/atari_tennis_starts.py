"""Where the two-player gain's start frames put the players, and what a vertical command does from there.

``lcvg control-gain MODEL DATA --players 2`` starts every rollout from frame 0 of a test episode. On Atari
Tennis that is right after a point (the recording restarts there, docs/data.md), with both players on
their base lines. This prints, from the emulator's RAM positions (``players_px``) and the colour locator
(:mod:`lcvg_env.metrics.players`), never from the model's mask:

1. how far up and down the players of ``--reach-split`` go on each half (1st / 50th / 99th percentile
   of y, px at the model's size): the room a vertical command has;
2. the start frames' player positions: how many are on a base line (within 3 px of the half's 1st or
   99th percentile) and how many in between;
3. per player, for a straight up and a straight down command (the other player staying), ``--steps``
   steps at each ``--fractions`` of the action range, the gain per start frame, summarized over the
   starts on the far base line, the near one, and in between.

    python benchmarks/atari_tennis_starts.py --checkpoint atari_tennis --data data/atari-tennis --threads 1
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from lcvg_env.control_gain import load_start_frames
from lcvg_env.control_gain_players import (
    COMMAND_NAMES,
    TwoPlayerGainConfig,
    drive,
    make_two_player_batch,
    pair_actions,
)
from lcvg_env.data import open_episodes
from lcvg_env.metrics.players import PLAYER_NAMES, PlayerLocator, true_players

BASE_LINE_PX = 3.0


def half_extents(data: str, split: str, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """y percentiles (1, 50, 99) of the true players on the far (top) and near (bottom) half."""
    ys: dict[str, list[np.ndarray]] = {"far": [], "near": []}
    for ep in open_episodes(data, split=split):
        xy = true_players(ep, size, "the base lines are read from")  # (T, K, 2)
        y = xy[..., 1][np.isfinite(xy[..., 1])]
        ys["far"].append(y[y < size[0] / 2])
        ys["near"].append(y[y >= size[0] / 2])
    return {half: np.percentile(np.concatenate(v), [1, 50, 99]) for half, v in ys.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="atari_tennis")
    parser.add_argument("--data", default="data/atari-tennis")
    parser.add_argument("--split", default="test")
    parser.add_argument("--reach-split", default="train")
    parser.add_argument("--starts", type=int, default=48)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = TwoPlayerGainConfig(starts=args.starts, fractions=tuple(args.fractions), steps=args.steps)
    batch = make_two_player_batch(args.checkpoint, 2 * args.starts, cfg)
    size = batch.size
    extents = half_extents(args.data, args.reach_split, size)
    for half, (p1, p50, p99) in extents.items():
        print(
            f"{args.reach_split} split, {half} half: player y p1 / p50 / p99 = "
            f"{p1:.1f} / {p50:.1f} / {p99:.1f} px"
        )

    locator = PlayerLocator(size=size)
    starts = load_start_frames(args.data, args.split, args.starts, size)
    start_xy, _ = locator.locate(starts)  # (S, K, 2)

    def where(y: np.ndarray) -> np.ndarray:
        far, near = extents["far"], extents["near"]
        out = np.full(y.shape, "between", dtype=object)
        out[np.abs(y - far[0]) <= BASE_LINE_PX] = "far base line"
        out[np.abs(y - near[2]) <= BASE_LINE_PX] = "near base line"
        out[~np.isfinite(y)] = "not found"
        return out

    places = ("far base line", "between", "near base line")
    for k, name in enumerate(PLAYER_NAMES):
        at = where(start_xy[:, k, 1])
        counts = ", ".join(f"{p} {int((at == p).sum())}" for p in (*places, "not found"))
        print(f"{name} at the {len(starts)} start frames: {counts}")

    print(
        "| player | command | fraction | "
        + " | ".join(f"gain from {p}: median (min-max, n)" for p in places)
        + " |"
    )
    print("|---|---|---|---|---|---|")
    for k, name in enumerate(PLAYER_NAMES):
        at = where(start_xy[:, k, 1])
        for command in ("N", "S"):
            c = COMMAND_NAMES.index(command)
            for frac in cfg.fractions:
                pair = pair_actions(batch, frac)[(c, 0) if k == 0 else (0, c)]  # the other player stays
                located, _ = drive(batch, locator, starts, np.repeat(pair[None], len(starts), 0), cfg.steps)
                dy = located[:, 1, k, 1] - located[:, 0, k, 1]  # (S,) px, y down
                gain = (dy if command == "S" else -dy) / (frac * batch.cfg.max_displacement * cfg.steps)
                cells = []
                for p in places:
                    g = gain[(at == p) & np.isfinite(gain)]
                    cells.append(
                        f"{np.median(g):.2f} ({g.min():.2f}-{g.max():.2f}, {g.size})" if g.size else "n/a"
                    )
                print(f"| {k} {name} | {command} | {frac:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
