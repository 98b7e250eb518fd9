"""Atari Breakout episodes through ale-py: one of Playable Video Generation's datasets.

Frames are ALE's 210x160 RGB screens (stored at that size unless ``size`` is given). A random player
with persistent actions, that follows the ball part of the time and serves (FIRE) when no ball is in
play, keeps the game going. Ground truth per episode, in ``annotations.npz``:

- ``actions`` (T-1,) int64: ALE action index taken between frame t and t+1 (``action_meanings``);
- ``paddle_px`` (T, 2), ``ball_px`` (T, 2): (x, y) pixel centres from the console RAM (paddle x at RAM
  72, ball x, y at RAM 99, 101; offsets measured against the screen, accurate to about 1 px); the
  ball is NaN when it is not on screen;
- ``ram`` (T, 128) uint8, ``rewards`` (T-1,) float32, ``lives`` (T,) int64.

Example::

    from lcvg_env.data.breakout import generate_breakout
    generate_breakout("data/breakout", episodes=8, frames=100)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.data.ale import make_ale_env
from lcvg_env.data.layout import SPLITS, check_split, episode_dirname, update_dataset_info, write_episode
from lcvg_env.data.transforms import ResizeCrop, rescale_annotations

# RAM addresses and screen offsets (measured on ALE 0.12 Breakout-v5, frames 210x160).
RAM_PADDLE_X, RAM_BALL_X, RAM_BALL_Y = 72, 99, 101
PADDLE_DX, PADDLE_Y = -39.0, 191.5
BALL_DX, BALL_DY = -47.5, 12.0
OBJECT_COLOUR = np.array([200, 72, 72])  # paddle and ball
FIRE, RIGHT, LEFT, NOOP = 1, 2, 3, 0


@dataclass
class BreakoutConfig:
    """How to generate Breakout episodes."""

    episodes: int = 8
    """Number of episodes to write."""
    frames: int = 100
    """Frames per episode (fewer when the game ends first)."""
    seed: int = 0
    """Random seed for the game and the player; same seed, split and index give the same episode."""
    split: str = "train"
    """Split folder to write: train, val or test."""
    size: tuple[int, int] | None = None
    """(height, width) to store frames at (resize + centre crop); None keeps ALE's 210x160."""
    frameskip: int = 4
    """ALE frames per step (Breakout-v5's default)."""
    follow_prob: float = 0.6
    """Probability that a new action choice moves the paddle towards the ball."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}.")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}.")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 8):
            raise ValueError(f"size must be (height, width) of at least 8 pixels or None, got {self.size}.")
        if self.frameskip < 1:
            raise ValueError(f"frameskip must be >= 1, got {self.frameskip}.")
        if not 0.0 <= self.follow_prob <= 1.0:
            raise ValueError(f"follow_prob must be in [0, 1], got {self.follow_prob}.")


def make_env(frameskip: int = 4) -> Any:
    """Breakout-v5 without sticky actions (so recorded actions are the ones applied)."""
    return make_ale_env("ALE/Breakout-v5", "Breakout", frameskip)


def positions_from_ram(ram: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paddle and ball (x, y) pixel centres; the ball is NaN unless its colour is seen where RAM says."""
    paddle = np.array([float(ram[RAM_PADDLE_X]) + PADDLE_DX, PADDLE_Y])
    ball = np.array([float(ram[RAM_BALL_X]) + BALL_DX, float(ram[RAM_BALL_Y]) + BALL_DY])
    x, y = np.round(ball).astype(int)
    h, w = frame.shape[:2]
    patch = frame[max(y - 4, 0) : min(y + 5, 182), max(x - 3, 0) : min(x + 4, w)]  # rows < 182: above paddle
    seen = 0 <= x < w and 0 <= y < h and bool((patch == OBJECT_COLOUR).all(-1).any())
    return paddle, ball if seen else np.full(2, np.nan)


