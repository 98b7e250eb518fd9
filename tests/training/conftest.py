"""Fixtures for training tests: a tiny moving-square dataset and a tiny model preset (CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_generator_config


def write_squares(
    root: Path, split: str, episodes: int, frames: int = 8, size: int = 32, seed: int = 0
) -> None:
    """A red square moving over a fixed textured background; ``arm_mask`` marks the square."""
    from lcvg_env.data.layout import write_episode

    rng = np.random.default_rng(seed)
    side = size // 4
    for e in range(episodes):
        bg = rng.integers(40, 120, size=(size, size, 3), dtype=np.uint8)
        x, y = (int(v) for v in rng.integers(0, size - side, size=2))
        vx, vy = (int(v) for v in rng.choice([-2, 2], size=2))
        clip, masks = [], []
        for _ in range(frames):
            if not 0 <= x + vx <= size - side:
                vx = -vx
            if not 0 <= y + vy <= size - side:
                vy = -vy
            x, y = x + vx, y + vy
            frame, mask = bg.copy(), np.zeros((size, size), dtype=bool)
            frame[y : y + side, x : x + side] = (230, 60, 40)
            mask[y : y + side, x : x + side] = True
            clip.append(frame)
            masks.append(mask)
        write_episode(root / split, f"{e:05d}", np.stack(clip), {"arm_mask": np.stack(masks)})


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny models gain nothing from two, and on a shared CPU two threads wait on
    each other at every operator."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def squares(tmp_path_factory) -> Path:
    """32x32 dataset: 6 training episodes and 2 validation episodes of 8 frames."""
    root = tmp_path_factory.mktemp("squares")
    write_squares(root, "train", 6, seed=0)
    write_squares(root, "val", 2, seed=1)
    return root


def tiny_preset_object():
    """A 32x32 model preset of a few hundred thousand parameters."""
    from lcvg_env.models import PatchGANConfig, Preset

    return Preset("test-32", "unit tests", tiny_generator_config(32, 32), PatchGANConfig(8, 2))


@pytest.fixture(scope="session")
def tiny_preset():
    return tiny_preset_object()


def tiny_config(**overrides):
    """Training settings for the tiny preset: fast, GAN on early, checkpoints often."""
    from lcvg_training.config import TrainConfig

    values = dict(
        preset="tiny-64",
        stage1_steps=4,
        stage2_steps=2,
        batch_size=4,
        lr=1e-3,
        disc_start=2,
        disc_weight=0.5,
        bg_fg_ratio=8.0,
        ratio_halve_every=2,
        min_bg_fg_ratio=2.0,
        checkpoint_every=100,
        log_every=1,
        image_every=3,
        num_start_frames=5,
        device="cpu",
        precision="fp32",
        warmup_steps=2,
    )
    values.update(overrides)
    return TrainConfig(**values)
