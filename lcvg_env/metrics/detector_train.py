"""Train the tip detector with supervision on real pusher frames; select on val; report held-out figures.

Read top to bottom: :class:`TrainArgs` (every setting), :func:`detector_loss` (heatmap cross-entropy to a
Gaussian at the true tip + L1 of the soft-argmax position + presence BCE), :func:`train_detector` (the
loop: augmented batches from :mod:`lcvg_env.metrics.detector_augment`, AdamW with cosine decay, an
exponential moving average of the weights, validation every ``eval_every`` steps, the best EMA kept) and
:func:`main` (load data, train, save with provenance, evaluate the saved file on the report splits and
store those figures in it). Run it as::

    python -m lcvg_env.metrics.detector_train /work/data/pusher --out tip_detector.safetensors
    lcvg detector train /work/data/pusher --out tip_detector.safetensors   # the same
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lcvg_env.metrics.detector import DetectorConfig, TipDetector, load_detector, save_detector
from lcvg_env.metrics.detector_augment import AugmentConfig, compose
from lcvg_env.metrics.detector_data import TipData, load_tip_data, split_recipe
from lcvg_env.metrics.detector_eval import evaluate_detector, figures_on
from lcvg_env.model import to_model_range
from lcvg_env.outputs import finite_json


@dataclass
class TrainArgs:
    """Settings of one detector training run (``lcvg detector train --help`` documents the same)."""

    data: str = "data/pusher"
    """Dataset root with pusher annotations (``lcvg data pusher``) and its dataset.json."""
    out: str = "tip_detector.safetensors"
    """Where to write the detector (safetensors, fp16 weights + JSON metadata)."""
    train_split: str = "train"
    val_split: str = "val"
    """Split used to select the best weights (never trained on)."""
    report: tuple[str, ...] = ()
    """``ROOT:SPLIT`` held-out sets evaluated with the saved file; the figures go into its metadata."""
    episodes: int | None = None
    """Use only the first N training episodes (None: all); for quick runs and tests."""
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ema: float = 0.998
    """Decay of the exponential moving average of the weights (the EMA is what is validated and saved)."""
    eval_every: int = 250
    seed: int = 0
    threads: int | None = None
    """torch CPU threads (None: torch's own)."""
    device: str = "cpu"
    """Torch device of the training (``cpu``, ``cuda``, ...; the saved detector loads on the CPU)."""
    bf16: bool = True
    """bf16 autocast on the CPU for the forward pass (the heatmap and presence heads stay fp32)."""
    sigma_cells: float = 0.75
    """Standard deviation of the target Gaussian, in heatmap cells."""
    xy_weight: float = 1.0
    """Weight of the L1 position loss (pixels) against the heatmap cross-entropy."""
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        threads_ok = self.threads is None or self.threads >= 1
        if self.steps < 1 or self.batch_size < 2 or self.eval_every < 1 or not threads_ok:
            raise ValueError("steps, eval_every and threads must be >= 1 and batch_size >= 2.")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}.")
        for item in self.report:
            if ":" not in item:
                raise ValueError(f"report entries are ROOT:SPLIT, got {item!r}.")


