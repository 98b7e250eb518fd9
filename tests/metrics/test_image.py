from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lcvg_env.metrics.image import SSIMConfig, gaussian_window, psnr, ssim
from lcvg_env.model import to_model_range


def test_psnr_of_a_constant_offset():
    x = torch.zeros(2, 3, 16, 16)
    y = x + torch.tensor([0.1, 0.2]).view(2, 1, 1, 1)
    expected = [10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.04)]
    assert psnr(x, y).tolist() == pytest.approx(expected, rel=1e-5)


def test_psnr_of_identical_images_is_finite():
    x = torch.rand(1, 3, 8, 8)
    assert psnr(x, x).item() == pytest.approx(100.0)


def _ssim_numpy(x: np.ndarray, y: np.ndarray, data_range: float = 2.0) -> float:
    """Direct SSIM with an explicit 2D Gaussian window and loops (independent of the torch version)."""
    g1 = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g1, g1) / np.outer(g1, g1).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                a, b = x[c, i : i + 11, j : j + 11], y[c, i : i + 11, j : j + 11]
                ma, mb = (win * a).sum(), (win * b).sum()
                va, vb = (win * a * a).sum() - ma**2, (win * b * b).sum() - mb**2
                cov = (win * a * b).sum() - ma * mb
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_a_direct_computation():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 18) * 2 - 1
    y = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    assert ssim(x, y).item() == pytest.approx(
        _ssim_numpy(x[0].double().numpy(), y[0].double().numpy()), abs=1e-5
    )


def test_ssim_is_one_for_identical_and_drops_with_noise():
    torch.manual_seed(1)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    noisy = [ssim(x, (x + s * torch.randn_like(x)).clamp(-1, 1)).mean().item() for s in (0.05, 0.2, 0.5)]
    assert ssim(x, x).tolist() == pytest.approx([1.0] * 3)
    assert noisy[0] > noisy[1] > noisy[2]


def test_gaussian_window_is_normalized_and_symmetric():
    g = gaussian_window(11, 1.5)
    assert g.sum().item() == pytest.approx(1.0)
    assert torch.allclose(g, g.flip(0))


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="odd"):
        SSIMConfig(window=10)


def test_uint8_frames_map_to_unit_range():
    frames = np.array([[[[0, 255, 127]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    out = to_model_range(frames)
    assert out.shape == (1, 3, 1, 1)
    assert out.flatten().tolist() == pytest.approx([-1.0, 1.0, 127 / 127.5 - 1])
