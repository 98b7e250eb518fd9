"""Pivot controls: the foreground turned and stretched about a fixed point of the scene.

A robot arm turns about a shoulder that never moves in the video. A translation of the arm's mask moves
every pixel of it by the same amount, so the translation fitted between two masks of a turning arm (Eq. 5)
moves about half as far as the gripper does (docs/fidelity.md, "Labels"). A *pivot control* is the
similarity about a fixed point p (pixels; complex notation z = x + i y)::

    z' = p + k (z - p),    k = s e^{i phi}                  (a 2-parameter family of Eq. 5's maps)

It keeps p where it is and moves a point at v = z - p by (k - 1) v: points near the pivot stay, the far end
moves most, as on the arm. Two real numbers, as many as a translation, so an action (dx, dy) still names
it: the k that moves the mask's far end (the mean of its points farthest from p) by (dx, dy) pixels
(:func:`steer`).

The pivot comes from the video alone (:func:`estimate_pivot`): affine maps fitted between the masks of
consecutive frames (Eq. 5, mode ``affine``) each leave some point (nearly) in place; the pivot is the
point that all of them move least, by iteratively reweighted least squares of (A_i - I) p + t_i.

These are the maps of the warp's ``affine`` mode (:func:`similarity_params`), so the generator renders a
pivot-moved mask as it renders any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lcvg_env.control.fit import fit_controls
from lcvg_env.control.units import affine_normalized_to_pixels, affine_pixels_to_normalized
from lcvg_env.control.warp import warp


@dataclass(frozen=True)
class PivotConfig:
    """How pivot controls are fitted and steered."""

    far_quantile: float = 0.8
    """The far end is the mean of the mask's points at least this quantile of distance from the pivot."""
    min_reach_px: float = 4.0
    """Below this far-end distance from the pivot a turn is undefined; :func:`steer` returns None."""
    max_turn: float = 0.30
    """Half-span (radians) of the fit's coarse grid of turns."""
    max_log_scale: float = 0.20
    """Half-span of the coarse grid of log-stretches."""
    coarse_steps: tuple[int, int] = (21, 11)
    """Grid points over (turn, log-stretch); two finer 9 x 9 grids follow around each pair's best."""
    chunk: int = 16
    """Mask pairs fitted at once (memory: chunk x 231 warped masks)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.far_quantile < 1.0:
            raise ValueError(f"far_quantile must be in [0, 1), got {self.far_quantile}.")
        if self.max_turn <= 0 or self.max_log_scale <= 0 or min(self.coarse_steps) < 2 or self.chunk < 1:
            raise ValueError("max_turn, max_log_scale must be > 0, coarse_steps >= 2 each, chunk >= 1.")


def similarity_px(k: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """Forward maps (N, 2, 3) on pixel positions for k (N,) complex about ``pivot`` (2,) px."""
    a, b = k.real.float(), k.imag.float()
    linear = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)  # (N, 2, 2)
    pivot = pivot.float()
    shift = pivot[None, :] - (linear @ pivot[:, None])[:, :, 0]  # (N, 2): p - A p
    return torch.cat([linear, shift[:, :, None]], dim=2)


def similarity_params(k: torch.Tensor, pivot: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The same maps as ``affine`` controls (N, 6) in the warp's normalized units (frame ``size`` (H, W))."""
    return affine_pixels_to_normalized(similarity_px(k, pivot), size).reshape(-1, 6)


