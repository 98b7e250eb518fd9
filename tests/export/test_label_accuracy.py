"""Exported labels against the annotated tip motion (issue 15): label_accuracy and the CLI line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_env.export.labels import accuracy_line, export_labels, label_accuracy
from lcvg_env.export.store import load_episode


def write_videos(root: Path, tips: bool) -> None:
    """3 episodes of a square moving (1 + i, 1 + i % 2) px per frame, its corner as ``tip_px`` if ``tips``."""
    from lcvg_env.data import write_episode

    for i in range(3):
        frames = np.zeros((6, 32, 32, 3), dtype=np.uint8)
        corner = np.array([[4 + (1 + i) * t, 6 + (1 + i % 2) * t] for t in range(6)], dtype=np.float32)
        for t, (x, y) in enumerate(corner.astype(int)):
            frames[t, y : y + 8, x : x + 8] = (230, 30, 30)
        annotations = {"tip_px": corner} if tips else None
        write_episode(root / "train", f"{i:05d}", frames, annotations)


def test_label_accuracy_compares_each_label_with_its_episodes_tip_motion(tiny_checkpoint, tmp_path) -> None:
    write_videos(tmp_path / "videos", tips=True)
    out = tmp_path / "out"
    export_labels(tiny_checkpoint, tmp_path / "videos", out, output_format="npz", progress=False)
    acc = label_accuracy(out, tmp_path / "videos", "train")
    fitted = np.concatenate([load_episode(p)["actions"] for p in sorted((out / "episodes").glob("*.npz"))])
    true = np.concatenate([np.tile([1.0 + i, 1.0 + i % 2], (5, 1)) for i in range(3)])  # corner moves
    assert acc["pairs"] == 15
    assert acc["mae_x"] == pytest.approx(np.abs(fitted[:, 0] - true[:, 0]).mean(), rel=1e-5)
    assert acc["mae_y"] == pytest.approx(np.abs(fitted[:, 1] - true[:, 1]).mean(), rel=1e-5)
    for i, axis in enumerate("xy"):
        assert acc[f"r_{axis}"] == pytest.approx(np.corrcoef(fitted[:, i], true[:, i])[0, 1], rel=1e-5)
        assert acc[f"gain_{axis}"] == pytest.approx(np.polyfit(true[:, i], fitted[:, i], 1)[0], rel=1e-5)
    assert "MAE x" in accuracy_line(acc) and "Pearson r" in accuracy_line(acc)


def test_label_accuracy_is_none_without_tip_annotations_or_for_affine_labels(
    tiny_checkpoint, tmp_path
) -> None:
    write_videos(tmp_path / "plain", tips=False)
    export_labels(tiny_checkpoint, tmp_path / "plain", tmp_path / "a", output_format="npz", progress=False)
    assert label_accuracy(tmp_path / "a", tmp_path / "plain", "train") is None
    write_videos(tmp_path / "tips", tips=True)
    export_labels(
        tiny_checkpoint,
        tmp_path / "tips",
        tmp_path / "b",
        output_format="npz",
        control="affine",
        progress=False,
    )
    assert label_accuracy(tmp_path / "b", tmp_path / "tips", "train") is None


def test_cli_labels_prints_the_accuracy_when_the_data_has_tips(tiny_checkpoint, tmp_path) -> None:
    from lcvg_env.cli import app

    write_videos(tmp_path / "videos", tips=True)
    args = ["export", "labels", str(tiny_checkpoint), str(tmp_path / "videos")]
    args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--format", "npz", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "labels vs true tip displacement (tip_px[t+1] - tip_px[t], 15 pairs)" in result.output
