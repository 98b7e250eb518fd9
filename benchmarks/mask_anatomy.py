"""Where the mask network's IoU with the true foreground goes: which true pixels M misses and what it adds.

Issues 16 and 20 ask for an IoU of M's binarized mask with the true foreground (the pusher's arm, the
tennis players) of at least 0.6 and 0.5. Stage 1 shapes M with L_bg (outside the mask the next frame
equals the current one: M must cover every pixel that CHANGES) and the size prior L_fg (M no larger
than the changed area), docs/method.md section 4. This script splits the IoU by that criterion:

* recall on the true foreground's pixels that change between x^t and x^{t+1} (the L_bg criterion of
  stage 1, |gray(x^t) - gray(x^{t+1})| > ``change_threshold`` in [-1, 1] units) and on those that do
  not (a uniformly coloured part that moves along itself, such as the inside of the pusher's red link);
* M's pixels outside the true foreground, and the share of them that change (objects the arm pushes,
  the ball);
* on two-player data (``ours_mask``, ``opponent_mask``), the share of frames in which M holds at least
  a quarter of every player's pixels: a player M leaves out is a player the env cannot move;
* reference masks made from the TRUTH, to show what a mask of a given shape can reach at best: each true
  component's bounding box, the truth dilated by 1 px, the truth moved by 1 px (its exact shape, one
  pixel off: the mean over the four directions), and (for M) M closed by a disk of radius r.

``--checkpoint none`` prints the truth's reference rows alone, at the data's stored size: how much a
one-pixel error costs at that size, which says whether an IoU target is within reach of any mask there
(the tennis players' sprites are a few pixels wide at 64x64)::

    python benchmarks/mask_anatomy.py --checkpoint none --data data/atari-tennis --split test --episodes 48

Every figure is against the ground truth of the data (``arm_mask``, ``ours_mask | opponent_mask``).

    python benchmarks/mask_anatomy.py --checkpoint pusher --data data/pusher --split val
    python benchmarks/mask_anatomy.py --checkpoint atari_tennis --data data/atari-tennis --split val
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy import ndimage

from lcvg_env.data import open_episodes
from lcvg_env.evaluation.video import ground_truth
from lcvg_env.metrics.masks import overlap_counts
from lcvg_env.model import binary_masks, open_model, to_model_range

CLOSING_RADII = (2, 4, 6)
PLAYER_KEYS = ("ours_mask", "opponent_mask")  # the two-player data's true foregrounds, one mask each
FOUND_SHARE = 0.25  # a true foreground counts as found when M holds at least this share of its pixels


def disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def closed(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary closing by a disk, with the frame's border extended (a link that leaves the frame stays
    open there otherwise)."""
    pad = radius + 1
    grown = ndimage.binary_closing(np.pad(mask, pad, mode="edge"), disk(radius))
    return grown[pad:-pad, pad:-pad] | mask


def boxes(mask: np.ndarray) -> np.ndarray:
    """Each 8-connected component of ``mask`` filled to its bounding box."""
    labels, _ = ndimage.label(mask, np.ones((3, 3)))
    out = np.zeros_like(mask)
    for sl in ndimage.find_objects(labels):
        out[sl] = True
    return out


def moved_by_one(mask: np.ndarray) -> list[np.ndarray]:
    """``mask`` moved by one pixel right, left, down and up (pixels moved off the frame are dropped)."""
    out = []
    for axis, step in ((1, 1), (1, -1), (0, 1), (0, -1)):
        moved = np.roll(mask, step, axis=axis)
        edge = [slice(None), slice(None)]
        edge[axis] = slice(0, 1) if step > 0 else slice(-1, None)  # the row/column that wrapped round
        moved[tuple(edge)] = False
        out.append(moved)
    return out


