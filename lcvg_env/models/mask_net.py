"""The mask network M: frame -> soft foreground mask m = M(x) in [0, 1] (docs/method.md section 2).

Supplementary Table 3: Conv2D -> HxWx64; 2 x {residual blocks + downsample} -> (H/4)x(W/4)x256;
9 residual blocks; 2 x {upsample + residual blocks} -> HxWx64; Conv2D + sigmoid -> HxWx1.
The released code realises it as a ResNet generator in the style of pix2pix/CycleGAN: reflection
padding, 7x7 input/output convolutions, stride-2 convolutions down, transposed convolutions up,
normalisation + ReLU, 9 residual blocks at H/4. With 64 base channels it has 11.38M parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

NORMS = ("instance", "batch")


@dataclass
class MaskNetConfig:
    """Widths and depths of M."""

    base_channels: int = 64
    """Width at full resolution; doubled at every downsampling."""
    num_downsample: int = 2
    """Stride-2 downsamplings (and as many upsamplings)."""
    num_blocks: int = 9
    """Residual blocks at the lowest resolution."""
    norm: str = "instance"
    """'instance' (affine InstanceNorm, per-frame statistics: batch-size independent) or 'batch'."""
    patch_size: int = 1
    """p x p pixel-unshuffle before the first convolution and pixel-shuffle after the last, so that the
    network runs at H/p: 1 as released; 2 for CPU models (the mask is still predicted per pixel)."""

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"MaskNetConfig.norm must be one of {NORMS}, got {self.norm!r}")
        if self.base_channels < 1 or self.num_downsample < 0 or self.num_blocks < 0 or self.patch_size < 1:
            raise ValueError(f"MaskNetConfig: widths and depths must be positive, got {self}")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=True)


class _ResBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MaskNetwork(nn.Module):
    """M: (B, 3, H, W) in [-1, 1] -> (B, 1, H, W) soft mask in [0, 1]."""

    def __init__(self, cfg: MaskNetConfig) -> None:
        super().__init__()
        ch, p = cfg.base_channels, cfg.patch_size
        layers: list[nn.Module] = [nn.PixelUnshuffle(p)] if p > 1 else []  # (B, 3 p^2, H/p, W/p)
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3 * p * p, ch, 7, bias=False),
            _norm(cfg.norm, ch),
            nn.ReLU(inplace=True),
        ]
        for _ in range(cfg.num_downsample):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=False), _norm(cfg.norm, ch * 2)]
            layers.append(nn.ReLU(inplace=True))
            ch *= 2
        layers += [_ResBlock(ch, cfg.norm) for _ in range(cfg.num_blocks)]
        for _ in range(cfg.num_downsample):
            layers.append(
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=False)
            )
            layers += [_norm(cfg.norm, ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, p * p, 7)]
        if p > 1:
            layers.append(nn.PixelShuffle(p))  # (B, p^2, H/p, W/p) -> (B, 1, H, W)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x).float())
