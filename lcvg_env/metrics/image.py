"""Per-frame fidelity metrics: PSNR and SSIM (Wang et al., 2004), plain torch, no weights.

Frames are float (B, 3, H, W) in [-1, 1] (the model's range) unless ``data_range`` says otherwise.
SSIM uses the standard settings: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
"valid" filtering (no padding), computed per channel and averaged over channels and positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SSIMConfig:
    """SSIM constants (defaults: Wang et al., 2004)."""

    window: int = 11
    """Side of the Gaussian window in pixels (odd)."""
    sigma: float = 1.5
    """Standard deviation of the Gaussian window in pixels."""
    k1: float = 0.01
    """C1 = (k1 * L)^2 stabilizes the luminance term."""
    k2: float = 0.03
    """C2 = (k2 * L)^2 stabilizes the contrast-structure term."""

    def __post_init__(self) -> None:
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"SSIM window must be a positive odd size, got {self.window}.")
        if self.sigma <= 0 or self.k1 <= 0 or self.k2 <= 0:
            raise ValueError(
                f"SSIM sigma, k1 and k2 must be positive, got {self.sigma}, {self.k1}, {self.k2}."
            )


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"Expected two (B, C, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}."
        )


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image (B,) in dB: 10 log10(L^2 / MSE).

    The MSE is floored at 1e-10 L^2 so that identical images give a finite 100 dB, not inf (a static
    copy-last-frame baseline would otherwise average to inf).
    """
    _check_pair(x, y)
    mse = (x.double() - y.double()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10 * data_range**2)
    return (10.0 * torch.log10(data_range**2 / mse)).float()


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalized 1D Gaussian of ``size`` taps, (size,)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable depthwise Gaussian filtering, valid borders: (B, C, H, W) -> (B, C, H-k+1, W-k+1)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, cfg: SSIMConfig | None = None
) -> torch.Tensor:
    """Mean structural similarity per image (B,), in [-1, 1] (1 for identical images)."""
    cfg = cfg or SSIMConfig()
    _check_pair(x, y)
    if min(x.shape[-2:]) < cfg.window:
        raise ValueError(
            f"SSIM needs frames of at least {cfg.window}x{cfg.window}, got {tuple(x.shape[-2:])}."
        )
    x, y = x.double(), y.double()
    g = gaussian_window(cfg.window, cfg.sigma).to(x.device)
    c1, c2 = (cfg.k1 * data_range) ** 2, (cfg.k2 * data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    var_x = _filter(x * x, g) - mu_x**2
    var_y = _filter(y * y, g) - mu_y**2
    cov = _filter(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2, 3)).float()
