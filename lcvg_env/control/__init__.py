"""The control signal: the differentiable mask warp T(theta) and its parameterizations (Eq. 5)."""

from __future__ import annotations

from lcvg_env.control.warp import (
    CONTROL_DIMS,
    ControlMode,
    check_mode,
    control_matrix,
    identity_params,
    invert_affine,
    mask_centroid,
    normalized_to_pixels,
    pixels_to_normalized,
    pixels_to_normalized_points,
    warp,
)

__all__ = [
    "CONTROL_DIMS",
    "ControlMode",
    "check_mode",
    "control_matrix",
    "identity_params",
    "invert_affine",
    "mask_centroid",
    "normalized_to_pixels",
    "pixels_to_normalized",
    "pixels_to_normalized_points",
    "warp",
]