class RandomPlayer:
    """Random actions held for a few steps; follows the ball with some probability; serves when idle."""

    def __init__(self, rng: np.random.Generator, follow_prob: float) -> None:
        self.rng, self.follow_prob = rng, follow_prob
        self.action, self.hold = NOOP, 0

    def act(self, paddle_x: float, ball: np.ndarray) -> int:
        if np.isnan(ball[0]):
            return FIRE if self.rng.uniform() < 0.5 else int(self.rng.choice([NOOP, LEFT, RIGHT]))
        if self.hold <= 0:
            self.hold = int(self.rng.integers(2, 8))
            if self.rng.uniform() < self.follow_prob:
                self.action = RIGHT if ball[0] > paddle_x + 4 else LEFT if ball[0] < paddle_x - 4 else NOOP
            else:
                self.action = int(self.rng.choice([NOOP, FIRE, RIGHT, LEFT]))
        self.hold -= 1
        return self.action


def rollout(env: Any, cfg: BreakoutConfig, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One episode: frames (T, 210, 160, 3) uint8 and annotations (module docstring)."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    player = RandomPlayer(rng, cfg.follow_prob)
    frames, rams, paddles, balls, lives, actions, rewards = [], [], [], [], [], [], []
    for t in range(cfg.frames):
        ram = env.unwrapped.ale.getRAM().copy()
        paddle, ball = positions_from_ram(ram, obs)
        frames.append(obs)
        rams.append(ram)
        paddles.append(paddle)
        balls.append(ball)
        lives.append(int(info.get("lives", -1)))
        if t == cfg.frames - 1:
            break
        action = player.act(paddle[0], ball)
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            break  # end the video rather than splice a new game into it
    n = len(frames)
    annotations = {
        "actions": np.array(actions[: n - 1], dtype=np.int64),
        "action_meanings": np.array(env.unwrapped.get_action_meanings()),
        "paddle_px": np.array(paddles, dtype=np.float32),
        "ball_px": np.array(balls, dtype=np.float32),
        "ram": np.array(rams, dtype=np.uint8),
        "rewards": np.array(rewards[: n - 1], dtype=np.float32),
        "lives": np.array(lives, dtype=np.int64),
    }
    return np.array(frames), annotations


def generate_breakout(
    out_dir: str | Path,
    episodes: int = 8,
    frames: int = 100,
    seed: int = 0,
    split: str = "train",
    **options: Any,
) -> dict[str, Any]:
    """Write Breakout episodes to ``out_dir/split/`` and return a summary (``fps``, ball-visible share)."""
    cfg = BreakoutConfig(episodes=episodes, frames=frames, seed=seed, split=check_split(split), **options)
    split_dir = Path(out_dir) / cfg.split
    split_dir.mkdir(parents=True, exist_ok=True)
    env = make_env(cfg.frameskip)
    lengths, ball_seen = [], []
    start = time.perf_counter()
    try:
        for i in range(cfg.episodes):
            ep_seed = int(np.random.SeedSequence([cfg.seed, SPLITS.index(cfg.split), i]).generate_state(1)[0])
            ep_frames, ann = rollout(env, cfg, ep_seed)
            if cfg.size is not None:
                op = ResizeCrop(src=ep_frames.shape[1:3], dst=tuple(cfg.size))
                ann = rescale_annotations(ann, op.src, op.dst)
                ep_frames = np.stack([op.frame(f) for f in ep_frames])
            write_episode(split_dir, episode_dirname(i), ep_frames, ann)
            lengths.append(len(ep_frames))
            ball_seen.append(float(np.isfinite(ann["ball_px"][:, 0]).mean()))
    finally:
        env.close()
    seconds = time.perf_counter() - start
    summary = {
        "generator": "breakout",
        **asdict(cfg),
        "out_dir": str(out_dir),
        "frames_written": int(sum(lengths)),
        "ball_visible_share": float(np.mean(ball_seen)),
        "seconds": seconds,
        "fps": sum(lengths) / seconds,
    }
    update_dataset_info(out_dir, cfg.split, summary)
    return summary
