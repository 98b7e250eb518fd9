"""The global stage of Eq. 5: the loss of every shift of the frame at once, by cross-correlation.

Moving a mask by d = k + f (k integer, f the sub-pixel part) with the bilinear warp of
:mod:`lcvg_env.control.warp` reads m^t at q = p - d. On the pixel grid this is the image
R_f(u) = m^t(u - f) (m^t resampled once, bilinearly, at offset f) moved by the integer k:
T(k + f)(m^t)(p) = R_f(p - k). So for one f, the loss of Eq. 5 at *every* integer k is

    sum_p (R_f(p - k) - m^{t+1}(p))^2 = sum_frame R_f(. - k)^2 - 2 corr(R_f, m^{t+1})(k) + sum m^{t+1}^2,

a cross-correlation (FFT) and box sums of R_f^2 (prefix sums), exactly, with nothing approximated.
The same holds for any linear map A about a pivot c0 (R_f(u) = m^t(c0 + A^-1 (u - c0 - f))), so a
grid of rotation angles x offsets f gives the loss on a grid of angles x shifts of the whole frame.
This is the brute-force yardstick (:mod:`lcvg_env.control.brute`) and, with the sub-pixel cells of
:mod:`lcvg_env.control.subpixel`, the fast solver's global stage.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lcvg_env.control.moments import pixel_grid


def fft_size(n: int) -> int:
    """The smallest length >= n with no prime factor above 5 (FFTs of prime lengths are ~4x slower)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def offset_grid(step: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sub-pixel offsets f in [0, 1)^2 on a grid of ``step`` pixels (1 / step an integer): (F, 2) as
    (x, y), y-major."""
    n = round(1.0 / step)
    if abs(n * step - 1.0) > 1e-9:
        raise ValueError(f"The offset step must divide one pixel (0.5, 0.25, 0.1, ...), got {step}.")
    f = torch.arange(n, dtype=dtype) / n
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    return torch.stack([fx.reshape(-1), fy.reshape(-1)], 1)


def rotation_inverses(angles: torch.Tensor) -> torch.Tensor:
    """R(phi)^-1 = R(phi)^T (A, 2, 2) of the screen rotations R = [[cos, sin], [-sin, cos]] of warp.py."""
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def turn_margin(masks: torch.Tensor, pivot: torch.Tensor, max_angle: float, scale: float = 1.0) -> int:
    """Pixels by which masks (N, H, W) turned about ``pivot`` (N, 2) by up to ``max_angle`` radians
    (or, with ``scale`` > 1, mapped by any linear map of norm <= ``scale``) and then shifted by less
    than a pixel can reach outside the frame (0 if they stay inside)."""
    n, h, w = masks.shape
    centres = pixel_grid(h, w, masks.dtype, masks.device)  # (HW, 2)
    on = masks.reshape(n, -1) > 0
    dist = torch.linalg.vector_norm(centres[None] - pivot[:, None], dim=-1)  # (N, HW)
    reach = torch.where(on, dist, torch.zeros_like(dist)).amax(dim=1) * scale + 3.0  # + bilinear, offset
    move = 2 * reach * math.sin(min(abs(max_angle), math.pi) / 2)  # how far a turn moves a point
    if scale > 1.0:
        move = 2 * reach  # any map of norm <= scale: only the disc about the pivot bounds it
    inf = torch.full_like(dist, math.inf)
    low = torch.stack([torch.where(on, centres[None, :, i], inf).amin(1) for i in (0, 1)], 1)  # (N, 2)
    high = torch.stack([torch.where(on, centres[None, :, i], -inf).amax(1) for i in (0, 1)], 1)
    frame = torch.tensor([w, h], dtype=masks.dtype, device=masks.device)
    # a turned mask stays inside its bounding box grown by the move, and inside the disc about c0
    lo = torch.maximum(low - move[:, None] - 3.0, pivot - reach[:, None])
    hi = torch.minimum(high + move[:, None] + 3.0, pivot + reach[:, None])
    out = torch.maximum((-lo).amax(), (hi - frame).amax())
    return max(0, math.ceil(float(out)) + 1) if bool(on.any()) else 0


def resample(
    masks: torch.Tensor,
    linear_inv: torch.Tensor,
    pivot: torch.Tensor,
    offsets: torch.Tensor,
    origin: tuple[int, int],
    shape: tuple[int, int],
) -> torch.Tensor:
    """R(u) = m^t(c0 + A^-1 (u - c0 - f)) for each map: (N, K, Hr, Wr), sampled like the warp.

    ``masks`` (N, H, W); ``linear_inv`` (K, 2, 2) or, per pair, (N, K, 2, 2) the A^-1; ``offsets``
    (K, 2) the f (x, y) in pixels; ``pivot`` (N, 2) the c0 in pixels. The grid's [0, 0] is frame pixel
    ``origin`` (row, col).
    """
    n, h, w = masks.shape
    k = len(offsets)
    ys = torch.arange(shape[0], dtype=masks.dtype, device=masks.device) + origin[0] + 0.5
    xs = torch.arange(shape[1], dtype=masks.dtype, device=masks.device) + origin[1] + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    gx, gy = gx.reshape(1, 1, -1), gy.reshape(1, 1, -1)  # (1, 1, Hr*Wr)
    inv = linear_inv if linear_inv.ndim == 4 else linear_inv[None]  # (N or 1, K, 2, 2)
    # q = A^-1 u + (c0 - A^-1 (c0 + f)): the first term per map, the second per pair and map
    turned = [inv[..., i, 0:1] * gx + inv[..., i, 1:2] * gy for i in (0, 1)]  # 2 x (N or 1, K, Hr*Wr)
    base = pivot[:, None, :] + offsets[None]  # (N, K, 2): c0 + f
    shift = pivot[:, None, :] - (inv @ base[..., None])[..., 0]  # (N, K, 2)
    q = torch.stack([turned[i] + shift[:, :, i, None] for i in (0, 1)], -1)  # (N, K, Hr*Wr, 2)
    grid = q * torch.tensor([2.0 / w, 2.0 / h], dtype=masks.dtype, device=masks.device) - 1.0
    src = masks[:, None].expand(n, k, h, w).reshape(n * k, 1, h, w)
    out = F.grid_sample(
        src, grid.reshape(n * k, *shape, 2), mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out.reshape(n, k, *shape)


def window_sums(values: torch.Tensor, length: int, dim: int, first: int, count: int) -> torch.Tensor:
    """Sums of ``values`` (size n along ``dim``) over the part of each window [-a, length - a) that
    lies in [0, n), for a = first ... first + count - 1: size ``count`` along ``dim``.

    These are the rows (or columns) of an image that a shift by a brings into a frame of ``length``:
    prefix sums P read at the clamped window ends, P[length - a] - P[-a].
    """
    n = values.shape[dim]
    pad = [0, 0] * (values.ndim - 1 - (dim % values.ndim)) + [1, 0]
    prefix = F.pad(values.cumsum(dim), pad)  # index i holds the sum of values[:i]
    a = torch.arange(first, first + count, device=values.device)
    hi = prefix.index_select(dim, (length - a).clamp(0, n))
    return hi - prefix.index_select(dim, (-a).clamp(0, n))


def shift_range(lo: int, hi: int, reach: int | None) -> tuple[int, int]:
    """Integer shifts [lo, hi] (inclusive) cut to [-reach, reach] (all of them for None)."""
    if reach is None:
        return lo, hi
    return max(lo, -reach), min(hi, reach)


def correlations(
    content: torch.Tensor,
    origin: tuple[int, int],
    target: torch.Tensor,
    ys: tuple[int, int],
    xs: tuple[int, int],
) -> torch.Tensor:
    """sum_p R(p - s) b(p) (N, K, Ny, Nx) for every integer shift s in ``ys`` x ``xs`` (inclusive
    ranges of s_y, s_x; shifts without overlap give 0), by FFT."""
    hr, wr = content.shape[-2:]
    h, w = target.shape[-2:]
    # A circular correlation of length L is exact at landing offsets a (= s + origin) in [a0, a1]
    # when a +- L never overlaps the frame: L >= h - a0 and L >= a1 + hr (L >= hr + h for all a).
    size = (
        fft_size(max(h - ys[0] - origin[0], ys[1] + origin[0] + hr) + 1),
        fft_size(max(w - xs[0] - origin[1], xs[1] + origin[1] + wr) + 1),
    )
    spec = torch.fft.rfft2(content, s=size).conj() * torch.fft.rfft2(target, s=size)[:, None]
    corr = torch.fft.irfft2(spec, s=size)  # corr[t] = sum_u R[u] b[u + t], t modulo size
    # R moved by s lands at a = s + origin; corr[a mod size] (a < 0 wraps to the end)
    rows = torch.arange(ys[0], ys[1] + 1, device=content.device) + origin[0]
    cols = torch.arange(xs[0], xs[1] + 1, device=content.device) + origin[1]
    return corr[..., rows % size[0], :][..., cols % size[1]]


def frame_sums(values: torch.Tensor, origin: tuple[int, int], frame: tuple[int, int], ys, xs) -> torch.Tensor:
    """sum over the frame of values(p - s) (N, K, Ny, Nx), values (N, K, Hr, Wr) on the grid at
    ``origin``, for every integer shift s in ``ys`` x ``xs`` (inclusive ranges)."""
    out = window_sums(values, frame[0], -2, ys[0] + origin[0], ys[1] - ys[0] + 1)
    return window_sums(out, frame[1], -1, xs[0] + origin[1], xs[1] - xs[0] + 1)


def shift_losses(
    content: torch.Tensor, origin: tuple[int, int], target: torch.Tensor, reach: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 5 loss of every integer shift of resampled images (N, K, Hr, Wr) against targets (N, H, W).

    Image (n, k) holds m^t on a grid whose [0, 0] is frame pixel ``origin``; moved by the integer
    shift s it covers frame pixels u + origin + s. Returns the losses (N, K, Ny, Nx) of every s
    that overlaps the frame (and is within ``reach`` pixels), with s_y = ``sy`` (Ny,), s_x = ``sx`` (Nx,).
    """
    hr, wr = content.shape[-2:]
    h, w = target.shape[-2:]
    ys = shift_range(-(hr - 1) - origin[0], h - 1 - origin[0], reach)
    xs = shift_range(-(wr - 1) - origin[1], w - 1 - origin[1], reach)
    corr = correlations(content, origin, target, ys, xs)
    inside = frame_sums(content**2, origin, (h, w), ys, xs)
    total = (target**2).sum(dim=(-2, -1))[:, None, None, None]
    loss = (inside - 2 * corr + total) / (h * w)
    sy = torch.arange(ys[0], ys[1] + 1, device=content.device)
    sx = torch.arange(xs[0], xs[1] + 1, device=content.device)
    return loss, sy, sx


def loss_volume(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    angles: torch.Tensor,
    pivot: torch.Tensor,
    step: float,
    *,
    reach: int | None = None,
    margin: int | None = None,
    chunk: int = 1 << 30,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5 loss of masks (N, H, W) on the grid angles x shifts (``step`` pixels apart; every shift of
    the frame, or those within ``reach`` pixels): (N, A, Y, X), and the first grid shift (y, x) in pixels.

    A rotation by phi turns m^t about ``pivot`` (N, 2) pixels (the forward map p -> R(p - c0) + c0 + d).
    m^t is resampled by the warp's interpolation at every sub-pixel offset, so every loss is exact.
    The turned mask is kept on the frame plus ``margin``
    pixels on each side (default: all of it, :func:`turn_margin`). ``chunk`` bounds the maps resampled
    at once (memory).
    """
    n, h, w = masks_t.shape
    turns = bool((angles != 0).any())
    if margin is None:
        margin = turn_margin(masks_t, pivot, float(angles.abs().max())) if turns else 1
    origin, shape = (-margin, -margin), (h + 2 * margin, w + 2 * margin)
    inv = rotation_inverses(angles.to(masks_t.dtype))  # (A, 2, 2)
    offsets = offset_grid(step, masks_t.dtype).to(masks_t.device)  # (F, 2)
    a_idx = torch.arange(len(angles)).repeat_interleave(len(offsets))  # (A * F,) angle-major
    f_idx = torch.arange(len(offsets)).repeat(len(angles))
    parts = []
    for start in range(0, len(a_idx), chunk):
        sel = slice(start, start + chunk)
        content = resample(masks_t, inv[a_idx[sel]], pivot, offsets[f_idx[sel]], origin, shape)
        loss, sy, sx = shift_losses(content, origin, masks_next, reach)
        parts.append(loss)
    loss = torch.cat(parts, dim=1)  # (N, A * F, Ny, Nx)
    nf = round(1.0 / step)
    ny, nx = loss.shape[-2:]
    # (N, A, Fy, Fx, Ny, Nx) -> (N, A, Ny, Fy, Nx, Fx): shift s + f on one regular grid of ``step``
    loss = loss.reshape(n, len(angles), nf, nf, ny, nx).permute(0, 1, 4, 2, 5, 3)
    first = torch.tensor([float(sy[0]), float(sx[0])], dtype=masks_t.dtype)
    return loss.reshape(n, len(angles), ny * nf, nx * nf), first


def local_minima(
    volume: torch.Tensor, count: int, dims: tuple[int, ...] = (1, 2, 3)
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` lowest local minima of each volume (N, A, Y, X), neighbours one step away along
    ``dims`` (default: the 3 x 3 x 3 neighbourhood): their losses (N, count) and (angle, y, x) grid
    indices (N, count, 3), best first."""
    n, _, y, x = volume.shape
    low = volume
    for dim in dims:  # the minimum filter is separable
        size = low.shape[dim]
        out = low.clone()
        out.narrow(dim, 1, size - 1).copy_(
            torch.minimum(out.narrow(dim, 1, size - 1), low.narrow(dim, 0, size - 1))
        )
        out.narrow(dim, 0, size - 1).copy_(
            torch.minimum(out.narrow(dim, 0, size - 1), low.narrow(dim, 1, size - 1))
        )
        low = out
    # a point is a local minimum if nothing around it is lower (plateaus give several)
    masked = torch.where(volume <= low, volume, torch.full_like(volume, math.inf)).reshape(n, -1)
    loss, flat = torch.topk(masked, min(count, masked.shape[1]), dim=1, largest=False)
    index = torch.stack([flat // (y * x), (flat // x) % y, flat % x], dim=-1)
    return loss, index


def best_on_grid(
    masks_t: torch.Tensor,
    masks_next: torch.Tensor,
    angles: torch.Tensor,
    pivot: torch.Tensor,
    step: float,
    count: int,
    **options,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` best local minima of Eq. 5 on the grid angles x every shift of the frame (``step``
    pixels apart; :func:`loss_volume`): losses (N, count) and controls (N, count, 3) as (dx, dy, phi)
    in pixels and radians, the rotation about ``pivot`` (N, 2), best first. ``options``: those of
    :func:`loss_volume`."""
    volume, first = loss_volume(masks_t, masks_next, angles, pivot, step, **options)
    loss, index = local_minima(volume, count)  # index (N, count, 3): angle, y, x
    dx = first[1] + index[..., 2].to(first.dtype) * step
    dy = first[0] + index[..., 1].to(first.dtype) * step
    return loss, torch.stack([dx, dy, angles.to(first.dtype)[index[..., 0]]], dim=-1)
