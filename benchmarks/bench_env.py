"""Environment speed: LCVG env steps/s (single, vector at 1/16/64 envs) vs MuJoCo Pusher, same run.

Usage::

    python benchmarks/bench_env.py      # tiny-64, random weights (speed does not depend on them)
    python benchmarks/bench_env.py --checkpoint runs/pusher/model.safetensors --threads 1
    python benchmarks/bench_env.py --compile     # also each size with compile=True (torch.compile)

Prints steps/s, frames/s, the ratio to MuJoCo's Pusher-v5 step + 64x64 render measured in the
same process, the generator's share of a step (the rest is the env's Python overhead), and the
resident memory before/after 2,000 single-env steps. With ``--compile`` each size is also run with
``compile=True`` right after its eager run (the ratio is the figure), and the one-off compilation
time is printed. Targets: single >= 100 steps/s, vector >= 500 frames/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch

from lcvg_env.checkpoint import save_checkpoint
from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.models import LayeredGenerator, get_preset


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def tiny64_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    generator = LayeredGenerator(get_preset("tiny-64").generator).eval()
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    return save_checkpoint(
        folder / "tiny64.safetensors", generator, control_mode="translation", start_frames=frames
    )


def time_steps(step, n: int, warmup: int) -> float:
    """Seconds per call of ``step`` (median of 5 chunks: robust to other processes' bursts)."""
    for _ in range(warmup):
        step()
    chunks = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(max(1, n // 5)):
            step()
        chunks.append((time.perf_counter() - t) / max(1, n // 5))
    return float(np.median(chunks))


def bench_single(ckpt: Path, steps: int, compile: bool = False) -> tuple[float, float]:
    """Seconds per env step, and per step of the env's own code alone (action checks, info, reward,
    goal drawing, numpy <-> torch; the world model's forward pass left out)."""
    env = LCVGEnv(ckpt, compile=compile)
    env.reset(seed=0)
    env.action_space.seed(0)
    per_step = time_steps(lambda: env.step(env.action_space.sample()), steps, 20)
    core = env.core

    def env_code_only() -> None:
        action = core.controls.check(env.action_space.sample())[None]
        core.controls.to_normalized(core.controls.to_pixels(action))
        env._emit()  # infos, reward, observation with the goal drawn

    return per_step, time_steps(env_code_only, steps, 5)


def bench_vector(ckpt: Path, num_envs: int, steps: int, compile: bool = False) -> tuple[float, float]:
    """Seconds per vector step, and seconds of the first step (the compilation, with ``compile``)."""
    venv = LCVGVectorEnv(num_envs, ckpt, compile=compile)
    venv.reset(seed=0)
    venv.action_space.seed(0)
    t = time.perf_counter()
    venv.step(venv.action_space.sample())
    first = time.perf_counter() - t
    if compile and not venv.core.sim.compiled:
        raise RuntimeError("compile=True fell back to eager (see the warning above): no compiled figure.")
    return time_steps(lambda: venv.step(venv.action_space.sample()), steps, 2), first


def bench_mujoco(steps: int, shadows: bool) -> float:
    import gymnasium

    env = gymnasium.make("Pusher-v5", render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    env.action_space.seed(0)
    if not shadows:
        env.unwrapped.model.vis.quality.shadowsize = 0
        env.unwrapped.mujoco_renderer.close()  # rebuilt with the new shadow size on the next render

    def step() -> None:
        env.step(env.action_space.sample())
        frame = env.render()
        assert frame.shape == (64, 64, 3)

    per_step = time_steps(step, steps, 10)
    assert env.render().max() > 0, "MuJoCo rendered a black frame (EGL context lost?)"
    env.close()
    return per_step


def health(ckpt: Path, steps: int) -> tuple[float, float, bool]:
    env = LCVGEnv(ckpt, terminate_on_success=False)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(50):
        env.step(env.action_space.sample())
    before, finite = rss_mb(), True
    for _ in range(steps):
        obs, reward, _, _, _ = env.step(env.action_space.sample())
        finite &= bool(np.isfinite(reward)) and obs.dtype == np.uint8
    return before, rss_mb(), finite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, help="Checkpoint to run (default: tiny-64 random weights)."
    )
    parser.add_argument("--steps", type=int, default=300, help="Timed single-env steps.")
    parser.add_argument("--vector-steps", type=int, default=20, help="Timed vector-env steps per size.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64], help="Vector env sizes.")
    parser.add_argument(
        "--health-steps", type=int, default=2000, help="Steps of the RSS/NaN check (0: skip)."
    )
    parser.add_argument(
        "--compile", action="store_true", help="Also run every size with compile=True (torch.compile)."
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, bf16 weights"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or tiny64_checkpoint(Path(tmp))
        step_s, own_s = bench_single(ckpt, args.steps)
        print(
            f"single env:   {1 / step_s:8.1f} steps/s  ({step_s * 1e3:.2f} ms/step, of which env code "
            f"{own_s * 1e3:.3f} ms)"
        )
        if args.compile:
            compiled_s, _ = bench_single(ckpt, args.steps, compile=True)
            print(f"single env, compiled: {1 / compiled_s:8.1f} steps/s  ({step_s / compiled_s:.2f}x eager)")
        for n in args.sizes:
            vec_s, _ = bench_vector(ckpt, n, args.vector_steps)
            print(f"vector env {n:3d}: {n / vec_s:8.1f} frames/s  ({vec_s * 1e3:.1f} ms/step)")
            if args.compile:
                comp_s, first = bench_vector(ckpt, n, args.vector_steps, compile=True)
                print(
                    f"vector env {n:3d}, compiled: {n / comp_s:8.1f} frames/s  ({comp_s * 1e3:.1f} ms/step, "
                    f"{vec_s / comp_s:.2f}x eager; first step with compilation {first:.1f} s)"
                )
        mj_s = bench_mujoco(args.steps, shadows=True)
        mj_off = bench_mujoco(args.steps, shadows=False)
        print(
            f"MuJoCo Pusher-v5 step+render 64x64: {1 / mj_s:8.1f} steps/s (default shadows), "
            f"{1 / mj_off:.1f} steps/s (shadows off)"
        )
        print(
            f"ratio LCVG single / MuJoCo: {mj_s / step_s:.2f}x (default shadows), "
            f"{mj_off / step_s:.2f}x (shadows off)"
        )
        if args.health_steps:
            before, after, finite = health(ckpt, args.health_steps)
            print(
                f"RSS over {args.health_steps} steps: {before:.1f} MB -> {after:.1f} MB "
                f"({after - before:+.1f} MB), all finite: {finite}"
            )


if __name__ == "__main__":
    main()
