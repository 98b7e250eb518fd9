"""Shared fixtures: tiny random-weight models and checkpoints, CPU only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """The module of a script that is not a package (``benchmarks/...``, ``examples/...``), by its path
    from the repository root, so tests can call its functions."""
    import importlib.util

    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restored after: tiny models and small solves are fastest on one
    thread, and on a shared, oversubscribed CPU OpenMP's spinning threads make them many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


# ---------------------------------------------------------------- a red square with known answers
RED = (230, 20, 20)
"""Colour of the square: the fake mask network and detector below find exactly its pixels."""
SQUARE_SIDE = 8
"""The square's side in pixels."""


def write_square_dataset(
    root: Path,
    episodes: int = 2,
    frames: int = 6,
    size: int = 32,
    speed: int = 1,
    arm_mask: bool = True,
    tips: bool = False,
) -> Path:
    """A red square moving right by ``speed`` px a frame over a dark textured background, as the test
    split of the project's layout; its pixels stored as ``arm_mask`` and (``tips``) its centre as
    ``tip_px`` (the true tip)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for e in range(episodes):
        folder = root / "test" / f"episode_{e:05d}"
        folder.mkdir(parents=True)
        background = rng.integers(0, 50, (size, size, 3), dtype=np.uint8)
        masks = np.zeros((frames, size, size), bool)
        centres = np.zeros((frames, 2), np.float32)
        for t in range(frames):
            x = 4 + e + speed * t
            masks[t, 10 : 10 + SQUARE_SIDE, x : x + SQUARE_SIDE] = True
            centres[t] = (x + SQUARE_SIDE / 2, 10 + SQUARE_SIDE / 2)
            frame = background.copy()
            frame[masks[t]] = RED
            Image.fromarray(frame).save(folder / f"{t:05d}.png")
        ann = {"arm_mask": masks} if arm_mask else {}
        if tips:
            ann["tip_px"] = centres
        if ann:
            np.savez_compressed(folder / "annotations.npz", **ann)
    return root


def is_red(frames):
    """(N, H, W) bool: the square's pixels of frames (N, 3, H, W) in [-1, 1]."""
    return (frames[:, 0] > 0.5) & (frames[:, 1] < -0.5)


@pytest.fixture
def red_mask(monkeypatch):
    """Every generator's mask network finds the red pixels, so mask-based figures have known values."""
    from lcvg_env.models import LayeredGenerator

    monkeypatch.setattr(LayeredGenerator, "mask", lambda self, frame: is_red(frame)[:, None].float())


@pytest.fixture
def red_detector(monkeypatch):
    """The tip detector finds the centre of the red pixels (none when there are none)."""
    import torch

    from lcvg_env.metrics import detector as detector_module
    from lcvg_env.metrics.detector import TipDetections

    class RedDetector:
        def detect(self, frames: torch.Tensor) -> TipDetections:
            red = is_red(frames)
            ys, xs = torch.meshgrid(torch.arange(red.shape[1]), torch.arange(red.shape[2]), indexing="ij")
            n = red.flatten(1).sum(1).float()
            xy = torch.stack([(red * (xs + 0.5)).flatten(1).sum(1), (red * (ys + 0.5)).flatten(1).sum(1)], 1)
            found = n > 0
            xy = torch.where(found[:, None], xy / n.clamp_min(1)[:, None], torch.full_like(xy, float("nan")))
            return TipDetections(xy=xy, found=found, score=found.float())

    monkeypatch.setattr(detector_module, "load_detector", lambda name, device="cpu": RedDetector())
    monkeypatch.setattr(detector_module, "resolve_detector", lambda name: Path(f"{name}.safetensors"))
