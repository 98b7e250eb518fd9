"""A strip of env rollouts under constant commands, for the docs: does the gripper stay whole and the scene
intact over 32 steps?

Held-out start frames (frame 0 of episodes 0, n/k, 2n/k, ... of a split) are loaded into the env
(``LCVGEnv`` with ``task="none"``, reset with ``options={"frame": ...}``: the model's own step path, what
users see) and driven by constant commands right, down, left, up (``steps / 4`` steps each) at
``fraction`` of the action range, i.e. ``fraction * max_displacement`` px per step. The PNG has one row
per start frame and a column every ``every`` steps from step 0 (the real start frame as the env loads
it) to ``steps``, upscaled by nearest neighbour, with the step and its command above each column.

It also prints, per row, the independent tip detector's position (docs/detector.md) at each shown column,
the detected displacement per command leg against the commanded one, and the share of steps 1..steps
where the detector finds a gripper at all. Usage::

    python benchmarks/rollout_strip.py --checkpoint pusher --data /work/data/pusher --split test \
        --starts 3 --steps 32 --every 4 --fraction 0.5 --out docs/img/strip_pusher.png --threads 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from lcvg_env.data import open_episodes, rescale_annotations
from lcvg_env.env.controls import DISCRETE_ACTIONS
from lcvg_env.env.core import LCVGEnv
from lcvg_env.env.render import upscale
from lcvg_env.metrics.detector import load_detector

COMMANDS = ("right", "down", "left", "up")
"""The constant commands, in order, each held for ``steps / len(COMMANDS)`` steps."""
GAP = 2
"""White pixels between cells."""
HEADER = 14
"""Height in pixels of the label line above the columns."""


def command_actions(env: LCVGEnv, steps: int, fraction: float) -> tuple[np.ndarray, list[str]]:
    """Actions (steps, dims) and the command name of each step: right, down, left, up at ``fraction``."""
    if steps % len(COMMANDS):
        raise SystemExit(f"--steps must be a multiple of {len(COMMANDS)} (one leg per command), got {steps}.")
    names = [name for name, _, _ in DISCRETE_ACTIONS]
    leg = steps // len(COMMANDS)
    per_step = [c for c in COMMANDS for _ in range(leg)]
    # the unit action of each command in the env's control mode (translation entries only)
    actions = np.stack([env.controls.discrete(names.index(c)) * fraction for c in per_step])
    return actions.astype(np.float32), per_step


def rollout(env: LCVGEnv, start: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Clean frames (1 + steps, H, W, 3) uint8 of the env from ``start`` under ``actions``."""
    env.reset(seed=0, options={"frame": start})
    frames = [env.frame]
    for a in actions:
        env.step(a)
        frames.append(env.frame)
    return np.stack(frames)


def strip_image(rows: list[np.ndarray], labels: list[str], scale: int) -> Image.Image:
    """A grid: one row per (C, H, W, 3) array of shown frames, ``labels`` (C,) above the columns."""
    c, h, w = rows[0].shape[:3]
    cell_h, cell_w = h * scale, w * scale
    width = c * cell_w + (c - 1) * GAP
    height = HEADER + len(rows) * cell_h + (len(rows) - 1) * GAP
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    for j, label in enumerate(labels):
        draw.text((j * (cell_w + GAP) + 2, 1), label, fill=(0, 0, 0), font=font)
    for i, shown in enumerate(rows):
        for j, frame in enumerate(shown):
            cell = Image.fromarray(upscale(frame, scale))
            image.paste(cell, (j * (cell_w + GAP), HEADER + i * (cell_h + GAP)))
    return image


def fmt_xy(xy: np.ndarray) -> str:
    return "lost" if np.isnan(xy).any() else f"({xy[0]:.1f},{xy[1]:.1f})"


