"""Control fitting (Eq. 5): the control that maps one frame's foreground mask onto the next.

theta^t = argmin_theta mean( (T(theta)(m^t) - m^{t+1})^2 )            (docs/method.md section 5, Eq. 5)

These theta are LCVG's action labels: fitted between the masks of consecutive real frames, they
annotate a raw video with the actions that drive the environment. :func:`fit_controls` solves a
whole batch of mask pairs at once, with one of two solvers:

* ``"reference"``: the paper's recipe, Adam with lr 0.1 for 1,000 iterations from the identity,
  returning each pair's best iterate (the identity included), so never worse than not moving.
  Batched over pairs on the sum of the per-pair losses, which is the same as independent solves
  (each pair's loss depends only on its parameters and Adam normalizes per element).
* ``"fast"`` (default): a global search (every shift of the frame by cross-correlation, exactly,
  to 0.05 px; for rotation and affine also angles and scalings x shifts), then a few
  Levenberg-Marquardt iterations from the best starts (:mod:`lcvg_env.control.fast_fit`);
* ``"brute"``: an exhaustive search, slow, the yardstick of the other two
  (:mod:`lcvg_env.control.brute`).

Units of the result (:class:`ControlFit`), the conventions of :mod:`lcvg_env.control.warp`:

* ``translation``: ``params`` (N, 2) = (dx, dy) in pixels, x right, y down;
* ``rotation``: ``params`` (N, 3) = (dx, dy, phi): phi in radians, counter-clockwise on screen,
  about the centroid of m^t (``pivot``), then (dx, dy) pixels, so (dx, dy) is the displacement of
  the centroid. This is the environment's rotation too (``LayeredGenerator.warp_mask`` turns the
  mask about its centroid), so a fitted label replays as it was fitted;
* ``affine``: ``params`` (N, 2, 3), forward matrices [A | t] in normalized [-1, 1] coordinates
  (:func:`~lcvg_env.control.units.affine_normalized_to_pixels` gives the same maps on pixel positions).

``params_norm`` (N, dims) holds every mode in normalized units, the input of ``warp`` (with
``pivot``) and of ``LayeredGenerator.step``. A pair whose masks are empty gets the identity, its
loss, and ``valid = False``; nothing is ever NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from lcvg_env.control import fast_fit
from lcvg_env.control.brute import BruteConfig, brute_solve
from lcvg_env.control.moments import mask_moments
from lcvg_env.control.units import affine_pixels_to_normalized
from lcvg_env.control.warp import (
    CONTROL_DIMS,
    check_mode,
    identity_params,
    normalized_to_pixels,
    pixels_to_normalized,
    pixels_to_normalized_points,
    warp,
)
from lcvg_env.runtime import torch_threads

SOLVERS = ("fast", "reference", "brute")


@dataclass
class FitConfig:
    """Settings of both solvers of Eq. 5."""

    reference_lr: float = 0.1
    """Adam learning rate of the reference solver (the paper: 0.1)."""
    reference_iterations: int = 1000
    """Adam iterations of the reference solver (the paper: 1,000)."""
    fast_sigmas: tuple[float, ...] = (2.0, 0.0)
    """Blur levels (pixels, coarse to fine; the last must be 0, the exact Eq. 5) of the fast solver's
    affine start from mask moments. Levels blurred by 2 pixels or more run at half resolution."""
    fast_iterations: tuple[int, ...] = (3, 4)
    """Levenberg-Marquardt iterations on each of those levels; the last count is also that of the
    refinement of the global stage's starts (every mode)."""
    min_mass: float = 0.5
    """A mask whose sum is below this many pixels is empty: its pair gets the identity, valid=False."""
    batch_size: int = 64
    """Pairs solved together (bounds memory: the fast solver's affine mode peaks at ~3 MB per pair of
    64x64 masks, ~180 MB for 64 pairs; larger batches are no faster)."""
    search: fast_fit.SearchGrid = field(default_factory=fast_fit.SearchGrid)
    """The fast solver's global stage (every shift of the frame; rotation: x a grid of angles) and the
    local grid around its best candidates."""
    brute: BruteConfig = field(default_factory=BruteConfig)
    """Grids and restarts of the brute-force search (``solver="brute"``, :mod:`lcvg_env.control.brute`)."""
    threads: int | None = None
    """Torch CPU threads while solving (restored after); None keeps the caller's setting. The
    solver's tensors are small, so one thread is often fastest, and on a busy machine far faster
    (measured here: 2 threads 70x slower than 1). Switching costs ~40 ms each way (OpenMP rebuilds
    its pool), so prefer setting it once around a whole loop: ``with torch_threads(1): ...``."""

    def __post_init__(self) -> None:
        self.fast_sigmas = tuple(float(s) for s in self.fast_sigmas)
        self.fast_iterations = tuple(int(i) for i in self.fast_iterations)
        if len(self.fast_sigmas) != len(self.fast_iterations) or not self.fast_sigmas:
            raise ValueError(
                f"fast_sigmas {self.fast_sigmas} and fast_iterations {self.fast_iterations} must be "
                "non-empty and of the same length (one iteration count per blur level)."
            )
        if self.fast_sigmas[-1] != 0.0 or any(s < 0 for s in self.fast_sigmas):
            raise ValueError(
                f"fast_sigmas must be >= 0 and end with 0 (the exact loss), got {self.fast_sigmas}."
            )
        if self.reference_lr <= 0 or self.reference_iterations < 0 or min(self.fast_iterations) < 0:
            raise ValueError("Learning rate must be > 0 and iteration counts >= 0.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}.")
        if self.batch_size < 1 or self.min_mass < 0:
            raise ValueError(
                f"batch_size must be >= 1 and min_mass >= 0, got {self.batch_size}, {self.min_mass}."
            )


