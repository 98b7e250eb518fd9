"""The error budget of a world model (issue 16): which part of the way from a real frame to a generated
one loses how much, measured against real frames, an independent tip detector and ground truth.

On the first ``frames`` frames x^0..x^T of every test episode (at the model's size), the generator's
own rendering path, ``LayeredGenerator.generate(frame, mask)`` (docs/method.md section 3:
D(q(E(frame * m)) + q(E(frame * (1 - m))))), predicts each x^{t+1}, t = 0..T-1, from less and less::

    1 autoencode       generate(x^{t+1}, M(x^{t+1}))          the reconstruction ceiling (appearance)
    2 true_next_mask   generate(x^t, M(x^{t+1}))              stage 2's "binarized" input
    3 fitted_control   G.step(x^t, theta^t): generate(x^t, T(theta^t) M(x^t))   one env step
    4 rollout          x_hat^{t+1} = G.step(x_hat^t, theta^t), x_hat^0 = x^0   (lcvg_env.evaluation.rollout)

and two diagnostic rows beside level 4, rollouts steered towards the real video at every step::

    4'  rollout_true_masks x_hat^{t+1} = G.render(x_hat^t, M(x_hat^t), M(x^{t+1})), x_hat^0 = x^0
    4'' rollout_tracking   x_hat^{t+1} = G.step(x_hat^t, phi^t), phi^t: Eq. 5 from M(x_hat^t) to M(x^{t+1})

M is the binarized mask network, theta^t the control fitted between M(x^t) and M(x^{t+1}) (Eq. 5,
``fit_controls``; the same controls drive levels 3 and 4). Reference rows: ``copy_current_frame``
(x^t predicts x^{t+1}) and ``copy_first_frame`` (x^0 predicts every x^t). Differences between levels
attribute the error: 1 appearance, 2 - 1 predicting from the previous frame's layers, 3 - 2 the control
representation (a warped silhouette instead of the true next one), 4 - 3 drift (compounding).
``rollout_true_masks`` splits that drift: each step is sent the real next frame's mask (as level 2) but
starts from the model's own previous frame (as level 4), through the same correction and composite as
a step (``LayeredGenerator.render``). Its distance from level 2 is the generator's own compounding with
exact control; level 4's distance from it is what the labels (a moved silhouette, 16 times over) add.
``rollout_tracking`` keeps the control family of level 4 but fits each control from the model's own
frame to the real next one (Eq. 5 between M(x_hat^t) and M(x^{t+1})): what an agent that closes the
loop on the frames can make the model do with the env's own actions, against the open-loop labels of
level 4, which are fitted once on the real video and replayed.

Every row, over all predicted frames: LPIPS (AlexNet), PSNR, SSIM; with the tip detector d
(:mod:`lcvg_env.metrics.detector`): the detection distance ||d(x_hat^{t+1}) - d(x^{t+1})|| (mean, 90th
percentile, per step), the missing rate, the tip error against the true tip p^{t+1}, and the step
gain: the detected motion from the step's input frame along the true motion, over its length,
((d(x_hat^{t+1}) - d(input^t)) . dp) / |dp|^2 with dp = p^{t+1} - p^t (median over steps where the true
tip moves at least ``min_motion_px``; 1 = the step moves the arm as far as the real arm moved).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

LEVELS = ("autoencode", "true_next_mask", "fitted_control", "rollout")
DIAGNOSTICS = {"rollout_true_masks": "4'", "rollout_tracking": "4''"}
"""Rows beside level 4 (not in the attribution chain), with their labels in the table."""
REFERENCES = ("copy_current_frame", "copy_first_frame")
ROWS = LEVELS + tuple(DIAGNOSTICS) + REFERENCES
LABELS = {**{name: str(i + 1) for i, name in enumerate(LEVELS)}, **DIAGNOSTICS}
"""Each level's and diagnostic row's label in the table (the references have none)."""
AUTOREGRESSIVE = ("rollout", *DIAGNOSTICS, "copy_first_frame")
"""Rows whose step t starts from their own previous prediction (the others start from the real x^t)."""
REPORT_STEPS = (1, 4, 8, 16)
ATTRIBUTION = (
    ("appearance (1)", None, "autoencode"),
    ("previous frame's layers (2 - 1)", "autoencode", "true_next_mask"),
    ("control representation (3 - 2)", "true_next_mask", "fitted_control"),
    ("drift (4 - 3)", "fitted_control", "rollout"),
)
"""(label, lower level, level): the error each level adds to the one before it."""
DRIFT_SPLIT = (
    ("compounding with exact masks (4' - 2)", "true_next_mask", "rollout_true_masks"),
    ("the labels over the rollout (4 - 4')", "rollout_true_masks", "rollout"),
)
"""(label, lower row, row): level 4's error split at ``rollout_true_masks`` (4')."""


@dataclass
class BudgetConfig:
    """Settings of one error-budget measurement."""

    frames: int = 17
    """Frames per episode: x^0 and the T = frames - 1 frames predicted at every level."""
    episodes: int | None = None
    """Measure at most this many episodes of the split (None: all)."""
    split: str = "test"
    solver: str = "fast"
    """Solver of Eq. 5 for the fitted controls (``fast`` or ``reference``)."""
    detector: str = "pusher"
    """Tip detector: a packaged name or a detector ``.safetensors`` file."""
    min_motion_px: float = 1.0
    """Steps whose true tip moves less than this are left out of the step gain (its ratio is noise)."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(
                f"frames must be >= 2 (x^0 and at least one predicted frame), got {self.frames}."
            )
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1 or None, got {self.episodes}.")
        if self.min_motion_px <= 0:
            raise ValueError(f"min_motion_px must be > 0, got {self.min_motion_px}.")


