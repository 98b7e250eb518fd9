"""Find and check Atari Tennis's RAM map against the screen (lcvg_env/data/atari_tennis_ram.py's constants).

Plays random held actions (FIRE often, so points are played) and, on every frame:

1. segments both players by colour alone (:func:`player_masks`, side lines left out);
2. ranks every RAM byte by how well ``feature - sign * ram[a]`` stays constant (within 1 px), for the
   sprites' top rows and left columns per court side, and the bits that predict the mirror flag and
   which side our (orange) player is on: this is how the addresses were found;
3. fits the centroid offsets (median of mask centroid - RAM position) per mirror state, and prints the
   residual |RAM centroid - mask centroid| of the module's constants: median, 95th percentile, max (px,
   210x160 frame), and the ball's residual where it is seen.

Usage::

    python benchmarks/atari_tennis_ram.py --steps 3000 --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from lcvg_env.data import atari_tennis_ram as tr
from lcvg_env.data.atari_tennis import make_env


def play(steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (N, 210, 160, 3), RAM (N, 128) and the court lines of ``steps`` steps of random play."""
    env = make_env(frameskip=4)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    ram = env.unwrapped.ale.getRAM().copy()
    lines = tr.court_lines(obs, ram)
    frames, rams, action = [], [], 0
    for _ in range(steps):
        if rng.uniform() < 0.2:
            action = int(rng.integers(18))
        obs, _, terminated, truncated, _ = env.step(action)
        frames.append(obs)
        rams.append(env.unwrapped.ale.getRAM().copy())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.array(frames), np.array(rams).astype(np.int64), lines


def rank_bytes(feature: np.ndarray, ram: np.ndarray, top: int = 2) -> list[tuple[int, int, float, float]]:
    """Best (address, sign, offset, share within 1 px) such that feature ~ offset + sign * ram[address]."""
    rows = []
    for a in range(ram.shape[1]):
        if ram[:, a].std() == 0:
            continue
        for sign in (1, -1):
            diff = feature - sign * ram[:, a]
            offset = float(np.median(diff))
            rows.append((a, sign, offset, float((np.abs(diff - offset) <= 1).mean())))
    return sorted(rows, key=lambda r: -r[3])[:top]


def rank_bits(label: np.ndarray, ram: np.ndarray, top: int = 2) -> list[tuple[int, int, float]]:
    """Best (address, bit, accuracy) predicting a boolean ``label`` (either polarity)."""
    rows = []
    for a in range(ram.shape[1]):
        for bit in range(8):
            b = ((ram[:, a] >> bit) & 1).astype(bool)
            rows.append((a, bit, float(max((b == label).mean(), (b != label).mean()))))
    return sorted(rows, key=lambda r: -r[2])[:top]


def stats(err: np.ndarray) -> str:
    return f"median {np.median(err):.2f}  p95 {np.percentile(err, 95):.2f}  max {err.max():.2f} px"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frames, ram, lines = play(args.steps, args.seed)
    masks = np.stack([tr.player_masks(f, lines) for f in frames])  # (N, 2, H, W)
    ok = masks.sum((2, 3)).min(1) > 20  # both players drawn (not mid-change of ends)
    frames, ram, masks = frames[ok], ram[ok], masks[ok]
    print(f"frames: {len(frames)} with both players segmented (of {args.steps})")
    ours_near = masks[:, 0, 100:190].any((1, 2)) & ~masks[:, 0, 14:100].any((1, 2))
    print("our side (orange near) bit:", rank_bits(ours_near, ram, top=4))
    side_ok = np.mean([tr.our_side(r) == near for r, near in zip(ram, ours_near, strict=True)])
    print(f"our_side (RAM {tr.RAM_SIDE} bit 0) agrees with the screen on {side_ok:.4f} of frames")
    side_of = np.stack([ours_near.astype(int), 1 - ours_near.astype(int)], 1)  # (N, 2) side per player
    for side, name in ((0, "far"), (1, "near")):
        sel = side_of == side  # (N, 2): which player is on this side
        m = masks[sel]  # (N, H, W): the player on this side, frame by frame
        tops = np.array([np.nonzero(x.any(1))[0][0] for x in m])
        lefts = np.array([np.nonzero(x.any(0))[0][0] for x in m])
        print(f"{name} side: top row ~ offset + sign*ram[a]:", rank_bytes(tops, ram))
        print(f"{name} side: left column ~ offset + sign*ram[a]:", rank_bytes(lefts, ram))
        mirrored = lefts - ram[:, tr.RAM_X[side]] < 0
        print(f"{name} side: mirror flag bit:", rank_bits(mirrored, ram))
        cent = tr.mask_centroids(m)
        flip = ram[:, tr.RAM_FLIP[side]] != 0
        dx = cent[:, 0] - ram[:, tr.RAM_X[side]]
        dy = cent[:, 1] - (tr.SPRITE_TOP[side] - ram[:, tr.RAM_Y[side]])
        print(
            f"{name} side: centroid dx median {np.median(dx[~flip]):.2f} (unmirrored) "
            f"{np.median(dx[flip]):.2f} (mirrored), dy median {np.median(dy):.2f}"
        )
    ram_pos = np.stack([tr.players_from_ram(r) for r in ram])  # (N, 2, 2)
    cent = np.stack([tr.mask_centroids(m) for m in masks])  # (N, 2, 2)
    err = np.linalg.norm(ram_pos - cent, axis=-1)  # (N, 2)
    for player, name in ((tr.OURS, "ours (orange)"), (tr.OPPONENT, "opponent (blue)")):
        print(f"|RAM centroid - mask centroid| {name}: {stats(err[:, player])}")
    for key, colour in ((0, tr.BALL_COLOUR), (1, tr.SHADOW_COLOUR)):
        err, drawn, missed = [], 0, 0
        for f, r in zip(frames, ram, strict=True):
            xy = tr.ball_from_ram(r, f)[key]
            mask = tr.colour_mask(f, colour)
            drawn += bool(mask.any())
            if not np.isfinite(xy[0]):
                missed += bool(mask.any())
                continue
            ys, xs = np.nonzero(mask)
            near = (np.abs(xs + 0.5 - xy[0]) <= 4) & (np.abs(ys + 0.5 - xy[1]) <= 4)
            err.append(np.hypot(xs[near].mean() + 0.5 - xy[0], ys[near].mean() + 0.5 - xy[1]))
        name = ("ball", "shadow")[key]
        print(
            f"{name}: drawn on {drawn} frames, reported on {len(err)} (drawn but not reported: {missed}); "
            f"|RAM - drawn centroid|: {stats(np.array(err))}"
        )


if __name__ == "__main__":
    main()