def detector_loss(
    detector: TipDetector, x: torch.Tensor, tips: torch.Tensor, present: torch.Tensor, args: TrainArgs
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of a batch x (B, 3, S, S), true tips (B, 2) px and presence (B,) bool, and its logs."""
    heat, presence = detector(x)  # (B, h, w), (B,)
    b, h, w = heat.shape
    s = detector.config.stride
    centres = torch.arange(h, dtype=torch.float32) + 0.5  # cell centres in cells (square map)
    gx = torch.exp(-((centres[None, :] - tips[:, :1] / s) ** 2) / (2 * args.sigma_cells**2))  # (B, w)
    gy = torch.exp(-((centres[None, :] - tips[:, 1:] / s) ** 2) / (2 * args.sigma_cells**2))  # (B, h)
    target = (gy[:, :, None] * gx[:, None, :]).reshape(b, h * w)
    target = target / target.sum(dim=1, keepdim=True)
    ce = -(target * heat.reshape(b, h * w).log_softmax(dim=1)).sum(dim=1)
    l1 = (detector.locate(heat) - tips).abs().sum(dim=1)
    pos = present.float()
    n_pos = pos.sum().clamp_min(1.0)
    heat_loss = (ce * pos).sum() / n_pos
    xy_loss = (l1 * pos).sum() / n_pos
    bce = F.binary_cross_entropy_with_logits(presence, pos)
    loss = heat_loss + args.xy_weight * xy_loss + bce
    logs = {"heat": heat_loss.item(), "xy_px": xy_loss.item(), "presence": bce.item()}
    return loss, logs


def _batch(data: TipData, index: np.ndarray) -> tuple[torch.Tensor, ...]:
    def unit(a: np.ndarray) -> torch.Tensor:
        return to_model_range(a[index])  # (B, 3, H, W)

    assert data.free is not None
    mask = torch.from_numpy(data.masks[index]).float()[:, None]  # (B, 1, H, W)
    return unit(data.frames), unit(data.free), mask, torch.from_numpy(data.tips[index])


def selection_score(fig: dict[str, Any]) -> float:
    """Lower is better: median + p90 error (px) + 10 px per unit of missed and false-found rate."""
    if fig["median_px"] is None:
        return float("inf")
    return fig["median_px"] + fig["p90_px"] + 10.0 * (fig["missed_rate"] + fig.get("false_found_rate", 0.0))


def train_detector(
    train: TipData, val: TipData, args: TrainArgs, log: Any = print
) -> tuple[TipDetector, dict[str, Any]]:
    """Train on ``train`` (arm-free twins needed), select on ``val``; the best EMA detector and its logs."""
    if train.free is None:
        raise ValueError(
            "Training needs the arm-free twins of the training frames (load with arm_free=True)."
        )
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = TipDetector(args.detector).to(args.device, memory_format=torch.channels_last)
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    best: dict[str, Any] = {"score": float("inf")}
    history, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        x, free, mask, tips = _batch(train, rng.integers(len(train), size=args.batch_size))
        x, tips, present = (t.to(args.device) for t in compose(x, free, mask, tips, args.augment, gen))
        model.train()
        with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
            loss, logs = detector_loss(
                model, x.contiguous(memory_format=torch.channels_last), tips, present, args
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        _update_ema(ema, model, args.ema if step > 100 else 0.0)
        if step % args.eval_every == 0 or step == args.steps:
            fig = figures_on(ema, val)
            score = selection_score(fig)
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1), **logs, "val": fig}
            history.append(row)
            log(json.dumps(finite_json({**row, "val_score": round(score, 4)})))  # no tip found: score inf
            if score < best["score"] or "state" not in best:  # the first validation is kept in any case
                best = {"score": score, "step": step, "state": copy.deepcopy(ema.state_dict()), "val": fig}
    final = TipDetector(args.detector)
    final.load_state_dict(best.pop("state"))
    info = {"best_step": best["step"], "val": best["val"], "seconds": time.perf_counter() - start}
    return final.eval(), {**info, "history": history}


@torch.no_grad()
def _update_ema(ema: TipDetector, model: TipDetector, decay: float) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
        if e.is_floating_point():
            e.mul_(decay).add_(m.detach(), alpha=1 - decay)
        else:
            e.copy_(m)


def command_line(args: TrainArgs) -> str:
    """The ``lcvg detector train`` command that repeats this run (stored in the detector's metadata)."""
    parts = ["lcvg detector train", args.data, "--out", args.out, "--steps", str(args.steps)]
    parts += [
        "--batch-size",
        str(args.batch_size),
        "--lr",
        f"{args.lr:g}",
        "--eval-every",
        str(args.eval_every),
    ]
    parts += ["--episodes", str(args.episodes)] if args.episodes is not None else []
    parts += [f"--report {item}" for item in args.report]
    parts += ["--seed", str(args.seed)]
    parts += [] if args.threads is None else ["--threads", str(args.threads)]
    parts += ["--precision", "bf16" if args.bf16 else "fp32"]
    parts += [] if args.device == "cpu" else ["--device", args.device]
    return " ".join(parts)


def main(args: TrainArgs, log: Any = print) -> dict[str, Any]:
    """Load data, train, save ``args.out`` with provenance, and evaluate the saved file on ``args.report``."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train = load_tip_data(args.data, args.train_split, episodes=args.episodes, arm_free=True)
    val = load_tip_data(args.data, args.val_split, arm_free=True)
    seconds = time.perf_counter() - t0
    log(f"loaded {len(train)} train + {len(val)} val frames with arm-free twins in {seconds:.0f} s")
    detector, info = train_detector(train, val, args, log)
    metadata = {
        "description": "Gripper-tip detector for the built-in pusher data (lcvg_env.metrics.detector).",
        "command": command_line(args),
        "args": _jsonable(asdict(args)),
        "data": {
            "root": str(args.data),
            "train": {
                "split": args.train_split,
                "frames": len(train),
                "recipe": split_recipe(args.data, args.train_split),
            },
            "val": {"split": args.val_split, "frames": len(val)},
            "negatives": "the same states rendered without the arm (PusherConfig.hide_arm) + augmentation",
        },
        "training": {k: v for k, v in info.items() if k != "history"},
        "held_out": {},
    }
    save_detector(detector, args.out, metadata)
    saved = load_detector(args.out)  # the figures are those of the file as shipped (fp16 weights)
    for item in args.report:
        root, split = item.rsplit(":", 1)
        fig = evaluate_detector(saved, root, split)
        log(json.dumps(fig))
        metadata["held_out"][item] = fig
    save_detector(detector, args.out, _jsonable(metadata))
    return metadata


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


if __name__ == "__main__":
    from lcvg_env.metrics.detector_cli import app

    app(["train", *sys.argv[1:]], prog_name="python -m lcvg_env.metrics.detector_train")
