"""``GeneratorConfig.correction_timing``: the lag correction within the step (render again) or carried into
the next step's move (one generation a step)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lcvg_env.models import GeneratorConfig, LayeredGenerator
from tests.conftest import tiny_generator_config
from tests.models.test_subpixel import _generator, _roll_out


def _timed(
    monkeypatch, timing: str, passes: int = 1, strength: float = 1.0, gain: float = 0.5
) -> tuple[LayeredGenerator, list]:
    """A generator that draws the square ``gain`` of the way it is sent (under-follows at 0.5), timed as
    asked, and the list its generations are counted in."""
    gen = _generator(True, monkeypatch, gain=gain, passes=passes)
    gen.cfg = dataclasses.replace(gen.cfg, correction_timing=timing, correction_strength=strength)
    calls: list[int] = []
    drawing = LayeredGenerator.generate

    def counted(self, frame, mask):
        calls.append(len(frame))
        return drawing(self, frame, mask)

    monkeypatch.setattr(LayeredGenerator, "generate", counted)
    return gen, calls


def test_next_timing_renders_once_and_carries_the_lag(monkeypatch) -> None:
    gen, calls = _timed(monkeypatch, "next", strength=0.5)
    moved, residual = _roll_out(gen, 4.0, steps=1)
    assert calls == [1]  # one generation: no second pass within the step
    assert moved == pytest.approx(2.0)  # drawn half of the 4 px it was sent
    torch.testing.assert_close(residual, torch.tensor([[1.0, 0.0]]))  # half of the 2 px lag, for later


def test_next_timing_makes_up_the_lag_over_steps(monkeypatch) -> None:
    plain = _roll_out(_generator(True, monkeypatch, gain=0.5), 2.0, steps=5)[0]
    gen, calls = _timed(monkeypatch, "next")
    carried = _roll_out(gen, 2.0, steps=5)[0]
    within, within_calls = _timed(monkeypatch, "within")
    redrawn = _roll_out(within, 2.0, steps=5)[0]
    assert plain == pytest.approx(5.0, abs=1.0)  # half of the 10 px commanded
    assert carried >= 8.0 and len(calls) == 5  # all but the last step's lag made up, one generation each
    assert redrawn >= 8.0 and len(within_calls) == 10  # within: as far, two generations each


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"correction_timing": "later"}, "correction_timing must be one of"),
        ({"correction_timing": "next", "correction_passes": 1}, "needs subpixel on"),
        ({"correction_timing": "next", "correction_passes": 2, "subpixel": True}, "correction_passes 1"),
    ],
)
def test_next_timing_needs_subpixel_moves_and_one_pass(fields: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(tiny_generator_config(), **fields)
    assert GeneratorConfig().correction_timing == "within"  # old checkpoints load as they were


def test_next_timing_runs_m_once_a_step_and_the_env_keeps_its_mask(tmp_path) -> None:
    """The lag carried to the next step is measured on M of the frame as the env stores it (uint8), which
    is the env's mask of the next step: the simulator takes it instead of running M again."""
    import numpy as np

    from lcvg_env.checkpoint import load_checkpoint, save_checkpoint
    from lcvg_env.env.sim import LayeredSimulator
    from lcvg_env.model import to_unit_range

    torch.manual_seed(0)
    cfg = dataclasses.replace(
        tiny_generator_config(), correction_timing="next", correction_passes=1, subpixel=True
    )
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    path = save_checkpoint(
        tmp_path / "next.safetensors", LayeredGenerator(cfg), control_mode="translation", start_frames=frames
    )
    sim = LayeredSimulator(load_checkpoint(path), 3, "translation", dtype="float32")
    sim.load(np.arange(3), frames)
    calls: list[int] = []
    sim.generator.mask_net.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    for step in range(3):
        calls.clear()
        sim.step(np.full((3, 2), 0.5 * (step - 1), dtype=np.float32))
        assert calls == [3]  # one pass of M over the batch a step
        with torch.inference_mode():
            torch.testing.assert_close(sim.masks, sim.generator.binary_mask(to_unit_range(sim.frames)))


@pytest.mark.parametrize(("gain", "generations", "moved"), [(1.0, 1, 4.0), (0.5, 2, 3.0)])
def test_a_correction_that_moves_no_mask_does_not_render_again(monkeypatch, gain, generations, moved) -> None:
    """A generator that draws the square where it is sent leaves no lag: the step renders once (a second
    rendering would draw the same frame); one that lags renders again, with the mask moved on."""
    gen, calls = _timed(monkeypatch, "within", gain=gain)
    assert _roll_out(gen, 4.0, steps=1)[0] == pytest.approx(moved)  # gain 0.5: half of 4 + the 2 px lag
    assert len(calls) == generations
