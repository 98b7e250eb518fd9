from __future__ import annotations

import pytest
import torch

from lcvg_env.metrics.masks import control_scores, mask_iou


def _square(x: int, y: int, side: int = 4, size: int = 16) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[y : y + side, x : x + side] = True
    return m


def test_centroid_distance_and_missing():
    real = torch.stack([_square(2, 2), _square(5, 2), _square(8, 8), torch.zeros(16, 16, dtype=torch.bool)])
    gen = torch.stack([_square(2, 2), _square(2, 6), torch.zeros(16, 16, dtype=torch.bool), _square(1, 1)])
    scores = control_scores(gen, real)
    assert scores.distance_px[:2].tolist() == pytest.approx([0.0, 5.0])  # (3, 4) pixels apart
    assert torch.isnan(scores.distance_px[2:]).all()
    assert scores.control_error_px() == pytest.approx(2.5)
    assert scores.missing.tolist() == [False, False, True, False]
    assert scores.missing_rate() == pytest.approx(1 / 3)  # the empty real frame does not count


def test_tiny_blobs_count_as_missing():
    real, gen = _square(4, 4)[None], _square(4, 4, side=1)[None]
    assert control_scores(gen, real, min_px=4).missing_rate() == 1.0
    assert control_scores(gen, real, min_px=1).missing_rate() == 0.0


def test_no_foreground_anywhere_gives_none():
    empty = torch.zeros(2, 16, 16, dtype=torch.bool)
    scores = control_scores(empty, empty)
    assert scores.control_error_px() is None and scores.missing_rate() is None


def test_iou():
    a, b = _square(0, 0), _square(2, 0)  # 4x4 squares overlapping on 2x4
    empty = torch.zeros(16, 16, dtype=torch.bool)
    assert mask_iou(torch.stack([a, a, empty]), torch.stack([a, b, empty])).tolist() == pytest.approx(
        [1, 8 / 24, 1]
    )


def test_mask_precision_recall_pooled_over_frames():
    from lcvg_env.metrics.masks import mask_precision_recall

    truth = torch.zeros(2, 4, 4, dtype=torch.bool)
    truth[:, :2, :2] = True  # 4 true pixels a frame
    pred = torch.zeros_like(truth)
    pred[0, :2, :] = True  # frame 0: 8 predicted, 4 right
    precision, recall = mask_precision_recall(pred, truth)
    assert precision == pytest.approx(4 / 8) and recall == pytest.approx(4 / 8)
    assert mask_precision_recall(torch.zeros_like(truth), truth) == (None, 0.0)
