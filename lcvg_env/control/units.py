"""Affine controls as maps of pixel positions, and back to the normalized units of the warp.

The warp (:mod:`lcvg_env.control.warp`) works in the normalized coordinates of ``affine_grid``
(frame = [-1, 1] on both axes). Translation and rotation controls convert to pixels by scaling the
shift (:func:`~lcvg_env.control.warp.normalized_to_pixels`, the environment's ``control_px``); for
affine controls that helper only scales the translation column. The functions here convert the
whole map instead: a forward map p -> A p + a of pixel positions is the normalized map conjugated
by p = S p_n + c, with S = diag(W/2, H/2) and c = (W/2, H/2): A_n = S^-1 A S, a_n = S^-1 (A c + a - c).
The fast solver of Eq. 5 works in pixels and uses them to hand its result to the warp.
"""

from __future__ import annotations

import torch


def _frame_map(size: tuple[int, int], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=like.dtype, device=like.device)
    return scale, scale.clone()  # S (as its diagonal) and the frame centre c = (W/2, H/2)


def affine_pixels_to_normalized(matrix_px: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Forward maps (B, 2, 3) on pixel positions -> the same maps in normalized coordinates."""
    scale, centre = _frame_map(size, matrix_px)
    a = matrix_px[:, :, :2]
    a_n = a * scale[None, None, :] / scale[None, :, None]  # S^-1 A S
    shift = (a @ centre[:, None])[:, :, 0] + matrix_px[:, :, 2] - centre  # (B, 2)
    return torch.cat([a_n, (shift / scale)[:, :, None]], dim=2)


def affine_normalized_to_pixels(matrix_n: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`affine_pixels_to_normalized`: normalized (B, 2, 3) -> pixel forward maps."""
    scale, centre = _frame_map(size, matrix_n)
    a_n = matrix_n[:, :, :2]
    a = a_n * scale[None, :, None] / scale[None, None, :]  # S A_n S^-1
    shift = matrix_n[:, :, 2] * scale - (a @ centre[:, None])[:, :, 0] + centre  # (B, 2)
    return torch.cat([a, shift[:, :, None]], dim=2)
