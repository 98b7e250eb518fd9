"""Sub-pixel shifts from integer-shift maps: the fast solver's global stage of Eq. 5.

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
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lcvg_env.control.shift_search import correlations, frame_sums, local_minima, resample, shift_range

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
