"""VQGAN-style encoder E and decoder D (docs/method.md section 2; Esser et al., 2021).

E maps a layer (a masked frame) of shape (B, 3, H, W) to latents (B, z_channels, H/f, W/f) with
f = 2 ** (len(channel_mult) - 1); D mirrors it. The released BAIR configuration is
``AutoencoderConfig(base_channels=64, channel_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
attn_resolutions=(16,), z_channels=256)`` at 256x256 (E 7.63M, D 10.92M parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lcvg_env.models.blocks import AttnBlock, Downsample, ResnetBlock, Upsample, group_norm


@dataclass
class AutoencoderConfig:
    """Widths and depths of E and D (shared, D mirrors E)."""

    base_channels: int = 64
    """Width of the first level; level i has base_channels * channel_mult[i] channels."""
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    """One entry per resolution level; len - 1 stride-2 downsamplings."""
    num_res_blocks: int = 2
    """Residual blocks per level in E (D uses one more, as VQGAN)."""
    attn_resolutions: tuple[int, ...] = (16,)
    """Feature-map widths at which self-attention blocks are inserted."""
    z_channels: int = 256
    """Channels of E's output / D's input, before/after the 1x1 convs to the code dimension."""
    dropout: float = 0.0
    """Dropout inside residual blocks."""
    mid_attention: bool = True
    """Self-attention in the middle (bottleneck) block, as VQGAN."""
    mid_blocks: int = 2
    """Residual blocks in the middle (bottleneck) block: 2 as VQGAN; fewer for CPU models."""
    decoder_extra_block: bool = True
    """D uses num_res_blocks + 1 blocks per level, as VQGAN; False mirrors E exactly (cheaper)."""
    patch_size: int = 1
    """E starts with a p x p pixel-unshuffle (space-to-depth) and D ends with the matching pixel-shuffle,
    so no convolution runs at full resolution: 1 as VQGAN; 2 for CPU models (f grows by p)."""

    def __post_init__(self) -> None:
        self.channel_mult = tuple(self.channel_mult)
        self.attn_resolutions = tuple(self.attn_resolutions)
        if self.base_channels < 1 or self.z_channels < 1 or self.num_res_blocks < 0 or self.mid_blocks < 0:
            raise ValueError(f"AutoencoderConfig: widths and depths must be positive, got {self}")
        if self.patch_size < 1:
            raise ValueError(f"AutoencoderConfig.patch_size must be >= 1, got {self.patch_size}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(
                f"AutoencoderConfig.channel_mult must be non-empty and >= 1: {self.channel_mult}"
            )

    @property
    def downsample_factor(self) -> int:
        return self.patch_size * 2 ** (len(self.channel_mult) - 1)


class Encoder(nn.Module):
    """E: (B, 3, H, W) -> (B, z_channels, H/f, W/f)."""

    def __init__(self, cfg: AutoencoderConfig, resolution: int, in_channels: int = 3) -> None:
        super().__init__()
        ch = cfg.base_channels
        self.unshuffle = nn.PixelUnshuffle(cfg.patch_size) if cfg.patch_size > 1 else nn.Identity()
        self.conv_in = nn.Conv2d(in_channels * cfg.patch_size**2, ch, 3, padding=1)
        in_mult = (1, *cfg.channel_mult)
        self.down = nn.ModuleList()
        res = resolution // cfg.patch_size
        for i, mult in enumerate(cfg.channel_mult):
            block_in, block_out = ch * in_mult[i], ch * mult
            level = nn.Module()
            level.blocks = nn.ModuleList()
            level.attn = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                level.blocks.append(ResnetBlock(block_in, block_out, cfg.dropout))
                level.attn.append(AttnBlock(block_out) if res in cfg.attn_resolutions else nn.Identity())
                block_in = block_out
            level.downsample = Downsample(block_in) if i < len(cfg.channel_mult) - 1 else nn.Identity()
            if i < len(cfg.channel_mult) - 1:
                res //= 2
            self.down.append(level)
        self.mid = _MidBlock(block_in, cfg)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(self.unshuffle(x))  # (B, 3 p^2, H/p, W/p) -> (B, ch, H/p, W/p)
        for level in self.down:
            for block, attn in zip(level.blocks, level.attn, strict=True):
                h = attn(block(h))
            h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """D: (B, z_channels, h, w) -> (B, 3, h*f, w*f), the mirror of E."""

    def __init__(self, cfg: AutoencoderConfig, resolution: int, out_channels: int = 3) -> None:
        super().__init__()
        ch = cfg.base_channels
        block_in = ch * cfg.channel_mult[-1]
        res = resolution // cfg.downsample_factor
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = _MidBlock(block_in, cfg)
        self.up = nn.ModuleList()
        for i in reversed(range(len(cfg.channel_mult))):
            block_out = ch * cfg.channel_mult[i]
            level = nn.Module()
            level.blocks = nn.ModuleList()
            level.attn = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + int(cfg.decoder_extra_block)):
                level.blocks.append(ResnetBlock(block_in, block_out, cfg.dropout))
                level.attn.append(AttnBlock(block_out) if res in cfg.attn_resolutions else nn.Identity())
                block_in = block_out
            level.upsample = Upsample(block_in) if i > 0 else nn.Identity()
            if i > 0:
                res *= 2
            self.up.append(level)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_channels * cfg.patch_size**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(cfg.patch_size) if cfg.patch_size > 1 else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in self.up:
            for block, attn in zip(level.blocks, level.attn, strict=True):
                h = attn(block(h))
            h = level.upsample(h)
        return self.shuffle(self.conv_out(F.silu(self.norm_out(h))))  # (B, 3, H, W)

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the final convolution: where the GAN's adaptive weight is measured."""
        return self.conv_out.weight


class _MidBlock(nn.Module):
    """Residual block, optional self-attention, residual block: the bottleneck of E and D.

    ``cfg.mid_blocks`` < 2 drops the second (then the first) residual block, for CPU-sized models.
    """

    def __init__(self, channels: int, cfg: AutoencoderConfig) -> None:
        super().__init__()

        def block(i: int) -> nn.Module:
            return ResnetBlock(channels, channels, cfg.dropout) if cfg.mid_blocks > i else nn.Identity()

        self.block_1 = block(0)
        self.attn_1 = AttnBlock(channels) if cfg.mid_attention else nn.Identity()
        self.block_2 = block(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))
