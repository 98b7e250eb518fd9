"""Breakout episodes from ale-py: layout, ground truth from RAM matching the screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")

from typer.testing import CliRunner

from lcvg_env.data import VideoDataset, open_episodes
from lcvg_env.data.breakout import OBJECT_COLOUR
from lcvg_env.data.cli import app


@pytest.fixture(scope="module")
def breakout_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("breakout")
    result = CliRunner().invoke(app, ["breakout", str(root), "--episodes", "2", "--frames", "40"])
    assert result.exit_code == 0, result.output
    return root


def test_breakout_frames_and_annotations(breakout_root: Path) -> None:
    episodes = open_episodes(breakout_root)
    assert len(episodes) == 2
    for ep in episodes:
        frames, ann = ep.frames(), ep.annotations()
        assert ann is not None and frames.shape[1:] == (210, 160, 3)
        t_len = len(frames)
        assert ann["paddle_px"].shape == (t_len, 2) and ann["ball_px"].shape == (t_len, 2)
        assert ann["actions"].shape == (t_len - 1,) and ann["ram"].shape == (t_len, 128)
        assert frames.reshape(t_len, -1).max(axis=1).min() > 50


def test_paddle_and_ball_positions_match_screen(breakout_root: Path) -> None:
    ep = open_episodes(breakout_root)[0]
    frames, ann = ep.frames(), ep.annotations()
    assert ann is not None
    seen = np.isfinite(ann["ball_px"][:, 0])
    assert seen.sum() >= 5, "the ball should be in play in part of the episode"
    for t in range(len(frames)):
        x, y = np.floor(ann["paddle_px"][t]).astype(int)
        assert (frames[t, y - 2 : y + 3, max(x - 4, 0) : x + 5] == OBJECT_COLOUR).all(-1).any(), (
            f"paddle t={t}"
        )
        if seen[t]:
            x, y = np.floor(ann["ball_px"][t]).astype(int)
            assert (frames[t, y - 3 : y + 4, x - 2 : x + 3] == OBJECT_COLOUR).all(-1).any(), f"ball t={t}"


def test_breakout_dataset_pairs(breakout_root: Path) -> None:
    ds = VideoDataset(breakout_root, size=(64, 64), frame_skip=1)
    item = ds[0]
    assert item["frame"].shape == (3, 64, 64) and float(item["frame"].min()) >= -1.0
