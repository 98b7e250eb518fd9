"""The evaluation protocol and ``lcvg evaluate`` on a tiny written dataset and a tiny random checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.evaluation.video import OPTIONAL_METRICS, EvalConfig, evaluate, rollout
from tests.conftest import SQUARE_SIDE, write_square_dataset

ROW_KEYS = {
    "psnr",
    "ssim",
    "lpips_alex",
    "lpips_vgg",
    "fid",
    "kid",
    "fvd",
    "m_centroid_distance_px",
    "m_missing_rate",
    "m_iou_generated",
}
DETECTION_KEYS = {
    "detection_distance_px",
    "detection_distance_final_px",
    "detection_missing_rate",
    "tip_error_px",
    "displacement_error_px",
    "detection_distance_per_step_px",
}


def test_copy_first_frame_row_has_the_known_control_error(tmp_path, tiny_checkpoint, red_mask):
    data = write_square_dataset(tmp_path / "data", frames=6)
    result = evaluate(tiny_checkpoint, data, EvalConfig(frames=6, skip=OPTIONAL_METRICS))
    copy = result.rows["copy_first_frame"]
    # The real square moves t pixels from frame 0 by frame t; the copy stays: mean of 1..5 = 3 px.
    assert copy["m_centroid_distance_px"] == pytest.approx(3.0, abs=1e-4)
    assert copy["m_missing_rate"] == 0.0
    overlap = np.mean([(SQUARE_SIDE - t) / (SQUARE_SIDE + t) for t in range(1, 6)])
    assert copy["m_iou_generated"] == pytest.approx(overlap, abs=1e-6)
    assert result.meta["mask_net_real"] == pytest.approx({"iou": 1.0, "precision": 1.0, "recall": 1.0})
    assert copy["frames"] == 10 and copy["episodes"] == 2
    assert 0 < copy["ssim"] < 1 and copy["psnr"] > 5
    assert "detection" in result.unavailable  # no tip_px in the data: no detector chosen automatically
    assert not DETECTION_KEYS & set(copy)


def test_detection_and_ground_truth_figures(tmp_path, tiny_checkpoint, red_mask, red_detector):
    data = write_square_dataset(tmp_path / "data", frames=6, tips=True)
    result = evaluate(tiny_checkpoint, data, EvalConfig(frames=6, skip=OPTIONAL_METRICS))
    copy = result.rows["copy_first_frame"]
    # The detector finds the square in the real frames; the copy keeps it where it started.
    assert copy["detection_distance_per_step_px"] == pytest.approx([1, 2, 3, 4, 5], abs=1e-4)
    assert copy["detection_distance_px"] == pytest.approx(3.0, abs=1e-4)
    assert copy["detection_distance_final_px"] == pytest.approx(5.0, abs=1e-4)
    assert copy["tip_error_px"] == pytest.approx(3.0, abs=1e-4)  # the true tip moves with the square
    assert copy["displacement_error_px"] == pytest.approx(3.0, abs=1e-4)
    assert copy["detection_missing_rate"] == 0.0
    floor = result.meta["detector_floor_real"]
    assert floor["median_px"] == pytest.approx(0.0, abs=1e-4) and floor["missed_rate"] == 0.0
    model = result.rows["model"]
    assert set(model) >= DETECTION_KEYS
    assert 0.0 <= model["detection_missing_rate"] <= 1.0


def test_detector_none_is_reported(tmp_path, tiny_checkpoint, red_detector):
    data = write_square_dataset(tmp_path / "data", episodes=1, frames=3, tips=True)
    result = evaluate(tiny_checkpoint, data, EvalConfig(frames=3, skip=OPTIONAL_METRICS, detector="none"))
    assert result.unavailable["detection"] == "no detector (--detector none)"
    assert result.meta["detector_floor_real"]["median_px"] is None


def test_unavailable_metrics_are_null_with_a_reason(tmp_path, tiny_checkpoint):
    data = write_square_dataset(tmp_path / "data", episodes=1, arm_mask=False)
    result = evaluate(
        tiny_checkpoint, data, EvalConfig(frames=4, skip=("fid", "fvd", "lpips_vgg", "lpips_alex"))
    )
    out = result.to_json()
    for row in ("model", "copy_first_frame"):
        assert ROW_KEYS | {"frames", "episodes", "seconds"} <= set(out[row])
        for key in ("lpips_alex", "lpips_vgg", "fid", "kid", "fvd", "m_iou_generated"):
            assert out[row][key] is None
        assert isinstance(out[row]["psnr"], float) and isinstance(out[row]["ssim"], float)
    assert out["unavailable"]["fid"] == "skipped (--skip)"
    assert "arm_mask" in out["unavailable"]["mask_iou"]
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("mode", ["translation", "rotation"])
def test_rollout_starts_from_the_real_frame(tmp_path, tiny_generator, mode, red_mask):
    folder = write_square_dataset(tmp_path, episodes=1, frames=4) / "test" / "episode_00000"
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])
    r = rollout(tiny_generator, frames, mode)
    assert r.generated.shape == r.real.shape == (len(frames), 3, 32, 32)
    assert torch.equal(r.generated[0], r.real[0])
    assert r.generated.abs().max() <= 1.0
    assert r.controls.shape == (len(frames) - 1, 2 if mode == "translation" else 3)
    # The square moves 1 px right: dx = 2 / W normalized units per step.
    assert r.controls[:, 0].tolist() == pytest.approx([2 / 32] * (len(frames) - 1), abs=0.01)


def test_cli_writes_json_and_strip(tmp_path, tiny_checkpoint):
    data = write_square_dataset(tmp_path / "data", episodes=1, frames=4)
    out_json, out_dir = tmp_path / "scores.json", tmp_path / "strip"
    args = ["evaluate", str(tiny_checkpoint), str(data), "--json", str(out_json), "--out-dir", str(out_dir)]
    args += ["--frames", "4", *(arg for m in OPTIONAL_METRICS for arg in ("--skip", m))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "copy first frame" in result.output and "skipped" in result.output
    assert "None" not in result.output  # a skipped metric's row has no sample size: "KID", not "KID (None..."
    scores = json.loads(out_json.read_text())
    assert scores["model"]["frames"] == 3 and scores["copy_first_frame"]["episodes"] == 1
    png = Image.open(out_dir / "strip.png")
    assert png.width > 4 * 128 and png.height >= 2 * 128  # 4 frames per row, 2 rows, upscaled
    assert (out_dir / "real_vs_generated.mp4").stat().st_size > 1000


def test_cli_says_when_the_episodes_are_shorter_than_frames(tmp_path, tiny_checkpoint):
    data = write_square_dataset(tmp_path / "data", episodes=1, frames=4)
    args = ["evaluate", str(tiny_checkpoint), str(data), "--frames", "9"]
    result = CliRunner().invoke(app, [*args, *(arg for m in OPTIONAL_METRICS for arg in ("--skip", m))])
    assert result.exit_code == 0, result.output
    assert "Warning: --frames 9, but the shortest episode scored has 4 frames" in result.output


def test_cli_reports_a_missing_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["evaluate", "no-such-model", str(tmp_path)])
    assert result.exit_code == 1
    assert "no-such-model" in result.output and "lcvg train" in result.output


def test_checkpoint_by_name_from_lcvg_home(tmp_path, monkeypatch, tiny_checkpoint):
    home = tmp_path / "home"
    (home / "checkpoints").mkdir(parents=True)
    target = home / "checkpoints" / "pusher.safetensors"
    target.write_bytes(tiny_checkpoint.read_bytes())
    monkeypatch.setenv("LCVG_HOME", str(home))
    data = write_square_dataset(tmp_path / "data", episodes=1, frames=3)
    result = evaluate("pusher", data, EvalConfig(frames=3, skip=OPTIONAL_METRICS))
    assert result.meta["checkpoint"] == str(target)


def test_bad_config_is_reported():
    with pytest.raises(ValueError, match="Cannot skip"):
        EvalConfig(skip=("psnr",))
    with pytest.raises(ValueError, match="frames must be >= 2"):
        EvalConfig(frames=1)


@pytest.mark.slow
def test_all_metrics_with_weights(tmp_path, tiny_checkpoint):
    from lcvg_env.metrics.weights import availability

    missing = {k: v for k, v in availability().items() if v}
    if missing:
        pytest.skip(f'needs the metrics extra (pip install "lcvg-env[metrics]"): {missing}')
    data = write_square_dataset(tmp_path / "data", episodes=2, frames=9)
    result = evaluate(tiny_checkpoint, data, EvalConfig(frames=9))
    # random masks may be empty; the data has no tip_px, so no detector
    assert result.unavailable.keys() <= {
        "m_centroid_distance_px",
        "m_missing_rate",
        "detection",
        "ground_truth_tips",
    }
    for row in result.rows.values():
        for key in ("psnr", "ssim", "lpips_alex", "lpips_vgg", "fid", "kid", "fvd", "m_iou_generated"):
            assert isinstance(row[key], float) and np.isfinite(row[key]), key
    assert result.rows["model"]["fid"] > 0 and result.rows["copy_first_frame"]["fvd"] > 0
