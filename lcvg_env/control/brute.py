"""Exhaustive (brute-force) search for Eq. 5: the yardstick the solvers of lcvg-env are tested against.

theta* = argmin_theta mean( (T(theta)(m^t) - m^{t+1})^2 )            (docs/method.md section 5, Eq. 5)

Slow on purpose and independent of the solvers' starts; every loss is the project's ``warp`` (and
:func:`~lcvg_env.control.fit.fit_loss` for the reported one):

* ``translation``: every shift of the frame on a 0.1 px grid, exactly, by cross-correlation
  (:mod:`lcvg_env.control.shift_search`: for each sub-pixel offset, the loss of all integer shifts
  at once; beyond the grid the mask has left the frame), then a 0.02 px grid around the best few
  local minima, then Levenberg-Marquardt from the best two grid points (kept only if better);
* ``rotation`` (about the centroid of m^t, the solvers' pivot): the whole circle of angles (3 deg
  apart) x every shift of the frame (0.5 px apart), the same way; then finer grids of shifts x angles
  around the best local minima and the translation optimum (0.25 px x 0.5 deg, 0.05 px x 0.1 deg,
  0.02 px x 0.025 deg), each loss by the warp, and the same final polish;
* ``affine``: no grid is feasible in six dimensions: the best of many Levenberg-Marquardt restarts
  from random perturbations (scale, shear, angle, shift) of the brute-force rotation optimum.

Results use the units of :func:`~lcvg_env.control.fit.fit_controls` (pixels and radians for
translation / rotation; normalized forward matrices for affine).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from lcvg_env.control import fast_fit
from lcvg_env.control.moments import initial_candidates, mask_moments
from lcvg_env.control.shift_search import best_on_grid
from lcvg_env.control.warp import pixels_to_normalized, pixels_to_normalized_points


@dataclass
class BruteConfig:
    """Grids and restarts of the brute-force search (defaults: the yardstick of the tests and benchmarks)."""

    shift_step: float = 0.1
    """Translation: spacing (px) of the exhaustive grid over every shift of the frame."""
    fine_step: float = 0.02
    """Spacing (px) of the final grids around the best candidates (both modes)."""
    candidates: int = 8
    """Local minima of the exhaustive grids refined on the finer grids."""
    angle_step_deg: float = 3.0
    """Rotation: spacing (degrees) of the angles over the whole circle."""
    max_angle_deg: float = 180.0
    """Rotation: the angles searched are within +-this (180: the whole circle)."""
    restarts: int = 64
    """Affine: random restarts of Levenberg-Marquardt around the rotation optimum (and as many
    again, closer, around the best of them)."""
    iterations: int = 30
    """Levenberg-Marquardt iterations per restart (affine) and of the final polish of the best grid
    points (translation, rotation)."""
    seed: int = 0
    """Affine: seed of the random restarts."""

    def __post_init__(self) -> None:
        if min(self.shift_step, self.fine_step, self.angle_step_deg) <= 0 or self.candidates < 1:
            raise ValueError("Grid steps must be > 0 and candidates >= 1.")
        if not 0 < self.max_angle_deg <= 180 or self.restarts < 0 or self.iterations < 1:
            raise ValueError("max_angle_deg must be in (0, 180], restarts >= 0 and iterations >= 1.")


def grid(center: torch.Tensor, half: tuple[float, ...], step: tuple[float, ...]) -> torch.Tensor:
    """Points (M, D) of the grid center +- half on each axis, ``step`` apart (both ends included)."""
    axes = [
        c + torch.arange(-round(h / s), round(h / s) + 1, dtype=center.dtype) * s
        for c, h, s in zip(center.tolist(), half, step, strict=True)
    ]
    return torch.stack([g.reshape(-1) for g in torch.meshgrid(*axes, indexing="ij")], 1)


def warp_losses(
    m0: torch.Tensor, m1: torch.Tensor, thetas: torch.Tensor, c0: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """Eq. 5 loss (M,) of one pair (H, W) at translation (M, 2) or rotation (M, 3) controls in pixels
    (radians) about ``c0`` (2,) pixels: :func:`~lcvg_env.control.fit.fit_loss`, the project's warp."""
    from lcvg_env.control.fit import fit_loss  # here: fit.py imports this module

    size = tuple(m0.shape)
    mode = "translation" if thetas.shape[1] == 2 else "rotation"
    pivot = pixels_to_normalized_points(c0.float()[None], size)
    out = []
    for part in thetas.split(chunk):
        k = len(part)
        m0k, m1k = m0.float().expand(k, *size), m1.float().expand(k, *size)
        out.append(fit_loss(m0k, m1k, pixels_to_normalized(part, mode, size), mode, pivot.expand(k, 2)))
    return torch.cat(out).double()


