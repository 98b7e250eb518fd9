"""Detection distance, tip error and displacement error (lcvg_env.metrics.tips)."""

from __future__ import annotations

import math

import pytest
import torch

from lcvg_env.metrics.tips import nan_mean, nan_quantile, point_distance, tip_scores

NAN = float("nan")


def test_point_distance_is_nan_where_a_point_is_missing():
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0], [NAN, NAN]])
    b = torch.tensor([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]])
    d = point_distance(a, b)
    assert d[:2].tolist() == [5.0, 0.0] and math.isnan(d[2])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        point_distance(a, b[:2])


def test_nan_aggregates_ignore_missing_and_say_none_when_empty():
    v = torch.tensor([1.0, NAN, 3.0])
    assert nan_mean(v) == 2.0 and nan_quantile(v, 0.5) == 2.0
    assert nan_mean(torch.tensor([NAN])) is None and nan_quantile(torch.tensor([]), 0.9) is None


def test_tip_scores_on_known_tracks():
    # One episode, 3 steps. The true tip moves 2 px right a step; the real frames' detections have a
    # constant +1 px y bias; the generated tip moves 1 px right a step (half the gain) and vanishes at
    # step 3.
    truth = torch.tensor([[[10.0, 10.0], [12.0, 10.0], [14.0, 10.0], [16.0, 10.0]]])  # (1, 4, 2)
    real = truth[:, 1:] + torch.tensor([0.0, 1.0])
    start = truth[:, 0] + torch.tensor([0.0, 1.0])
    gen = torch.tensor([[[11.0, 11.0], [12.0, 11.0], [NAN, NAN]]])
    s = tip_scores(gen, real, start, truth)
    assert s.detection_distance_px[0, :2].tolist() == pytest.approx([1.0, 2.0])
    assert math.isnan(float(s.detection_distance_px[0, 2]))
    assert s.missing[0].tolist() == [False, False, True]
    # tip error includes the detector's y bias; the displacement error cancels it
    assert s.tip_error_px[0, :2].tolist() == pytest.approx([math.hypot(1, 1), math.hypot(2, 1)])
    assert s.displacement_error_px[0, :2].tolist() == pytest.approx([1.0, 2.0])
    summary = s.summary()
    assert summary["detection_distance_px"] == pytest.approx(1.5)
    assert summary["detection_missing_rate"] == pytest.approx(1 / 3)
    assert summary["detection_distance_final_px"] is None  # nothing found at the last step
    assert summary["detection_distance_per_step_px"][:2] == pytest.approx([1.0, 2.0])


def test_tip_scores_without_ground_truth_and_bad_shapes():
    gen = torch.zeros(2, 3, 2)
    s = tip_scores(gen, gen + 1, torch.zeros(2, 2))
    assert s.tip_error_px is None and s.summary()["tip_error_px"] is None
    assert s.summary()["detection_distance_px"] == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="true tips"):
        tip_scores(gen, gen, torch.zeros(2, 2), torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="Expected detections"):
        tip_scores(gen, gen[:1], torch.zeros(2, 2))
