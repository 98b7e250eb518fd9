"""benchmarks/label_axes.py: the tip's step per pixel of the translation label, axis by axis."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import load_script


def test_a_tip_that_moves_twice_the_mask_along_x_and_as_far_along_y(monkeypatch, one_torch_thread) -> None:
    bench = load_script("benchmarks/label_axes.py")
    rng = np.random.default_rng(0)
    moves = rng.integers(-2, 3, size=(7, 2))  # whole-pixel moves of the mask (dx, dy), so the fit is exact
    start = np.array([[20, 24]])
    corners = np.concatenate([start, start + np.cumsum(moves, axis=0)])  # (T, 2) (x, y)
    masks = torch.zeros(len(corners), 64, 64)
    for t, (x, y) in enumerate(corners):
        masks[t, y : y + 12, x : x + 16] = 1.0
    tips = torch.tensor(corners * [2.0, 1.0], dtype=torch.float64)  # the tip moves 2x along x, 1x along y
    tips[3] = float("nan")  # a frame without a known tip drops its two pairs
    episode = SimpleNamespace(num_frames=len(masks), frames=lambda size: np.zeros((len(masks), *size, 3)))
    model = SimpleNamespace(
        binary_masks=lambda frames: masks.bool(), config=SimpleNamespace(height=64, width=64)
    )
    monkeypatch.setattr(bench, "open_model", lambda name, device: model)
    monkeypatch.setattr(bench, "open_episodes", lambda data, split: [episode])
    monkeypatch.setattr(bench, "ground_truth", lambda ep, size, n, key: tips)
    label, step = bench.labels_and_steps("m", "d", "train", episodes=1)
    assert label.shape == (len(masks) - 3, 2)
    np.testing.assert_allclose(label, step / [2.0, 1.0], atol=0.05)
    factors = bench.axis_factors(label, step)
    assert factors["x"][0] == pytest.approx(2.0, abs=0.02) and factors["x"][1] == pytest.approx(0.5, abs=0.01)
    assert factors["y"][0] == pytest.approx(1.0, abs=0.02) and factors["y"][4] == pytest.approx(1.0, abs=1e-3)
