"""Two players, two commands: the Atari Tennis world model with each player moved by its own control.

    python examples/two_players.py --steps 48 --out two_players.mp4
    python examples/two_players.py --checkpoint runs/atari_tennis/model.safetensors --out two_players.gif

Four legs of equal length, the action [dx0, dy0 | dx1, dy1] constant in each: our player (0, orange) right
while the opponent (1, blue) goes left; then the other way round; then ours right alone; then the opponent
right alone. The video shows the generated frame beside the same frame with each player's mask tinted
(player 0 red, player 1 cyan), scaled up; each leg's line says how far the env's player centroids moved.
Any two-player checkpoint works (``--env LCVG-Pusher-v0 --checkpoint FILE`` numbers the two largest
foregrounds left to right); without ``--checkpoint`` the id's model is resolved, and when there is none
the error says how to build it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium
import numpy as np

import lcvg_env  # noqa: F401  (registers LCVG-*-v0)
from lcvg_env.env import write_video

LEGS = (
    ("ours right, opponent left", (1.0, 0.0, -1.0, 0.0)),
    ("ours left, opponent right", (-1.0, 0.0, 1.0, 0.0)),
    ("ours right, opponent stays", (1.0, 0.0, 0.0, 0.0)),
    ("ours stays, opponent right", (0.0, 0.0, 1.0, 0.0)),
)
"""(what it shows, the translation action [dx0, dy0, dx1, dy1] at full range)."""
TINTS = np.array([[255.0, 60.0, 60.0], [40.0, 220.0, 255.0]])


def leg_actions(steps: int, action_dims: int) -> tuple[np.ndarray, list[int]]:
    """(steps, action_dims) actions, the :data:`LEGS` in turn, and the step each leg starts at. The
    translation of player k sits at columns k * dims and k * dims + 1 of a translation or rotation
    control (``lcvg_env.env.controls``)."""
    dims = action_dims // 2
    bounds = [round(i * steps / len(LEGS)) for i in range(len(LEGS) + 1)]
    actions = np.zeros((steps, action_dims), dtype=np.float32)
    for (_, (dx0, dy0, dx1, dy1)), lo, hi in zip(LEGS, bounds, bounds[1:], strict=False):
        actions[lo:hi, [0, 1, dims, dims + 1]] = (dx0, dy0, dx1, dy1)
    return actions, bounds[:-1]


def tinted(frame: np.ndarray, player_masks: np.ndarray) -> np.ndarray:
    """The frame with player k's mask tinted ``TINTS[k]``."""
    out = frame.astype(np.float32)
    for mask, colour in zip(player_masks, TINTS, strict=False):
        out[mask] = 0.4 * out[mask] + 0.6 * colour
    return out.astype(np.uint8)


def run(env: gymnasium.Env, steps: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Side-by-side frames of the four legs from one reset, and how far the env's player centroids moved
    in each leg, (legs, 2 players, 2) (x, y) px (NaN where a player is absent)."""
    obs, info = env.reset(seed=seed)
    if env.action_space.shape[0] % 2 or "player_masks" not in info:
        raise ValueError("This example needs a two-player env: LCVG-AtariTennis-v0, or players=2.")
    actions, starts = leg_actions(steps, env.action_space.shape[0])
    frames = [np.concatenate([obs, tinted(obs, info["player_masks"])], axis=1)]
    moves, begin = [], info["player_centroids_px"].copy()
    for t, action in enumerate(actions):
        obs, _, _, _, info = env.step(action)
        frames.append(np.concatenate([obs, tinted(obs, info["player_masks"])], axis=1))
        if t + 1 in starts[1:] or t + 1 == steps:
            moves.append(info["player_centroids_px"] - begin)
            begin = info["player_centroids_px"].copy()
    return frames, np.stack(moves)


def write(frames: list[np.ndarray], out: Path, fps: int, scale: int) -> Path:
    """An mp4 (H.264) or, for a ``.gif`` path, an animated GIF (PIL)."""
    if out.suffix.lower() != ".gif":
        return write_video(frames, out, fps=fps, scale=scale)
    from PIL import Image

    pictures = [
        Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(out, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="LCVG-AtariTennis-v0")
    parser.add_argument("--checkpoint", help="A .safetensors checkpoint or model name (default: the id's).")
    parser.add_argument("--steps", type=int, default=48, help="Steps in all (four legs).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the start frame.")
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--scale", type=int, default=4, help="Integer upscaling of the video.")
    parser.add_argument("--out", type=Path, default=Path("two_players.mp4"), help=".mp4 or .gif")
    args = parser.parse_args(argv)
    if not len(LEGS) <= args.steps <= 100:
        parser.error(f"--steps must be in [{len(LEGS)}, 100] (a leg each, one episode), got {args.steps}.")
    kwargs = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    if args.env != "LCVG-AtariTennis-v0":
        kwargs["players"] = 2
    env = gymnasium.make(args.env, task="none", **kwargs)
    frames, moves = run(env, args.steps, args.seed)
    for (name, _), (ours, opponent) in zip(LEGS, moves, strict=True):
        print(f"{name}: ours moved {ours.round(1)} px, opponent {opponent.round(1)} px (env's centroids)")
    print(f"wrote {write(frames, args.out, args.fps, args.scale)} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
