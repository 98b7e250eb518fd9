"""The fast solver's global stage of Eq. 5: sub-pixel shifts from integer-shift maps.

Moving an image R bilinearly by k + f (k integer, f in [0, 1)^2) gives sum_i w_i(f) R(p - k - e_i)
over the corners e_i of the pixel cell (weights (1 - fx)(1 - fy), fx (1 - fy), (1 - fx) fy, fx fy), so
the loss of Eq. 5 over the cell is a biquadratic in f with 14 coefficients: the correlations
c_i = sum_p R(p - k - e_i) m^{t+1}(p) and the overlaps G_ij = sum_p R(p - k - e_i) R(p - k - e_j).
All of them are integer-shift quantities: correlations by FFT and frame sums of R^2 and of R's
products with its neighbours (:mod:`lcvg_env.control.shift_search`). So one correlation per image
gives the exact loss at every integer shift of the frame *and*, around any of them, at every
sub-pixel shift. When R is m^t itself (translation) this is exactly the warp of Eq. 5; for m^t
turned by an angle it is R's own bilinear interpolation, a close stand-in for the warp's (the
solver refines those candidates on the exact loss).

:class:`SearchGrid` sets the stage; :func:`global_starts` (translation, rotation) and
:func:`affine_starts` give the starts that :mod:`lcvg_env.control.fast_fit` refines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lcvg_env.control.moments import rotation_transpose
from lcvg_env.control.shift_search import (
    correlations,
    frame_sums,
    local_minima,
    resample,
    rotation_inverses,
    shift_range,
    turn_margin,
)

# pairs (i, j), i < j, of the corners e = (0, 0), (1, 0), (0, 1), (1, 1) of a pixel cell
CORNER_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def products(content: torch.Tensor) -> list[torch.Tensor]:
    """R(u) R(u - e) (N, K, Hr, Wr) for e = (1, 0), (0, 1), (1, 1), (-1, 1) (x, y), zero where u - e
    leaves the grid: the overlaps of R with its neighbours one pixel away."""
    out = [torch.zeros_like(content) for _ in range(4)]
    out[0][..., :, 1:] = content[..., :, 1:] * content[..., :, :-1]
    out[1][..., 1:, :] = content[..., 1:, :] * content[..., :-1, :]
    out[2][..., 1:, 1:] = content[..., 1:, 1:] * content[..., :-1, :-1]
    out[3][..., 1:, :-1] = content[..., 1:, :-1] * content[..., :-1, 1:]
    return out


# pairs (i, j), i < j, of the corners e = (0, 0), (1, 0), (0, 1), (1, 1) of a pixel cell
CORNER_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def cell_range(
    shape: tuple[int, int], origin: tuple[int, int], frame: tuple[int, int], reach: int | None
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Inclusive ranges of the integer shifts s_y, s_x that the cells k + [0, 1)^2 need: every cell
    whose moved image can overlap the frame (or within ``reach``), plus one row and column for the
    cells' far corners."""
    ys = shift_range(-shape[0] - origin[0], frame[0] - 1 - origin[0], reach)
    xs = shift_range(-shape[1] - origin[1], frame[1] - 1 - origin[1], reach)
    return (ys[0], ys[1] + 1), (xs[0], xs[1] + 1)


def at(m: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """A map over the shifts of :func:`cell_range` read at k + (dx, dy) for every cell k."""
    return m[..., dy : m.shape[-2] - 1 + dy, dx : m.shape[-1] - 1 + dx]


def cell_loss(coef: torch.Tensor, fx, fy, total: torch.Tensor, area: int) -> torch.Tensor:
    """Eq. 5 loss at k + (fx, fy) from the 14 coefficients of :func:`candidate_cells`;
    ``fx``, ``fy`` broadcast with the rest, ``total`` = sum of the target^2, ``area`` = H * W."""
    wts = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]
    used = [not isinstance(wt, float) or wt != 0.0 for wt in wts]  # a scalar 0 weight: skip its terms
    loss = total - 2 * sum(wt * coef[i] for i, wt in enumerate(wts) if used[i])
    loss = loss + sum(wt * wt * coef[4 + i] for i, wt in enumerate(wts) if used[i])
    pairs = [(n, i, j) for n, (i, j) in enumerate(CORNER_PAIRS) if used[i] and used[j]]
    loss = loss + sum(2 * wts[i] * wts[j] * coef[8 + n] for n, i, j in pairs)
    return loss / area


