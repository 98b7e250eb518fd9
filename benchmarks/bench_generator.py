"""One environment step of a preset's generator: mask -> warp -> two encodes -> decode.

Prints steps/s at batch 1 for fp32 and bf16 weights (the env's CPU default), measured in one run,
and the ratio. The machine is shared and noisy: each figure is the median of several timed blocks.

    python benchmarks/bench_generator.py --preset tiny-64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lcvg_env.control import CONTROL_DIMS
from lcvg_env.models import LayeredGenerator, count_parameters, get_preset


def time_steps(gen: LayeredGenerator, frame: torch.Tensor, mode: str, steps: int, blocks: int) -> float:
    """Median steps/s over ``blocks`` blocks of ``steps`` autoregressive steps."""
    control = torch.full((frame.shape[0], CONTROL_DIMS[mode]), 0.05)
    rates = []
    with torch.inference_mode():
        x = frame
        for _ in range(10):  # warm-up (oneDNN primitive creation)
            x = gen.step(x, control, mode).frame.to(frame.dtype)
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(steps):
                x = gen.step(x, control, mode).frame.clamp(-1, 1).to(frame.dtype)
            rates.append(steps * frame.shape[0] / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-64")
    parser.add_argument("--mode", default="translation", choices=sorted(CONTROL_DIMS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    cfg = get_preset(args.preset).generator
    torch.manual_seed(0)
    gen = LayeredGenerator(cfg).eval()
    frame = torch.rand(args.batch, 3, cfg.height, cfg.width) * 2 - 1
    print(
        f"preset {args.preset}: {count_parameters(gen) / 1e6:.2f}M generator parameters, "
        f"{cfg.height}x{cfg.width}, batch {args.batch}, torch threads {torch.get_num_threads()}"
    )
    fp32 = time_steps(gen, frame, args.mode, args.steps, args.blocks)
    print(f"fp32 weights : {fp32:7.1f} steps/s  ({1000 / fp32:.2f} ms/step)")
    gen = gen.to(torch.bfloat16)
    bf16 = time_steps(gen, frame.bfloat16(), args.mode, args.steps, args.blocks)
    print(f"bf16 weights : {bf16:7.1f} steps/s  ({1000 / bf16:.2f} ms/step)")
    print(f"bf16 / fp32  : {bf16 / fp32:.2f}x")


if __name__ == "__main__":
    main()
