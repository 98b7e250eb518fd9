"""``lcvg demo``: the learned simulator at work in under a minute, with no data and no GPU.

Loads the Pusher model (the one shipped in the package unless ``--checkpoint`` names another),
drives the environment with a controller that moves the arm around a square, then with a random
policy, and writes ``demo.mp4`` (generated frame | frame with the foreground mask tinted) and a
PNG strip, printing where they are and the run's steps/s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lcvg_env.runtime import check_threads, resolve_device

SQUARE = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))
"""The square controller's legs: right, down, left, up (x right, y down)."""


@dataclass
class DemoConfig:
    """What the demo runs."""

    checkpoint: str = "pusher"
    """A checkpoint path, or a model name resolved like the env ids do (bundled, then $LCVG_HOME)."""
    out_dir: Path = Path("lcvg-demo")
    """Where demo.mp4 and demo.png go."""
    steps: int = 48
    """Steps of each policy (the square controller, then the random policy)."""
    seed: int = 0
    """Seed of the start frames and of the random policy."""
    fps: int = 8
    """Frame rate of demo.mp4."""
    threads: int | None = None
    """torch CPU threads of the env (``EnvConfig.threads``); None: the single env's default, 1, which holds
    up on a CPU shared with other jobs."""
    device: str = "cpu"
    """Torch device of the generator (``EnvConfig.device``; ``auto`` resolved)."""

    def __post_init__(self) -> None:
        if self.steps < 4:
            raise ValueError(f"--steps must be >= 4 (one square needs 4 legs), got {self.steps}.")
        if self.fps < 1:
            raise ValueError(f"--fps must be >= 1, got {self.fps}.")
        self.out_dir = Path(self.out_dir)
        check_threads(self.threads)


def square_actions(steps: int, dims: int) -> np.ndarray:
    """(steps, dims) actions tracing a square: each leg a quarter of the steps, full speed."""
    leg = max(1, steps // 4)
    actions = np.zeros((steps, dims), dtype=np.float32)
    for t in range(steps):
        actions[t, :2] = SQUARE[(t // leg) % 4]
    return actions


def tint(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame with the foreground mask tinted green, to show what the model treats as movable."""
    out = frame.astype(np.float32)
    out[mask] = 0.5 * out[mask] + 0.5 * np.array([40.0, 220.0, 80.0])
    return out.astype(np.uint8)


def run_policy(env, actions: np.ndarray, seed: int) -> tuple[list[np.ndarray], float]:
    """Roll ``actions`` out from a reset; returns side-by-side frames and steps/s of env.step."""
    obs, info = env.reset(seed=seed)
    frames = [np.concatenate([obs, tint(obs, info["mask"])], axis=1)]
    start = time.perf_counter()
    for action in actions:
        obs, _, terminated, truncated, info = env.step(action)
        frames.append(np.concatenate([obs, tint(obs, info["mask"])], axis=1))
        if terminated or truncated:
            obs, info = env.reset()
    return frames, len(actions) / (time.perf_counter() - start)


def run_demo(cfg: DemoConfig) -> dict:
    """Run both policies and write the outputs; returns the figures and the paths."""
    from PIL import Image

    from lcvg_env.atomic import atomic_path
    from lcvg_env.env import LCVGEnv, write_video
    from lcvg_env.model import model_path
    from lcvg_env.outputs import check_output_dir

    check_output_dir(cfg.out_dir, "--out")  # before the model loads, not after the run
    path = model_path(cfg.checkpoint)  # which file, said on stderr before it loads
    threads = {} if cfg.threads is None else {"threads": cfg.threads}
    env = LCVGEnv(path, task="none", device=resolve_device(cfg.device), **threads)
    dims = env.action_space.shape[0]
    rng = np.random.default_rng(cfg.seed)
    square, square_rate = run_policy(env, square_actions(cfg.steps, dims), cfg.seed)
    random_actions = rng.uniform(-1.0, 1.0, size=(cfg.steps, dims)).astype(np.float32)
    random, random_rate = run_policy(env, random_actions, cfg.seed + 1)
    env.close()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    video = write_video(square + random, cfg.out_dir / "demo.mp4", fps=cfg.fps, scale=4)
    picks = np.linspace(0, len(square) - 1, 8).astype(int)
    rows = [np.concatenate([frames[i] for i in picks], axis=1) for frames in (square, random)]
    strip = np.concatenate(rows)
    png = cfg.out_dir / "demo.png"
    with atomic_path(png, suffix=".png") as tmp:  # an earlier demo.png stays whole until this one is
        Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST).save(tmp)
    return {
        "checkpoint": str(path),
        "video": str(video),
        "strip": str(png),
        "square_steps_per_s": square_rate,
        "random_steps_per_s": random_rate,
        "steps": 2 * cfg.steps,
    }
