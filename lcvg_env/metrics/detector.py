"""The independent gripper-tip detector: the paper's *detection distance* instrument for the pusher data.

Playable Video Generation and LCVG (docs/method.md section 6) score control with a detector trained with
supervision on real frames, not part of the model: it locates the controlled object in the generated
frame and in the real one (:mod:`lcvg_env.metrics.tips`). This module is that detector for the built-in
robot-pushing data: a small fully convolutional network trained on real frames against the ground-truth
``tip_px`` (the middle of the gripper's back bar) and ``arm_mask`` of ``annotations.npz``
(:mod:`lcvg_env.metrics.detector_train`), shipped as ``lcvg_env/assets/pusher_tip_detector.safetensors``.

The network (:class:`TipDetector`): a U-Net-like encoder-decoder at the detector's input size gives a
heatmap of the tip at half that resolution; the tip is the soft-argmax (softmax-weighted mean of the cell
centres) in a window around the heatmap's peak, which gives sub-pixel positions (integral regression,
Sun et al., ECCV 2018, restricted to the peak's neighbourhood so that far-off mass cannot bias it). A
presence head on the deepest features says whether there is a gripper at all: where its probability is
below ``threshold`` the tip is "not found" and its position is NaN.

Example::

    from lcvg_env.metrics.detector import load_detector
    det = load_detector("pusher")
    tips = det.detect(frames)  # uint8 (N, H, W, 3) -> tips.xy (N, 2), tips.found (N,), tips.score (N,)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lcvg_env.model import to_model_range

FORMAT_NAME = "lcvg-tip-detector"
FORMAT_VERSION = 1
METADATA_KEY = "lcvg_detector"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
PACKAGED: dict[str, Path] = {"pusher": ASSETS / "pusher_tip_detector.safetensors"}
"""Names :func:`load_detector` resolves to packaged assets."""


@dataclass
class DetectorConfig:
    """Architecture and decision rule of a :class:`TipDetector` (stored in its file)."""

    size: int = 64
    """Square input size: frames of any size are resized to it, positions mapped back."""
    channels: tuple[int, ...] = (16, 32, 64, 64)
    """Encoder widths at size, size/2, size/4, size/8; the decoder comes back up to size/2."""
    window: int = 2
    """The soft-argmax averages the heatmap cells within this many cells of the peak."""
    threshold: float = 0.5
    """A tip is found where the presence probability is at least this."""

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if self.size < 16 or self.size % 8:
            raise ValueError(f"size must be a multiple of 8 and >= 16, got {self.size}.")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"channels must be 4 positive widths, got {self.channels}.")
        if self.window < 1:
            raise ValueError(f"window must be >= 1 cell, got {self.window}.")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")

    @property
    def stride(self) -> int:
        """Input pixels per heatmap cell."""
        return 2


@dataclass
class TipDetections:
    """What :meth:`TipDetector.detect` returns for N frames (CPU tensors)."""

    xy: torch.Tensor
    """(N, 2) float32 (x, y) pixels in the input frames' coordinates (the ``tip_px`` convention: pixel
    (i, j) covers [j, j+1) x [i, i+1)); NaN where not found."""
    found: torch.Tensor
    """(N,) bool: the presence probability is at least the detector's threshold."""
    score: torch.Tensor
    """(N,) float32 presence probability in [0, 1]."""


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TipDetector(nn.Module):
    """Heatmap + presence network; :meth:`detect` is the measuring API, :meth:`forward` the training one."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DetectorConfig()
        c1, c2, c3, c4 = cfg.channels
        self.enc = nn.ModuleList(
            [_block(3, c1), _block(c1, c2, 2), _block(c2, c3, 2), _block(c3, c4, 2)]
        )  # at size, /2, /4, /8
        self.dec3 = _block(c4 + c3, c3)  # at /4
        self.dec2 = _block(c3 + c2, c2)  # at /2
        self.heatmap = nn.Conv2d(c2, 1, 1)
        self.presence = nn.Linear(2 * c4, 1)
        self.metadata: dict[str, Any] = {}
        """Provenance read from the file (data recipe, training command, held-out figures)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, size, size) in [-1, 1] -> heatmap logits (B, size/2, size/2), presence logits (B,)."""
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        deep = skips[-1]  # (B, c4, size/8, size/8)
        up = F.interpolate(deep, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.dec3(torch.cat([up, skips[2]], dim=1))  # (B, c3, size/4, size/4)
        up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.dec2(torch.cat([up, skips[1]], dim=1))  # (B, c2, size/2, size/2)
        pooled = torch.cat([deep.mean(dim=(2, 3)), deep.amax(dim=(2, 3))], dim=1)  # (B, 2 c4)
        with torch.autocast(x.device.type, enabled=False):  # sub-pixel positions need fp32 logits
            return self.heatmap(x.float())[:, 0], self.presence(pooled.float())[:, 0]

    def locate(self, heatmap: torch.Tensor) -> torch.Tensor:
        """Heatmap logits (B, h, w) -> (B, 2) (x, y) in input pixels: soft-argmax around the peak."""
        b, h, w = heatmap.shape
        r, s = self.config.window, self.config.stride
        flat = heatmap.float().reshape(b, h * w)
        peak = flat.argmax(dim=1)
        offsets = torch.arange(-r, r + 1, device=heatmap.device)
        rows = (peak // w)[:, None, None] + offsets[None, :, None]  # (B, 2r+1, 1)
        cols = (peak % w)[:, None, None] + offsets[None, None, :]  # (B, 1, 2r+1)
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # (B, 2r+1, 2r+1)
        index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(b, -1)
        logits = flat.gather(1, index).masked_fill(~inside.reshape(b, -1), float("-inf"))
        weights = logits.softmax(dim=1).reshape(b, 2 * r + 1, 2 * r + 1)
        x = (weights * (cols.float() + 0.5)).sum(dim=(1, 2)) * s  # cell centres in input pixels
        y = (weights * (rows.float() + 0.5)).sum(dim=(1, 2)) * s
        return torch.stack([x, y], dim=1)

    @torch.no_grad()
    def detect(self, frames: np.ndarray | torch.Tensor, batch_size: int = 256) -> TipDetections:
        """Find the tip in each frame.

        ``frames``: uint8 (N, H, W, 3) (numpy or torch) or float (N, 3, H, W) in [-1, 1]; any H, W (resized
        to the detector's size, positions mapped back). Runs in eval mode on the detector's device, in
        batches of ``batch_size``; returns CPU tensors.
        """
        x = as_unit_frames(frames)
        n, (h, w) = len(x), x.shape[2:]
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        xy, score = [torch.empty(0, 2)], [torch.empty(0)]
        for start in range(0, n, batch_size):
            batch = x[start : start + batch_size].to(device)
            if (h, w) != (self.config.size, self.config.size):
                size = (self.config.size, self.config.size)
                batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
            heatmap, presence = self(batch)
            xy.append(self.locate(heatmap).cpu())
            score.append(presence.float().sigmoid().cpu())
        self.train(was_training)
        scale = torch.tensor([w / self.config.size, h / self.config.size])
        xy_in, prob = torch.cat(xy) * scale, torch.cat(score)
        found = prob >= self.config.threshold
        xy_in[~found] = float("nan")
        return TipDetections(xy=xy_in.float(), found=found, score=prob.float())


def as_unit_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) or float (N, 3, H, W) in [-1, 1] -> float (N, 3, H, W) in [-1, 1], checked."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"Expected frames as a numpy array or torch tensor, got {type(frames).__name__}.")
    if frames.dtype == torch.uint8:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Expected uint8 frames (N, H, W, 3), got shape {tuple(frames.shape)}.")
        return to_model_range(frames)  # (N, 3, H, W)
    if not frames.is_floating_point():
        raise ValueError(f"Expected uint8 (N, H, W, 3) or float (N, 3, H, W) frames, got {frames.dtype}.")
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(
            f"Expected float frames (N, 3, H, W) in [-1, 1], got shape {tuple(frames.shape)}; "
            "uint8 frames are (N, H, W, 3)."
        )
    if frames.numel() and not torch.isfinite(frames).all():
        raise ValueError("The frames contain NaN or inf values; a tip cannot be located in them.")
    if frames.numel() and frames.abs().max() > 1.5:
        raise ValueError(
            f"Float frames must be in [-1, 1], got values up to {float(frames.abs().max()):.3g}; "
            "pass uint8 frames, or x / 127.5 - 1 for frames in [0, 255]."
        )
    return frames.float().clamp(-1.0, 1.0)


def resolve_detector(name_or_path: str | os.PathLike) -> Path:
    """A packaged name (``pusher``) or a file path -> the detector file, which must exist."""
    if isinstance(name_or_path, str) and name_or_path in PACKAGED:
        path = PACKAGED[name_or_path]
        if not path.is_file():
            raise FileNotFoundError(
                f"The packaged tip detector {path} is missing: reinstall lcvg-env, or train one with "
                "`lcvg detector train DATA_DIR --out FILE` and pass its path."
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No tip detector at {path}: pass one of {sorted(PACKAGED)} for a packaged detector, or train "
            "one with `lcvg detector train DATA_DIR --out FILE`."
        )
    return path


def save_detector(detector: TipDetector, path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Write weights (fp16) and ``{format, version, config, info: metadata}`` JSON; never a pickle."""
    from lcvg_env.atomic import atomic_save_tensors

    tensors = {
        k: (v.half() if v.is_floating_point() else v).contiguous().cpu()
        for k, v in detector.state_dict().items()
        if not k.endswith("num_batches_tracked")  # a training counter, not needed to detect
    }
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": asdict(detector.config)}
    header["info"] = metadata
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a kill or a full disk leaves the previous detector file whole
    atomic_save_tensors(path, tensors, metadata={METADATA_KEY: json.dumps(header)})


def load_detector(name_or_path: str | os.PathLike = "pusher", device: str = "cpu") -> TipDetector:
    """Rebuild a detector (eval mode) from a packaged name or a file written by :func:`save_detector`."""
    from safetensors import safe_open

    path = resolve_detector(name_or_path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
    except Exception as e:  # safetensors raises its own error types for bad files
        raise ValueError(
            f"{path}: not a readable safetensors file ({e}). Copy it again or re-train it with "
            "`lcvg detector train`."
        ) from e
    meta = _parse_header(path, header)
    detector = TipDetector(DetectorConfig(**meta["config"]))
    own = detector.state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    wrong = sorted(k for k in expected & set(tensors) if tensors[k].shape != own[k].shape)
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: the weights do not match the stored config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}). Re-train it."
        )
    detector.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=False)
    detector.metadata = dict(meta.get("info", {}))
    return detector.to(device).eval()


def _parse_header(path: Path, header: dict[str, str]) -> dict[str, Any]:
    if METADATA_KEY not in header:
        raise ValueError(
            f"{path}: a safetensors file, but not a tip detector (no '{METADATA_KEY}' metadata)."
        )
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the detector metadata is not valid JSON ({e}). Re-train it.") from e
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format {meta.get('format')!r} version {meta.get('version')!r} is not a tip detector "
            f"this lcvg-env reads ({FORMAT_NAME!r} version {FORMAT_VERSION}). Upgrade lcvg-env or re-train."
        )
    try:
        DetectorConfig(**meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: the stored detector config is invalid ({e}). Re-train it.") from e
    return meta
