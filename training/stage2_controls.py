"""Stage-2 masks: what cuts the layers while the generator is fine-tuned for control (M frozen).

METHOD.md section 3 allows two sources of the stage-2 mask m:

* ``binarized``: 1[M(x^{t+1}) > 0.5], the binarized mask of the *next* frame. This is what the
  paper's released code does, and the default here.
* ``warped``: the binarized mask of x^t moved by the control theta^t fitted between M(x^t) and
  M(x^{t+1}) (Eq. 5): exactly the kind of mask the environment builds from a user's control.

The fit is :func:`lcvg_env.control.fit.fit_controls` (``fit_solver``: "fast", closed-form start + a few
Levenberg-Marquardt steps, or "reference", the paper's Adam lr 0.1 x 1,000 iterations).
"""

from __future__ import annotations

import torch

from lcvg_env.models.generator import LayeredGenerator


def fit_controls_norm(
    masks_t: torch.Tensor, masks_next: torch.Tensor, mode: str, solver: str
) -> torch.Tensor:
    """theta^t of Eq. 5 for binary mask pairs (B, 1, H, W), in normalized units (B, dims), via
    :func:`lcvg_env.control.fit.fit_controls`; rotations turn about the centroid of m^t, as in the env."""
    from lcvg_env.control.fit import fit_controls

    fit = fit_controls(masks_t[:, 0].float().cpu(), masks_next[:, 0].float().cpu(), mode, solver=solver)
    return fit.params_norm.to(masks_t.device)


@torch.no_grad()
def stage2_masks(
    generator: LayeredGenerator,
    frame: torch.Tensor,
    target: torch.Tensor,
    source: str,
    mode: str,
    solver: str = "fast",
) -> torch.Tensor:
    """The stage-2 mask (B, 1, H, W) in {0, 1} for pairs (x^t, x^{t+1}); M is frozen (no gradient)."""
    next_mask = generator.binary_mask(target)
    if source == "binarized":
        return next_mask
    if source != "warped":
        raise ValueError(f"Unknown stage-2 mask source {source!r}: use 'binarized' or 'warped'.")
    mask_t = generator.binary_mask(frame)
    control = fit_controls_norm(mask_t, next_mask, mode, solver)
    return generator.warp_mask(mask_t, control, mode)