def _as_pairs(masks_t: torch.Tensor, masks_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m0, m1 = (torch.as_tensor(m).float() for m in (masks_t, masks_next))
    m0, m1 = (m[:, None] if m.ndim == 3 else m for m in (m0, m1))  # (N, 1, H, W)
    if m0.shape != m1.shape or m0.ndim != 4 or m0.shape[1] != 1:
        raise ValueError(
            f"Pivot fits need two stacks of masks of one shape (N, H, W), got {tuple(masks_t.shape)} "
            f"and {tuple(masks_next.shape)}."
        )
    return m0, m1


@torch.no_grad()
def fit_similarity(
    masks_t: torch.Tensor, masks_next: torch.Tensor, pivot: torch.Tensor, cfg: PivotConfig | None = None
) -> torch.Tensor:
    """k (N,) complex: the pivot control that maps each mask of ``masks_t`` onto the next (Eq. 5 over the
    family: the mean squared difference of the warped and the next mask), by a coarse grid over (turn,
    log-stretch) and two finer grids around each pair's best. Masks (N, H, W) or (N, 1, H, W)."""
    cfg = cfg or PivotConfig()
    m0, m1 = _as_pairs(masks_t, masks_next)
    turns = torch.linspace(-cfg.max_turn, cfg.max_turn, cfg.coarse_steps[0])
    logs = torch.linspace(-cfg.max_log_scale, cfg.max_log_scale, cfg.coarse_steps[1])
    coarse = [g.reshape(-1) for g in torch.meshgrid(turns, logs, indexing="ij")]
    spans = [(turns[1] - turns[0]).item(), (logs[1] - logs[0]).item()]
    offs = [g.reshape(-1) for g in torch.meshgrid(*[torch.linspace(-1.0, 1.0, 9)] * 2, indexing="ij")]
    out = []
    for i in range(0, m0.shape[0], cfg.chunk):
        a, b = m0[i : i + cfg.chunk], m1[i : i + cfg.chunk]
        n = a.shape[0]
        phi, log_s = _best_on_grid(a, b, pivot, coarse[0].expand(n, -1), coarse[1].expand(n, -1))
        for scale in (1.0, 0.2):  # around the best so far, a grid as wide as (a share of) the coarse spacing
            phi_k = phi[:, None] + scale * spans[0] * offs[0]  # (n, 81)
            log_k = log_s[:, None] + scale * spans[1] * offs[1]
            phi, log_s = _best_on_grid(a, b, pivot, phi_k, log_k)
        out.append(torch.exp(log_s) * torch.exp(1j * phi))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.complex64)


def _best_on_grid(
    a: torch.Tensor, b: torch.Tensor, pivot: torch.Tensor, phi: torch.Tensor, log_s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair's best (turn, log-stretch), (n,) each, among its candidates phi, log_s (n, K) (Eq. 5)."""
    n, cands = phi.shape
    ks = (torch.exp(log_s) * torch.exp(1j * phi)).reshape(-1)  # (n K,)
    warped = warp(a.repeat_interleave(cands, 0), similarity_params(ks, pivot, tuple(a.shape[-2:])), "affine")
    loss = ((warped - b.repeat_interleave(cands, 0)) ** 2).mean(dim=(1, 2, 3)).reshape(n, cands)
    j = loss.argmin(1, keepdim=True)
    return phi.gather(1, j)[:, 0], log_s.gather(1, j)[:, 0]


def far_end(mask: torch.Tensor, pivot: torch.Tensor, quantile: float = 0.8) -> torch.Tensor | None:
    """The mask's far end (2,) px (x, y): the mean of its points at least the ``quantile`` of distance from
    the pivot; None for a mask of under 3 pixels. ``mask`` (H, W) (or (1, 1, H, W)), values > 0.5 held."""
    h, w = mask.shape[-2:]
    held = mask.reshape(h, w) > 0.5
    if int(held.sum()) < 3:
        return None
    ys, xs = torch.nonzero(held, as_tuple=True)
    points = torch.stack([xs, ys], 1).float() + 0.5  # (P, 2) pixel centres
    dist = torch.linalg.norm(points - pivot.float()[None], dim=1)
    return points[dist >= torch.quantile(dist, quantile)].mean(0)


def bend_reach(mask: torch.Tensor, pivot: torch.Tensor, cfg: PivotConfig | None = None) -> float | None:
    """The far end's distance R from the pivot (px) that :func:`bend_masks` bends ``mask`` (H, W) over, or
    None when there is no far end or it lies within ``cfg.min_reach_px`` of the pivot (nothing to bend)."""
    cfg = cfg or PivotConfig()
    end = far_end(mask, pivot, cfg.far_quantile)
    reach = None if end is None else float(torch.linalg.norm(end - pivot.float()))
    return reach if reach is not None and reach >= cfg.min_reach_px else None


def bend_masks(
    masks: torch.Tensor, moves: torch.Tensor, pivot: torch.Tensor, reach: torch.Tensor
) -> torch.Tensor:
    """The cantilever: masks (B, H, W) bent about ``pivot`` (2,) px so that each point p moves by
    w(p) D, w = min(|p - pivot| / R, 1), D = ``moves`` (B, 2) px (the far end's move) and R = ``reach``
    (B,) px (the far end's distance from the pivot): the pivot stays, the far end moves by D. Bilinear,
    reading each output pixel p at p - w(p) D (a first-order inverse, exact where w is flat); returns
    (B, H, W) in [0, 1] (threshold at 0.5 for a binary mask)."""
    b, h, w = masks.shape
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    points = torch.stack([xs, ys], -1).to(masks.device)  # (H, W, 2) pixel centres (x, y)
    dist = torch.linalg.norm(points - pivot.to(points), dim=-1)  # (H, W)
    weight = (dist[None] / reach.to(points).view(b, 1, 1)).clamp(max=1.0)  # (B, H, W)
    read = points[None] - weight[..., None] * moves.to(points)[:, None, None, :]  # (B, H, W, 2) px
    grid = read / torch.tensor([w / 2.0, h / 2.0], device=points.device) - 1.0  # grid_sample's [-1, 1]
    source = masks.float()[:, None]  # (B, 1, H, W)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def steer(
    mask: torch.Tensor,
    move_px: torch.Tensor | np.ndarray | tuple[float, float],
    pivot: torch.Tensor,
    cfg: PivotConfig | None = None,
) -> complex | None:
    """The k that moves the far end of ``mask`` (H, W) by ``move_px`` (dx, dy) pixels, turning and
    stretching about the pivot; None when the far end is within ``cfg.min_reach_px`` of the pivot (the
    caller translates instead)."""
    cfg = cfg or PivotConfig()
    end = far_end(mask, pivot, cfg.far_quantile)
    if end is None:
        return None
    v0 = complex(*(end - pivot.float()).tolist())
    if abs(v0) < cfg.min_reach_px:
        return None
    dx, dy = (float(v) for v in move_px)
    return (v0 + complex(dx, dy)) / v0


