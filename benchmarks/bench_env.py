"""Environment speed: LCVG single and vector env, eager and compiled, per thread count, vs MuJoCo Pusher.

Usage::

    python benchmarks/bench_env.py      # tiny-64, random weights (speed does not depend on them)
    python benchmarks/bench_env.py --preset base-64 --threads 1 2 --compile --json bench_env.json
    python benchmarks/bench_env.py --checkpoint runs/pusher/model.safetensors --threads 1

For every thread count of ``--threads`` (``torch.set_num_threads``), in one process: MuJoCo's
Pusher-v5 step + 64x64 render with shadows off (the scene flag ``mjRND_SHADOW`` cleared; measured
at the start and at the end of the thread count's block, the ratios use their mean), then the single
env and the vector env at each of ``--sizes``, eager and (``--compile``) with ``compile=True``. Each
row's ratio is its env steps/s (a vector env's frames/s) over MuJoCo's steps/s at the same thread
count. At 2+ threads each eager vector size is run both ways the batch can be stepped (lcvg_env's
``LayeredSimulator.workers``): whole, one pass with torch's intra-op threads, and split, one slice per
thread side by side; ``*`` marks what the env does by default (``ROWS_PER_WORKER``). A compiled step is
never split. Each compiled row starts from a reset torch._dynamo (its first step includes compilation;
inductor's on-disk cache may shorten it). The resident memory before/after 2,000 single-env steps
closes the run. MuJoCo's physics is single-threaded and torch's thread count does not reach it; its
renderer (printed; Mesa's llvmpipe on a CPU-only host) draws with threads of its own (``LP_NUM_THREADS``,
one per CPU by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch

import lcvg_env.env.sim as sim
from lcvg_env.checkpoint import save_checkpoint
from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.models import LayeredGenerator, get_preset


@dataclass
class Row:
    """One timed configuration; ``per_step`` is seconds per env step (per vector step for vector envs)."""

    threads: int
    env: str  # "MuJoCo", "single" or "vector"
    envs: int
    mode: str  # "shadows off", "eager", "eager, whole", "eager, split in N", "compiled"
    per_step: float
    default: bool = True  # what the env does without knobs (False: the other slicing choice)
    first_step: float | None = None  # seconds of the first step (the compilation, when compiled)
    env_code: float | None = None  # single env: seconds per step of the env's own code alone

    @property
    def rate(self) -> float:
        """Env steps per second (frames/s for a vector env)."""
        return self.envs / self.per_step


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def random_checkpoint(preset: str, folder: Path) -> Path:
    """A checkpoint of ``preset`` with random weights and random start frames."""
    torch.manual_seed(0)
    cfg = get_preset(preset).generator
    generator = LayeredGenerator(cfg).eval()
    shape = (8, cfg.height, cfg.width, 3)
    frames = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return save_checkpoint(
        folder / f"{preset}.safetensors", generator, control_mode="translation", start_frames=frames
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


def check_compiled(env, compile: bool) -> None:
    if compile and not env.compiled:
        raise RuntimeError("compile=True fell back to eager (see the warning above): no compiled figure.")


def bench_single(ckpt: Path, steps: int, compile: bool = False) -> tuple[float, float]:
    """Seconds per env step, and per step of the env's own code alone (action checks, info, reward,
    goal drawing, numpy <-> torch; the world model's forward pass left out)."""
    if compile:
        torch._dynamo.reset()  # a fresh compilation per row, and no recompile limit reached over many rows
    env = LCVGEnv(ckpt, compile=compile, threads=None)  # the thread count of this row, set by the caller
    env.reset(seed=0)
    env.action_space.seed(0)
    per_step = time_steps(lambda: env.step(env.action_space.sample()), steps, 20)
    check_compiled(env, compile)
    controls = env.controls

    def env_code_only() -> None:
        action = controls.check(env.action_space.sample())[None]
        controls.to_normalized(controls.to_pixels(action))
        env._emit()  # infos, reward, observation with the goal drawn

    own = time_steps(env_code_only, steps, 5)
    env.close()
    return per_step, own


