"""Pivot controls: a similarity about a fixed point, fitted, steered and located from masks alone."""

from __future__ import annotations

import cmath

import numpy as np
import pytest
import torch

from lcvg_env.control.pivot import (
    PivotConfig,
    estimate_pivot,
    far_end,
    fit_similarity,
    similarity_params,
    similarity_px,
    steer,
)
from lcvg_env.control.warp import warp

SIZE = (64, 64)


def arm(angle: float, pivot=(32.0, 4.0), length: float = 40.0, width: float = 5.0) -> torch.Tensor:
    """A bar (H, W) in {0, 1} from near the pivot outwards at ``angle`` (radians, 0 = straight down)."""
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    d = torch.tensor([np.sin(angle), np.cos(angle)], dtype=torch.float32)
    rel_x, rel_y = xs - pivot[0], ys - pivot[1]
    along = rel_x * d[0] + rel_y * d[1]
    across = rel_x * d[1] - rel_y * d[0]
    return ((along > 8.0) & (along < length) & (across.abs() < width / 2)).float()


def test_similarity_keeps_the_pivot_and_scales_about_it():
    k = torch.tensor([1.1 * cmath.exp(0.2j)], dtype=torch.complex64)
    pivot = torch.tensor([20.0, 10.0])
    m = similarity_px(k, pivot)[0]
    moved_pivot = m[:, :2] @ pivot + m[:, 2]
    assert torch.allclose(moved_pivot, pivot, atol=1e-4)
    v = torch.tensor([10.0, 0.0])
    moved = m[:, :2] @ (pivot + v) + m[:, 2] - pivot
    expected = torch.tensor([np.cos(0.2), np.sin(0.2)], dtype=torch.float32) * 11.0
    assert torch.allclose(moved, expected, atol=1e-4)


def test_fit_recovers_a_known_turn():
    pivot = torch.tensor([32.0, 4.0])
    m0 = torch.stack([arm(0.0), arm(0.3)])
    m1 = torch.stack([arm(0.1), arm(0.25)])
    k = fit_similarity(m0, m1, pivot)
    turns = torch.angle(k)  # counter-clockwise in (x, y-down) pixel space: angle(k) = -delta(angle)
    assert turns[0].item() == pytest.approx(-0.1, abs=0.02)
    assert turns[1].item() == pytest.approx(0.05, abs=0.02)
    assert torch.allclose(k.abs(), torch.ones(2), atol=0.03)


def test_fit_of_identical_masks_is_the_identity():
    m = arm(0.2)[None]
    k = fit_similarity(m, m, torch.tensor([32.0, 4.0]))
    assert abs(complex(k[0]) - 1.0) < 0.01


def test_steer_moves_the_far_end_by_the_command():
    pivot = torch.tensor([32.0, 4.0])
    m = arm(0.0)
    before = far_end(m, pivot)
    k = steer(m, (3.0, -2.0), pivot)
    moved = warp(m[None, None], similarity_params(torch.tensor([k]), pivot, SIZE), "affine")[0, 0]
    after = far_end(moved, pivot)
    np.testing.assert_allclose((after - before).numpy(), [3.0, -2.0], atol=0.6)


def test_steer_declines_a_mask_at_the_pivot_or_empty():
    pivot = torch.tensor([32.0, 32.0])
    blob = torch.zeros(64, 64)
    blob[31:34, 31:34] = 1.0
    assert steer(blob, (1.0, 0.0), pivot) is None
    assert steer(torch.zeros(64, 64), (1.0, 0.0), pivot) is None


def test_estimate_pivot_finds_the_common_fixed_point():
    pivot = (30.0, 6.0)
    angles = np.linspace(-0.4, 0.4, 9)
    m0 = torch.stack([arm(a, pivot) for a in angles[:-1]])
    m1 = torch.stack([arm(a, pivot) for a in angles[1:]])
    est = estimate_pivot(m0, m1)
    assert np.linalg.norm(est.point_px - np.array(pivot)) < 3.0
    assert est.pairs == 8


def test_bad_shapes_and_configs_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        fit_similarity(torch.zeros(2, 8, 8), torch.zeros(3, 8, 8), torch.zeros(2))
    with pytest.raises(ValueError, match="far_quantile"):
        PivotConfig(far_quantile=1.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        estimate_pivot(torch.zeros(2, 16, 16), torch.zeros(2, 16, 16))


def test_bend_keeps_the_pivot_and_moves_the_far_end_by_the_command():
    from lcvg_env.control.pivot import bend_masks

    bar = torch.zeros(2, 32, 32)
    bar[:, 14:18, 4:28] = 1.0  # a horizontal arm from x = 4 to 28, rows 14-17
    pivot = torch.tensor([4.0, 16.0])  # its left end
    moves = torch.tensor([[0.0, 4.0], [0.0, 0.0]])  # far end 4 px down; no move
    bent = bend_masks(bar, moves, pivot, torch.tensor([24.0, 24.0])) > 0.5
    assert torch.equal(bent[1], bar[1] > 0.5)  # D = 0 is the identity
    rows = lambda col: torch.nonzero(bent[0, :, col])[:, 0]  # noqa: E731
    assert rows(5).tolist() == [14, 15, 16, 17]  # at the pivot: in place
    assert rows(27).tolist() == [18, 19, 20, 21]  # at the far end: 4 px down
    assert 1.0 <= float(rows(16).float().mean()) - 15.5 <= 3.0  # half way out: about half the move
