"""The evaluation protocol of docs/method.md section 6, on a dataset's test split.

For every test episode (its first ``frames`` frames, resized to the checkpoint's size):

1. the real masks m^t are the binarized outputs of the checkpoint's mask network M;
2. the controls theta^t are fitted between consecutive real masks (Eq. 5, ``fit_controls``); with
   several players (``EvalConfig.players``: two-player data's ``players_px`` count by default), one
   control per player, fitted between that player's own masks (``lcvg_env.model.fit_players``);
3. the model generates autoregressively from the first real frame:
   x_hat^{t+1} = G.step(x_hat^t, theta^t)   (x_hat^0 = x^0), each player moved by its own control as
   the env's ``players=K`` step moves it;
4. generated frames t = 1..T-1 are compared with the real ones.

What is measured, and against what:

* against the real frames: PSNR, SSIM, LPIPS (AlexNet, VGG), FID and KID (per frame), FVD (per clip,
  frame 0 included); the sample sizes are part of the result;
* against an independent detector (:mod:`lcvg_env.metrics.detector`, trained with supervision on real
  frames, not part of the model): the detection distance between the tip found in the generated frame
  and in the real one, per step and mean, and the share of frames where it is missing;
* against ground truth, where the data has it (the built-in pusher's ``tip_px`` and ``arm_mask``):
  the tip error and the displacement error (:mod:`lcvg_env.metrics.tips`), the detector's own error
  on the real frames (its floor), and the IoU, precision and recall of M on the real frames; for
  two-player data (Atari Tennis: ``players_px``, ``ours_mask``, ``opponent_mask``) the true foreground
  is the union of the players' masks and the players, located by colour, are scored against
  ``players_px`` (:mod:`lcvg_env.evaluation.players`);
* by the model's own mask network, labelled as such (``m_*``): the distance between the centroids of
  M(x_hat^t) and M(x^t), M's missing rate, and the IoU of M(x_hat^t) with the true foreground.

The copy-first-frame baseline (x_hat^t = x^0 for every t) is scored the same way, as a reference row.
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

from lcvg_env.evaluation.players import locator_floor, player_scores
from lcvg_env.metrics.masks import control_scores, mask_iou, mask_precision_recall
from lcvg_env.metrics.suite import MetricSuite, dedup_apply
from lcvg_env.metrics.tips import nan_mean, nan_quantile, point_distance, tip_scores
from lcvg_env.model import fit_and_replay, to_frames, to_model_range

ROWS = ("model", "copy_first_frame")
OPTIONAL_METRICS = ("lpips_alex", "lpips_vgg", "fid", "fvd")
"""Metrics that need pretrained weights and may be skipped (KID shares FID's Inception features)."""
DETECTOR_AUTO = "auto"
"""``EvalConfig.detector``: the pusher detector where the data has ``tip_px`` annotations, else none."""


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
    detector: str = DETECTOR_AUTO
    """Tip detector: ``auto``, ``none``, a detector name (``pusher``) or a ``.safetensors`` file."""
    min_foreground_px: int = 4
    """A binarized mask with fewer pixels counts as no foreground (M's missing rate / no centroid)."""
    kid_subsets: int = 100
    """Subsets KID averages over (Binkowski et al. 2018); each of min(1000, frames) frames."""
    device: str = "cpu"
    """Torch device for the model and the metric networks."""
    batch_size: int = 16
    """Frames per forward pass of the metric networks."""
    players: int | None = None
    """Foregrounds moved by their own controls (1: one control for the whole mask, the paper's protocol);
    None: the data's count of true players (``players_px``, two on Atari Tennis), else 1."""

    def __post_init__(self) -> None:
        self.skip = tuple(self.skip)
        if self.players is not None and not 1 <= self.players <= 4:
            raise ValueError(f"players must be 1 to 4 (or None: the data's count), got {self.players}.")
        unknown = sorted(set(self.skip) - set(OPTIONAL_METRICS))
        if unknown:
            raise ValueError(f"Cannot skip {unknown}: only {list(OPTIONAL_METRICS)} are optional.")
        if self.frames < 2:
            raise ValueError(
                f"frames must be >= 2 (one real start frame + generated ones), got {self.frames}."
            )
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1 or None, got {self.episodes}.")
        if self.min_foreground_px < 1 or self.batch_size < 1 or self.kid_subsets < 1:
            raise ValueError("min_foreground_px, batch_size and kid_subsets must be >= 1.")
        if not self.detector:
            raise ValueError("detector must be 'auto', 'none', a detector name or a file.")


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
    """(T-1, K * dims) fitted controls in normalized units, one per controlled foreground (K = 1 but for
    ``EvalConfig.players`` > 1)."""
    gt_masks: torch.Tensor | None
    """(T, H, W) bool ground-truth foreground (``arm_mask``), or None."""
    seconds: float
    """Wall-clock time of mask fitting and generation."""
    tips: torch.Tensor | None = None
    """(T, 2) true tip (x, y) pixels at the model's size (``tip_px``), or None."""
    players: torch.Tensor | None = None
    """(T, K, 2) true players (x, y) pixels at the model's size (``players_px``, Atari Tennis), or None."""
    controlled: int = 1
    """Foregrounds moved by their own controls in the replay."""


@dataclass
class EvalResult:
    """Scores per row, reasons for the missing ones, and the first episode for the visual strip."""

    rows: dict[str, dict[str, Any]]
    unavailable: dict[str, str]
    meta: dict[str, Any]
    strip: dict[str, np.ndarray] = field(default_factory=dict)
    """uint8 (T, H, W, 3) frames of the first episode: ``real``, ``model``, ``copy_first_frame``."""

    def to_json(self) -> dict[str, Any]:
        """One object per row, plus ``unavailable`` reasons and ``meta`` (checkpoint, data, settings)."""
        out: dict[str, Any] = {name: dict(row) for name, row in self.rows.items()}
        out["unavailable"] = dict(self.unavailable)
        out["meta"] = dict(self.meta)
        return out


def ground_truth(episode: Any, size: tuple[int, int], count: int, key: str) -> torch.Tensor | None:
    """The episode's annotation ``key`` (``foreground_mask``, ``arm_mask``, ``tip_px``, ``players_px``;
    first ``count`` frames) at the model's size, or None when the data does not have it."""
    from lcvg_env.data import rescale_annotations
    from lcvg_env.evaluation.masks import with_foreground

    ann = with_foreground(episode.annotations())
    if not ann or key not in ann:
        return None
    value = rescale_annotations({key: ann[key]}, episode.stored_size(), size)[key][:count]
    return torch.from_numpy(np.asarray(value, dtype=bool if key.endswith("_mask") else np.float32))


def rollout(generator: Any, frames: np.ndarray, mode: str, solver: str = "fast", players: int = 1) -> Rollout:
    """Steps 1-3 of the protocol on uint8 frames (T, H, W, 3) already at the model's size (the handle's
    :func:`~lcvg_env.model.fit_and_replay` from the first real frame, one control per player)."""
    run = fit_and_replay(generator, frames, mode, solver=solver, players=players)
    return Rollout(  # on the CPU: the metric networks move what they need to their device
        name="", real=to_model_range(frames), generated=run.generated, real_masks=run.masks,
        controls=run.fit.params_norm, gt_masks=None, seconds=run.seconds, controlled=players,
    )  # fmt: skip


def _rollouts(ckpt: Any, data_dir: str | os.PathLike, cfg: EvalConfig) -> list[Rollout]:
    from lcvg_env.data.validate import validate_split

    size = (ckpt.config.height, ckpt.config.width)
    # Every episode to be scored is decoded and checked before the first rollout: a broken one is left
    # out with a warning that names it (as training does), never found after an hour of scoring.
    report = validate_split(data_dir, cfg.split, limit=cfg.episodes, keep=lambda ep: ep.num_frames >= 2)
    episodes = report.episodes
    if not episodes:
        raise ValueError(f"{data_dir}: the {cfg.split!r} split has no episode with at least 2 frames.")
    players = cfg.players
    if players is None:  # the data's count of true players, else one foreground
        truth = ground_truth(episodes[0], size, 1, "players_px")
        players = 1 if truth is None else int(truth.shape[1])
    out = []
    for ep in episodes:
        frames = ep.frames(size=size)[: cfg.frames]
        r = rollout(ckpt.generator, frames, ckpt.control_mode, cfg.solver, players)
        r.name = ep.name
        r.gt_masks = ground_truth(ep, size, len(frames), "foreground_mask")  # the arm, or the players
        r.tips = ground_truth(ep, size, len(frames), "tip_px")
        r.players = ground_truth(ep, size, len(frames), "players_px")
        out.append(r)
    return out


def _stack_all(values: list[torch.Tensor | None]) -> torch.Tensor | None:
    """torch.stack of per-episode tensors, None unless every episode has one."""
    return None if any(v is None for v in values) else torch.stack(values)  # type: ignore[arg-type]


def _load_detector(name: str, has_tips: bool, reasons: dict[str, str]) -> Any:
    from lcvg_env.metrics.detector import load_detector, resolve_detector

    if name == "none":
        reasons["detection"] = "no detector (--detector none)"
        return None
    if name == DETECTOR_AUTO:
        if not has_tips:
            reasons["detection"] = (
                "the data has no ground-truth tip_px annotations, so no detector was chosen "
                "automatically; pass --detector pusher (or your own detector file) to use one anyway"
            )
            return None
        name = "pusher"
    detector = load_detector(name)
    detector.source = str(resolve_detector(name))  # where it came from, for the result's meta
    return detector


@dataclass
class _Reference:
    """The real side of every comparison, computed once for both rows."""

    clips: torch.Tensor  # (E, T, 3, H, W) real frames 0..T-1 of every episode (T: the shortest episode)
    masks: torch.Tensor  # (N, H, W) bool, binarized M(x^t) at t = 1..T-1, N = E * (T - 1)
    gt: torch.Tensor | None  # (N, H, W) bool true arm masks, None unless every episode has them
    tips: torch.Tensor | None  # (E, T, 2) true tips, None unless every episode has them
    detections: torch.Tensor | None  # (E, T, 2) detected tips of the real frames (NaN: not found)
    features: torch.Tensor | None  # (N, 2048) Inception features, None if FID is unavailable
    embeddings: torch.Tensor | None  # (E, 400) I3D embeddings of the real clips, None if FVD is unavailable
    players: torch.Tensor | None = None  # (E, T, K, 2) true players, None unless every episode has them

    @property
    def real(self) -> torch.Tensor:
        return self.clips[:, 1:].flatten(0, 1)  # (N, 3, H, W)

    def mask_net(self) -> dict[str, float | None]:
        """IoU (mean over frames), precision and recall (pooled) of binarized M on the real frames."""
        if self.gt is None:
            return {"iou": None, "precision": None, "recall": None}
        precision, recall = mask_precision_recall(self.masks, self.gt)
        return {"iou": nan_mean(mask_iou(self.masks, self.gt)), "precision": precision, "recall": recall}

    def detector_floor(self) -> dict[str, float | None]:
        """The detector's own error on the real frames, against the true tips: its floor."""
        if self.detections is None or self.tips is None:
            return {"median_px": None, "p90_px": None, "missed_rate": None}
        err = point_distance(self.detections.reshape(-1, 2), self.tips.reshape(-1, 2))
        return {
            "median_px": nan_quantile(err, 0.5),
            "p90_px": nan_quantile(err, 0.9),
            "missed_rate": float(torch.isnan(self.detections[..., 0]).double().mean()),
        }


def _detect(detector: Any, clips: torch.Tensor) -> torch.Tensor:
    """Detected tips (E, T, 2) of clips (E, T, 3, H, W), NaN where none is found."""
    found = dedup_apply(lambda x: detector.detect(x).xy, clips.flatten(0, 1))  # (E*T, 2)
    return found.reshape(*clips.shape[:2], 2)


def _reference(
    suite: MetricSuite, rollouts: list[Rollout], detector: Any, reasons: dict[str, str]
) -> _Reference:
    from lcvg_env.metrics.fvd import MIN_FRAMES

    t = min(len(r.real) for r in rollouts)  # every row is scored on the first t frames of each episode
    clips = torch.stack([r.real[:t] for r in rollouts])  # (E, T, 3, H, W)
    gts = _stack_all([None if r.gt_masks is None else r.gt_masks[1:t] for r in rollouts])
    if gts is None:
        reasons["mask_iou"] = (
            "no ground-truth foreground mask (arm_mask, or players' *_mask) in the annotations"
        )
    tips = _stack_all([None if r.tips is None else r.tips[:t] for r in rollouts])
    if tips is None:
        reasons.setdefault("ground_truth_tips", "no ground-truth tip_px in the dataset's annotations")
    n = len(rollouts) * (t - 1)
    if n < 2:
        reasons.setdefault("fid", f"needs at least 2 generated frames, got {n}")
    if len(rollouts) < 2:
        reasons.setdefault("fvd", f"needs at least 2 clips (episodes), got {len(rollouts)}")
    elif t < MIN_FRAMES:
        reasons.setdefault("fvd", f"clips of {t} frames; I3D needs at least {MIN_FRAMES} (raise --frames)")
    real = clips[:, 1:].flatten(0, 1)  # (N, 3, H, W)
    return _Reference(
        clips=clips,
        masks=torch.stack([r.real_masks[1:t] for r in rollouts]).flatten(0, 1),
        gt=None if gts is None else gts.flatten(0, 1),
        tips=tips,
        detections=None if detector is None else _detect(detector, clips),
        features=None if "fid" in reasons else suite.inception_features(real),
        embeddings=None if "fvd" in reasons else suite.i3d_features(clips),
        players=_stack_all([None if r.players is None else r.players[:t] for r in rollouts]),
    )


def _kid(real: torch.Tensor, fake: torch.Tensor, subsets: int) -> dict[str, float | int]:
    from lcvg_env.metrics.kid import KIDConfig, kid

    result = kid(real, fake, KIDConfig(num_subsets=subsets))
    return {"kid": result.mean, "kid_std": result.std, "kid_subset_size": result.subset_size}


def _score_row(
    suite: MetricSuite, clips: torch.Tensor, ref: _Reference, ckpt: Any, cfg: EvalConfig, det: Any
) -> dict:
    """Every metric of one row, given its frames (E, T, 3, H, W) with frame 0 the real start frame."""
    from lcvg_env.metrics.fid import fid
    from lcvg_env.metrics.fvd import fvd

    start = time.perf_counter()
    pred = clips[:, 1:].flatten(0, 1)  # (N, 3, H, W)
    row: dict[str, Any] = {
        k: nan_mean(v) if v is not None else None for k, v in suite.frame_scores(ref.real, pred).items()
    }
    feats = None if ref.features is None else suite.inception_features(pred)
    row["fid"] = None if feats is None else fid(ref.features, feats)
    row.update(
        {"kid": None, "kid_std": None, "kid_subset_size": None}
        if feats is None
        else _kid(ref.features, feats, cfg.kid_subsets)
    )
    emb = None if ref.embeddings is None else suite.i3d_features(clips)
    row["fvd"] = None if emb is None else fvd(ref.embeddings, emb)
    if ref.detections is not None:
        gen = _detect(det, clips)  # (E, T, 2)
        scores = tip_scores(gen[:, 1:], ref.detections[:, 1:], ref.detections[:, 0], ref.tips)
        row.update(scores.summary())
    masks = dedup_apply(ckpt.binary_masks, pred)  # (N, H, W) bool
    own = control_scores(masks, ref.masks, cfg.min_foreground_px)
    row["m_centroid_distance_px"] = own.control_error_px()
    row["m_missing_rate"] = own.missing_rate()
    row["m_iou_generated"] = None if ref.gt is None else nan_mean(mask_iou(masks, ref.gt))
    if ref.players is not None:  # two-player data: the players located by colour, against players_px
        row.update(player_scores(clips, ref.players))
    row.update(frames=len(pred), episodes=len(clips), fvd_clips=len(clips), fvd_clip_frames=clips.shape[1])
    row["seconds"] = time.perf_counter() - start
    return row


def _row_reasons(rows: dict[str, dict], reasons: dict[str, str]) -> dict[str, str]:
    """Reasons for every None in the rows (metric-level reasons first)."""
    for row in rows.values():
        if row["m_centroid_distance_px"] is None:
            reasons.setdefault(
                "m_centroid_distance_px", "no frame where both the real and the generated M-foreground exist"
            )
        if row["m_missing_rate"] is None:
            reasons.setdefault(
                "m_missing_rate", "no real frame has a foreground (the mask network finds nothing)"
            )
        if "detection" not in reasons and row.get("detection_distance_px") is None:
            reasons.setdefault("detection_distance_px", "no frame where the detector finds both tips")
    return reasons


def evaluate(
    checkpoint: str | os.PathLike, data_dir: str | os.PathLike, cfg: EvalConfig | None = None
) -> EvalResult:
    """Run the protocol (module docstring) and score the model and the copy-first-frame baseline.

    ``checkpoint`` is a loaded checkpoint, a file or a model name, opened by
    :func:`lcvg_env.model.open_model` (which prints the file it loaded).
    """
    from lcvg_env.model import open_model

    cfg = cfg or EvalConfig()
    start = time.perf_counter()
    ckpt = open_model(checkpoint, device=cfg.device)
    path = ckpt.path
    reasons: dict[str, str] = {}
    chosen = cfg.detector not in (DETECTOR_AUTO, "none")  # a named detector opens before the rollouts
    detector = _load_detector(cfg.detector, True, reasons) if chosen else None
    rollouts = _rollouts(ckpt, data_dir, cfg)
    if not chosen:  # auto: the pusher detector where the data has tip_px annotations
        detector = _load_detector(cfg.detector, all(r.tips is not None for r in rollouts), reasons)
    suite = MetricSuite.build(cfg.skip, cfg.device, cfg.batch_size)
    reasons.update(suite.reasons)
    ref = _reference(suite, rollouts, detector, reasons)
    if ref.players is not None and detector is None and cfg.detector == DETECTOR_AUTO:
        reasons["detection"] = (
            "no tip detector applies to two-player data (players_px); the players are located by colour "
            "instead (player rows)"
        )
    t = ref.clips.shape[1]
    row_clips = {  # frames per episode of each row in ROWS; copy-first-frame repeats the start frame
        "model": torch.stack([r.generated[:t] for r in rollouts]),
        "copy_first_frame": ref.clips[:, :1].expand_as(ref.clips),
    }
    rows = {name: _score_row(suite, clips, ref, ckpt, cfg, detector) for name, clips in row_clips.items()}
    rows["model"]["seconds"] += sum(r.seconds for r in rollouts)  # generation is part of the model's cost
    for row in rows.values():
        row["seconds"] = round(row["seconds"], 3)
    strip = {name: to_frames(clips[0]) for name, clips in row_clips.items()}
    strip["real"] = to_frames(ref.clips[0])
    meta = {
        "checkpoint": str(path),
        "data": str(data_dir),
        "split": cfg.split,
        "control_mode": ckpt.control_mode,
        "size": [ckpt.config.height, ckpt.config.width],
        "frames_per_episode": t,
        "mask_net_real": ref.mask_net(),
        "detector": None if detector is None else getattr(detector, "source", cfg.detector),
        "detector_floor_real": ref.detector_floor(),
        "player_locator_real": None if ref.players is None else locator_floor(ref.clips, ref.players),
        "solver": cfg.solver,
        "players_controlled": rollouts[0].controlled,
        "episode_names": [r.name for r in rollouts],
        "seconds_total": round(time.perf_counter() - start, 3),
    }
    return EvalResult(rows=rows, unavailable=_row_reasons(rows, reasons), meta=meta, strip=strip)
