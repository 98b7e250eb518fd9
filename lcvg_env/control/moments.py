"""Closed-form starting points for Eq. 5 from mask moments (the fast solver's first step).

For a mask m (foreground weights on pixel centres p), the mass sum(m), the centroid c and the central
second moments C = sum m (p - c)(p - c)^T / sum(m) determine a control up to what a second-order
description cannot see:

* translation: the centroid shift c1 - c0;
* rotation (about c0): the change of the principal axis, phi = alpha0 - alpha1 with
  alpha = 0.5 atan2(2 C_xy, C_xx - C_yy) in image coordinates (y down), wrapped to [-pi/2, pi/2)
  because an axis has no sign (the forward rotation of warp.py turns image angles by -phi);
* affine: a similarity s R(phi) with s = (det C1 / det C0)^(1/4) (since C1 = A C0 A^T).

Each is only a start (axes of round shapes are arbitrary; deforming masks fit no exact transform);
the solver keeps, per pair, the best of these candidates and the identity.
"""

from __future__ import annotations

import math

import torch


def pixel_grid(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Pixel centres (H*W, 2) as (x, y) with x = j + 0.5, y = i + 0.5, row-major."""
    ys = torch.arange(h, dtype=dtype, device=device) + 0.5
    xs = torch.arange(w, dtype=dtype, device=device) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def mask_moments(masks: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mass (N,), centroid (N, 2) in pixels and central second moments (N, 2, 2) of masks (N, H, W)."""
    n, h, w = masks.shape
    p = pixel_grid(h, w, masks.dtype, masks.device)  # (HW, 2)
    x, y = p[:, 0], p[:, 1]
    feats = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y], dim=1)  # (HW, 6)
    sums = masks.reshape(n, -1) @ feats  # raw moments (N, 6) in one matmul
    mass = sums[:, 0]
    mean = sums[:, 1:] / mass.clamp_min(eps)[:, None]
    cx, cy = mean[:, 0], mean[:, 1]
    cxx, cyy, cxy = mean[:, 2] - cx * cx, mean[:, 3] - cy * cy, mean[:, 4] - cx * cy
    cov = torch.stack([torch.stack([cxx, cxy], -1), torch.stack([cxy, cyy], -1)], -2)
    return mass, torch.stack([cx, cy], dim=1), cov


def orientation(cov: torch.Tensor) -> torch.Tensor:
    """Angle (N,) of the principal axis of second moments (N, 2, 2), in image coordinates."""
    return 0.5 * torch.atan2(2.0 * cov[:, 0, 1], cov[:, 0, 0] - cov[:, 1, 1])


def wrap_half_turn(angle: torch.Tensor) -> torch.Tensor:
    """Wrap angles to [-pi/2, pi/2): principal axes have no sign."""
    return torch.remainder(angle + math.pi / 2, math.pi) - math.pi / 2


def rotation_transpose(phi: torch.Tensor) -> torch.Tensor:
    """R(phi)^T (N, 2, 2) for the screen rotation R = [[cos, sin], [-sin, cos]] of warp.py."""
    c, s = torch.cos(phi), torch.sin(phi)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def initial_candidates(
    mode: str, c0: torch.Tensor, c1: torch.Tensor, cov0: torch.Tensor, cov1: torch.Tensor
) -> list[torch.Tensor]:
    """Starting points (each (N, D), the solver's internal parameters) from moments, plus the identity.

    Internal parameters: translation d; rotation (d, phi) about c0; affine the inverse map (B, b)
    with q = c0 + B (p - c0) + b (see :mod:`lcvg_env.control.fast_fit`).
    """
    n = c0.shape[0]
    shift = c1 - c0
    zeros = torch.zeros(n, 1, dtype=c0.dtype, device=c0.device)
    if mode == "translation":
        return [shift, torch.zeros_like(shift)]
    phi = wrap_half_turn(orientation(cov0) - orientation(cov1))
    if mode == "rotation":
        identity = torch.zeros(n, 3, dtype=c0.dtype, device=c0.device)
        return [torch.cat([shift, zeros], 1), torch.cat([shift, phi[:, None]], 1), identity]
    det0 = torch.linalg.det(cov0).clamp_min(1e-12)
    det1 = torch.linalg.det(cov1).clamp_min(1e-12)
    scale = (det1 / det0) ** 0.25
    one = torch.ones_like(scale)
    out = []
    for s, a in ((one, zeros[:, 0]), (scale, zeros[:, 0]), (scale, phi), (one, phi)):
        inv = rotation_transpose(a) / s[:, None, None]  # B = (s R)^-1 = R^T / s, (N, 2, 2)
        b = (inv @ (c0 - c1)[:, :, None])[:, :, 0]  # q = c0 + B (p - c1), so b = B (c0 - c1)
        out.append(torch.cat([inv, b[:, :, None]], dim=2).reshape(n, 6))
    eye = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=c0.dtype, device=c0.device)
    return [*out, eye.expand(n, 6).clone()]