def refine_on_grids(m0, m1, c0, starts: torch.Tensor, halves, steps, keep: int) -> torch.Tensor:
    """The best ``keep`` points (keep, D) over the grids ``halves``/``steps`` around each start (S, D)."""
    points = torch.cat([grid(s, halves, steps) for s in starts])
    losses = warp_losses(m0, m1, points, c0)
    per_start = losses.reshape(len(starts), -1)
    best = per_start.argmin(dim=1)  # the best point around each start, then the best starts
    order = torch.argsort(per_start[torch.arange(len(starts)), best])[:keep]
    return points.reshape(len(starts), -1, points.shape[1])[order, best[order]]


def polish(m0, m1, c0, starts: torch.Tensor, mode: str, iterations: int) -> torch.Tensor:
    """Levenberg-Marquardt on all pixels (the exact loss) from every start (S, D); the best point
    (D,) seen, the starts included."""
    s = len(starts)
    level = fast_fit.make_level(
        m0.float().expand(s, *m0.shape), m1.float().expand(s, *m1.shape), c0.float().expand(s, 2), 0.0, 1
    )
    theta = fast_fit.refine(starts.float(), mode, level, iterations)  # keeps each row's best, start included
    return theta[fast_fit.evaluate(level, theta, mode)[2].argmin()]


def brute_translation(m0: torch.Tensor, m1: torch.Tensor, cfg: BruteConfig) -> torch.Tensor:
    """The Eq. 5 optimum shift (2,) in pixels of one pair of masks (H, W)."""
    m0, m1 = m0.double(), m1.double()
    zero = torch.zeros(1, 2, dtype=torch.float64)
    angles = torch.zeros(1, dtype=torch.float64)
    found = best_on_grid(m0[None], m1[None], angles, zero, cfg.shift_step, cfg.candidates, chunk=32)
    half = cfg.shift_step
    best = refine_on_grids(m0, m1, zero[0], found[1][0, :, :2], (half, half), (cfg.fine_step,) * 2, keep=2)
    return polish(m0, m1, zero[0], best, "translation", cfg.iterations)


def brute_rotation(
    m0: torch.Tensor, m1: torch.Tensor, c0: torch.Tensor, shift: torch.Tensor, cfg: BruteConfig
) -> torch.Tensor:
    """The Eq. 5 optimum (dx, dy, phi) (3,) of one pair, turning about ``c0`` (2,) pixels; ``shift``
    (2,): the translation optimum, one more start."""
    m0, m1, c0 = m0.double(), m1.double(), c0.double()
    step = math.radians(cfg.angle_step_deg)
    count = math.floor(math.radians(cfg.max_angle_deg) / step + 1e-9)
    angles = torch.arange(-count, count + 1, dtype=torch.float64) * step
    if cfg.max_angle_deg >= 180:  # -180 and 180 are the same angle
        angles = angles[angles > -math.pi + 1e-9]
    starts = best_on_grid(m0[None], m1[None], angles, c0[None], 0.5, cfg.candidates, chunk=64)[1][0]
    starts = torch.cat([starts, torch.cat([shift.double(), torch.zeros(1, dtype=torch.float64)])[None]])
    deg = math.radians(1.0)
    stages = (  # (half widths, steps, points kept): each grid covers a cell of the one before
        ((0.5, 0.5, step / 2), (0.25, 0.25, 0.5 * deg), 4),
        ((0.25, 0.25, 0.25 * deg), (0.05, 0.05, 0.1 * deg), 3),
        ((0.06, 0.06, 0.05 * deg), (cfg.fine_step, cfg.fine_step, 0.025 * deg), 2),
    )
    for halves, steps, keep in stages:
        starts = refine_on_grids(m0, m1, c0, starts, halves, steps, keep)
    return polish(m0, m1, c0, starts, "rotation", cfg.iterations)


