"""Where the foreground is, measured by an independent detector and by ground truth.

The paper's line of work (Playable Video Generation; docs/method.md section 6) scores control by the
*detection distance*: a detector trained with supervision on real frames locates the controlled
object in the generated frame and in the real one, and the distance between the two is reported,
with the share of frames where the generated object is not found (missing). The detector is not part
of the model, so the figure cannot be flattered by the model's own mask network.

With ground truth (the built-in pusher data stores the true tip ``tip_px``), two more figures are
anchored to it:

* tip error: distance between the detected tip in the generated frame and the true tip of the real
  frame, ||d(x_hat^t) - p^t||; its floor is the detector's own error on real frames, ||d(x^t) - p^t||;
* displacement error: how far the generated motion is from the true motion since the start frame,
  ||(d(x_hat^t) - d(x^0)) - (p^t - p^0)||, which cancels a constant detector bias.

Positions are (N, 2) float (x, y) pixels with NaN where nothing was found; every per-frame figure is
NaN where one of its inputs is, and aggregates ignore NaN (:func:`nan_mean`, :func:`nan_quantile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _check_points(*points: torch.Tensor) -> None:
    shape = points[0].shape
    for p in points:
        if p.ndim != 2 or p.shape[-1] != 2 or p.shape != shape:
            raise ValueError(
                f"Expected (N, 2) point arrays of one shape, got {[tuple(q.shape) for q in points]}."
            )


def point_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) Euclidean distances of (N, 2) points; NaN where either point is NaN (not found)."""
    _check_points(a, b)
    return (a.double() - b.double()).norm(dim=1).float()


def nan_mean(values: torch.Tensor) -> float | None:
    """Mean over the finite entries, None when there are none."""
    finite = values[torch.isfinite(values)]
    return float(finite.double().mean()) if finite.numel() else None


def nan_quantile(values: torch.Tensor, q: float) -> float | None:
    """Quantile ``q`` over the finite entries, None when there are none."""
    finite = values[torch.isfinite(values)]
    return float(torch.quantile(finite.double(), q)) if finite.numel() else None


@dataclass
class TipScores:
    """Per-frame detection and ground-truth figures of one row (model or baseline) of an evaluation.

    Every tensor is (E, T): E episodes, T generated steps (t = 1..T of each episode).
    """

    detection_distance_px: torch.Tensor
    """||d(x_hat^t) - d(x^t)||; NaN where either detection is missing."""
    missing: torch.Tensor
    """bool: the detector finds the tip in the real frame but not in the generated one."""
    real_found: torch.Tensor
    """bool: the detector finds the tip in the real frame."""
    tip_error_px: torch.Tensor | None = None
    """||d(x_hat^t) - p^t|| against the true tip p; None without ground truth."""
    displacement_error_px: torch.Tensor | None = None
    """||(d(x_hat^t) - d(x^0)) - (p^t - p^0)||; None without ground truth."""

    def summary(self) -> dict[str, float | list[float | None] | None]:
        """Means over all frames, the missing rate, and the detection distance per step (over episodes)."""
        n_real = int(self.real_found.sum())
        per_step = [nan_mean(self.detection_distance_px[:, t]) for t in range(self.missing.shape[1])]
        return {
            "detection_distance_px": nan_mean(self.detection_distance_px),
            "detection_distance_final_px": per_step[-1] if per_step else None,
            "detection_missing_rate": float(self.missing.sum()) / n_real if n_real else None,
            "tip_error_px": None if self.tip_error_px is None else nan_mean(self.tip_error_px),
            "displacement_error_px": (
                None if self.displacement_error_px is None else nan_mean(self.displacement_error_px)
            ),
            "detection_distance_per_step_px": per_step,
        }


def tip_scores(
    generated: torch.Tensor,
    real: torch.Tensor,
    start: torch.Tensor,
    truth: torch.Tensor | None = None,
) -> TipScores:
    """Score detected tips of generated frames against the real frames and, if given, the true tips.

    ``generated`` and ``real`` are the detections (E, T, 2) at steps 1..T, ``start`` the detection in
    each episode's real start frame x^0 (E, 2), ``truth`` the true tips (E, T + 1, 2) at steps 0..T.
    """
    e, t = generated.shape[:2]
    if generated.shape != (e, t, 2) or real.shape != generated.shape or start.shape != (e, 2):
        raise ValueError(
            f"Expected detections (E, T, 2) x2 and starts (E, 2), got {tuple(generated.shape)}, "
            f"{tuple(real.shape)}, {tuple(start.shape)}."
        )
    gen_flat, real_flat = generated.reshape(e * t, 2), real.reshape(e * t, 2)  # (E*T, 2)
    gen_found, real_found = ~torch.isnan(gen_flat).any(1), ~torch.isnan(real_flat).any(1)
    scores = TipScores(
        detection_distance_px=point_distance(gen_flat, real_flat).reshape(e, t),
        missing=(real_found & ~gen_found).reshape(e, t),
        real_found=real_found.reshape(e, t),
    )
    if truth is not None:
        if truth.shape != (e, t + 1, 2):
            raise ValueError(f"Expected true tips (E, T + 1, 2) = {(e, t + 1, 2)}, got {tuple(truth.shape)}.")
        scores.tip_error_px = point_distance(gen_flat, truth[:, 1:].reshape(e * t, 2)).reshape(e, t)
        moved_gen = generated - start[:, None]  # (E, T, 2) detected motion since x^0
        moved_true = truth[:, 1:] - truth[:, :1]  # (E, T, 2) true motion since x^0
        scores.displacement_error_px = point_distance(
            moved_gen.reshape(e * t, 2), moved_true.reshape(e * t, 2)
        ).reshape(e, t)
    return scores