@dataclass
class EpisodeLevels:
    """One episode: the real frames, each row's predictions of x^1..x^T and the masks behind them."""

    name: str
    real: torch.Tensor  # (T + 1, 3, H, W) in [-1, 1]
    preds: dict[str, torch.Tensor]  # row -> (T, 3, H, W) predictions of x^1..x^T
    masks: torch.Tensor  # (T + 1, H, W) bool, binarized M(x^t)
    warped: torch.Tensor  # (T, H, W) bool, M(x^t) moved by theta^t
    shift_px: torch.Tensor  # (T, 2) the translation part of theta^t in pixels
    tips: torch.Tensor | None = None  # (T + 1, 2) true tips, or None
    arm: torch.Tensor | None = None  # (T + 1, H, W) bool true arm masks, or None


@torch.no_grad()
def predict_levels(generator: Any, frames: np.ndarray, mode: str, solver: str = "fast") -> EpisodeLevels:
    """Every row's predictions for uint8 frames (T + 1, H, W, 3) at the model's size."""
    from lcvg_env.control.warp import normalized_to_pixels
    from lcvg_env.evaluation.video import rollout

    run = rollout(generator, frames, mode, solver)  # M(x^t), theta^t (Eq. 5) and level 4
    device = next(generator.parameters()).device
    real = run.real.to(device)  # (T + 1, 3, H, W)
    masks = run.real_masks[:, None].float().to(device)  # (T + 1, 1, H, W)
    controls = run.controls.to(device)  # (T, dims) normalized

    def render(frame: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return generator.generate(frame, mask).frame.clamp(-1, 1).cpu()

    preds = {
        "autoencode": render(real[1:], masks[1:]),
        "true_next_mask": render(real[:-1], masks[1:]),
        "fitted_control": generator.step(real[:-1], controls, mode).frame.clamp(-1, 1).cpu(),
        "rollout": run.generated[1:],
        "rollout_true_masks": replay_masks(generator, real[:1], masks[1:]),
        "rollout_tracking": track(generator, real[:1], masks[1:], mode, solver),
        "copy_current_frame": run.real[:-1],
        "copy_first_frame": run.real[:1].expand_as(run.real[1:]),
    }
    px = normalized_to_pixels(run.controls, mode, tuple(real.shape[-2:]))
    return EpisodeLevels(
        name="",
        real=run.real,
        preds=preds,
        masks=run.real_masks,
        warped=generator.warp_mask(masks[:-1], controls, mode)[:, 0].cpu() > 0.5,
        shift_px=px[:, [2, 5]] if mode == "affine" else px[:, :2],  # affine params_px: [A | t] row-major
    )


def replay_masks(generator: Any, first: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The rollout sent the given masks (T, 1, H, W) in {0, 1} from ``first`` (1, 3, H, W): x_hat^{t+1} =
    ``render(x_hat^t, M(x_hat^t), masks[t])``, with the step's correction, composite and sub-pixel
    remainder (``LayeredGenerator.render``); returns x_hat^1..x_hat^T (T, 3, H, W) on the CPU."""
    frame, out = first, []
    residual = torch.zeros(1, 2, device=first.device) if generator.cfg.subpixel else None
    for mask in masks:
        step = generator.render(frame, generator.binary_mask(frame), mask[None], residual=residual)
        frame, residual = step.frame.clamp(-1, 1), step.residual
        out.append(frame)
    return torch.cat(out).cpu()


def track(generator: Any, first: torch.Tensor, masks: torch.Tensor, mode: str, solver: str) -> torch.Tensor:
    """The rollout that steers towards the given masks (T, 1, H, W) in {0, 1} from ``first`` (1, 3, H, W):
    x_hat^{t+1} = ``step(x_hat^t, phi^t)`` with phi^t fitted (Eq. 5) between M(x_hat^t) and ``masks[t]``;
    returns x_hat^1..x_hat^T (T, 3, H, W) on the CPU."""
    from lcvg_env.control.fit import fit_controls

    frame, out, residual = first, [], None  # step starts the sub-pixel remainder itself
    for mask in masks:
        current = generator.binary_mask(frame)
        phi = fit_controls(current[:, 0].cpu(), mask.float().cpu(), mode, solver=solver).params_norm
        step = generator.step(frame, phi.to(frame.device), mode, current=current, residual=residual)
        frame, residual = step.frame.clamp(-1, 1), step.residual
        out.append(frame)
    return torch.cat(out).cpu()


def _quantiles(values: torch.Tensor, prefix: str = "") -> dict[str, float | None]:
    from lcvg_env.metrics.tips import nan_quantile

    return {
        f"{prefix}{k}": nan_quantile(values, q) for k, q in (("median", 0.5), ("p90", 0.9), ("p99", 0.99))
    }


def step_gain(moved: torch.Tensor, truth: torch.Tensor, min_px: float) -> float | None:
    """Median of (moved . dp) / |dp|^2 over (N, 2) detected and true motions dp where |dp| >= min_px."""
    from lcvg_env.metrics.tips import nan_quantile

    norm2 = truth.pow(2).sum(-1)
    ratio = (moved * truth).sum(-1) / norm2.clamp_min(1e-12)
    return nan_quantile(ratio[norm2 >= min_px**2], 0.5)


def score_row(
    name: str, preds: torch.Tensor, real: torch.Tensor, det_real: torch.Tensor, det_pred: torch.Tensor,
    tips: torch.Tensor | None, suite: Any, cfg: BudgetConfig,
) -> dict[str, Any]:  # fmt: skip
    """Figures of one row: predictions and real frames (E, T + 1 or T, 3, H, W), detections (E, ., 2)."""
    from lcvg_env.metrics.tips import nan_mean, nan_quantile, tip_scores

    e, t = preds.shape[:2]
    frame = suite.frame_scores(real[:, 1:].flatten(0, 1), preds.flatten(0, 1))  # (E*T,) each
    row: dict[str, Any] = {
        k: None if frame[k] is None else nan_mean(frame[k]) for k in ("lpips_alex", "psnr", "ssim")
    }
    scores = tip_scores(det_pred, det_real[:, 1:], det_real[:, 0], tips)
    summary = scores.summary()
    dd = scores.detection_distance_px  # (E, T)
    row.update(
        detection_distance_px=nan_mean(dd),
        detection_distance_p90_px=nan_quantile(dd, 0.9),
        detection_distance_per_step_px=summary["detection_distance_per_step_px"],
        detection_missing_rate=summary["detection_missing_rate"],
        tip_error_px=summary["tip_error_px"],
        step_gain=None,
    )
    if tips is not None:
        before = (
            torch.cat([det_real[:, :1], det_pred[:, :-1]], 1) if name in AUTOREGRESSIVE else det_real[:, :-1]
        )
        moved, true = det_pred - before, tips[:, 1:] - tips[:, :-1]  # (E, T, 2) each
        row["step_gain"] = step_gain(moved.reshape(-1, 2), true.reshape(-1, 2), cfg.min_motion_px)
    row.update(frames=e * t, episodes=e)
    return row


def mask_figures(eps: list[EpisodeLevels]) -> dict[str, Any]:
    """M against the true arm on the real frames, and the warped silhouette against the true next one."""
    from lcvg_env.metrics.masks import mask_iou, mask_precision_recall
    from lcvg_env.metrics.tips import nan_mean

    masks, warped = torch.cat([e.masks for e in eps]), torch.cat([e.warped for e in eps])  # (N, H, W)
    nxt = torch.cat([e.masks[1:] for e in eps])  # (N', H, W) M(x^{t+1}), aligned with warped
    out: dict[str, Any] = {"warped_vs_next_m_iou": nan_mean(mask_iou(warped, nxt))}
    if all(e.arm is not None for e in eps):
        arm = torch.cat([e.arm for e in eps])  # type: ignore[misc]
        precision, recall = mask_precision_recall(masks, arm)
        out.update(
            m_real_iou=nan_mean(mask_iou(masks, arm)), m_real_precision=precision, m_real_recall=recall
        )
        arm_next = torch.cat([e.arm[1:] for e in eps])  # type: ignore[index]
        out["warped_vs_true_next_arm_iou"] = nan_mean(mask_iou(warped, arm_next))
        out["next_m_vs_true_next_arm_iou"] = nan_mean(mask_iou(nxt, arm_next))
    return out


def motion_figures(eps: list[EpisodeLevels], max_displacement: float, min_px: float) -> dict[str, Any]:
    """Per-step true tip motion on the measured frames vs the fitted controls and the env's action range."""
    shift = torch.cat([e.shift_px for e in eps])  # (N, 2) theta^t's translation, px
    out: dict[str, Any] = {
        "env_max_displacement_px": max_displacement,
        **_quantiles(shift.norm(dim=1), "fitted_"),
    }
    if all(e.tips is not None for e in eps):
        dp = torch.cat([e.tips[1:] - e.tips[:-1] for e in eps])  # type: ignore[index]  # (N, 2)
        out.update(_quantiles(dp.norm(dim=1), "true_tip_"))
        out.update(_quantiles((shift - dp).norm(dim=1), "fitted_vs_true_tip_error_"))
        out["fitted_gain_along_true_tip"] = step_gain(shift, dp, min_px)  # the labels' own "gain"
    return out


def tip_motion_stats(data_dir: str | Path, split: str, size: tuple[int, int], max_disp: float) -> dict:
    """Per-step true tip displacement |p^{t+1} - p^t| (px at ``size``) over every frame of the split."""
    from lcvg_env.data import open_episodes
    from lcvg_env.evaluation.video import ground_truth

    steps = []
    for ep in open_episodes(data_dir, split=split):
        tips = ground_truth(ep, size, ep.num_frames, "tip_px")
        if tips is None:
            raise ValueError(f"{ep.name} of {data_dir} ({split}) has no tip_px annotations: use pusher data.")
        steps.append(tips[1:] - tips[:-1])  # (T - 1, 2)
    if not steps:
        raise ValueError(f"{data_dir} has no {split!r} episodes: pass --split with an existing split.")
    dp = torch.cat(steps)
    out = {"data": str(data_dir), "split": split, "episodes": len(steps), "steps": len(dp)}
    out.update(_quantiles(dp.norm(dim=1), "norm_"))
    out.update(_quantiles(dp.abs().amax(dim=1), "max_axis_"))
    out.update(norm_max=float(dp.norm(dim=1).max()), env_max_displacement_px=max_disp)
    out["share_norm_above_half_max_displacement"] = float((dp.norm(dim=1) > max_disp / 2).double().mean())
    return out


@dataclass
class BudgetResult:
    """Figures per row (:data:`ROWS`), of the masks and of the motion, with the settings in ``meta``."""

    rows: dict[str, dict[str, Any]]
    masks: dict[str, Any]
    motion: dict[str, Any]
    meta: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)

    def attribution(self, key: str, steps: tuple = ATTRIBUTION) -> list[tuple[str, float | None]]:
        """The error each level adds to the one before it, in ``key`` (e.g. ``lpips_alex``); ``steps``:
        :data:`ATTRIBUTION` or :data:`DRIFT_SPLIT`."""
        out = []
        for label, lower, level in steps:
            hi, lo = self.rows[level].get(key), 0.0 if lower is None else self.rows[lower].get(key)
            out.append((label, None if hi is None or lo is None else hi - lo))
        return out

    def to_json(self) -> dict[str, Any]:
        keys = ("lpips_alex", "detection_distance_px")
        attr = {k: dict(self.attribution(k)) for k in keys}
        split = {k: dict(self.attribution(k, DRIFT_SPLIT)) for k in keys}
        return {"rows": self.rows, "masks": self.masks, "motion": self.motion, "attribution": attr,
                "drift_split": split, "unavailable": self.unavailable, "meta": self.meta}  # fmt: skip


def _episodes(ckpt: Any, data_dir: str | Path, cfg: BudgetConfig) -> list[EpisodeLevels]:
    from lcvg_env.data.validate import validate_split
    from lcvg_env.evaluation.video import ground_truth

    size = (ckpt.config.height, ckpt.config.width)
    # checked before the first prediction: a broken episode is left out with a warning, not met late
    episodes = validate_split(
        data_dir, cfg.split, limit=cfg.episodes, keep=lambda ep: ep.num_frames >= cfg.frames
    ).episodes
    if not episodes:
        raise ValueError(f"{data_dir}: no {cfg.split!r} episode has {cfg.frames} frames; lower --frames.")
    out = []
    for ep in episodes:
        levels = predict_levels(
            ckpt.generator, ep.frames(size=size)[: cfg.frames], ckpt.control_mode, cfg.solver
        )
        levels.name = ep.name
        levels.tips = ground_truth(ep, size, cfg.frames, "tip_px")
        levels.arm = ground_truth(ep, size, cfg.frames, "arm_mask")
        out.append(levels)
    return out


def measure(checkpoint: str | Path, data_dir: str | Path, cfg: BudgetConfig | None = None) -> BudgetResult:
    """The error budget of ``checkpoint`` (a file or a model name) on ``data_dir``'s split."""
    from lcvg_env.control.control_range import default_max_displacement
    from lcvg_env.metrics import detector as detector_module
    from lcvg_env.metrics.suite import MetricSuite, dedup_apply
    from lcvg_env.model import open_model
    from lcvg_env.models.generator import count_parameters

    cfg = cfg or BudgetConfig()
    start = time.perf_counter()
    ckpt = open_model(checkpoint, device=cfg.device)
    path = ckpt.path
    det = detector_module.load_detector(cfg.detector)  # before the episodes: a bad --detector fails at once
    eps = _episodes(ckpt, data_dir, cfg)
    suite = MetricSuite.build(skip=("lpips_vgg", "fid", "fvd"), device=cfg.device)
    real = torch.stack([e.real for e in eps])  # (E, T + 1, 3, H, W)

    def detect(clips: torch.Tensor) -> torch.Tensor:  # (E, T, 3, H, W) -> (E, T, 2), NaN: not found
        return dedup_apply(lambda x: det.detect(x).xy, clips.flatten(0, 1)).reshape(*clips.shape[:2], 2)

    tips = None if any(e.tips is None for e in eps) else torch.stack([e.tips for e in eps])  # type: ignore[misc]
    det_real = detect(real)
    rows = {}
    for name in ROWS:
        preds = torch.stack([e.preds[name] for e in eps])  # (E, T, 3, H, W)
        rows[name] = score_row(name, preds, real, det_real, detect(preds), tips, suite, cfg)
    unavailable = {k: v for k, v in suite.reasons.items() if k == "lpips_alex"}
    if tips is None:
        unavailable["tips"] = "the data has no tip_px annotations: no tip error, step gain or tip motion"
    if any(e.arm is None for e in eps):
        unavailable["arm_mask"] = "the data has no arm_mask annotations: no IoU of M with the true arm"
    meta = {
        "checkpoint": str(path), "preset": ckpt.preset, "step": ckpt.step, "stage": ckpt.extra.get("stage"),
        "generator_params": count_parameters(ckpt.generator), "control_mode": ckpt.control_mode,
        "data": str(data_dir), "episodes": len(eps), "frames_per_episode": cfg.frames,
        "detector_file": str(detector_module.resolve_detector(cfg.detector)),
        "config": asdict(cfg), "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    motion = motion_figures(eps, default_max_displacement(ckpt.extra), cfg.min_motion_px)
    return BudgetResult(rows=rows, masks=mask_figures(eps), motion=motion, meta=meta, unavailable=unavailable)


def fmt(x: Any, pattern: str = "{:.3f}") -> str:
    return "n/a" if x is None else pattern.format(x)


def render(result: BudgetResult) -> list[Any]:
    """The budget table (one line per row) and the lines that attribute and explain it."""
    from rich.table import Table

    m = result.meta
    table = Table(title=f"lcvg budget: {Path(m['checkpoint']).name} (step {m['step']}) on {m['data']}")
    heads = ["row", "LPIPS", "PSNR", "DD mean", "DD p90", "missing", "tip err", "step gain"]
    for col in heads + [f"DD@{s}" for s in REPORT_STEPS]:
        table.add_column(col, justify="right")
    for name, row in result.rows.items():
        per_step = row["detection_distance_per_step_px"]
        at = [fmt(per_step[s - 1], "{:.2f}") if s <= len(per_step) else "" for s in REPORT_STEPS]
        label = f"{LABELS[name]} {name}" if name in LABELS else name
        table.add_row(
            label, fmt(row["lpips_alex"]), fmt(row["psnr"], "{:.2f}"),
            fmt(row["detection_distance_px"], "{:.2f}"), fmt(row["detection_distance_p90_px"], "{:.2f}"),
            fmt(row["detection_missing_rate"]),
            fmt(row["tip_error_px"], "{:.2f}"), fmt(row["step_gain"], "{:.2f}"), *at,
        )  # fmt: skip
    lines: list[Any] = [table]
    for key, unit in (("lpips_alex", "LPIPS"), ("detection_distance_px", "DD px")):
        parts = [f"{label} {fmt(v)}" for label, v in result.attribution(key)]
        lines.append(f"added {unit}: " + "; ".join(parts))
        parts = [f"{label} {fmt(v)}" for label, v in result.attribution(key, DRIFT_SPLIT)]
        lines.append(f"drift split, {unit}: " + "; ".join(parts))
    lines.append("masks: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.masks.items()))
    lines.append("motion (px): " + ", ".join(f"{k} {fmt(v, '{:.2f}')}" for k, v in result.motion.items()))
    lines += [f"{k}: {v}" for k, v in result.unavailable.items()]
    return lines
