"""The evaluation protocol of METHOD.md section 6, on a dataset's test split.

For every test episode (its first ``frames`` frames, resized to the checkpoint's size):

1. the real masks m^t are the binarized outputs of the checkpoint's mask network M;
2. the controls theta^t are fitted between consecutive real masks (Eq. 5, ``fit_controls``);
3. the model generates autoregressively from the first real frame:
   x_hat^{t+1} = G.step(x_hat^t, theta^t)   (x_hat^0 = x^0);
4. generated frames t = 1..T-1 are compared with the real ones: PSNR, SSIM, LPIPS (AlexNet, VGG),
   FID (per frame) and FVD (per clip, frame 0 included), and for control, the distance between the
   foreground centroids of M(x_hat^t) and M(x^t) and the share of frames whose generated foreground
   is missing; where the data has a ground-truth ``arm_mask`` (the built-in pusher), the IoU of the
   binarized M(frame) with it.

The copy-last-frame baseline (x_hat^t = x^0 for every t) is scored the same way, as a reference row.
A metric that cannot be computed (weights not installed, too few frames or clips, no ground truth)
is None with a reason in :attr:`EvalResult.unavailable`, never a silent zero.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lcvg_env.metrics.image import to_uint8, to_unit_range
from lcvg_env.metrics.masks import control_scores, mask_iou
from lcvg_env.metrics.suite import MetricSuite, dedup_apply

ROWS = ("model", "copy_last_frame")
OPTIONAL_METRICS = ("lpips_alex", "lpips_vgg", "fid", "fvd")
"""Metrics that need pretrained weights and may be skipped."""


@dataclass
class EvalConfig:
    """Settings of one evaluation run."""

    frames: int = 16
    """Frames per episode (the first real one + frames - 1 generated), capped by the episode length."""
    episodes: int | None = None
    """Evaluate at most this many test episodes (None: all)."""
    split: str = "test"
    """Dataset split to evaluate on."""
    skip: tuple[str, ...] = ()
    """Optional metrics not to compute (any of ``OPTIONAL_METRICS``), reported as skipped."""
    solver: str = "fast"
    """Solver of Eq. 5 for the driving controls (``fast`` or ``reference``)."""
    min_foreground_px: int = 4
    """A binarized mask with fewer pixels counts as no foreground (missing / no centroid)."""
    device: str = "cpu"
    """Torch device for the model and the metric networks."""
    batch_size: int = 16
    """Frames per forward pass of the metric networks."""

    def __post_init__(self) -> None:
        self.skip = tuple(self.skip)
        unknown = sorted(set(self.skip) - set(OPTIONAL_METRICS))
        if unknown:
            raise ValueError(f"Cannot skip {unknown}: only {list(OPTIONAL_METRICS)} are optional.")
        if self.frames < 2:
            raise ValueError(
                f"frames must be >= 2 (one real start frame + generated ones), got {self.frames}."
            )
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1 or None, got {self.episodes}.")
        if self.min_foreground_px < 1 or self.batch_size < 1:
            raise ValueError("min_foreground_px and batch_size must be >= 1.")


@dataclass
class Rollout:
    """One episode: the real frames, the generated ones and what drove them."""

    name: str
    real: torch.Tensor
    """(T, 3, H, W) real frames in [-1, 1]."""
    generated: torch.Tensor
    """(T, 3, H, W) generated frames in [-1, 1]; frame 0 is the real start frame."""
    real_masks: torch.Tensor
    """(T, H, W) bool, binarized M(x^t)."""
    controls: torch.Tensor
    """(T-1, dims) fitted controls in normalized units."""
    gt_masks: torch.Tensor | None
    """(T, H, W) bool ground-truth foreground (``arm_mask``), or None."""
    seconds: float
    """Wall-clock time of mask fitting and generation."""


@dataclass
class EvalResult:
    """Scores per row, reasons for the missing ones, and the first episode for the visual strip."""

    rows: dict[str, dict[str, Any]]
    unavailable: dict[str, str]
    meta: dict[str, Any]
    strip: dict[str, np.ndarray] = field(default_factory=dict)
    """uint8 (T, H, W, 3) frames of the first episode: ``real``, ``model``, ``copy_last_frame``."""

    def to_json(self) -> dict[str, Any]:
        """One object per row, plus ``unavailable`` reasons and ``meta`` (checkpoint, data, settings)."""
        out: dict[str, Any] = {name: dict(row) for name, row in self.rows.items()}
        out["unavailable"] = dict(self.unavailable)
        out["meta"] = dict(self.meta)
        return out


def ground_truth_masks(episode: Any, size: tuple[int, int], count: int) -> torch.Tensor | None:
    """The episode's ``arm_mask`` (first ``count`` frames) at the model's size, or None."""
    from lcvg_env.data import rescale_annotations

    ann = episode.annotations()
    if not ann or "arm_mask" not in ann:
        return None
    masks = rescale_annotations({"arm_mask": ann["arm_mask"]}, episode.stored_size(), size)["arm_mask"]
    return torch.from_numpy(np.asarray(masks[:count], dtype=bool))


@torch.no_grad()
def rollout(generator: Any, frames: np.ndarray, mode: str, solver: str = "fast") -> Rollout:
    """Steps 1-3 of the protocol on uint8 frames (T, H, W, 3) already at the model's size."""
    from lcvg_env.control.fit import fit_controls

    start = time.perf_counter()
    device = next(generator.parameters()).device
    real = to_unit_range(frames).to(device)  # (T, 3, H, W)
    masks = generator.binary_mask(real)[:, 0] > 0.5  # (T, H, W)
    fit = fit_controls(masks[:-1].float().cpu(), masks[1:].float().cpu(), mode, solver=solver)
    controls = fit.params_norm.to(device)
    generated = [real[:1]]
    for t in range(len(real) - 1):
        generated.append(generator.step(generated[-1], controls[t : t + 1], mode).frame.clamp(-1, 1))
    return Rollout(  # on the CPU: the metric networks move what they need to their device
        name="", real=real.cpu(), generated=torch.cat(generated).cpu(), real_masks=masks.cpu(),
        controls=controls.cpu(), gt_masks=None, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _rollouts(ckpt: Any, data_dir: str | os.PathLike, cfg: EvalConfig) -> list[Rollout]:
    from lcvg_env.data import open_episodes

    size = (ckpt.config.height, ckpt.config.width)
    episodes = [ep for ep in open_episodes(data_dir, split=cfg.split) if ep.num_frames >= 2]
    if not episodes:
        raise ValueError(f"{data_dir}: the {cfg.split!r} split has no episode with at least 2 frames.")
    out = []
    for ep in episodes[: cfg.episodes]:
        frames = ep.frames(size=size)[: cfg.frames]
        r = rollout(ckpt.generator, frames, ckpt.control_mode, cfg.solver)
        r.name, r.gt_masks = ep.name, ground_truth_masks(ep, size, len(frames))
        out.append(r)
    return out


@dataclass
class _Reference:
    """The real side of every comparison, computed once for both rows."""

    real: torch.Tensor  # (N, 3, H, W) real frames 1..T-1 of every episode
    masks: torch.Tensor  # (N, H, W) bool, binarized M(x^t)
    gt: torch.Tensor | None  # (N, H, W) bool ground truth, None unless every episode has it
    clip_len: int  # frames per FVD clip (the shortest episode)
    features: torch.Tensor | None  # (N, 2048) Inception features, None if FID is unavailable
    embeddings: torch.Tensor | None  # (E, 400) I3D embeddings of the real clips, None if FVD is unavailable

    def mask_net_iou(self) -> float | None:
        """IoU of the binarized M(x^t) of the real frames with the ground truth (mask network quality)."""
        return None if self.gt is None else _mean(mask_iou(self.masks, self.gt))


def _reference(suite: MetricSuite, rollouts: list[Rollout], reasons: dict[str, str]) -> _Reference:
    from lcvg_env.metrics.fvd import MIN_FRAMES

    real = torch.cat([r.real[1:] for r in rollouts])
    gts = [r.gt_masks for r in rollouts]
    gt = torch.cat([g[1:] for g in gts]) if all(g is not None for g in gts) else None
    if gt is None:
        reasons["mask_iou"] = "no ground-truth arm_mask in the dataset's annotations"
    clip_len = min(len(r.real) for r in rollouts)
    if len(real) < 2:
        reasons.setdefault("fid", f"needs at least 2 generated frames, got {len(real)}")
    if len(rollouts) < 2:
        reasons.setdefault("fvd", f"needs at least 2 clips (episodes), got {len(rollouts)}")
    elif clip_len < MIN_FRAMES:
        reasons.setdefault(
            "fvd", f"clips of {clip_len} frames; I3D needs at least {MIN_FRAMES} (raise --frames)"
        )
    features = None if "fid" in reasons else suite.inception_features(real)
    clips = torch.stack([r.real[:clip_len] for r in rollouts])  # (E, T, 3, H, W)
    embeddings = None if "fvd" in reasons else suite.i3d_features(clips)
    masks = torch.cat([r.real_masks[1:] for r in rollouts])
    return _Reference(real, masks, gt, clip_len, features, embeddings)


def _mean(values: torch.Tensor | None) -> float | None:
    return None if values is None else float(values.double().mean())


def _score_row(
    suite: MetricSuite, clips: list[torch.Tensor], ref: _Reference, generator: Any, min_px: int
) -> dict:
    """Every metric of one row, given its frames per episode (T, 3, H, W) with frame 0 the real one."""
    from lcvg_env.metrics.fid import fid
    from lcvg_env.metrics.fvd import fvd

    start = time.perf_counter()
    pred = torch.cat([c[1:] for c in clips])  # (N, 3, H, W)
    row: dict[str, Any] = {k: _mean(v) for k, v in suite.frame_scores(ref.real, pred).items()}
    feats = None if ref.features is None else suite.inception_features(pred)
    row["fid"] = None if feats is None else fid(ref.features, feats)
    emb = (
        None
        if ref.embeddings is None
        else suite.i3d_features(torch.stack([c[: ref.clip_len] for c in clips]))
    )
    row["fvd"] = None if emb is None else fvd(ref.embeddings, emb)
    device = next(generator.parameters()).device
    masks = dedup_apply(lambda x: generator.binary_mask(x.to(device))[:, 0].cpu() > 0.5, pred)
    control = control_scores(masks, ref.masks, min_px)
    row["control_error_px"] = control.control_error_px()
    row["missing_rate"] = control.missing_rate()
    row["mask_iou"] = None if ref.gt is None else _mean(mask_iou(masks, ref.gt))
    row.update(frames=len(pred), episodes=len(clips), seconds=time.perf_counter() - start)
    return row


def _row_reasons(rows: dict[str, dict], reasons: dict[str, str]) -> dict[str, str]:
    """Reasons for every None in the rows (metric-level reasons first)."""
    for row in rows.values():
        if row["control_error_px"] is None:
            reasons.setdefault(
                "control_error_px", "no frame where both the real and the generated foreground exist"
            )
        if row["missing_rate"] is None:
            reasons.setdefault(
                "missing_rate", "no real frame has a foreground (the mask network finds nothing)"
            )
    return reasons


def evaluate(
    checkpoint: str | os.PathLike, data_dir: str | os.PathLike, cfg: EvalConfig | None = None
) -> EvalResult:
    """Run the protocol (module docstring) and score the model and the copy-last-frame baseline.

    ``checkpoint`` is a file or a model name (``pusher``: ``$LCVG_HOME/checkpoints/pusher.safetensors``
    or the packaged model), resolved like the environment does.
    """
    from lcvg_env.checkpoint import load_checkpoint
    from lcvg_env.env.resolve import resolve_checkpoint

    cfg = cfg or EvalConfig()
    start = time.perf_counter()
    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path, device=cfg.device)
    rollouts = _rollouts(ckpt, data_dir, cfg)
    suite = MetricSuite.build(cfg.skip, cfg.device, cfg.batch_size)
    reasons = dict(suite.reasons)
    ref = _reference(suite, rollouts, reasons)
    row_clips = {  # frames per episode of each row in ROWS; copy-last-frame repeats the start frame
        "model": [r.generated for r in rollouts],
        "copy_last_frame": [r.real[:1].expand_as(r.real) for r in rollouts],
    }
    rows = {
        name: _score_row(suite, clips, ref, ckpt.generator, cfg.min_foreground_px)
        for name, clips in row_clips.items()
    }
    rows["model"]["seconds"] += sum(r.seconds for r in rollouts)  # generation is part of the model's cost
    for row in rows.values():
        row["seconds"] = round(row["seconds"], 3)
    strip = {name: to_uint8(clips[0]) for name, clips in row_clips.items()}
    strip["real"] = to_uint8(rollouts[0].real)
    meta = {
        "checkpoint": str(path),
        "data": str(data_dir),
        "split": cfg.split,
        "control_mode": ckpt.control_mode,
        "size": [ckpt.config.height, ckpt.config.width],
        "frames_per_episode": cfg.frames,
        "fvd_clip_frames": ref.clip_len,
        "mask_iou_real": ref.mask_net_iou(),
        "solver": cfg.solver,
        "episode_names": [r.name for r in rollouts],
        "seconds_total": round(time.perf_counter() - start, 3),
    }
    return EvalResult(rows=rows, unavailable=_row_reasons(rows, reasons), meta=meta, strip=strip)
