from __future__ import annotations

import math

import pytest
import torch

from lcvg_env.control import (
    control_matrix,
    identity_params,
    invert_affine,
    mask_centroid,
    normalized_to_pixels,
    pixels_to_normalized,
    warp,
)


def _blob(h: int = 64, w: int = 64, box=(20, 30, 24, 36)) -> torch.Tensor:
    y0, y1, x0, x1 = box
    m = torch.zeros(1, 1, h, w)
    m[..., y0:y1, x0:x1] = 1.0
    return m


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_identity_control_leaves_mask_unchanged(mode):
    m = _blob()
    out = warp(m, identity_params(mode, 1), mode)
    torch.testing.assert_close(out, m, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (0, -5), (7, 4), (-2.5, 1.5)])
@pytest.mark.parametrize("size", [(64, 64), (96, 256)])
def test_translation_moves_centroid_by_that_many_pixels(dx, dy, size):
    h, w = size
    m = _blob(h, w)
    params = pixels_to_normalized(torch.tensor([[dx, dy]], dtype=torch.float32), "translation", size)
    moved = warp(m, params, "translation")
    shift = mask_centroid(moved) - mask_centroid(m)
    assert shift[0, 0].item() == pytest.approx(dx, abs=0.5)
    assert shift[0, 1].item() == pytest.approx(dy, abs=0.5)


def test_rotation_is_counter_clockwise_on_screen_about_the_pivot():
    # A bar to the right of the centre; a quarter turn counter-clockwise on screen (y down) puts it above.
    m = torch.zeros(1, 1, 64, 64)
    m[..., 31:33, 40:56] = 1.0
    out = warp(m, torch.tensor([[0.0, 0.0, math.pi / 2]]), "rotation")
    cx, cy = mask_centroid(out)[0].tolist()
    assert cx == pytest.approx(32.0, abs=1.0)
    assert cy < 24.0  # above the centre


def test_rotation_keeps_shapes_on_non_square_frames():
    # A rotation of a square region on a 96x256 frame must stay a square (aspect-correct), not a rhombus.
    m = torch.zeros(1, 1, 96, 256)
    m[..., 40:56, 120:136] = 1.0
    out = warp(m, torch.tensor([[0.0, 0.0, math.pi / 2]]), "rotation")
    assert out.sum().item() == pytest.approx(m.sum().item(), rel=0.05)


def test_pixels_normalized_round_trip():
    size = (96, 256)
    for mode, p in [
        ("translation", torch.tensor([[3.0, -4.0]])),
        ("rotation", torch.tensor([[3.0, -4.0, 0.3]])),
        ("affine", torch.tensor([[1.1, 0.1, 5.0, -0.1, 0.9, -7.0]])),
    ]:
        back = normalized_to_pixels(pixels_to_normalized(p, mode, size), mode, size)
        torch.testing.assert_close(back, p)
    n = pixels_to_normalized(torch.tensor([[128.0, 48.0]]), "translation", size)
    torch.testing.assert_close(n, torch.tensor([[1.0, 1.0]]))


def test_affine_accepts_matrices_and_inverse_is_exact():
    mat = torch.tensor([[[1.2, 0.1, 0.2], [-0.1, 0.8, -0.3]]])
    torch.testing.assert_close(control_matrix(mat, "affine", (64, 64)), mat)
    inv = invert_affine(mat)
    pts = torch.tensor([[0.3, -0.5, 1.0]]).t()  # homogeneous point (3, 1)
    fwd = mat[0] @ pts
    back = inv[0] @ torch.cat([fwd, torch.ones(1, 1)])
    torch.testing.assert_close(back, pts[:2])


def test_warp_is_differentiable_in_the_control():
    m = _blob()
    p = torch.zeros(1, 2, requires_grad=True)
    target = warp(m, torch.tensor([[0.1, 0.0]]), "translation")
    ((warp(m, p, "translation") - target) ** 2).mean().backward()
    assert p.grad is not None and p.grad[0, 0] < 0  # moving right reduces the loss


def test_bad_shapes_and_modes_raise():
    with pytest.raises(ValueError, match="translation"):
        warp(_blob(), torch.zeros(1, 3), "translation")
    with pytest.raises(ValueError, match="Unknown control mode"):
        warp(_blob(), torch.zeros(1, 2), "shear")


def test_centroid_of_empty_mask_is_nan():
    c = mask_centroid(torch.zeros(2, 8, 8))
    assert torch.isnan(c).all()
