"""Sub-pixel mask moves (``GeneratorConfig.subpixel``): each move rounded to whole pixels, the remainder
carried to the next step, so a binarized mask goes as far as commanded over several steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lcvg_env.control.warp import mask_centroid, pixels_to_normalized
from lcvg_env.models import LayeredGenerator
from lcvg_env.models.generator import GeneratorOutput
from tests.conftest import is_red, tiny_generator_config

RED = (0.8, -0.84, -0.84)


def _generator(subpixel: bool, monkeypatch, gain: float = 1.0, passes: int = 0) -> LayeredGenerator:
    """M finds the red pixels; "generation" draws the red square ``gain`` of the way from where it is in
    the frame to where the mask sends it (rounded to whole pixels)."""
    cfg = dataclasses.replace(tiny_generator_config(), subpixel=subpixel, correction_passes=passes)
    gen = LayeredGenerator(cfg).eval()
    monkeypatch.setattr(LayeredGenerator, "mask", lambda self, frame: is_red(frame)[:, None].float())

    def generate(self, frame, mask):
        red = is_red(frame)[:, None].float()
        shift = gain * (mask_centroid(mask) - mask_centroid(red))  # (B, 2) px
        out = torch.full_like(frame, -1.0)
        for i, (dx, dy) in enumerate(shift.round().long().tolist()):
            moved = torch.roll(red[i, 0], shifts=(dy, dx), dims=(0, 1)).bool()
            for c, v in enumerate(RED):
                out[i, c][moved] = v
        return GeneratorOutput(frame=out, vq_loss=torch.zeros(len(frame)), mask=mask, indices=None)

    monkeypatch.setattr(LayeredGenerator, "generate", generate)
    return gen


def _frame() -> torch.Tensor:
    frame = torch.full((1, 3, 32, 32), -1.0)
    for c, v in enumerate(RED):
        frame[0, c, 8:16, 4:12] = v
    return frame


def _roll_out(gen: LayeredGenerator, px: float, steps: int) -> tuple[float, torch.Tensor | None]:
    """x distance (px) the red square moves over ``steps`` steps of ``px`` px each, and the last residual."""
    frame, residual = _frame(), None
    control = pixels_to_normalized(torch.tensor([[px, 0.0]]), "translation", (32, 32))
    for _ in range(steps):
        out = gen.step(frame, control, "translation", residual=residual)
        frame, residual = out.frame, out.residual
    return float(mask_centroid(gen.mask(frame))[0, 0] - mask_centroid(gen.mask(_frame()))[0, 0]), residual


def test_whole_pixels_carry_the_remainder():
    gen = LayeredGenerator(dataclasses.replace(tiny_generator_config(), subpixel=True))
    step = pixels_to_normalized(torch.tensor([[0.75, -0.3]]), "translation", (32, 32))  # (1, 2)
    residual, moved = None, torch.zeros(1, 2)
    for _ in range(8):
        whole, residual = gen.whole_pixels(step, residual)
        px = whole * torch.tensor([16.0, 16.0])  # normalized -> px at 32x32
        assert torch.equal(px, px.round())  # the mask moves by whole pixels only
        moved += px
        assert residual.abs().max() <= 0.5
    assert moved.tolist() == [[6.0, -2.0]]  # 8 x 0.75 = 6, 8 x -0.3 = -2.4 -> -2 with 0.4 left
    assert residual[0, 1].item() == pytest.approx(-0.4, abs=1e-5)


@pytest.mark.parametrize(("subpixel", "expected"), [(False, 4.0), (True, 3.0)])
def test_subpixel_commands_add_up(monkeypatch, subpixel, expected):
    """Four steps of 0.75 px: without the carry each rounds up to a whole pixel (4 px); with it, 3 px."""
    moved, residual = _roll_out(_generator(subpixel, monkeypatch), 0.75, 4)
    assert moved == pytest.approx(expected, abs=0.01)
    assert (residual is None) != subpixel


def test_the_correction_carries_its_remainder_too(monkeypatch):
    """A renderer with gain 0.5 and one correction pass at strength 0.5: 3 px sent -> drawn 2 px (1.5
    rounded); the lag, 1 px, halved is 0.5 px: no whole pixel now, carried to the next step instead."""
    gen = _generator(True, monkeypatch, gain=0.5, passes=1)
    gen.cfg = dataclasses.replace(gen.cfg, correction_strength=0.5)
    control = pixels_to_normalized(torch.tensor([[3.0, 0.0]]), "translation", (32, 32))
    out = gen.step(_frame(), control, "translation")
    assert out.residual is not None and out.residual.shape == (1, 2)
    assert out.residual[0].tolist() == pytest.approx([0.5, 0.0], abs=1e-4)


def test_other_modes_and_old_checkpoints_are_unchanged(monkeypatch):
    gen = _generator(True, monkeypatch)
    control = torch.tensor([[0.05, 0.0, 0.1]])  # rotation: no sub-pixel carry
    assert gen.step(_frame(), control, "rotation").residual is None
    assert not tiny_generator_config().subpixel
    with pytest.raises(ValueError, match="subpixel"):
        dataclasses.replace(tiny_generator_config(), subpixel="yes")