@dataclass
class PivotEstimate:
    """Where the masks turn about (:func:`estimate_pivot`)."""

    point_px: np.ndarray
    """(2,) (x, y) pixels; may lie outside the frame (a shoulder above the picture)."""
    pairs: int
    """Mask pairs whose affine fit was used."""
    median_miss_px: float
    """Median distance by which the fitted maps move the pivot (0 for a perfect fixed point)."""


def estimate_pivot(masks_t: torch.Tensor, masks_next: torch.Tensor, iterations: int = 10) -> PivotEstimate:
    """The point that the affine maps fitted between ``masks_t`` and ``masks_next`` (N, H, W) move least:
    argmin_p sum_i w_i |(A_i - I) p + t_i|^2, reweighted (Huber-like, w_i = 1 / max(r_i / median r, 1))."""
    m0, m1 = _as_pairs(masks_t, masks_next)
    fit = fit_controls(m0[:, 0], m1[:, 0], "affine")
    maps = affine_normalized_to_pixels(fit.params_norm.reshape(-1, 2, 3).double(), tuple(m0.shape[-2:]))
    maps = maps[fit.valid].numpy()  # (N, 2, 3) forward maps on pixel positions
    if len(maps) < 2:
        raise ValueError("Estimating a pivot needs at least 2 pairs of non-empty masks; give more frames.")
    lin = maps[:, :, :2] - np.eye(2)[None]  # (N, 2, 2): A_i - I
    shift = maps[:, :, 2]  # (N, 2)
    weights = np.ones(len(maps))
    point = np.zeros(2)
    for _ in range(iterations):
        lhs = np.einsum("n,nji,njk->ik", weights, lin, lin)
        rhs = -np.einsum("n,nji,nj->i", weights, lin, shift)
        point = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        miss = np.linalg.norm(np.einsum("nij,j->ni", lin, point) + shift, axis=1)
        weights = 1.0 / np.maximum(miss / (np.median(miss) + 1e-9), 1.0)
    return PivotEstimate(point_px=point, pairs=len(maps), median_miss_px=float(np.median(miss)))
