"""Fixtures for the data tests: tiny synthetic datasets written in each supported format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from lcvg_env.data.layout import write_episode


def moving_square(t_len: int = 6, h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """Frames (T, H, W, 3) of a bright square moving right over a noisy background: easy to check."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(20, 60, size=(t_len, h, w, 3), dtype=np.uint8)
    for t in range(t_len):
        frames[t, 8:16, 2 + 3 * t : 10 + 3 * t] = (250, 40, 40)
    return frames


def write_layout(root: Path, splits: dict[str, int], t_len: int = 6, hw: tuple[int, int] = (32, 40)) -> Path:
    """A layout dataset: ``splits`` maps split name to number of episodes."""
    for split, n in splits.items():
        for i in range(n):
            frames = moving_square(t_len, *hw, seed=i)
            ann = {"square_px": np.array([[6 + 3 * t, 12.0] for t in range(t_len)], dtype=np.float32)}
            write_episode(root / split, f"{i:05d}", frames, ann)
    return root


@pytest.fixture
def layout_root(tmp_path: Path) -> Path:
    return write_layout(tmp_path / "ds", {"train": 3, "val": 1})


@pytest.fixture
def square_frames():
    """The :func:`moving_square` frame maker."""
    return moving_square


@pytest.fixture
def make_layout():
    """The :func:`write_layout` dataset writer."""
    return write_layout
