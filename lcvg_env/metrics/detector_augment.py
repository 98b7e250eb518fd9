"""Training batches for the tip detector: real frames made to look like generated ones, and negatives.

A world model's frames are blurrier than real ones, with shifted colours, and its gripper can be smeared,
faded, tinted by the objects it passes, or dissolved. The detector must still find a gripper that is
there, precisely, and say "none" when it is gone. Every batch therefore mixes (:func:`compose`):

* positives: real frames, some with the arm region smeared (local blur, motion smear), faded towards the
  arm-free twin (at least ``fade_min`` of the arm kept) or tinted;
* negatives: the arm-free twin of the frame; the frame with only the gripper dissolved (at most
  ``dissolve_max`` of it kept, the rest of the arm intact); blank and noise frames;

then applies to all of them (labels follow exactly): a horizontal flip (the scene is left-right
symmetric), small affine warps (scale, shift, rotation), global blur, down-up sampling, blockiness,
colour jitter and noise. Frames are float (B, 3, H, W) in [-1, 1]; tips (B, 2) (x, y) pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the training augmentation (each applied per sample)."""

    p_free: float = 0.15
    """Share of samples replaced by their arm-free twin (negative)."""
    p_dissolve: float = 0.1
    """Share of samples whose gripper is dissolved into the arm-free twin (negative)."""
    p_junk: float = 0.03
    """Share of samples replaced by a blank or smooth-noise frame (negative)."""
    p_smear: float = 0.35
    """Share of positives whose arm region is smeared, faded or tinted."""
    fade_min: float = 0.6
    """A faded gripper keeps at least this share of its contrast (still a positive)."""
    dissolve_max: float = 0.25
    """A dissolved gripper keeps at most this share (a negative)."""
    p_affine: float = 0.6
    scale: tuple[float, float] = (0.9, 1.12)
    shift_px: float = 4.0
    rotate_deg: float = 6.0
    p_blur: float = 0.4
    blur_sigma: tuple[float, float] = (0.3, 1.6)
    p_down: float = 0.15
    """Share of samples down-sampled by 2 and up again (a coarser generator's texture)."""
    p_blocks: float = 0.1
    """Share of samples mixed with their 4x4 block means (codebook blockiness)."""
    p_jitter: float = 0.8
    p_noise: float = 0.5
    noise_std: float = 0.06

    def __post_init__(self) -> None:
        if self.p_free + self.p_dissolve + self.p_junk >= 1.0:
            raise ValueError("p_free + p_dissolve + p_junk must leave room for positives (< 1).")
        if not 0.0 <= self.dissolve_max < self.fade_min <= 1.0:
            raise ValueError(
                "Need 0 <= dissolve_max < fade_min <= 1: faded positives stay apart from negatives."
            )


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int = 5) -> torch.Tensor:
    """Blur each image of x (B, C, H, W) with its own sigma (B,) px (separable, reflect padding)."""
    b, c, h, w = x.shape
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-(taps[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))  # (B, K)
    g = g / g.sum(dim=1, keepdim=True)
    k = g.repeat_interleave(c, dim=0)  # (B*C, K): one kernel per image channel
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)  # rows
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)  # columns
    return y.reshape(b, c, h, w)


