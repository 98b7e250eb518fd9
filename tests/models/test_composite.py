"""The generation-time composite (``GeneratorConfig.composite_margin``) against drift."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lcvg_env.models import LayeredGenerator
from tests.conftest import tiny_generator_config


def _generator(margin: int | None) -> LayeredGenerator:
    torch.manual_seed(0)
    return LayeredGenerator(dataclasses.replace(tiny_generator_config(), composite_margin=margin)).eval()


def _square(x0: int, y0: int, side: int = 6) -> torch.Tensor:
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., y0 : y0 + side, x0 : x0 + side] = 1.0
    return mask


def test_without_a_margin_render_is_generate():
    gen = _generator(None)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    current, moved = _square(4, 4), _square(8, 4)
    with torch.no_grad():
        assert torch.equal(gen.render(x, current, moved).frame, gen.generate(x, moved).frame)


@pytest.mark.parametrize("margin", [0, 2])
def test_composite_keeps_the_input_outside_the_dilated_union_and_the_decoder_inside(margin):
    gen = _generator(margin)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    current, moved = _square(4, 4), _square(10, 4)
    with torch.no_grad():
        out = gen.render(x, current, moved).frame
        decoded = gen.generate(x, moved).frame
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[4 - margin : 10 + margin, 4 - margin : 16 + margin] = True  # the union's bounding box, dilated
    assert torch.equal(out[0][:, ~inside], x[0][:, ~inside])
    assert torch.equal(out[0][:, inside], decoded[0][:, inside])
    assert not torch.equal(decoded[0][:, ~inside], x[0][:, ~inside])  # the composite changed something


def test_step_applies_the_configured_composite():
    plain, composite = _generator(None), _generator(0)
    composite.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    control = torch.tensor([[0.2, 0.0], [0.0, -0.2]])
    a = plain.step(x, control, "translation").frame
    b = composite.step(x, control, "translation").frame
    current = plain.binary_mask(x)
    union = torch.maximum(current, plain.warp_mask(current, control, "translation"))  # (2, 1, H, W)
    assert torch.equal(b, union * a + (1 - union) * x)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_bad_margins_are_refused(bad):
    with pytest.raises(ValueError, match="composite_margin"):
        dataclasses.replace(tiny_generator_config(), composite_margin=bad)


def test_the_margin_round_trips_through_a_checkpoint_and_old_ones_load_without(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from lcvg_env.checkpoint import METADATA_KEY, load_checkpoint, save_checkpoint

    frames = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    path = save_checkpoint(
        tmp_path / "c.safetensors", _generator(1), control_mode="translation", start_frames=frames
    )
    assert load_checkpoint(path).config.composite_margin == 1
    # A checkpoint written before the field existed: its config has no composite_margin key.
    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    del meta["config"]["composite_margin"], meta["config"]["correction_strength"]
    save_file(tensors, tmp_path / "old.safetensors", metadata={METADATA_KEY: json.dumps(meta)})
    old = load_checkpoint(tmp_path / "old.safetensors").config
    assert old.composite_margin is None and old.correction_strength == 1.0


def _lagging_generator(passes: int, monkeypatch, strength: float = 1.0) -> LayeredGenerator:
    """M finds the red pixels; "generation" draws the red square half of the way from where it is in the
    frame to where the mask sends it: a renderer with gain 0.5, whose lag the correction must remove."""
    from tests.conftest import is_red

    cfg = dataclasses.replace(tiny_generator_config(), correction_passes=passes, correction_strength=strength)
    gen = LayeredGenerator(cfg).eval()
    monkeypatch.setattr(LayeredGenerator, "mask", lambda self, frame: is_red(frame)[:, None].float())

    def generate(self, frame, mask):
        from lcvg_env.control.warp import mask_centroid

        red = is_red(frame)[:, None].float()
        shift = 0.5 * (mask_centroid(mask) - mask_centroid(red))  # (B, 2) px, half of the commanded
        out = torch.full_like(frame, -1.0)
        for i, (dx, dy) in enumerate(shift.round().long().tolist()):
            moved = torch.roll(red[i, 0], shifts=(dy, dx), dims=(0, 1)).bool()
            out[i, 0][moved], out[i, 1][moved], out[i, 2][moved] = 0.8, -0.84, -0.84
        return GeneratorOutput(frame=out, vq_loss=torch.zeros(len(frame)), mask=mask, indices=None)

    from lcvg_env.models.generator import GeneratorOutput

    monkeypatch.setattr(LayeredGenerator, "generate", generate)
    return gen


@pytest.mark.parametrize(
    ("passes", "strength", "expected"), [(0, 1.0, 4.0), (1, 1.0, 6.0), (2, 1.0, 7.0), (1, 0.5, 5.0)]
)
def test_lag_correction_brings_the_foreground_where_it_was_sent(monkeypatch, passes, strength, expected):
    from lcvg_env.control.warp import mask_centroid, pixels_to_normalized

    gen = _lagging_generator(passes, monkeypatch, strength)
    frame = torch.full((1, 3, 32, 32), -1.0)
    frame[0, 0, 8:16, 4:12], frame[0, 1, 8:16, 4:12], frame[0, 2, 8:16, 4:12] = 0.8, -0.84, -0.84
    control = pixels_to_normalized(torch.tensor([[8.0, 0.0]]), "translation", (32, 32))
    out = gen.step(frame, control, "translation").frame
    moved = mask_centroid(gen.mask(out)) - mask_centroid(gen.mask(frame))  # (1, 2) px
    # gain 0.5 per pass: 8 px sent -> 4 px; one correction sends 8 + 4 -> 6 px; two: 8 + 4 + 2 -> 7 px;
    # one at strength 0.5 moves the mask on by half the 4 px lag: 8 + 2 sent -> 5 px
    assert moved[0].tolist() == pytest.approx([expected, 0.0], abs=0.01)


def test_bad_correction_passes_are_refused():
    with pytest.raises(ValueError, match="correction_passes"):
        dataclasses.replace(tiny_generator_config(), correction_passes=-1)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, True, "0.7", float("nan")])
def test_bad_correction_strength_is_refused(bad):
    with pytest.raises(ValueError, match="correction_strength"):
        dataclasses.replace(tiny_generator_config(), correction_strength=bad)
