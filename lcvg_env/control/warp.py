"""The differentiable mask warp T(theta) of docs/method.md section 5 (Eq. 5).

Conventions (used everywhere in lcvg-env):

* Frames and masks are (B, C, H, W). Pixel coordinates have x to the right and y down; pixel (i, j)
  has its centre at x = j + 0.5, y = i + 0.5.
* Normalized coordinates are those of ``torch.nn.functional.affine_grid`` with
  ``align_corners=False``: x_n = 2 x / W - 1, y_n = 2 y / H - 1, so the frame spans [-1, 1] on both
  axes and a displacement of d pixels along x is 2 d / W normalized units.
* A control is a *forward* map: a foreground point p moves to A p + t. Translation moves the mask
  by (tx, ty); rotation turns it by phi radians counter-clockwise *as seen on screen* (y down)
  about a pivot (default: the frame centre), then translates; affine takes the 2x3 matrix [A | t]
  directly (in normalized coordinates). Sampling uses the inverse map, bilinear, zero padding.

Parameterizations (the "three variants" of the paper):

====================  =====  ===================================================
mode                  dims   parameters (normalized units unless said)
====================  =====  ===================================================
``translation``       2      (tx, ty)
``rotation``          3      (tx, ty, phi) with phi in radians
``affine``            6      the 2x3 matrix [A | t], row-major
====================  =====  ===================================================
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

ControlMode = Literal["translation", "rotation", "affine"]
CONTROL_DIMS: dict[str, int] = {"translation": 2, "rotation": 3, "affine": 6}


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known parameterization, else raise a helpful ValueError."""
    if mode not in CONTROL_DIMS:
        raise ValueError(f"Unknown control mode {mode!r}; choose one of {sorted(CONTROL_DIMS)}.")
    return mode


def identity_params(mode: str, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
    """The identity control for ``mode``: zeros, or the identity matrix for affine. Shape (B, dims)."""
    params = torch.zeros(batch, CONTROL_DIMS[check_mode(mode)], device=device)
    if mode == "affine":
        params[:, 0] = 1.0
        params[:, 4] = 1.0
    return params


def _as_params(params: torch.Tensor, mode: str) -> torch.Tensor:
    dims = CONTROL_DIMS[check_mode(mode)]
    if mode == "affine" and params.shape[-2:] == (2, 3):
        params = params.reshape(*params.shape[:-2], 6)
    if params.ndim != 2 or params.shape[-1] != dims:
        raise ValueError(
            f"A {mode!r} control needs shape (B, {dims})"
            + (" or (B, 2, 3)" if mode == "affine" else "")
            + f", got {tuple(params.shape)}."
        )
    return params


def control_matrix(
    params: torch.Tensor,
    mode: str,
    size: tuple[int, int],
    pivot: torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward 2x3 matrices (B, 2, 3) in normalized coordinates for controls ``params`` (B, dims).

    ``size`` is (H, W). Rotations are built in pixel-aspect space, so a rotation of a non-square
    frame stays a rotation on screen. ``pivot`` (B, 2), normalized, is the centre of rotation
    (default (0, 0): the frame centre); it only matters for ``rotation``.
    """
    params = _as_params(params, mode)
    if mode == "affine":
        return params.reshape(-1, 2, 3)
    b = params.shape[0]
    eye = torch.eye(2, dtype=params.dtype, device=params.device).expand(b, 2, 2)
    shift = params[:, :2]
    if mode == "translation":
        return torch.cat([eye, shift[:, :, None]], dim=2)
    h, w = size
    phi = params[:, 2]
    cos, sin = torch.cos(phi), torch.sin(phi)
    # Screen rotation (y down): counter-clockwise on screen is x' = c x + s y, y' = -s x + c y.
    rot_px = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (B, 2, 2)
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=params.dtype, device=params.device)
    # normalized -> pixel-aspect: p_px = S p_n with S = diag(W/2, H/2); A_n = S^-1 A_px S
    rot_n = rot_px * scale[None, None, :] / scale[None, :, None]
    if pivot is None:
        pivot = torch.zeros(b, 2, dtype=params.dtype, device=params.device)
    # rotate about the pivot c: p' = R (p - c) + c + t
    offset = pivot - (rot_n @ pivot[:, :, None])[:, :, 0] + shift
    return torch.cat([rot_n, offset[:, :, None]], dim=2)


def invert_affine(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of forward maps (B, 2, 3): [A | t]^-1 = [A^-1 | -A^-1 t]."""
    a_inv = torch.linalg.inv(matrix[:, :, :2])
    return torch.cat([a_inv, -(a_inv @ matrix[:, :, 2:])], dim=2)


def warp(
    image: torch.Tensor,
    params: torch.Tensor,
    mode: str,
    pivot: torch.Tensor | None = None,
    mode_interp: str = "bilinear",
) -> torch.Tensor:
    """Apply T(theta) to ``image`` (B, C, H, W): move its content by the forward controls ``params``.

    Differentiable in both ``image`` and ``params``. Outside the source frame the result is 0.
    """
    h, w = image.shape[-2:]
    matrix = control_matrix(params.to(image.dtype), mode, (h, w), pivot)
    grid = F.affine_grid(
        invert_affine(matrix.float()).to(image.dtype), list(image.shape), align_corners=False
    )
    return F.grid_sample(image, grid, mode=mode_interp, padding_mode="zeros", align_corners=False)


def pixels_to_normalized(params: torch.Tensor, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """Convert translation/rotation controls from pixels (dx, dy[, phi]) to normalized units.

    Angles stay in radians. For ``affine`` only the translation column is converted (the linear
    part is unit-free once the aspect is accounted for, and is taken as given).
    """
    return _scale_shift(params, mode, size, to_pixels=False)


def normalized_to_pixels(params: torch.Tensor, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`pixels_to_normalized`."""
    return _scale_shift(params, mode, size, to_pixels=True)


def _scale_shift(params: torch.Tensor, mode: str, size: tuple[int, int], to_pixels: bool) -> torch.Tensor:
    params = _as_params(torch.as_tensor(params, dtype=torch.float32), mode).clone()
    h, w = size
    fx, fy = (w / 2.0, h / 2.0) if to_pixels else (2.0 / w, 2.0 / h)
    ix, iy = (2, 5) if mode == "affine" else (0, 1)
    params[:, ix] = params[:, ix] * fx
    params[:, iy] = params[:, iy] * fy
    return params


def mask_centroid(mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Centroid (B, 2) in pixels (x, y) of masks (B, 1, H, W) or (B, H, W); NaN for an empty mask."""
    if mask.ndim == 4:
        mask = mask[:, 0]
    h, w = mask.shape[-2:]
    ys = torch.arange(h, dtype=mask.dtype, device=mask.device) + 0.5
    xs = torch.arange(w, dtype=mask.dtype, device=mask.device) + 0.5
    total = mask.sum(dim=(1, 2))
    cx = (mask.sum(dim=1) * xs).sum(dim=1) / total.clamp_min(eps)
    cy = (mask.sum(dim=2) * ys).sum(dim=1) / total.clamp_min(eps)
    out = torch.stack([cx, cy], dim=1)
    return torch.where((total > eps)[:, None], out, torch.full_like(out, math.nan))


def pixels_to_normalized_points(points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pixel positions (..., 2) (x, y) -> normalized coordinates (..., 2)."""
    h, w = size
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=points.dtype, device=points.device)
    return points * scale - 1.0