@contextlib.contextmanager
def batch_slicing(split: bool | None) -> Iterator[None]:
    """Force the eager vector step to split its batch across threads (True), run it whole (False), or
    leave ``sim.ROWS_PER_WORKER`` as it is (None); ``LayeredSimulator.workers`` reads it at every step."""
    saved = sim.ROWS_PER_WORKER
    if split is not None:
        sim.ROWS_PER_WORKER = 1 if split else 1 << 30
    try:
        yield
    finally:
        sim.ROWS_PER_WORKER = saved


def bench_vector(
    ckpt: Path, num_envs: int, steps: int, compile: bool = False, split: bool | None = None
) -> tuple[float, float, int]:
    """Seconds per vector step, seconds of the first step (the compilation, with ``compile``), and the
    slices each step was split into."""
    if compile:
        torch._dynamo.reset()
    venv = LCVGVectorEnv(num_envs, ckpt, compile=compile)
    venv.reset(seed=0)
    venv.action_space.seed(0)
    with batch_slicing(split):
        slices = venv.step_slices
        t = time.perf_counter()
        venv.step(venv.action_space.sample())
        first = time.perf_counter() - t
        check_compiled(venv, compile)
        per_step = time_steps(lambda: venv.step(venv.action_space.sample()), steps, 2)
    venv.close()
    return per_step, first, slices


def bench_mujoco(steps: int, shadows: bool = False) -> float:
    """Seconds per Pusher-v5 step + 64x64 ``rgb_array`` render (gymnasium's EGL offscreen viewer)."""
    import gymnasium
    import mujoco

    env = gymnasium.make("Pusher-v5", render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    env.action_space.seed(0)
    env.render()  # builds the offscreen viewer, whose scene flags every later render uses
    scene = env.unwrapped.mujoco_renderer._get_viewer("rgb_array").scn
    scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadows)

    def step() -> None:
        env.step(env.action_space.sample())
        frame = env.render()
        assert frame.shape == (64, 64, 3)

    per_step = time_steps(step, steps, 10)
    assert env.render().max() > 0, "MuJoCo rendered a black frame (EGL context lost?)"
    assert scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] == int(shadows), "the shadow flag was reset"
    env.close()
    return per_step


