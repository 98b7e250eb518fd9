"""Benchmark the data path: pusher generation speed and push share, then VideoDataset read speed.

Usage::

    MUJOCO_GL=egl python benchmarks/bench_data.py --episodes 32 --size 64

Prints frames per second of ``generate_pusher`` (simulate + render + segment + write PNG/NPZ, after
set-up), the share of episodes in which an object moved by more than 2 px, the arm's mean share of the
frame, and pairs per second served by ``VideoDataset`` (cold: decoding PNGs; warm: from its cache).
The machine's load average is printed too: other processes on the same cores slow rendering down.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def bench_generation(root: Path, episodes: int, size: int, seed: int) -> dict:
    from lcvg_env.data.pusher import generate_pusher

    return generate_pusher(root, episodes=episodes, size=size, seed=seed)


def bench_reading(root: Path, size: int) -> tuple[float, float]:
    from lcvg_env.data import VideoDataset

    start = time.perf_counter()
    ds = VideoDataset(root, size=(size, size))  # preloads: decodes every PNG once
    cold = len(ds) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    warm = len(ds) / (time.perf_counter() - start)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=32, help="episodes to generate")
    parser.add_argument("--size", type=int, default=64, help="square frame size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        summary = bench_generation(Path(tmp), args.episodes, args.size, args.seed)
        cold, warm = bench_reading(Path(tmp), args.size)
    print(f"load average (1 min) before: {load_before:.2f} on {os.cpu_count()} cores")
    print(
        f"pusher generation at {args.size}x{args.size}: {summary['fps']:.1f} frames/s "
        f"({args.episodes} episodes x {summary['frames']} frames, set-up {summary['setup_seconds']:.2f} s)"
    )
    print(f"episodes where an object moved > 2 px: {summary['moved_share']:.0%}")
    print(f"arm's mean share of the frame: {summary['mean_arm_area']:.1%}")
    print(f"VideoDataset pairs/s: {cold:.0f} cold (decode), {warm:.0f} warm (cache)")


if __name__ == "__main__":
    main()
