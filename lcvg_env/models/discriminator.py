"""The discriminator C: a vanilla PatchGAN (docs/method.md section 2; pix2pix, Isola et al., 2017).

Three stride-2/1 convolution layers of 4x4 kernels over a 64-channel base, batch norm and leaky
ReLU, ending in a one-channel map of per-patch real/fake logits. At 64 base channels it has 2.77M
parameters. The loss module in ``training/`` owns it; the generator never does (as in taming).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PatchGANConfig:
    """Width and depth of the PatchGAN."""

    base_channels: int = 64
    """Width of the first layer; doubled per layer up to 8x."""
    num_layers: int = 3
    """Convolution layers between the input and the output layer."""

    def __post_init__(self) -> None:
        if self.base_channels < 1 or self.num_layers < 1:
            raise ValueError(f"PatchGANConfig: need base_channels >= 1 and num_layers >= 1, got {self}")


class PatchGAN(nn.Module):
    """C: (B, 3, H, W) -> (B, 1, h, w) patch logits."""

    def __init__(self, cfg: PatchGANConfig, in_channels: int = 3) -> None:
        super().__init__()
        ch = cfg.base_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, cfg.num_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < cfg.num_layers else 1
            layers += [
                nn.Conv2d(ch * prev, ch * mult, 4, stride, 1, bias=False),
                nn.BatchNorm2d(ch * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ch * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _init_weights(m: nn.Module) -> None:
    """pix2pix initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