@dataclass
class ControlFit:
    """Fitted controls for N mask pairs (see the module docstring for units)."""

    mode: str
    size: tuple[int, int]
    """(H, W) of the masks."""
    params: torch.Tensor
    """Pixels (and radians) for translation (N, 2) / rotation (N, 3); normalized (N, 2, 3) for affine."""
    params_norm: torch.Tensor
    """(N, dims) in normalized units: what ``warp`` and ``LayeredGenerator.step`` take."""
    params_px: torch.Tensor
    """(N, dims) the environment's ``control_px`` units (``warp.normalized_to_pixels``): pixels and
    radians; for affine [A | t] row-major with the normalized linear part A and t in pixels."""
    loss: torch.Tensor
    """(N,) the loss of Eq. 5 at the solution."""
    valid: torch.Tensor
    """(N,) bool; False where m^t or m^{t+1} is empty (the control is then the identity)."""
    pivot: torch.Tensor | None = None
    """(N, 2) normalized centre of rotation (the centroid of m^t); rotation only."""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.loss.shape[0]


def as_masks(masks: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """Float masks (N, H, W) in [0, 1] from arrays or tensors (N, H, W) or (N, 1, H, W), bool or float."""
    t = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 3:
        raise ValueError(f"{name} must be masks of shape (N, H, W), got {tuple(t.shape)}.")
    t = t.float()
    if t.numel() and (t.min() < 0 or t.max() > 1 or torch.isnan(t).any()):
        raise ValueError(
            f"{name} must lie in [0, 1] (soft or binary masks), got [{t.min():.3g}, {t.max():.3g}]."
        )
    return t


def fit_loss(
    masks_t: torch.Tensor, masks_next: torch.Tensor, params_norm: torch.Tensor, mode: str, pivot=None
) -> torch.Tensor:
    """The loss of Eq. 5 per pair (N,): mean((T(theta)(m^t) - m^{t+1})^2) with the project's ``warp``."""
    warped = warp(masks_t[:, None], params_norm, mode, pivot=pivot)[:, 0]
    return ((warped - masks_next) ** 2).mean(dim=(1, 2))


def solve_reference(
    masks_t: torch.Tensor, masks_next: torch.Tensor, mode: str, pivot, cfg: FitConfig
) -> torch.Tensor:
    """The paper's recipe: Adam(lr) from the identity for ``reference_iterations`` steps; (N, dims).

    Returns, per pair, the best iterate seen (the identity, iterate 0, included), not the last:
    with a fixed lr of 0.1 (3.2 px at 64 px) Adam keeps stepping where binary masks give little or
    no gradient, and its last iterate can be far worse than not moving at all.
    """
    params = identity_params(mode, masks_t.shape[0]).requires_grad_(True)
    best = params.detach().clone()
    best_loss = torch.full((masks_t.shape[0],), math.inf)
    opt = torch.optim.Adam([params], lr=cfg.reference_lr)
    for it in range(cfg.reference_iterations + 1):
        opt.zero_grad(set_to_none=True)
        loss = fit_loss(masks_t, masks_next, params, mode, pivot)  # (N,) at the current iterate
        better = loss.detach() < best_loss
        best = torch.where(better[:, None], params.detach(), best)
        best_loss = torch.where(better, loss.detach(), best_loss)
        if it == cfg.reference_iterations:
            break
        # Sum of per-pair losses: the gradient of each pair's parameters is its own loss's gradient.
        loss.sum().backward()
        opt.step()
    return best


def _solve_chunk(m0: torch.Tensor, m1: torch.Tensor, mode: str, solver: str, cfg: FitConfig) -> dict:
    size = (m0.shape[-2], m0.shape[-1])
    pivot_px = mask_moments(m0)[1]  # centroid of m^t, (N, 2) pixels
    pivot = pixels_to_normalized_points(pivot_px, size) if mode == "rotation" else None
    with torch.enable_grad() if solver == "reference" else torch.no_grad():
        if solver == "reference":
            params_norm = solve_reference(m0, m1, mode, pivot, cfg)
        else:
            if solver == "brute":
                theta, _ = brute_solve(m0, m1, mode, cfg.brute)
            else:
                theta, _ = fast_fit.solve(m0, m1, mode, cfg.fast_sigmas, cfg.fast_iterations, cfg.search)
            params_norm = _to_normalized(fast_fit.forward_pixels(theta, mode, pivot_px), mode, size)
    with torch.no_grad():
        loss = fit_loss(m0, m1, params_norm, mode, pivot)
    return {"params_norm": params_norm, "loss": loss, "pivot": pivot}


def _to_normalized(forward_px: torch.Tensor, mode: str, size: tuple[int, int]) -> torch.Tensor:
    if mode == "affine":  # a pixel-space forward map (N, 2, 3) -> the warp's (N, 6)
        return affine_pixels_to_normalized(forward_px, size).reshape(-1, 6)
    return pixels_to_normalized(forward_px, mode, size)


def internal_loss(
    masks_t: torch.Tensor, masks_next: torch.Tensor, theta: torch.Tensor, mode: str
) -> torch.Tensor:
    """The loss of Eq. 5 (N,) of the solvers' internal parameters ``theta`` (N, D) (pixels about the
    centroid of m^t, :mod:`lcvg_env.control.fast_fit`), e.g. those :func:`~lcvg_env.control.brute.brute_solve`
    finds for the simpler modes on its way."""
    size = (masks_t.shape[-2], masks_t.shape[-1])
    pivot_px = mask_moments(masks_t)[1]
    pivot = pixels_to_normalized_points(pivot_px, size) if mode == "rotation" else None
    params_norm = _to_normalized(fast_fit.forward_pixels(theta, mode, pivot_px), mode, size)
    return fit_loss(masks_t, masks_next, params_norm, mode, pivot)


def check_solver(solver: str) -> str:
    """Return ``solver`` if it is one of :data:`SOLVERS`, else raise a ValueError that lists them."""
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; choose one of {SOLVERS}.")
    return solver


def fit_controls(
    masks_t: np.ndarray | torch.Tensor,
    masks_next: np.ndarray | torch.Tensor,
    mode: str = "translation",
    *,
    solver: str = "fast",
    config: FitConfig | None = None,
) -> ControlFit:
    """Solve Eq. 5 for every pair (masks_t[i], masks_next[i]); masks (N, H, W) in [0, 1].

    ``solver`` is ``"fast"`` (default), ``"reference"`` (the paper's Adam recipe) or ``"brute"``
    (exhaustive search, seconds per pair). Returns a
    :class:`ControlFit` with the parameters in pixels / normalized units and the loss per pair.
    """
    check_mode(mode)
    check_solver(solver)
    cfg = config or FitConfig()
    m0, m1 = as_masks(masks_t, "masks_t"), as_masks(masks_next, "masks_next")
    if m0.shape != m1.shape:
        raise ValueError(
            f"masks_t {tuple(m0.shape)} and masks_next {tuple(m1.shape)} must have the same shape."
        )
    size = (m0.shape[1], m0.shape[2])
    valid = (m0.sum(dim=(1, 2)) >= max(cfg.min_mass, 1e-6)) & (m1.sum(dim=(1, 2)) >= max(cfg.min_mass, 1e-6))
    n = m0.shape[0]
    params_norm = identity_params(mode, n)
    loss = ((m0 - m1) ** 2).mean(dim=(1, 2))  # the identity's loss, kept for invalid pairs
    pivot = torch.zeros(n, 2) if mode == "rotation" else None
    idx = torch.nonzero(valid)[:, 0]
    # fp32 on the CPU even when a caller runs under bf16 autocast (the solves have no bf16 kernels)
    with torch_threads(cfg.threads), torch.autocast("cpu", enabled=False):
        for start in range(0, len(idx), cfg.batch_size):
            chunk = idx[start : start + cfg.batch_size]
            out = _solve_chunk(m0[chunk], m1[chunk], mode, solver, cfg)
            params_norm[chunk], loss[chunk] = out["params_norm"], out["loss"]
            if pivot is not None:
                pivot[chunk] = out["pivot"]
    if mode == "rotation":  # an empty m^t pivots about the frame centre, like warp_mask
        pivot = torch.where(valid[:, None], pivot, torch.zeros_like(pivot))
    params_px = normalized_to_pixels(params_norm, mode, size)
    params = params_norm.reshape(n, 2, 3) if mode == "affine" else params_px
    return ControlFit(
        mode=mode, size=size, params=params, params_norm=params_norm, params_px=params_px,
        loss=loss, valid=valid, pivot=pivot, extra={"solver": solver},
    )  # fmt: skip


__all__ = ["CONTROL_DIMS", "SOLVERS", "ControlFit", "FitConfig", "check_solver", "fit_controls", "fit_loss"]
