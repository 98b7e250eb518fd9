"""Lag correction with several foregrounds: each one's lag is fitted on its own (LayeredGenerator.render)."""

from __future__ import annotations

import torch

from lcvg_env.control.warp import mask_centroid
from lcvg_env.models import LayeredGenerator
from tests.conftest import tiny_generator_config


def square(x: int, y: int, size: int = 32) -> torch.Tensor:
    """(H, W) float mask: a 4x4 square with its top-left pixel at (x, y)."""
    m = torch.zeros(size, size)
    m[y : y + 4, x : x + 4] = 1.0
    return m


def test_each_foreground_is_moved_on_by_its_own_lag() -> None:
    gen = LayeredGenerator(tiny_generator_config()).eval()
    # sent: foreground 0 two px right of where it was, foreground 1 two px left; M(x_hat) found each one
    # only one px along (the generator under-followed both, in opposite directions)
    sent = torch.stack([square(12, 4), square(14, 22)])[None]  # (1, 2, H, W)
    achieved = (square(11, 4) + square(15, 22))[None, None]  # (1, 1, H, W)
    moved = sent.amax(dim=1, keepdim=True)
    lag = gen._lag(achieved, moved, sent)  # (1, 4) normalized units, one translation per foreground
    new_moved, new_parts = gen.move_mask(moved, lag, "translation", sent)
    shift = mask_centroid(new_parts[0, :, None]) - mask_centroid(sent[0, :, None])  # (2, 2) px
    torch.testing.assert_close(shift, torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))  # each by its own lag
    torch.testing.assert_close(new_moved, new_parts.amax(dim=1, keepdim=True))


def test_pixels_no_foreground_holds_stay_in_place() -> None:
    gen = LayeredGenerator(tiny_generator_config()).eval()
    sent = square(12, 4)[None, None]  # (1, 1, H, W): one foreground
    speck = torch.zeros(1, 1, 32, 32)
    speck[0, 0, 28, 28] = 1.0  # a mask pixel no foreground holds
    moved = torch.maximum(sent, speck)
    lag = gen._lag(square(11, 4)[None, None], moved, sent)
    new_moved, _ = gen.move_mask(moved, lag, "translation", sent)
    assert new_moved[0, 0, 28, 28] == 1.0