def motion_blur(x: torch.Tensor, angle: torch.Tensor, length: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Average each image of x (B, C, H, W) along a line through each pixel: ``angle`` (B,) rad, ``length``
    (B,) px each way (at most ``radius``)."""
    b, c, h, w = x.shape
    steps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    on = (steps.abs()[None] <= length[:, None]).to(x.dtype)  # (B, K): taps used
    cols = (steps[None] * torch.cos(angle)[:, None]).round().long() + radius  # (B, K)
    rows = (steps[None] * torch.sin(angle)[:, None]).round().long() + radius
    k = torch.zeros(b, 2 * radius + 1, 2 * radius + 1, dtype=x.dtype)
    k.view(b, -1).scatter_add_(1, rows * (2 * radius + 1) + cols, on)
    k = (k / k.sum(dim=(1, 2), keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, K, K)
    y = F.pad(x.reshape(1, b * c, h, w), (radius,) * 4, mode="reflect")
    return F.conv2d(y, k[:, None], groups=b * c).reshape(b, c, h, w)


def disk(tips: torch.Tensor, radius: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Soft disks (B, 1, H, W) of ``radius`` (B,) px around ``tips`` (B, 2), 2 px soft edge."""
    ys = torch.arange(h, device=tips.device, dtype=tips.dtype) + 0.5
    xs = torch.arange(w, device=tips.device, dtype=tips.dtype) + 0.5
    dist = torch.hypot(xs[None, None, :] - tips[:, 0, None, None], ys[None, :, None] - tips[:, 1, None, None])
    return ((radius[:, None, None] - dist) / 2 + 0.5).clamp(0, 1)[:, None]


def _u(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


def _pick(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < p


def _on(use: torch.Tensor, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """x with the samples where ``use`` (B,) holds replaced by ``fn(index)``; only those are computed."""
    index = use.nonzero()[:, 0]
    if len(index) == 0:
        return x
    out = x.clone()
    out[index] = fn(index)
    return out


def compose(
    x: torch.Tensor, free: torch.Tensor, mask: torch.Tensor, tips: torch.Tensor, cfg: AugmentConfig,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Real frames x, arm-free twins, arm masks (B, 1, H, W) float and tips -> frames, tips, present (B,)."""
    b, _, h, w = x.shape
    arm = gaussian_blur(mask, torch.full((b,), 1.0))  # soft arm region, a little wider than the mask
    gripper = arm.clamp(0, 1) * disk(tips, _u(b, 12, 16, gen), h, w)
    kind = torch.rand(b, generator=gen)
    is_free = kind < cfg.p_free
    is_dissolved = (kind >= cfg.p_free) & (kind < cfg.p_free + cfg.p_dissolve)
    is_junk = (kind >= cfg.p_free + cfg.p_dissolve) & (kind < cfg.p_free + cfg.p_dissolve + cfg.p_junk)
    present = ~(is_free | is_dissolved | is_junk)
    out = _smear(x, free, arm * disk(tips, _u(b, 8, 22, gen), h, w), cfg, gen, present)
    keep, sigma = _u(b, 0, cfg.dissolve_max, gen)[:, None, None, None], _u(b, 0.01, 1.5, gen)
    out = _on(
        is_dissolved,
        out,
        lambda i: (
            gaussian_blur(free[i] + keep[i] * (x[i] - free[i]), sigma[i]) * gripper[i]
            + out[i] * (1 - gripper[i])
        ),
    )
    out = torch.where(is_free[:, None, None, None], free, out)
    out = _on(is_junk, out, lambda i: _junk(len(i), h, w, gen))
    out, tips = _geometry(out, tips, cfg, gen)
    return _photometric(out, cfg, gen), tips, present


def _smear(
    x: torch.Tensor, free: torch.Tensor, region: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator,
    eligible: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """Positives with a degraded arm region: local blur, motion smear, fade towards free, tint."""
    b = len(x)
    chosen = eligible & _pick(b, cfg.p_smear, gen)
    sigma, use = _u(b, 0.8, 2.5, gen), chosen & _pick(b, 0.5, gen)
    out = _on(use, x, lambda i: x[i] * (1 - region[i]) + gaussian_blur(x[i], sigma[i]) * region[i])
    angle, length = _u(b, 0, math.pi, gen), torch.randint(1, 4, (b,), generator=gen)
    use = chosen & _pick(b, 0.4, gen)
    out = _on(
        use, out, lambda i: out[i] * (1 - region[i]) + motion_blur(out[i], angle[i], length[i]) * region[i]
    )
    alpha = _u(b, cfg.fade_min, 1.0, gen)[:, None, None, None]
    use = (chosen & _pick(b, 0.4, gen))[:, None, None, None]
    out = torch.where(use, out * (1 - region) + (free + alpha * (out - free)) * region, out)
    tint = (torch.rand(b, 3, 1, 1, generator=gen) - 0.5) * 0.8
    use = (chosen & _pick(b, 0.4, gen))[:, None, None, None]
    return torch.where(use, out + tint * region, out).clamp(-1, 1)


def _junk(b: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Frames with no gripper at all: a flat colour plus smooth noise, (B, 3, H, W)."""
    base = torch.rand(b, 3, 1, 1, generator=gen) * 2 - 1
    smooth = F.interpolate(torch.randn(b, 3, h // 8, w // 8, generator=gen), size=(h, w), mode="bilinear")
    return (base + smooth * _u(b, 0, 0.5, gen)[:, None, None, None]).clamp(-1, 1)


def _geometry(
    x: torch.Tensor, tips: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip and affine warp (bilinear, border padding); tips follow exactly, kept 1 px inside the frame."""
    b, _, h, w = x.shape
    flip = _pick(b, 0.5, gen)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    tips = torch.where(flip[:, None], torch.stack([w - tips[:, 0], tips[:, 1]], dim=1), tips)
    warp = _pick(b, cfg.p_affine, gen)
    scale = torch.where(warp, _u(b, *cfg.scale, gen), torch.ones(b))
    rot = torch.where(warp, _u(b, -cfg.rotate_deg, cfg.rotate_deg, gen), torch.zeros(b)) * math.pi / 180
    shift = torch.where(
        warp[:, None], (torch.rand(b, 2, generator=gen) * 2 - 1) * cfg.shift_px, torch.zeros(b, 2)
    )
    # Output pixel p maps to input pixel c + R(rot) (p - c) / scale - shift (c the centre): zoom by scale.
    cos, sin = torch.cos(rot) / scale, torch.sin(rot) / scale
    rot_mat = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (B, 2, 2)
    centre = torch.tensor([w / 2, h / 2])
    new_tips = torch.linalg.solve(rot_mat, (tips - centre + shift)[..., None])[..., 0] + centre
    inside = (new_tips[:, 0] > 1) & (new_tips[:, 0] < w - 1) & (new_tips[:, 1] > 1) & (new_tips[:, 1] < h - 1)
    rot_mat = torch.where(inside[:, None, None], rot_mat, torch.eye(2).expand(b, 2, 2))
    shift = torch.where(inside[:, None], shift, torch.zeros(b, 2))
    tips = torch.where(inside[:, None], new_tips, tips)
    half = torch.tensor([w / 2, h / 2])
    theta = torch.cat([rot_mat, (-shift / half)[..., None]], dim=2)  # (B, 2, 3), normalized coordinates
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False), tips


def _photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Global blur, down-up sampling, blockiness, colour jitter and noise; clamped to [-1, 1]."""
    b, _, h, w = x.shape
    sigma = _u(b, *cfg.blur_sigma, gen)
    x = _on(_pick(b, cfg.p_blur, gen), x, lambda i: gaussian_blur(x[i], sigma[i]))
    x = _on(
        _pick(b, cfg.p_down, gen),
        x,
        lambda i: F.interpolate(F.avg_pool2d(x[i], 2), size=(h, w), mode="bilinear", align_corners=False),
    )
    mix = _u(b, 0.2, 0.6, gen)[:, None, None, None]
    x = _on(
        _pick(b, cfg.p_blocks, gen),
        x,
        lambda i: x[i] * (1 - mix[i]) + F.interpolate(F.avg_pool2d(x[i], 4), size=(h, w)) * mix[i],
    )
    jitter = _pick(b, cfg.p_jitter, gen)[:, None, None, None]
    gain = torch.where(jitter, 1 + (torch.rand(b, 3, 1, 1, generator=gen) - 0.5) * 0.2, torch.ones(1))
    contrast = torch.where(jitter, _u(b, 0.8, 1.2, gen)[:, None, None, None], torch.ones(1))
    bright = torch.where(jitter, _u(b, -0.1, 0.1, gen)[:, None, None, None], torch.zeros(1))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast * gain + mean + bright
    std = _u(b, 0, cfg.noise_std, gen)[:, None, None, None]
    x = _on(_pick(b, cfg.p_noise, gen), x, lambda i: x[i] + torch.randn(x[i].shape, generator=gen) * std[i])
    return x.clamp(-1, 1)
