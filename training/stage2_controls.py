"""Stage-2 masks: what cuts the layers while the generator is fine-tuned for control (M frozen).

docs/method.md section 3 allows two sources of the stage-2 mask m:

* ``binarized``: 1[M(x^{t+1}) > 0.5], the binarized mask of the *next* frame. This is what the
  paper's released code does, and the default here.
* ``warped``: the binarized mask of x^t moved by the control theta^t fitted between M(x^t) and
  M(x^{t+1}) (Eq. 5): exactly the kind of mask the environment builds from a user's control.

The fit is :func:`lcvg_env.control.fit.fit_controls` (``fit_solver``: "fast", closed-form start + a few
Levenberg-Marquardt steps, or "reference", the paper's Adam lr 0.1 x 1,000 iterations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    input_frame: torch.Tensor | None = None,
) -> torch.Tensor:
    """The stage-2 mask (B, 1, H, W) in {0, 1} for pairs (x^t, x^{t+1}); M is frozen (no gradient).

    ``input_frame`` is the frame the generator will be fed when it is not the real x^t (rollout
    training): the control is still fitted between the real masks, and then moves the input's own mask,
    as in the evaluation protocol.
    """
    next_mask = generator.binary_mask(target)
    if source == "binarized":
        return next_mask
    if source != "warped":
        raise ValueError(f"Unknown stage-2 mask source {source!r}: use 'binarized' or 'warped'.")
    mask_t = generator.binary_mask(frame)
    control = fit_controls_norm(mask_t, next_mask, mode, solver)
    if input_frame is not None:
        mask_t = generator.binary_mask(input_frame)
    return generator.warp_mask(mask_t, control, mode)


@torch.no_grad()
def rollout_inputs(
    generator: LayeredGenerator,
    history: torch.Tensor,
    history_len: torch.Tensor,
    frame: torch.Tensor,
    mode: str,
    solver: str = "fast",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated stand-ins for x^t: each pair's own rollout of k steps from its real frame x^{t-k}.

    history: (B, K, 3, H, W), the real frames t-K..t-1; history_len: (B,) how many are real. k is drawn
    uniformly in 0..history_len per pair (torch's RNG, so resumed runs draw the same); step j of the
    rollout is driven by the control fitted between the real masks of frames j and j+1 (Eq. 5). Returns
    the inputs (B, 3, H, W) (the real x^t where k = 0) and k (B,).
    """
    b, steps = history.shape[:2]
    k = (torch.rand(b) * (history_len.float() + 1)).floor().long().clamp(max=steps).to(frame.device)
    if steps == 0 or not bool((k > 0).any()):
        return frame, k
    seq = torch.cat([history.to(frame), frame[:, None]], dim=1)  # (B, K+1, 3, H, W), oldest first
    masks = generator.binary_mask(seq.flatten(0, 1)).unflatten(0, (b, steps + 1))  # (B, K+1, 1, H, W)
    controls = fit_controls_norm(
        masks[:, :-1].flatten(0, 1), masks[:, 1:].flatten(0, 1), mode, solver
    ).unflatten(0, (b, steps))  # (B, K, dims): real frame j -> j+1
    start = steps - k  # (B,): index of each pair's real starting frame
    current = seq[:, 0]
    for j in range(steps):
        here = (start == j).view(b, 1, 1, 1)
        current = torch.where(here, seq[:, j], current)
        active = (start <= j).view(b, 1, 1, 1)
        if bool(active.any()):
            stepped = generator.step(current, controls[:, j], mode).frame.clamp(-1, 1)
            current = torch.where(active, stepped.to(current.dtype), current)
    return torch.where((k > 0).view(b, 1, 1, 1), current, frame), k


@dataclass
class CommandedRender:
    """A stage-2 input rendered with its mask moved by a random command (``stage2_follow_commands``)."""

    input: torch.Tensor
    """x^t as fed (B, 3, H, W): the real frame or the pair's own rollout."""
    start_mask: torch.Tensor
    """1[M(x^t) > 0.5] (B, 1, H, W), where the foreground was."""
    moved: torch.Tensor
    """The mask moved by the command (B, 1, H, W), in {0, 1}: where the foreground must be drawn."""
    pred: torch.Tensor
    """The render x_hat (B, 3, H, W)."""
    vq_loss: torch.Tensor
    """Its L_VQ."""
    drawn: torch.Tensor
    """M(x_hat) (B, 1, H, W), soft: where the render put the foreground."""


@torch.no_grad()
def commanded_masks(
    generator: LayeredGenerator,
    frame: torch.Tensor,
    reach_px: float,
    pivot: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random env-like commands for frames (B, 3, H, W): their binarized masks and the masks moved by a
    command of whole pixels drawn uniformly in [-floor(R), floor(R)] per axis (torch's RNG; 0 included, the
    no-op): a translation, or with ``pivot`` (x, y) px a cantilever bend about it whose far end moves by the
    command (a mask with nothing to bend, :func:`~lcvg_env.control.pivot.bend_reach`, is translated
    instead). Returns (mask, moved), both (B, 1, H, W) in {0, 1}."""
    from lcvg_env.control.warp import pixels_to_normalized

    mask = generator.binary_mask(frame)
    b, _, h, w = mask.shape
    r = math.floor(reach_px)
    px = torch.randint(-r, r + 1, (b, 2)).float()  # (B, 2): (dx, dy) in pixels
    control = pixels_to_normalized(px, "translation", (h, w)).to(frame.device)
    moved = generator.warp_mask(mask, control, "translation")
    if pivot is None:
        return mask, moved
    from lcvg_env.control.pivot import bend_masks, bend_reach

    point = torch.tensor(pivot, dtype=torch.float32)
    reaches = [bend_reach(m[0].cpu(), point) for m in mask]
    bends = torch.tensor([r is not None for r in reaches])  # (B,): masks with a far end to bend
    reach = torch.tensor([r or 0.0 for r in reaches])  # (B,) px
    if bool(bends.any()):
        bent = bend_masks(mask[bends, 0].cpu(), px[bends], point, reach[bends])  # (K, H, W)
        moved[bends.to(moved.device)] = (bent > 0.5).float()[:, None].to(moved)
    return mask, moved