def integral(values: torch.Tensor) -> torch.Tensor:
    """Summed-area table (..., H + 1, W + 1): entry [y, x] is the sum of values[..., :y, :x]."""
    return F.pad(values.cumsum(-2).cumsum(-1), (1, 0, 1, 0))


def frame_sums_at(
    table: torch.Tensor, origin: tuple[int, int], frame: tuple[int, int], sy, sx
) -> torch.Tensor:
    """:func:`frame_sums` at given shifts only: ``table`` (N, K, Hr + 1, Wr + 1) from :func:`integral`,
    shifts ``sy``, ``sx`` (N, K, M) integer tensors; returns (N, K, M)."""
    hr, wr = table.shape[-2] - 1, table.shape[-1] - 1
    y0, y1 = (-sy - origin[0]).clamp(0, hr), (frame[0] - sy - origin[0]).clamp(0, hr)
    x0, x1 = (-sx - origin[1]).clamp(0, wr), (frame[1] - sx - origin[1]).clamp(0, wr)
    flat = table.flatten(-2)

    def pick(y, x):
        return flat.gather(-1, y * (wr + 1) + x)

    return pick(y1, x1) - pick(y0, x1) - pick(y1, x0) + pick(y0, x0)


def candidate_cells(
    content: torch.Tensor,
    origin: tuple[int, int],
    frame: tuple[int, int],
    starts: torch.Tensor,
    corr: torch.Tensor,
    sq: torch.Tensor,
    first: tuple[int, int],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The 14 coefficients (each (N, K, 9)) of the 3 x 3 cells k* - 1 ... k* + 1 around integer
    shifts k* = ``starts`` (N, K, 2) (x, y) of images ``content`` (N, K, Hr, Wr), and whether each
    cell lies in the maps (N, K, 9). ``corr``, ``sq`` (N, K, Ny, Nx): the maps over the shifts
    starting at ``first`` (y, x); the products' overlaps come from summed-area tables."""
    d = torch.arange(-1, 3, device=content.device)  # map entries k* - 1 ... k* + 2 (far corners)
    sy = (starts[..., 1:2, None] + d[:, None]).expand(*starts.shape[:2], 4, 4).flatten(-2)  # (N, K, 16)
    sx = (starts[..., 0:1, None] + d[None, :]).expand(*starts.shape[:2], 4, 4).flatten(-2)
    ny, nx = corr.shape[-2:]
    iy, ix = sy - first[0], sx - first[1]
    inside = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
    flat = iy.clamp(0, ny - 1) * nx + ix.clamp(0, nx - 1)
    maps = [corr.flatten(-2).gather(-1, flat), sq.flatten(-2).gather(-1, flat)]
    maps += [frame_sums_at(integral(p), origin, frame, sy, sx) for p in products(content)]

    def cells(
        m: torch.Tensor, dx: int, dy: int
    ) -> torch.Tensor:  # (N, K, 16) -> the 3 x 3 cells at + (dx, dy)
        return m.unflatten(-1, (4, 4))[..., dy : dy + 3, dx : dx + 3].flatten(-2)

    corr_, sq_, wx, wy, wxy, wanti = maps
    corners = ((0, 0), (1, 0), (0, 1), (1, 1))
    coef = [cells(corr_, *e) for e in corners] + [cells(sq_, *e) for e in corners]
    coef += [
        cells(wx, 0, 0),
        cells(wy, 0, 0),
        cells(wxy, 0, 0),
        cells(wanti, 1, 0),
        cells(wy, 1, 0),
        cells(wx, 0, 1),
    ]
    valid = cells(inside, 0, 0) & cells(inside, 1, 1)  # a cell needs its near and far corners
    return coef, valid


def best_controls(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    linear_inv: torch.Tensor | None,
    pivot: torch.Tensor,
    count: int,
    fine: float,
    reach: int | None = None,
    margin: int = 0,
    adjacent: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fast solver's global stage: the ``count`` best local minima of Eq. 5 over linear maps x
    every integer shift of the frame (or those within ``reach`` pixels), each then refined on a grid
    of ``fine`` pixels over +- 1 pixel around it.

    The maps turn (scale, shear) m^t about ``pivot`` (N, 2): p -> A (p - c0) + c0 + d, given by their
    inverses ``linear_inv`` (L, 2, 2) or per pair (N, L, 2, 2); None: no map (translation).
    ``adjacent``: the maps are neighbours in this order (angles of a grid), so a local minimum is
    also one across maps. Returns losses (N, count), shifts d (N, count, 2) as (dx, dy) pixels and
    the index of their map (N, count), best first.

    Every integer shift is exact (m^t mapped once per map by the warp's interpolation, then moved
    by whole pixels); the sub-pixel refinement uses the biquadratic cells (:func:`candidate_cells`),
    exact without a map and a close stand-in with one. ``margin``: pixels kept around the frame for
    the mapped masks (:func:`~lcvg_env.control.shift_search.turn_margin`).
    """
    n, h, w = masks_t.shape
    if linear_inv is not None:
        origin, shape = (-margin, -margin), (h + 2 * margin, w + 2 * margin)
        zero = torch.zeros(linear_inv.shape[-3], 2, dtype=masks_t.dtype, device=masks_t.device)
        content = resample(masks_t, linear_inv.to(masks_t.dtype), pivot, zero, origin, shape)
    else:
        content, origin = masks_t[:, None], (0, 0)
    ys, xs = cell_range(content.shape[-2:], origin, (h, w), reach)
    corr = correlations(content, origin, masks_next, ys, xs)  # (N, A, Ny + 1, Nx + 1)
    sq = frame_sums(content**2, origin, (h, w), ys, xs)
    total = (masks_next**2).sum(dim=(-2, -1))[:, None, None, None]
    integer = (at(sq, 0, 0) - 2 * at(corr, 0, 0) + total) / (h * w)  # (N, A, Ny, Nx): exact
    _, index = local_minima(integer, count, dims=(1, 2, 3) if adjacent else (2, 3))  # (N, count, 3)
    ky0, kx0 = ys[0], xs[0]
    starts = torch.stack([index[..., 2] + kx0, index[..., 1] + ky0], -1)  # (N, count, 2) integer (x, y)
    rows, chosen = torch.arange(n)[:, None], index[..., 0]  # the candidates' maps only
    coef, valid = candidate_cells(
        content[rows, chosen], origin, (h, w), starts, corr[rows, chosen], sq[rows, chosen], (ky0, kx0)
    )
    m = round(1.0 / fine)
    u = torch.arange(-m, m + 1, dtype=masks_t.dtype, device=masks_t.device) * fine
    uy, ux = torch.meshgrid(u, u, indexing="ij")
    offsets = torch.stack([ux.reshape(-1), uy.reshape(-1)], -1)  # (G, 2) in [-1, 1]
    cell = torch.floor(offsets + 1e-6).clamp(-1, 1)  # the cell (relative to the start) and f in [0, 1]
    frac = offsets - cell
    local = ((cell[:, 1] + 1) * 3 + cell[:, 0] + 1).long()  # (G,) index into the 3 x 3 cells
    loss = cell_loss(
        [c[..., local] for c in coef], frac[:, 0], frac[:, 1], total[:, :, 0], h * w
    )  # (N, count, G)
    loss = torch.where(valid[..., local], loss, torch.full_like(loss, math.inf))
    points = starts[:, :, None, :].to(masks_t.dtype) + offsets  # (N, count, G, 2)
    best = loss.argmin(dim=2)  # (N, count): the best point around each minimum
    cols = torch.arange(points.shape[1])[None]
    found = loss[rows, cols, best]
    order = torch.argsort(found, dim=1)
    return found[rows, order], points[rows, cols, best][rows, order], chosen[rows, order]


@dataclass
class SearchGrid:
    """The fast solver's global stage (set through ``FitConfig.search``)."""

    candidates: int = 2
    """Local minima over the integer shifts (x angles) refined further, per pair."""
    fine: float = 0.05
    """Spacing (px) of the sub-pixel grid over +- 1 px around each of them."""
    max_angle: float = 0.2
    """Rotation: angles searched, +- radians about no rotation."""
    angle_step: float = 0.05
    """Rotation: spacing of those angles (radians)."""
    max_shift: int | None = 16
    """Rotation and affine: shifts searched with the angles or scalings, +- pixels (None: every shift
    of the frame; without rotation, every shift of the frame is searched unless ``translation_reach``)."""
    translation_reach: int | None = None
    """Translation: shifts searched, +- pixels (None: every shift of the frame). A fit that knows the
    two masks lie close, such as the lag correction's (``LayeredGenerator.render``), searches less."""
    refined: int = 3
    """Starts (the lowest-loss ones) refined by Levenberg-Marquardt, per pair."""
    factor: int = 2
    """Rotation and affine: the angles and scalings are searched on masks shrunk this many times
    (averaged over factor x factor blocks; 1: full resolution)."""
    scales: tuple[float, ...] = (0.95, 1.0, 1.05)
    """Affine: scalings of each axis (x each other) applied to the rotation solution's map."""

    def __post_init__(self) -> None:
        if self.candidates < 1 or not 0 < self.fine <= 0.5 or self.angle_step <= 0 or self.max_angle < 0:
            raise ValueError(
                "SearchGrid needs candidates >= 1, 0 < fine <= 0.5, angle_step > 0 and max_angle >= 0; "
                f"got {self}."
            )
        for name in ("max_shift", "translation_reach"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 pixel or None, got {getattr(self, name)}.")


def shrink(
    masks_t: torch.Tensor, masks_next: torch.Tensor, c0: torch.Tensor, grid: SearchGrid
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int | None]:
    """Both masks averaged over ``grid.factor`` x ``grid.factor`` blocks, the pivot and the shift
    reach in their pixels (the turned or scaled masks are searched there)."""
    f = grid.factor
    reach = None if grid.max_shift is None else math.ceil(grid.max_shift / f)
    if f == 1:
        return masks_t, masks_next, c0, reach
    small = [F.avg_pool2d(m[:, None], f)[:, 0] for m in (masks_t, masks_next)]  # (N, H / f, W / f)
    return small[0], small[1], c0 / f, reach


def global_starts(
    masks_t: torch.Tensor, masks_next: torch.Tensor, mode: str, c0: torch.Tensor, grid: SearchGrid
) -> torch.Tensor:
    """Starts (N, K, D) for Levenberg-Marquardt: the best controls of :func:`best_controls` over
    every shift of the frame (translation: within ``translation_reach``) and, for rotation, also over
    angles x shifts within ``max_shift``."""
    reach = grid.translation_reach if mode == "translation" else None
    _, shift, _ = best_controls(masks_t, masks_next, None, c0, grid.candidates, grid.fine, reach)  # (N, K, 2)
    if mode == "translation":  # exact: the best of the candidates is the start
        return shift[:, :1]
    still = torch.cat([shift[:, :1], torch.zeros_like(shift[:, :1, :1])], dim=2)  # (N, 1, 3), phi = 0
    count = math.floor(grid.max_angle / grid.angle_step + 1e-9)
    angles = torch.arange(-count, count + 1, dtype=masks_t.dtype, device=masks_t.device) * grid.angle_step
    angles = angles[angles != 0]
    if len(angles) == 0:
        return still
    small_t, small_next, pivot, reach = shrink(masks_t, masks_next, c0, grid)
    margin = turn_margin(small_t, pivot, grid.max_angle)
    if reach is not None:  # beyond, nothing is moved into the frame by the shifts searched
        margin = min(margin, reach + 2)
    options = {"reach": reach, "margin": margin}
    inv = rotation_inverses(angles)
    _, shift, which = best_controls(small_t, small_next, inv, pivot, grid.candidates, grid.fine, **options)
    f = grid.factor
    return torch.cat([still, torch.cat([shift * f, angles[which][..., None]], dim=2)], dim=1)


def affine_starts(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    c0: torch.Tensor,
    rotation: torch.Tensor,
    grid: SearchGrid,
) -> torch.Tensor:
    """Affine starts (N, K, 6): the best shifts (:func:`best_controls`) of m^t mapped by the rotation
    solution (N, 3) times each axis scaling of ``grid.scales`` x ``grid.scales``."""
    scales = torch.tensor(grid.scales, dtype=masks_t.dtype, device=masks_t.device)
    sy, sx = torch.meshgrid(scales, scales, indexing="ij")
    diag = torch.diag_embed(torch.stack([sx.reshape(-1), sy.reshape(-1)], -1))  # (S, 2, 2)
    inv = torch.linalg.inv(diag)[None] @ rotation_transpose(rotation[:, 2])[:, None]  # (N, S, 2, 2): A^-1
    small_t, small_next, pivot, reach = shrink(masks_t, masks_next, c0, grid)
    if reach is not None:  # beyond, nothing is moved into the frame by the shifts searched
        margin = reach + 2
    else:
        margin = turn_margin(small_t, pivot, math.pi, scale=float(scales.max()))
    options = {"reach": reach, "margin": margin, "adjacent": False}
    _, shift, which = best_controls(small_t, small_next, inv, pivot, grid.candidates, grid.fine, **options)
    shift = shift * grid.factor
    lin = inv[torch.arange(len(inv))[:, None], which]  # (N, K, 2, 2): B = A^-1
    b = -(lin @ shift[..., None])  # q = c0 + B (p - c0 - d): b = -B d
    return torch.cat([lin, b], dim=-1).flatten(-2)
