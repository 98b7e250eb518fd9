"""All image and video metrics of the evaluation, with their networks loaded once.

:class:`MetricSuite` owns the pretrained networks (LPIPS AlexNet / VGG, Inception for FID, I3D for
FVD). One whose weights are not installed, or that was skipped, is absent and has a reason; the
scores it would give are None, never zero. Frames are float (N, 3, H, W) in [-1, 1], clips
(N, T, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from lcvg_env.metrics.image import psnr, ssim
from lcvg_env.metrics.weights import WeightsUnavailable

NETWORK_METRICS = ("lpips_alex", "lpips_vgg", "fid", "fvd")


def _loaders(device: str, batch_size: int) -> dict[str, Callable[[], Any]]:
    from lcvg_env.metrics.fid import InceptionFeatures
    from lcvg_env.metrics.fvd import I3DFeatures
    from lcvg_env.metrics.lpips import LPIPS

    return {
        "lpips_alex": lambda: LPIPS.from_pretrained("alex").to(device),
        "lpips_vgg": lambda: LPIPS.from_pretrained("vgg").to(device),
        "fid": lambda: InceptionFeatures(device, batch_size),
        "fvd": lambda: I3DFeatures(device, max(1, batch_size // 8)),
    }


def dedup_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` computed once per distinct item of ``x`` (N, ...) (a static baseline repeats frames)."""
    unique, inverse = torch.unique(x.flatten(1), dim=0, return_inverse=True)
    return fn(unique.view(-1, *x.shape[1:]))[inverse]


@dataclass
class MetricSuite:
    """The metric networks that could be loaded, and why the others could not."""

    networks: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    batch_size: int = 16

    @classmethod
    def build(cls, skip: Iterable[str] = (), device: str = "cpu", batch_size: int = 16) -> MetricSuite:
        """Load every network not in ``skip``; a missing weight package becomes a reason, not an error."""
        suite = cls(batch_size=batch_size)
        for name, load in _loaders(device, batch_size).items():
            if name in skip:
                suite.reasons[name] = "skipped (--skip)"
                continue
            try:
                suite.networks[name] = load()
            except WeightsUnavailable as exc:
                suite.reasons[name] = str(exc)
        return suite

    @torch.no_grad()
    def frame_scores(self, real: torch.Tensor, pred: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Per-frame PSNR, SSIM and LPIPS (N,) of predictions against real frames (None if unavailable)."""
        out: dict[str, torch.Tensor | None] = {"psnr": psnr(pred, real), "ssim": ssim(pred, real)}
        for name in ("lpips_alex", "lpips_vgg"):
            net = self.networks.get(name)
            if net is None:
                out[name] = None
                continue
            device = next(net.parameters()).device
            chunks = zip(real.split(self.batch_size), pred.split(self.batch_size), strict=True)
            out[name] = torch.cat([net(p.to(device), r.to(device)).cpu() for r, p in chunks])
        return out

    def inception_features(self, frames: torch.Tensor) -> torch.Tensor | None:
        """(N, 2048) FID features of frames (N, 3, H, W), or None without the Inception weights."""
        net = self.networks.get("fid")
        return None if net is None else dedup_apply(net, frames)

    def i3d_features(self, clips: torch.Tensor) -> torch.Tensor | None:
        """(N, 400) FVD embeddings of clips (N, T, 3, H, W), or None without the I3D weights."""
        net = self.networks.get("fvd")
        return None if net is None else dedup_apply(net, clips)
