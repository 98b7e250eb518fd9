"""Control and mask metrics: where the foreground is, whether it is there, how well the mask fits.

* control error: the distance in pixels between the foreground centroid of a generated frame and
  that of the real frame (PVG's "detection distance", docs/method.md section 6), over the frames where both
  have a foreground;
* missing rate: the share of frames whose real frame has a foreground but the generated one has none;
* mask IoU: intersection over union of a binarized mask with a ground-truth mask, and its precision
  and recall (pooled over all pixels of all frames).

The centroid distance compares the model's own mask network M on both frames: it is the model
judging itself (M's centroid is not where the arm is), kept as ``m_centroid_distance_px``; the
independent figure is the detection distance of :mod:`lcvg_env.metrics.tips`.

Masks are bool (N, H, W); a mask with fewer than ``min_px`` pixels counts as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lcvg_env.control.warp import mask_centroid


@dataclass
class ControlScores:
    """Per-frame control measurements, aggregated by :meth:`summary`."""

    distance_px: torch.Tensor
    """(N,) centroid distance in pixels; NaN where either frame has no foreground."""
    missing: torch.Tensor
    """(N,) bool: the real frame has a foreground and the generated one does not."""
    real_present: torch.Tensor
    """(N,) bool: the real frame has a foreground."""

    def control_error_px(self) -> float | None:
        """Mean centroid distance over frames where both foregrounds exist (None if there are none)."""
        valid = ~torch.isnan(self.distance_px)
        return float(self.distance_px[valid].mean()) if valid.any() else None

    def missing_rate(self) -> float | None:
        """Share of frames with a real foreground whose generated foreground is missing."""
        n = int(self.real_present.sum())
        return float(self.missing.sum()) / n if n else None


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"Expected two bool masks (N, H, W) of one shape, got {tuple(a.shape)}, {tuple(b.shape)}."
        )


def present(masks: torch.Tensor, min_px: int = 1) -> torch.Tensor:
    """(N,) bool: the mask has at least ``min_px`` foreground pixels."""
    return masks.flatten(1).sum(dim=1) >= min_px


def control_scores(generated: torch.Tensor, real: torch.Tensor, min_px: int = 1) -> ControlScores:
    """Compare the foregrounds of generated and real masks, both bool (N, H, W)."""
    _check(generated, real)
    gen_ok, real_ok = present(generated, min_px), present(real, min_px)
    dist = (mask_centroid(generated.float()) - mask_centroid(real.float())).norm(dim=1)  # (N,)
    dist = torch.where(gen_ok & real_ok, dist, torch.full_like(dist, float("nan")))
    return ControlScores(distance_px=dist, missing=real_ok & ~gen_ok, real_present=real_ok)


def mask_iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(N,) IoU of bool masks; 1 where both are empty (nothing to find, nothing found)."""
    _check(pred, truth)
    inter = (pred & truth).flatten(1).sum(dim=1).float()
    union = (pred | truth).flatten(1).sum(dim=1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def overlap_counts(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float, float, float]:
    """Pixels of ``pred & truth``, ``pred | truth``, ``pred`` and ``truth`` (bool (N, H, W)), summed over
    all frames: the pooled scores (IoU, precision, recall) are ratios of these."""
    _check(pred, truth)
    return (float((pred & truth).sum()), float((pred | truth).sum()), float(pred.sum()), float(truth.sum()))


def mask_precision_recall(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float | None, float | None]:
    """Pixel precision |pred & truth| / |pred| and recall |pred & truth| / |truth|, pooled over all frames.

    None where the denominator is 0 (nothing predicted / nothing to find).
    """
    inter, _, n_pred, n_truth = overlap_counts(pred, truth)
    return (inter / n_pred if n_pred else None), (inter / n_truth if n_truth else None)