def report_row(
    name: str, tips: np.ndarray, true_tip: np.ndarray, shown: list[int], per_step: list[str]
) -> None:
    """Print the detected tip at the shown steps, per-leg displacements and the detection rate."""
    print(f"{name}: true tip at step 0 {fmt_xy(true_tip)}, detected {fmt_xy(tips[0])}")
    print("  detected tip: " + "  ".join(f"t{t}={fmt_xy(tips[t])}" for t in shown))
    leg = len(per_step) // len(COMMANDS)
    for k, command in enumerate(COMMANDS):
        a, b = k * leg, (k + 1) * leg
        moved = tips[b] - tips[a]
        print(f"  {command:>5} (steps {a + 1}-{b}): detected displacement {fmt_xy(moved)} px")
    found = ~np.isnan(tips[1:, 0])
    print(
        f"  detection rate over steps 1-{len(per_step)}: {found.mean():.2f} ({found.sum()} of {len(found)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="pusher", help="Checkpoint file or model name.")
    parser.add_argument("--data", required=True, help="Dataset root (project layout).")
    parser.add_argument("--split", default="test", help="Held-out split of the start frames.")
    parser.add_argument("--starts", type=int, default=3, help="Start frames (rows).")
    parser.add_argument("--steps", type=int, default=32, help="Steps per rollout (a multiple of 4).")
    parser.add_argument("--every", type=int, default=4, help="Show a column every this many steps.")
    parser.add_argument("--fraction", type=float, default=0.5, help="Command size, fraction of the range.")
    parser.add_argument("--scale", type=int, default=3, help="Nearest-neighbour upscaling of each frame.")
    parser.add_argument("--detector", default="pusher", help="Tip detector: pusher or a detector file.")
    parser.add_argument("--out", default="docs/img/strip_pusher.png", help="PNG to write.")
    parser.add_argument("--threads", type=int, default=1, help="Torch CPU threads.")
    parser.add_argument("--region", default="none", choices=("none", "data"), help="EnvConfig.region.")
    parser.add_argument(
        "--actuation", default="direct", choices=("direct", "data"), help="EnvConfig.actuation."
    )
    args = parser.parse_args()
    if not 0.0 < args.fraction <= 1.0 or args.starts < 1 or args.every < 1 or args.scale < 1:
        raise SystemExit("--fraction must be in (0, 1]; --starts, --every and --scale must be >= 1.")
    torch.set_num_threads(args.threads)

    env = LCVGEnv(args.checkpoint, task="none", region=args.region, actuation=args.actuation)
    detector = load_detector(args.detector)
    actions, per_step = command_actions(env, args.steps, args.fraction)
    episodes = open_episodes(args.data, split=args.split)
    if len(episodes) < args.starts:
        raise SystemExit(
            f"The {args.split!r} split of {args.data} has {len(episodes)} episodes (< --starts)."
        )
    chosen = [i * (len(episodes) // args.starts) for i in range(args.starts)]
    shown = list(range(0, args.steps + 1, args.every))
    size = env.size
    px, leg = args.fraction * env.cfg.max_displacement, args.steps // len(COMMANDS)
    print(
        f"checkpoint {env.checkpoint_path}; {args.split} episodes {chosen}; "
        f"commands {', '.join(COMMANDS)} x {leg} steps at {args.fraction:g} of the range = {px:g} px/step "
        f"({px * leg:g} px per leg)"
    )
    rows = []
    for index in chosen:
        ep = episodes[index]
        frames = rollout(env, ep.frames(size=size)[0], actions)  # (1 + steps, H, W, 3)
        det = detector.detect(frames)
        tips = np.where(det.found.numpy()[:, None], det.xy.numpy(), np.nan)  # (1 + steps, 2)
        ann = rescale_annotations({"tip_px": ep.annotations()["tip_px"]}, ep.stored_size(), size)
        report_row(f"{args.split}/{ep.name}", tips, ann["tip_px"][0], shown, per_step)
        rows.append(frames[shown])
    labels = ["t=0 real"] + [f"t={t} {per_step[t - 1]}" for t in shown[1:]]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip_image(rows, labels, args.scale).save(out, optimize=True)
    print(f"wrote {out} ({len(rows)} rows x {len(shown)} columns, scale {args.scale})")


if __name__ == "__main__":
    main()
