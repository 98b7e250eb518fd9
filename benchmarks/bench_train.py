"""Training speed of a preset on CPU: fp32 vs bf16 autocast vs bf16 autocast + channels_last.

Measures full training iterations (generator step + discriminator step, GAN on, stage 1) of the real
:class:`training.trainer.Trainer` on a small generated moving-square dataset, all variants in one run.
Variants are interleaved in rounds so that load from other processes hits them alike; the figure per
variant is the median over rounds. Usage::

    python benchmarks/bench_train.py --preset tiny-64 --batch-size 16 --rounds 3 --steps 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lcvg_env.data.layout import write_episode
from lcvg_env.models import get_preset
from training.config import PRECISIONS, preset_config
from training.trainer import Trainer


def write_squares(root: Path, size: int, episodes: int = 4, frames: int = 20, seed: int = 0) -> Path:
    """Episodes of a coloured square moving over a textured background (no MuJoCo needed)."""
    rng = np.random.default_rng(seed)
    for e in range(episodes):
        bg = rng.integers(40, 120, size=(size, size, 3), dtype=np.uint8)
        x, y = rng.integers(0, size // 2, size=2)
        clip = []
        for _ in range(frames):
            x, y = np.clip([x + rng.integers(-3, 4), y + rng.integers(-3, 4)], 0, size - size // 4)
            f = bg.copy()
            f[y : y + size // 4, x : x + size // 4] = (230, 60, 40)
            clip.append(f)
        write_episode(root / "train", f"{e:05d}", np.stack(clip))
    return root


def make_trainer(data: Path, run: Path, preset: str, batch: int, precision: str) -> Trainer:
    cfg = preset_config(
        preset,
        batch_size=batch,
        precision=precision,
        disc_start=0,
        stage1_steps=10**6,
        stage2_steps=0,
        device="cpu",
        checkpoint_every=10**6,
    )
    return Trainer(cfg, data, run, progress=False)


def time_steps(trainer: Trainer, steps: int) -> float:
    """Iterations per second over ``steps`` training iterations (data loading included)."""
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(trainer.batches.next())
        trainer.step += 1
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-64")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed iterations per variant and round")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = get_preset(args.preset).generator.height
    with tempfile.TemporaryDirectory(prefix="lcvg-bench-") as tmp:
        data = write_squares(Path(tmp) / "data", size)
        trainers = {p: make_trainer(data, Path(tmp) / p, args.preset, args.batch_size, p) for p in PRECISIONS}
        for trainer in trainers.values():
            time_steps(trainer, 1)  # warm-up: first-call allocations, oneDNN kernel selection
        rates: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        for _ in range(args.rounds):
            for p, trainer in trainers.items():
                rates[p].append(time_steps(trainer, args.steps))
    print(
        f"preset {args.preset}, batch {args.batch_size}, {torch.get_num_threads()} threads, "
        f"{args.rounds} rounds x {args.steps} iterations (generator + discriminator step)"
    )
    base = statistics.median(rates["fp32"])
    for p, r in rates.items():
        med = statistics.median(r)
        print(
            f"  {p:20s} {med:6.3f} it/s  ({med / base:4.2f}x fp32)   "
            f"rounds: {', '.join(f'{v:.3f}' for v in r)}"
        )
    fastest = max(rates, key=lambda p: statistics.median(rates[p]))
    print(f"fast path: {fastest}, {statistics.median(rates[fastest]) / base:.2f}x fp32")


if __name__ == "__main__":
    main()
