"""Fixtures: tiny random-weight checkpoints (32x32 and 64x64) with a bank of synthetic start frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import save_checkpoint
from lcvg_env.models import (
    AutoencoderConfig,
    GeneratorConfig,
    LayeredGenerator,
    MaskNetConfig,
    QuantizerConfig,
)


def tiny_config(size: int, width: int | None = None) -> GeneratorConfig:
    """A generator far smaller than tiny-64: a few milliseconds per step."""
    return GeneratorConfig(
        height=size,
        width=width or size,
        mask=MaskNetConfig(base_channels=4, num_downsample=1, num_blocks=1),
        autoencoder=AutoencoderConfig(
            base_channels=8,
            channel_mult=(1, 2),
            num_res_blocks=1,
            attn_resolutions=(),
            z_channels=8,
            mid_attention=False,
        ),
        quantizer=QuantizerConfig(num_codes=16, code_dim=8),
    )


def square_frames(n: int, size: int, width: int | None = None) -> np.ndarray:
    """(n, size, width, 3) uint8: a red square at different places on a striped background."""
    width = width or size
    frames = np.zeros((n, size, width, 3), dtype=np.uint8)
    frames[..., 1] = (np.arange(width) * 255 // width)[None, None, :]
    frames[..., 2] = 60
    side = size // 4
    for i in range(n):
        x, y = (i * 7) % (width - side), (i * 5) % (size - side)
        frames[i, y : y + side, x : x + side] = (230, 20, 20)
    return frames


def make_checkpoint(
    path: Path, size: int, control_mode: str = "translation", width: int | None = None, **config: object
) -> Path:
    """Save a random-weight tiny checkpoint (seeded: the same weights every time); ``config`` replaces
    fields of its :class:`GeneratorConfig` (e.g. ``composite_margin=0``)."""
    import dataclasses

    torch.manual_seed(0)
    generator = LayeredGenerator(dataclasses.replace(tiny_config(size, width), **config)).eval()
    frames = square_frames(6, size, width)
    return save_checkpoint(path, generator, control_mode=control_mode, start_frames=frames, preset=None)


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread) -> None:
    """Every env test on one torch thread (tests/conftest.py): batch-1 steps of tiny models swing
    from 5 ms to seconds when OpenMP threads spin on a busy CPU."""


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32 translation checkpoint."""
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny32.safetensors", 32)


@pytest.fixture(scope="session")
def tiny_ckpt64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64 translation checkpoint (big enough for SB3's NatureCNN)."""
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny64.safetensors", 64)
