"""The error budget (``lcvg budget``) on a tiny written dataset whose answers are known."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.fidelity_budget import ROWS, BudgetConfig, measure, predict_levels
from lcvg_env.models import LayeredGenerator
from lcvg_env.models.generator import GeneratorOutput
from tests.conftest import RED, write_square_dataset

SPEED = 2  # pixels the square moves right per frame
write_dataset = functools.partial(write_square_dataset, speed=SPEED, tips=True)


@pytest.fixture
def painter(monkeypatch):
    """A generator that paints the mask red over its input frame: where it puts the foreground is known."""
    red = torch.tensor(RED, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1.0

    def generate(self, frame: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        b, _, h, w = frame.shape
        out = torch.where(mask > 0.5, red.expand_as(frame), frame)
        zeros = torch.zeros(b, 2, h // 4, w // 4, dtype=torch.long)
        return GeneratorOutput(frame=out, vq_loss=torch.zeros(b), mask=mask, indices=zeros)

    monkeypatch.setattr(LayeredGenerator, "generate", generate)


def test_copy_rows_masks_and_motion_have_known_values(tmp_path, tiny_checkpoint, red_mask, red_detector):
    data = write_dataset(tmp_path / "data")
    result = measure(tiny_checkpoint, data, BudgetConfig(frames=6))
    assert list(result.rows) == list(ROWS)
    current, first = result.rows["copy_current_frame"], result.rows["copy_first_frame"]
    # The square moves SPEED px a frame: copying x^t misses by SPEED, copying x^0 by SPEED * t.
    assert current["detection_distance_per_step_px"] == pytest.approx([SPEED] * 5, abs=1e-4)
    assert current["tip_error_px"] == pytest.approx(SPEED, abs=1e-4)
    assert first["detection_distance_per_step_px"] == pytest.approx([2, 4, 6, 8, 10], abs=1e-4)
    assert first["detection_distance_px"] == pytest.approx(6.0, abs=1e-4)
    assert first["detection_distance_p90_px"] == pytest.approx(10.0, abs=1e-4)
    assert current["step_gain"] == 0.0 and first["step_gain"] == 0.0  # a copy never moves the tip
    assert current["detection_missing_rate"] == 0.0 and current["frames"] == 10
    assert current["psnr"] > first["psnr"] and current["lpips_alex"] < first["lpips_alex"]
    masks = result.masks
    assert masks["m_real_iou"] == pytest.approx(1.0) and masks["m_real_precision"] == pytest.approx(1.0)
    assert masks["warped_vs_next_m_iou"] == pytest.approx(1.0, abs=1e-6)  # Eq. 5 is exact for a shift
    motion = result.motion
    assert motion["true_tip_median"] == pytest.approx(SPEED, abs=1e-4)
    assert motion["fitted_median"] == pytest.approx(SPEED, abs=0.02)
    assert motion["fitted_gain_along_true_tip"] == pytest.approx(1.0, abs=0.01)
    assert motion["env_max_displacement_px"] == 4.0
    for name in ("autoencode", "true_next_mask", "fitted_control", "rollout"):
        assert np.isfinite(result.rows[name]["psnr"]) and result.rows[name]["lpips_alex"] >= 0.0


def test_levels_give_the_generator_what_they_say(tmp_path, tiny_checkpoint, red_mask, red_detector, painter):
    data = write_dataset(tmp_path / "data")
    rows = measure(tiny_checkpoint, data, BudgetConfig(frames=6)).rows
    # 1: x^{t+1} painted over its own mask is x^{t+1} itself.
    assert rows["autoencode"]["psnr"] == pytest.approx(100.0) and rows["autoencode"]["lpips_alex"] < 1e-6
    assert rows["autoencode"]["step_gain"] == pytest.approx(1.0, abs=1e-4)
    # 2, 3: x^t painted at the next square keeps its old strip: red spans side + SPEED, centre 1 px behind.
    for name in ("true_next_mask", "fitted_control"):
        assert rows[name]["detection_distance_per_step_px"] == pytest.approx([1.0] * 5, abs=0.02)
        assert rows[name]["step_gain"] == pytest.approx(0.5, abs=0.01)
    # 4: the painted strip grows by SPEED each step, so the rollout falls 1 px further behind per step.
    assert rows["rollout"]["detection_distance_per_step_px"] == pytest.approx([1, 2, 3, 4, 5], abs=0.05)
    assert rows["rollout"]["step_gain"] == pytest.approx(0.5, abs=0.01)
    # 4': sent the true next squares from its own frames, the strip grows the same way: exact masks do not
    # stop a generator that never erases the old square.
    assert rows["rollout_true_masks"]["detection_distance_per_step_px"] == pytest.approx(
        [1, 2, 3, 4, 5], abs=0.05
    )
    assert rows["rollout_true_masks"]["step_gain"] == pytest.approx(0.5, abs=0.01)


def test_true_mask_rollout_is_exact_for_a_generator_that_draws_the_mask(
    tmp_path, tiny_checkpoint, red_mask, red_detector, monkeypatch
):
    """A generator that erases the old foreground and draws the sent mask follows exact masks exactly, and
    so does a rollout that fits its controls from its own frames; with labels that are exact too (a moving
    square), neither part of the drift split adds anything."""
    from lcvg_env.fidelity_budget import DRIFT_SPLIT

    red = torch.tensor(RED, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1.0

    def generate(self, frame: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        b, _, h, w = frame.shape
        background = frame[:, :, :1, :1].expand_as(frame)  # the squares' dataset has a plain background
        out = torch.where(mask > 0.5, red.expand_as(frame), background)
        zeros = torch.zeros(b, 2, h // 4, w // 4, dtype=torch.long)
        return GeneratorOutput(frame=out, vq_loss=torch.zeros(b), mask=mask, indices=zeros)

    monkeypatch.setattr(LayeredGenerator, "generate", generate)
    data = write_dataset(tmp_path / "data")
    result = measure(tiny_checkpoint, data, BudgetConfig(frames=6))
    rows = result.rows
    for name in ("rollout_true_masks", "rollout_tracking"):  # sent the next squares, or steered to them
        assert rows[name]["detection_distance_per_step_px"] == pytest.approx([0.0] * 5, abs=0.02)
        assert rows[name]["step_gain"] == pytest.approx(1.0, abs=0.01)
    split = dict(result.attribution("detection_distance_px", DRIFT_SPLIT))
    assert list(split) == [label for label, _, _ in DRIFT_SPLIT]
    # Eq. 5 is exact for a moving square, so the labels add nothing either.
    assert all(v == pytest.approx(0.0, abs=0.05) for v in split.values())


def test_rollout_starts_with_the_fitted_control_step(tmp_path, tiny_checkpoint):
    from lcvg_env.checkpoint import load_checkpoint
    from lcvg_env.data import open_episodes

    write_dataset(tmp_path / "data", episodes=1, frames=4)
    ckpt = load_checkpoint(tiny_checkpoint)
    frames = open_episodes(tmp_path / "data", split="test")[0].frames(size=(32, 32))
    levels = predict_levels(ckpt.generator, frames, ckpt.control_mode)
    assert {k: v.shape for k, v in levels.preds.items()} == {k: (3, 3, 32, 32) for k in ROWS}
    # Both start from the real x^0 with the same control: one env step.
    torch.testing.assert_close(levels.preds["rollout"][0], levels.preds["fitted_control"][0])
    assert not torch.equal(levels.preds["autoencode"], levels.preds["true_next_mask"])
    assert levels.warped.shape == (3, 32, 32) and levels.shift_px.shape == (3, 2)


def test_cli_prints_the_table_and_writes_json(tmp_path, tiny_checkpoint, red_mask, red_detector):
    data = write_dataset(tmp_path / "data", episodes=1, frames=5)
    out = tmp_path / "budget.json"
    args = ["budget", str(tiny_checkpoint), str(data), "--frames", "5", "--threads", "1", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "autoencode" in result.output and "drift (4 - 3)" in result.output
    saved = json.loads(out.read_text())
    assert set(saved["rows"]) == set(ROWS) and saved["meta"]["episodes"] == 1
    first = saved["rows"]["copy_first_frame"]
    assert (
        saved["attribution"]["detection_distance_px"]["appearance (1)"]
        == (saved["rows"]["autoencode"]["detection_distance_px"])
    )
    assert first["detection_distance_per_step_px"] == pytest.approx([2, 4, 6, 8], abs=1e-4)


def test_data_stats_are_the_true_tip_steps(tmp_path, tiny_checkpoint):
    data = write_dataset(tmp_path / "data", episodes=2, frames=5)
    out = tmp_path / "stats.json"
    args = ["budget", str(tiny_checkpoint), str(data), "--data-stats", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads(out.read_text())
    assert stats["steps"] == 8 and stats["norm_median"] == pytest.approx(SPEED)
    assert (
        stats["max_axis_p99"] == pytest.approx(SPEED) and stats["share_norm_above_half_max_displacement"] == 0
    )


def test_errors_speak_to_the_user(tmp_path, tiny_checkpoint):
    data = write_dataset(tmp_path / "data", episodes=1, frames=3)
    result = CliRunner().invoke(app, ["budget", str(tiny_checkpoint), str(data), "--frames", "5"])
    assert result.exit_code == 1 and "lower --frames" in result.output
    with pytest.raises(ValueError, match="frames must be >= 2"):
        BudgetConfig(frames=1)