def perturb(
    theta: torch.Tensor, count: int, linear: float, shift: float, gen: torch.Generator
) -> torch.Tensor:
    """``count`` random affine inverse maps (count, 6) near ``theta`` (6,): B (I + E), b + e with
    E ~ N(0, linear^2) per entry (scale, shear and angle) and e ~ N(0, shift^2) pixels."""
    b = theta.reshape(2, 3)
    e = torch.randn(count, 2, 2, generator=gen, dtype=theta.dtype) * linear
    lin = b[:, :2] @ (torch.eye(2, dtype=theta.dtype) + e)
    t = b[:, 2] + torch.randn(count, 2, generator=gen, dtype=theta.dtype) * shift
    return torch.cat([lin, t[:, :, None]], dim=2).reshape(count, 6)


def brute_affine(m0, m1, c0, rotation: torch.Tensor, cfg: BruteConfig) -> torch.Tensor:
    """The best affine inverse map (6,) over random restarts around the rotation optimum (3,)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    start = fast_fit.rotation_as_affine(rotation[None])[0]
    _, c1, cov1 = mask_moments(m1[None])
    _, _, cov0 = mask_moments(m0[None])
    moments = torch.cat(initial_candidates("affine", c0[None], c1, cov0, cov1))  # (5, 6) incl. identity
    first = torch.cat([start[None], moments, perturb(start, cfg.restarts, 0.06, 0.7, gen)])
    best = polish(m0, m1, c0, first, "affine", cfg.iterations)
    second = torch.cat([best[None], perturb(best, cfg.restarts, 0.02, 0.25, gen)])
    return polish(m0, m1, c0, second, "affine", cfg.iterations)


def brute_solve(
    masks_t: torch.Tensor, masks_next: torch.Tensor, mode: str, cfg: BruteConfig | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Brute-force Eq. 5 for masks (N, H, W), pair by pair: the fast solver's internal parameters (N, D)
    in pixels about the centroid of m^t (:mod:`lcvg_env.control.fast_fit`), and those of the simpler
    modes found on the way (translation starts rotation, rotation starts affine)."""
    cfg = cfg or BruteConfig()
    _, c0, _ = mask_moments(masks_t)
    chain: dict[str, list[torch.Tensor]] = {"translation": [], "rotation": [], "affine": []}
    for m0, m1, c in zip(masks_t, masks_next, c0, strict=True):
        chain["translation"].append(brute_translation(m0, m1, cfg).float())
        if mode == "translation":
            continue
        chain["rotation"].append(brute_rotation(m0, m1, c, chain["translation"][-1], cfg).float())
        if mode == "affine":
            chain["affine"].append(brute_affine(m0, m1, c, chain["rotation"][-1], cfg).float())
    found = {k: torch.stack(v) for k, v in chain.items() if v}
    return found[mode], {k: v for k, v in found.items() if k != mode}


def real_mask_pairs(
    data_dir: str | os.PathLike,
    split: str = "test",
    pairs: int = 64,
    seed: int = 7000,
    checkpoint: str | os.PathLike = "pusher",
) -> dict[str, np.ndarray]:
    """Consecutive mask pairs of real frames, the material the solvers are checked on.

    Masks are the checkpoint's binarized M (``generator.binary_mask``, what the environment moves) of
    the frames of ``split``; episode after episode, ceil(pairs / episodes) frame indices t are drawn
    without replacement by ``numpy.random.default_rng(seed)`` and the first ``pairs`` pairs kept.
    Returns bool masks ``masks_t``, ``masks_next`` (P, H, W) and ``episode``, ``t`` (P,).
    """
    from lcvg_env.data import open_episodes
    from lcvg_env.model import open_model

    ckpt = open_model(checkpoint)
    size = (ckpt.config.height, ckpt.config.width)
    episodes = open_episodes(data_dir, split=split)
    per_episode = math.ceil(pairs / len(episodes))
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"masks_t": [], "masks_next": [], "episode": [], "t": []}
    for ep in episodes:
        if len(out["t"]) >= pairs:
            break
        masks = ckpt.binary_masks(ep.frames(size=size)).numpy()  # (T, H, W) bool
        for t in rng.choice(len(masks) - 1, min(per_episode, len(masks) - 1), replace=False).tolist():
            for key, value in zip(out, (masks[t], masks[t + 1], ep.name, t), strict=True):
                out[key].append(value)
    return {k: np.stack(v[:pairs]) if k.startswith("masks") else np.array(v[:pairs]) for k, v in out.items()}
