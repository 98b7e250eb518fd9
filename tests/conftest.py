"""Shared fixtures: tiny random-weight models and checkpoints, CPU only."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def tiny_generator_config(height: int = 32, width: int = 32):
    """A generator small enough for unit tests (a few hundred thousand parameters)."""
    from lcvg_env.models import AutoencoderConfig, GeneratorConfig, MaskNetConfig, QuantizerConfig

    return GeneratorConfig(
        height=height,
        width=width,
        mask=MaskNetConfig(base_channels=8, num_downsample=2, num_blocks=1),
        autoencoder=AutoencoderConfig(
            base_channels=8, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(), z_channels=16
        ),
        quantizer=QuantizerConfig(num_codes=32, code_dim=16),
    )


@pytest.fixture
def tiny_generator():
    import torch

    from lcvg_env.models import LayeredGenerator

    torch.manual_seed(0)
    return LayeredGenerator(tiny_generator_config()).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_generator):
    """Path of a saved tiny random-weight checkpoint (32x32, translation control)."""
    from lcvg_env.checkpoint import save_checkpoint

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    return save_checkpoint(
        tmp_path / "tiny.safetensors",
        tiny_generator,
        control_mode="translation",
        start_frames=frames,
        preset=None,
        step=7,
        extra={"note": "test"},
    )