def gl_renderer() -> str:
    """The OpenGL renderer MuJoCo draws with (llvmpipe: Mesa's CPU rasterizer, its own threads)."""
    import gymnasium
    from OpenGL import GL

    env = gymnasium.make("Pusher-v5", render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    env.render()  # leaves the viewer's context current on this thread
    name = GL.glGetString(GL.GL_RENDERER).decode()
    env.close()
    return name


def bench_threads(ckpt: Path, threads: int, args: argparse.Namespace) -> list[Row]:
    """Every row at one torch thread count, MuJoCo first and last."""
    torch.set_num_threads(threads)
    rows = [Row(threads, "MuJoCo", 1, "shadows off", bench_mujoco(args.steps))]
    for compile in (False, True) if args.compile else (False,):
        mode = "compiled" if compile else "eager"
        step_s, own_s = bench_single(ckpt, args.steps, compile)
        rows.append(Row(threads, "single", 1, mode, step_s, env_code=own_s))
        print(f"  {threads} thread(s), single env, {mode}: {1 / step_s:.1f} steps/s", flush=True)
    for n in args.sizes:
        rows += bench_eager_vector(ckpt, n, threads, args.vector_steps)
        if args.compile:
            per_step, first, _ = bench_vector(ckpt, n, args.vector_steps, compile=True)
            rows.append(Row(threads, "vector", n, "compiled", per_step, first_step=first))
            print(f"  {threads} thread(s), vector {n}, compiled: {n / per_step:.1f} frames/s", flush=True)
    rows.append(Row(threads, "MuJoCo", 1, "shadows off", bench_mujoco(args.steps)))
    return rows


def bench_eager_vector(ckpt: Path, n: int, threads: int, steps: int) -> list[Row]:
    """The eager vector env at ``n`` envs; at 2+ threads both whole and split across the threads."""
    default_split = min(threads, n // sim.ROWS_PER_WORKER) > 1
    rows = []
    for split in (False, True) if threads > 1 and n > 1 else (None,):
        per_step, first, slices = bench_vector(ckpt, n, steps, split=split)
        mode = "eager" if split is None else f"eager, split in {slices}" if split else "eager, whole"
        rows.append(Row(threads, "vector", n, mode, per_step, split in (None, default_split), first))
        print(f"  {threads} thread(s), vector {n}, {mode}: {n / per_step:.1f} frames/s", flush=True)
    return rows


def mujoco_rate(rows: list[Row], threads: int) -> float:
    """MuJoCo steps/s at ``threads``: the mean of its two measurements (start and end of the block)."""
    return float(np.mean([r.rate for r in rows if r.env == "MuJoCo" and r.threads == threads]))


def print_table(rows: list[Row]) -> None:
    print(
        f"{'threads':>7} {'env':>7} {'envs':>4}  {'mode':<20} {'steps/s':>9} {'ms/step':>8} {'x MuJoCo':>8}"
    )
    for r in rows:
        if r.env == "MuJoCo":
            continue
        same = (r.threads, r.env, r.envs)
        eager = next(
            e for e in rows if (e.threads, e.env, e.envs) == same and e.default and e.mode != "compiled"
        )
        mark = "*" if r.default and r.mode.startswith("eager,") else " "  # the env's own choice of the two
        extra = f"  {eager.per_step / r.per_step:.2f}x eager" if r.mode == "compiled" else ""
        if r.first_step is not None and r.mode == "compiled":
            extra += f", first step {r.first_step:.1f} s"
        if r.env_code is not None:
            extra += f"  (env code {r.env_code * 1e3:.3f} ms)"
        print(
            f"{r.threads:7d} {r.env:>7} {r.envs:4d} {mark}{r.mode:<20} {r.rate:9.1f} "
            f"{r.per_step * 1e3:8.2f} {r.rate / mujoco_rate(rows, r.threads):7.2f}x{extra}"
        )
    for t in sorted({r.threads for r in rows}):
        mj = [f"{r.rate:.1f}" for r in rows if r.env == "MuJoCo" and r.threads == t]
        print(f"MuJoCo Pusher-v5 step+render 64x64, shadows off, {t} thread(s): {' / '.join(mj)} steps/s")
    print("steps/s: env steps per second (a vector env's frames/s); *: the env's default, split or whole")


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
    env.close()
    return before, rss_mb(), finite


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", default="tiny-64", help="Model preset with random weights (default tiny-64)."
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="Checkpoint to run instead of --preset's random weights."
    )
    parser.add_argument("--steps", type=int, default=300, help="Timed single-env (and MuJoCo) steps.")
    parser.add_argument("--vector-steps", type=int, default=20, help="Timed vector-env steps per size.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64], help="Vector env sizes.")
    parser.add_argument(
        "--threads", type=int, nargs="+", help="torch.set_num_threads values, in order (default: torch's)."
    )
    parser.add_argument("--compile", action="store_true", help="Also run every env with compile=True.")
    parser.add_argument(
        "--health-steps", type=int, default=2000, help="Steps of the RSS/NaN check (0: skip)."
    )
    parser.add_argument("--json", type=Path, help="Also write every row and the run's settings here.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    threads = args.threads or [torch.get_num_threads()]
    model = args.checkpoint or f"{args.preset}, random weights"
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {model}, bf16 weights, threads {threads}")
    print(f"MuJoCo renders with {gl_renderer()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or random_checkpoint(args.preset, Path(tmp))
        rows = [row for t in threads for row in bench_threads(ckpt, t, args)]
        print_table(rows)
        if args.health_steps:
            before, after, finite = health(ckpt, args.health_steps)
            print(
                f"RSS over {args.health_steps} steps: {before:.1f} MB -> {after:.1f} MB "
                f"({after - before:+.1f} MB), all finite: {finite}"
            )
    if args.json:
        meta = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        records = [
            {**asdict(r), "rate": r.rate, "x_mujoco": r.rate / mujoco_rate(rows, r.threads)} for r in rows
        ]
        args.json.write_text(
            json.dumps({"args": meta, "torch": torch.__version__, "rows": records}, indent=1)
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
