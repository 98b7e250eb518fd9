"""The fast solver of Eq. 5: a global search over shifts (x angles, x scalings), then Levenberg-Marquardt.

Eq. 5 (docs/method.md section 5) asks for the control theta whose warp T(theta) carries the mask m^t
onto m^{t+1}. The paper runs 1,000 Adam steps per pair from the identity. With binary masks the
loss is rugged: its local minima are a fraction of a pixel apart, so a local solver alone (or a
start from mask moments) often stops above the optimum. Here, for a whole batch of pairs at once:

1. **Global stage** (:mod:`lcvg_env.control.subpixel`, :class:`SearchGrid`): the exact loss of
   *every* integer shift of the frame by one cross-correlation (FFT) per pair, then, around its best
   local minima, every sub-pixel shift on a fine grid from the same maps (the bilinear warp makes
   the loss a biquadratic in the sub-pixel offset). Rotation: also m^t turned by a grid of angles
   (on masks shrunk 2x), each with the same search over shifts within ``max_shift``. Affine: m^t
   mapped by the rotation solution times a grid of axis scalings, likewise; plus the rotation
   solution itself and the moments start below.
2. **Levenberg-Marquardt** from the best few of those starts on the sum of squared residuals
   r(p) = m^t(q(p)) - m^{t+1}(p), where q = T(theta)^-1 (p) is where bilinear sampling reads m^t.
   The Jacobian is the gradient of the bilinear interpolant of m^t at q times dq/dtheta
   (forward-additive Lucas-Kanade). Each pair keeps its best result.
3. **Focus**: pixels where neither the warped m^t nor m^{t+1} has mass (with a margin) add nothing
   to the loss or the Jacobian, so Levenberg-Marquardt works on the pixels near the two masks only.
4. **Moments** (:mod:`lcvg_env.control.moments`, affine only): centroid shift, principal-axis
   rotation and scale, refined coarse (blurred at half resolution) to fine: one more affine start.

Checked against an exhaustive search (:mod:`lcvg_env.control.brute`) on masks of real frames
(tests/control/test_real_pairs.py, benchmarks/bench_fit.py --real).

All of it is in pixel coordinates (square pixels, so a rotation is a rotation); the caller
converts to normalized units. Internal parameters per mode (c0: centroid of m^t):

* ``translation``: theta = d,         q = p - d
* ``rotation``:    theta = (d, phi),  q = c0 + R(phi)^T (p - c0 - d)
* ``affine``:      theta = (B, b) of the *inverse* map, q = c0 + B (p - c0) + b (linear in theta)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lcvg_env.control.moments import initial_candidates, mask_moments, pixel_grid, rotation_transpose
from lcvg_env.control.subpixel import SearchGrid, affine_starts, global_starts


@dataclass
class Level:
    """One level of the coarse-to-fine solve: both masks blurred and scaled alike."""

    source: torch.Tensor
    """m^t, padded and flattened by :func:`pad_for_sampling`, (N, (h+3)(w+3))."""
    target: torch.Tensor
    """m^{t+1} at ``points``, (N, P)."""
    points: torch.Tensor
    """Pixel centres where the loss is evaluated, (1, P, 2) (all pixels) or (N, P, 2) (focused)."""
    pivot: torch.Tensor
    """Centroid c0 of m^t in this level's pixels, (N, 2)."""
    size: tuple[int, int]
    """(h, w) of this level; the loss is a mean over all h * w pixels."""


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) with zero padding (like the warp's outside)."""
    if sigma <= 0:
        return images
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = F.conv2d(images, kernel.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(out, kernel.view(1, 1, -1, 1), padding=(radius, 0))


def pad_for_sampling(images: torch.Tensor) -> torch.Tensor:
    """Zero-pad (N, H, W) by 1 pixel before and 2 after on both axes and flatten: (N, (H+3)(W+3))."""
    return F.pad(images, (1, 2, 1, 2)).reshape(images.shape[0], -1)


def sample(padded: torch.Tensor, q: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear samples (N, P) and their exact gradient d/dq (N, 2, P) at pixel positions q (N, P, 2).

    The interpolation of ``grid_sample(align_corners=False, padding_mode="zeros")`` written out with
    one gather of the four corners, so the gradient is the interpolant's own: a finite-difference
    image gradient stalls Levenberg-Marquardt on sharp binary masks.
    """
    h, w = size
    x = (q[..., 0] - 0.5).clamp(-1.0, float(w))  # pixel centres are at j + 0.5
    y = (q[..., 1] - 0.5).clamp(-1.0, float(h))
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    stride = w + 3
    base = ((y0 + 1) * stride + (x0 + 1)).long()  # (N, P) top-left corner in the padded image
    corners = torch.gather(padded, 1, torch.cat([base, base + 1, base + stride, base + stride + 1], dim=1))
    v00, v10, v01, v11 = corners.chunk(4, dim=1)
    top = v00 + fx * (v10 - v00)
    bottom = v01 + fx * (v11 - v01)
    grad_x = (v10 - v00) + fy * ((v11 - v01) - (v10 - v00))
    return top + fy * (bottom - top), torch.stack([grad_x, bottom - top], dim=1)


def inverse_matrix(theta: torch.Tensor, mode: str, c0: torch.Tensor) -> torch.Tensor:
    """The inverse map q = M [p; 1] as a pixel-space matrix M (N, 2, 3)."""
    n = theta.shape[0]
    if mode == "translation":
        eye = torch.eye(2, dtype=theta.dtype, device=theta.device).expand(n, 2, 2)
        return torch.cat([eye, -theta[:, :, None]], dim=2)
    if mode == "rotation":
        lin = rotation_transpose(theta[:, 2])  # q = c0 + R^T (p - c0 - d)
        shift = c0 - (lin @ (c0 + theta[:, :2])[:, :, None])[:, :, 0]
    else:
        b = theta.reshape(n, 2, 3)  # q = c0 + B (p - c0) + b
        lin, shift = b[:, :, :2], c0 - (b[:, :, :2] @ c0[:, :, None])[:, :, 0] + b[:, :, 2]
    return torch.cat([lin, shift[:, :, None]], dim=2)


def inverse_points(theta: torch.Tensor, mode: str, p: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """q = T(theta)^-1 (p) for pixel centres p (1 or N, P, 2): (N, P, 2)."""
    m = inverse_matrix(theta, mode, c0)
    px, py = p[..., 0], p[..., 1]
    qx = m[:, 0, 0:1] * px + m[:, 0, 1:2] * py + m[:, 0, 2:3]  # elementwise: a bmm with K=2 is slow
    qy = m[:, 1, 0:1] * px + m[:, 1, 1:2] * py + m[:, 1, 2:3]
    return torch.stack([qx, qy], dim=-1)


def jacobian(
    theta: torch.Tensor, mode: str, p: torch.Tensor, c0: torch.Tensor, g: torch.Tensor
) -> torch.Tensor:
    """dr/dtheta (N, D, P) from the gradient g (N, 2, P) of the interpolant of m^t at q."""
    gx, gy = g[:, 0], g[:, 1]
    if mode == "translation":
        return -g
    if mode == "rotation":
        c, s = torch.cos(theta[:, 2:3]), torch.sin(theta[:, 2:3])
        ux = p[..., 0] - c0[:, 0:1] - theta[:, 0:1]  # u = p - c0 - d, (N, P)
        uy = p[..., 1] - c0[:, 1:2] - theta[:, 1:2]
        d_phi = gx * (-s * ux - c * uy) + gy * (c * ux - s * uy)
        return torch.stack([-(gx * c + gy * s), gx * s - gy * c, d_phi], dim=1)
    rx, ry = p[..., 0] - c0[:, 0:1], p[..., 1] - c0[:, 1:2]
    return torch.stack([gx * rx, gx * ry, gx, gy * rx, gy * ry, gy], dim=1)


def evaluate(level: Level, theta: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residuals (N, P), gradient of m^t at q (N, 2, P), and the loss of Eq. 5 on this level (N,)."""
    value, grad = sample(level.source, inverse_points(theta, mode, level.points, level.pivot), level.size)
    r = value - level.target
    return r, grad, (r**2).sum(dim=1) / (level.size[0] * level.size[1])


def lm_step(hess: torch.Tensor, grad: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Levenberg-Marquardt step -(H + lam diag(H))^-1 g, batched: (N, D)."""
    diag = torch.diagonal(hess, dim1=1, dim2=2)  # (N, D)
    ridge = 1e-9 * diag.mean(dim=1, keepdim=True) + 1e-12
    return -torch.linalg.solve(hess + torch.diag_embed(lam[:, None] * diag + ridge), grad)


def refine(theta: torch.Tensor, mode: str, level: Level, iterations: int) -> torch.Tensor:
    """Levenberg-Marquardt on one level; returns the best theta (N, D) seen.

    Each pair keeps its own damping and accepts a step only if its loss drops, so the solve of a
    pair does not depend on the other pairs of the batch.
    """
    n, dims = theta.shape
    best, best_loss = theta, torch.full((n,), math.inf, dtype=theta.dtype, device=theta.device)
    hess = torch.zeros(n, dims, dims, dtype=theta.dtype, device=theta.device)
    grad = torch.zeros_like(theta)
    lam = torch.full((n,), 1e-3, dtype=theta.dtype, device=theta.device)
    for it in range(iterations + 1):
        r, g, loss = evaluate(level, theta, mode)
        better = loss < best_loss
        jac = jacobian(theta, mode, level.points, level.pivot, g)  # (N, D, P)
        best = torch.where(better[:, None], theta, best)
        best_loss = torch.where(better, loss, best_loss)
        hess = torch.where(better[:, None, None], jac @ jac.transpose(1, 2), hess)  # (N, D, D)
        grad = torch.where(better[:, None], (jac @ r[:, :, None])[:, :, 0], grad)
        lam = torch.where(better, lam * 0.3, lam * 5.0).clamp(1e-6, 1e6)
        if it < iterations:
            theta = best + lm_step(hess, grad, lam)
    return best


def pick_best(candidates: list[torch.Tensor], mode: str, level: Level) -> torch.Tensor:
    """Per pair, the candidate with the lowest loss on this level (N, D)."""
    losses = torch.stack([evaluate(level, theta, mode)[2] for theta in candidates])  # (K, N)
    choice = losses.argmin(dim=0)
    return torch.stack(candidates)[choice, torch.arange(len(choice))]


def focus(
    level: Level, theta: torch.Tensor, mode: str, margin: int, value: torch.Tensor | None = None
) -> Level:
    """The same level restricted, per pair, to pixels within ``margin`` of either mask.

    The mask m^t is taken where ``theta`` puts it; outside both masks the residual and the Jacobian
    are zero, so the loss and the steps are unchanged while the solution moves less than ``margin``.
    ``value``: the residuals at ``theta`` on all pixels, if already known.
    """
    h, w = level.size
    if value is None:
        value, _, _ = evaluate(level, theta, mode)  # on all pixels
    near = ((value.abs() > 0) | (level.target > 0)).float().reshape(-1, 1, h, w)
    k = 2 * margin + 1  # dilation by a (k x k) square, separably: two thin max-pools are much cheaper
    near = F.max_pool2d(F.max_pool2d(near, (1, k), 1, (0, margin)), (k, 1), 1, (margin, 0))
    near = near.reshape(-1, h * w) > 0
    count = int(near.sum(dim=1).max().clamp_min(1))
    if count > 0.7 * h * w:
        return level  # not worth a gather
    index = torch.argsort(near.to(torch.int8), dim=1, descending=True, stable=True)[:, :count]  # (N, P)
    points = level.points[0][index]  # (N, P, 2): all of each pair's near pixels, padded with others
    return Level(level.source, level.target.gather(1, index), points, level.pivot, level.size)


def make_level(
    masks_t: torch.Tensor, masks_next: torch.Tensor, c0: torch.Tensor, sigma: float, factor: int
) -> Level:
    """Both masks shrunk ``factor`` times, then blurred by ``sigma`` (in full-size pixels)."""
    m0, m1 = masks_t[:, None], masks_next[:, None]
    if factor > 1:
        m0, m1 = F.avg_pool2d(m0, factor), F.avg_pool2d(m1, factor)  # (N, 1, H/f, W/f)
    m0, m1 = gaussian_blur(m0, sigma / factor), gaussian_blur(m1, sigma / factor)
    n, _, h, w = m0.shape
    points = pixel_grid(h, w, m0.dtype, m0.device)[None]  # (1, HW, 2)
    return Level(pad_for_sampling(m0[:, 0]), m1.reshape(n, h * w), points, c0 / factor, (h, w))


def scale_translation(theta: torch.Tensor, mode: str, factor: float) -> torch.Tensor:
    """Internal parameters for pixel coordinates scaled by ``factor`` (the shift parts scale)."""
    scale = torch.ones(theta.shape[1], dtype=theta.dtype, device=theta.device)
    scale[[2, 5] if mode == "affine" else [0, 1]] = factor
    return theta * scale


def repeat_rows(level: Level, k: int) -> Level:
    """The level with each pair repeated ``k`` times (rows n * k ... n * k + k - 1 are pair n)."""
    points = level.points if level.points.shape[0] == 1 else level.points.repeat_interleave(k, 0)
    return Level(
        level.source.repeat_interleave(k, 0), level.target.repeat_interleave(k, 0), points,
        level.pivot.repeat_interleave(k, 0), level.size,
    )  # fmt: skip


def refine_starts(
    level: Level, starts: torch.Tensor, mode: str, iterations: int, margin: int, keep: int | None = None
) -> torch.Tensor:
    """Levenberg-Marquardt on ``level`` from the ``keep`` best (all: None) of the starts (N, K, D) of
    each pair, each on the pixels near its own masks (``focus``); per pair the best result (N, D)."""
    n, k, d = starts.shape
    theta = starts.reshape(n * k, d)
    value, _, loss = evaluate(repeat_rows(level, k), theta, mode)  # all pixels
    if keep is not None and keep < k:
        best = torch.topk(loss.reshape(n, k), keep, dim=1, largest=False).indices  # (N, keep)
        rows = (torch.arange(n, device=theta.device)[:, None] * k + best).reshape(-1)
        theta, value, k = theta[rows], value[rows], keep
    many = focus(repeat_rows(level, k), theta, mode, margin, value)
    theta = refine(theta, mode, many, iterations)
    loss = evaluate(many, theta, mode)[2].reshape(n, k)
    return theta.reshape(n, k, d)[torch.arange(n), loss.argmin(dim=1)]


def solve_rigid(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    mode: str,
    c0: torch.Tensor,
    grid: SearchGrid,
    iterations: int,
    margin: int,
) -> torch.Tensor:
    """Translation or rotation (N, D): the global stage, then Levenberg-Marquardt on the exact loss
    from each of its candidates; the best per pair."""
    starts = global_starts(masks_t, masks_next, mode, c0, grid)
    if mode == "translation" and iterations == 0:  # the global stage's optimum, exact on its grid
        return starts[:, 0]
    level = make_level(masks_t, masks_next, c0, 0.0, 1)
    return refine_starts(level, starts, mode, iterations, margin, grid.refined)


def solve_moments(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    mode: str,
    sigmas: tuple[float, ...],
    iterations: tuple[int, ...],
    margin: int,
) -> torch.Tensor:
    """From the best moments candidate, Levenberg-Marquardt coarse (blurred) to fine (N, D)."""
    _, c0, cov0 = mask_moments(masks_t)
    _, c1, cov1 = mask_moments(masks_next)
    theta = None
    for sigma, iters in zip(sigmas, iterations, strict=True):
        factor = 2 if sigma >= 2.0 and min(masks_t.shape[-2:]) >= 32 else 1
        level = make_level(masks_t, masks_next, c0, sigma, factor)
        if theta is None:
            start = initial_candidates(mode, c0, c1, cov0, cov1)
            theta = pick_best([scale_translation(c, mode, 1 / factor) for c in start], mode, level)
        else:
            theta = scale_translation(theta, mode, 1 / factor)
        level = focus(level, theta, mode, margin)
        theta = scale_translation(refine(theta, mode, level, iters), mode, factor)
    return theta


def solve(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    mode: str,
    sigmas: tuple[float, ...],
    iterations: tuple[int, ...],
    grid: SearchGrid | None = None,
    margin: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit Eq. 5 for masks (N, H, W): internal parameters (N, D) and the pivot c0 (N, 2) in pixels.

    Translation and rotation: the global stage and local grid of ``grid``, then ``iterations[-1]``
    Levenberg-Marquardt iterations on the exact loss. Affine: Levenberg-Marquardt from the rotation
    solution and, coarse to fine over the blur levels ``sigmas`` (pixels; 0 = the exact objective)
    with ``iterations`` each, from the moments candidates; the better of the two.
    """
    grid = grid or SearchGrid()
    _, c0, _ = mask_moments(masks_t)
    if mode != "affine":
        return solve_rigid(masks_t, masks_next, mode, c0, grid, iterations[-1], margin), c0
    rotation = solve_rigid(masks_t, masks_next, "rotation", c0, grid, iterations[-1], margin)
    from_moments = solve_moments(masks_t, masks_next, mode, sigmas, iterations, margin)
    scaled = affine_starts(masks_t, masks_next, c0, rotation, grid)
    starts = torch.cat([rotation_as_affine(rotation)[:, None], from_moments[:, None], scaled], dim=1)
    level = make_level(masks_t, masks_next, c0, 0.0, 1)
    return refine_starts(level, starts, mode, iterations[-1], margin, grid.refined), c0


def rotation_as_affine(theta: torch.Tensor) -> torch.Tensor:
    """Rotation parameters (N, 3) (d, phi) -> affine inverse maps (N, 6) (B, b):
    q = c0 + R^T (p - c0 - d) = c0 + B (p - c0) + b with B = R^T and b = -R^T d."""
    lin = rotation_transpose(theta[:, 2])  # (N, 2, 2)
    return torch.cat([lin, -(lin @ theta[:, :2, None])], dim=2).reshape(-1, 6)


def forward_pixels(theta: torch.Tensor, mode: str, c0: torch.Tensor) -> torch.Tensor:
    """Internal parameters -> forward controls in pixels: (d) / (d, phi), or for affine the pixel
    forward matrices (N, 2, 3) p -> A p + a with A = B^-1 and a = c0 - A (c0 + b)."""
    if mode != "affine":
        return theta
    inv = theta.reshape(-1, 2, 3)
    a = torch.linalg.inv(inv[:, :, :2])
    shift = c0 - (a @ (c0 + inv[:, :, 2])[:, :, None])[:, :, 0]
    return torch.cat([a, shift[:, :, None]], dim=2)
