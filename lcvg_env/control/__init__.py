"""The control signal: the differentiable mask warp T(theta) and its parameterizations (Eq. 5)."""

from __future__ import annotations

from lcvg_env.control.fit import ControlFit, FitConfig, fit_controls, fit_loss
from lcvg_env.control.units import affine_normalized_to_pixels, affine_pixels_to_normalized
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
    "ControlFit",
    "ControlMode",
    "FitConfig",
    "affine_normalized_to_pixels",
    "affine_pixels_to_normalized",
    "check_mode",
    "control_matrix",
    "fit_controls",
    "fit_loss",
    "identity_params",
    "invert_affine",
    "mask_centroid",
    "normalized_to_pixels",
    "pixels_to_normalized",
    "pixels_to_normalized_points",
    "warp",
]