class Tally:
    """Summed intersections and unions (pixels over all frames) of named masks with the truth."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}

    def add(self, name: str, pred: np.ndarray, truth: np.ndarray, weight: float = 1.0) -> None:
        """Add one frame's counts; ``weight`` < 1 averages several variants of one frame."""
        s = self.sums.setdefault(name, np.zeros(3))
        inter, union, n_pred, _ = overlap_counts(torch.from_numpy(pred)[None], torch.from_numpy(truth)[None])
        s += weight * np.array([inter, union, n_pred])

    def rows(self, truth_px: float) -> list[str]:
        out = []
        for name, (inter, union, pred) in self.sums.items():
            out.append(
                f"| {name} | {inter / union:.3f} | {inter / max(pred, 1):.3f} | {inter / truth_px:.3f} |"
            )
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="pusher", help="model name or checkpoint file")
    parser.add_argument("--data", default="data/pusher", help="dataset with arm_mask or players' masks")
    parser.add_argument("--split", default="val")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--change-threshold", type=float, default=0.04, help="stage 1's, [-1, 1] units")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = None if args.checkpoint == "none" else open_model(args.checkpoint)
    episodes = list(open_episodes(args.data, split=args.split))[: args.episodes]
    if not episodes:
        raise SystemExit(f"{args.data} has no {args.split!r} episodes.")
    size = episodes[0].stored_size() if ckpt is None else (ckpt.config.height, ckpt.config.width)
    tally, truth_px, frames_seen = Tally(), 0.0, 0
    split = np.zeros(4)  # true changing px, of them in M, true still px, of them in M
    extra = np.zeros(2)  # M outside the truth, of it changing
    found = np.zeros(2)  # frames with several true foregrounds, of them with every one found by M
    for ep in episodes:
        frames = ep.frames(size=size)
        truth = ground_truth(ep, size, len(frames), "foreground_mask")
        if truth is None:
            raise SystemExit(f"{ep.name}: no arm_mask or players' masks; this needs the built-in data.")
        truth = truth.numpy()
        masks = None if ckpt is None else binary_masks(ckpt.generator, frames).numpy()  # (T, H, W)
        players = _player_masks(ep, size, len(frames))  # (T, P, H, W) or None
        gray = to_model_range(frames).mean(dim=1).numpy()  # (T, H, W) in [-1, 1]
        change = np.abs(gray[1:] - gray[:-1]) > args.change_threshold  # (T-1, H, W): x^t vs x^{t+1}
        for t in range(len(frames) - 1):  # frames with a next frame, as stage 1 sees them
            g, c = truth[t], change[t]
            if masks is not None:
                m = masks[t]
                tally.add("M (binarized, as shipped)", m, g)
                for r in CLOSING_RADII:
                    tally.add(f"M closed by a disk of radius {r} px", closed(m, r), g)
                split += [(g & c).sum(), (g & c & m).sum(), (g & ~c).sum(), (g & ~c & m).sum()]
                extra += [(m & ~g).sum(), (m & ~g & c).sum()]
                if players is not None:
                    found += [1, holds_every_player(m, players[t])]
            tally.add("truth: each component's bounding box", boxes(g), g)
            tally.add("truth dilated by 1 px", ndimage.binary_dilation(g, np.ones((3, 3))), g)
            for shifted in moved_by_one(g):
                tally.add("truth moved by 1 px (mean of 4 directions)", shifted, g, weight=0.25)
            truth_px += g.sum()
            frames_seen += 1
    name = "the truth alone" if ckpt is None else ckpt.path.name
    print(
        f"{name}: {frames_seen} frames of {len(episodes)} {args.split} episodes of {args.data}, "
        f"{size[0]}x{size[1]}, {truth_px / max(frames_seen, 1):.1f} true foreground px per frame"
    )
    print("\n| mask | IoU with the truth | precision | recall |\n|---|---|---|---|")
    print("\n".join(tally.rows(truth_px)))
    if ckpt is None:
        return
    changing, still = split[0] / truth_px, split[2] / truth_px
    print(
        f"\ntrue foreground pixels that change between x^t and x^(t+1): {changing:.1%} of the truth, "
        f"M's recall on them {split[1] / split[0]:.3f}; that do not change: {still:.1%}, "
        f"M's recall on them {split[3] / max(split[2], 1):.3f}"
    )
    print(
        f"M's pixels outside the truth: {extra[0] / truth_px:.2f} x the truth's area, "
        f"{extra[1] / max(extra[0], 1):.1%} of them changing (moved objects, the ball)"
    )
    if found[0]:
        print(
            f"frames in which M holds at least {FOUND_SHARE:.0%} of every true player's pixels: "
            f"{found[1] / found[0]:.3f} of {found[0]:.0f} (a player M leaves out cannot be moved in the env)"
        )


def holds_every_player(mask: np.ndarray, players: np.ndarray) -> bool:
    """Whether ``mask`` (H, W) holds at least ``FOUND_SHARE`` of each true player's pixels (P, H, W)."""
    held = (players & mask).sum(axis=(1, 2))  # (P,)
    return bool((held >= FOUND_SHARE * players.sum(axis=(1, 2))).all())


def _player_masks(ep, size: tuple[int, int], count: int) -> np.ndarray | None:
    """The true players' masks (T, P, H, W) at ``size`` of two-player data; None for other data."""
    masks = [ground_truth(ep, size, count, key) for key in PLAYER_KEYS]
    if any(m is None for m in masks):
        return None
    return torch.stack(masks, dim=1).numpy()


if __name__ == "__main__":
    main()
