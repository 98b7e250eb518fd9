from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.demo import DemoConfig, run_demo, square_actions, tint


def test_square_controller_traces_a_closed_square():
    actions = square_actions(16, 2)
    assert actions.shape == (16, 2)
    np.testing.assert_allclose(actions.sum(axis=0), 0.0)  # back where it started
    assert (np.abs(actions).sum(axis=1) == 1.0).all()


def test_tint_marks_only_the_mask():
    frame = np.zeros((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    out = tint(frame, mask)
    assert out[1, 2, 1] > 100 and out[~mask].max() == 0


def test_demo_writes_video_and_strip(tmp_path, tiny_checkpoint):
    result = run_demo(DemoConfig(checkpoint=str(tiny_checkpoint), out_dir=tmp_path / "demo", steps=8))
    assert (tmp_path / "demo" / "demo.mp4").stat().st_size > 1000
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 100
    assert result["steps"] == 16 and result["square_steps_per_s"] > 0


def test_demo_without_a_model_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["demo", "--checkpoint", "no-such-model", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no-such-model" in result.output
