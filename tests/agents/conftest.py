"""Fixtures for the agent tests: one torch thread, tiny checkpoints, and a colour-threshold test double.

The test double (:class:`ColourGenerator`) stands in for a trained world model whose foreground
really follows the control: its mask is a colour threshold (red pixels) and its "generation"
paints the warped mask red on a grey background. The env around it is the real one (mask warp,
centroid, goal, reward, success, autoreset), so it tests the controllers and the evaluation loop,
not the learned model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import tiny_generator_config

SIZE = 32
BACKGROUND = 0.0  # grey in [-1, 1]
RED = (1.0, -1.0, -1.0)
SQUARE = 6  # side of the red square, pixels


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread) -> None:
    """Every agents test on one torch thread (tests/conftest.py)."""


def _colour_generator_class():
    from lcvg_env.models import LayeredGenerator
    from lcvg_env.models.generator import GeneratorOutput

    class ColourGenerator(LayeredGenerator):
        """Mask = red pixels; next frame = grey background with the (warped) mask painted red."""

        def mask(self, frame: torch.Tensor) -> torch.Tensor:
            frame = frame.float()
            return ((frame[:, :1] > 0.5) & (frame[:, 1:2] < -0.5)).float()  # (B, 1, H, W)

        def generate(self, frame: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
            b = frame.shape[0]
            red = torch.tensor(RED, dtype=torch.float32).view(1, 3, 1, 1)
            out = torch.where(mask.bool(), red, torch.full_like(red, BACKGROUND))  # (B, 3, H, W)
            return GeneratorOutput(
                frame=out,
                vq_loss=torch.zeros(b),
                mask=mask,
                indices=torch.zeros(b, 2, 1, 1, dtype=torch.long),
            )

    return ColourGenerator


def square_frames(count: int, seed: int = 0) -> np.ndarray:
    """uint8 (count, SIZE, SIZE, 3): grey frames with a red square at random places."""
    rng = np.random.default_rng(seed)
    frames = np.full((count, SIZE, SIZE, 3), 128, dtype=np.uint8)
    for frame in frames:
        x, y = rng.integers(4, SIZE - 4 - SQUARE, size=2)
        frame[y : y + SQUARE, x : x + SQUARE] = (255, 0, 0)
    return frames


@pytest.fixture
def colour_checkpoint():
    """A loaded :class:`~lcvg_env.checkpoint.Checkpoint` around :class:`ColourGenerator` (translation)."""
    from lcvg_env.checkpoint import Checkpoint

    cfg = tiny_generator_config(SIZE, SIZE)
    generator = _colour_generator_class()(cfg).eval()
    return Checkpoint(
        generator=generator, config=cfg, control_mode="translation", start_frames=square_frames(8)
    )


@pytest.fixture(scope="session")
def agent_checkpoint(tmp_path_factory):
    """A tiny random-weight 32x32 checkpoint (as ``tests/conftest.py``'s), shared by the session."""
    from lcvg_env.checkpoint import save_checkpoint
    from lcvg_env.models import LayeredGenerator

    torch.manual_seed(0)
    generator = LayeredGenerator(tiny_generator_config()).eval()
    frames = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("agents") / "tiny.safetensors"
    return save_checkpoint(path, generator, control_mode="translation", start_frames=frames)


def tiny_env_kwargs(checkpoint) -> dict:
    """Env keywords for fast tests: the tiny checkpoint, 8-step episodes."""
    return {"checkpoint": str(checkpoint), "max_episode_steps": 8}
