"""Training speed of a preset on CPU: fp32 vs bf16 autocast vs bf16 autocast + channels_last, per stage and
thread count.

Measures full training iterations (generator step + discriminator step) of the real
:class:`training.trainer.Trainer` on a small generated moving-square dataset, all variants in one run:
stage 1 (mask-based generation, GAN on unless ``--no-stage1-gan``) and with ``--stages 1 2`` stage 2 too
(M frozen, the preset's stage-2 recipe: mask source, own-rollout inputs, LPIPS, GAN), at every thread
count of ``--threads``. Variants are interleaved in rounds so that load from other processes hits them
alike; the figure per variant is the median over rounds. Usage::

    python benchmarks/bench_train.py --preset tiny-64 --batch-size 16 --rounds 3 --steps 4
    python benchmarks/bench_train.py --preset base-64 --batch-size 8 --precisions bf16 --stages 1 2 \
        --threads 1 2 --no-stage1-gan
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
from lcvg_training.config import PRECISIONS, preset_config
from lcvg_training.trainer import Trainer


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


def make_trainer(
    data: Path, run: Path, preset: str, batch: int, precision: str, stage: int = 1, stage1_gan: bool = True
) -> Trainer:
    """A trainer whose every iteration is a ``stage`` iteration (stage 2: from step 0, M frozen)."""
    cfg = preset_config(
        preset,
        batch_size=batch,
        precision=precision,
        disc_start=0 if stage1_gan else 10**7,
        stage1_steps=10**6 if stage == 1 else 0,
        stage2_steps=0 if stage == 1 else 10**6,
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-64")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed iterations per variant and round")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch thread counts (default: torch's)"
    )
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--stages", type=int, nargs="+", choices=(1, 2), default=[1])
    parser.add_argument(
        "--stage1-gan",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="GAN terms in stage 1 (--no-stage1-gan: as the tiny-64/base-64 recipes, GAN from stage 2 on)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    threads = args.threads or [torch.get_num_threads()]
    size = get_preset(args.preset).generator.height
    variants = [(s, p, t) for s in args.stages for t in threads for p in args.precisions]
    with tempfile.TemporaryDirectory(prefix="lcvg-bench-") as tmp:
        data = write_squares(Path(tmp) / "data", size)
        trainers = {
            (s, p): make_trainer(
                data, Path(tmp) / f"{s}-{p}", args.preset, args.batch_size, p, s, args.stage1_gan
            )
            for s in args.stages
            for p in args.precisions
        }
        for s, p, t in variants:
            torch.set_num_threads(t)
            time_steps(trainers[s, p], 1)  # warm-up: first-call allocations, oneDNN kernels, thread pool
        rates: dict[tuple[int, str, int], list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for s, p, t in variants:
                torch.set_num_threads(t)
                rates[s, p, t].append(time_steps(trainers[s, p], args.steps))
    gan = "on" if args.stage1_gan else "off"
    print(
        f"preset {args.preset}, batch {args.batch_size}, threads {threads}, {args.rounds} rounds x "
        f"{args.steps} iterations (generator + discriminator step; stage-1 GAN {gan})"
    )
    base_precision = args.precisions[0]
    for s, p, t in variants:
        med, base = statistics.median(rates[s, p, t]), statistics.median(rates[s, base_precision, t])
        print(
            f"  stage {s}, {t} thread(s), {p:20s} {med:6.3f} it/s  ({med / base:4.2f}x {base_precision})   "
            f"rounds: {', '.join(f'{v:.3f}' for v in rates[s, p, t])}"
        )
    for s in args.stages:
        for t in threads:
            med = {p: statistics.median(rates[s, p, t]) for p in args.precisions}
            fastest = max(med, key=med.__getitem__)
            print(
                f"fast path, stage {s}, {t} thread(s): {fastest}, "
                f"{med[fastest] / med[base_precision]:.2f}x {base_precision}"
            )


if __name__ == "__main__":
    main()
