"""The saved view of Atari Tennis: the court cut out of ALE's 210x160 screen and area-resized.

One linear map serves the frames, the masks and the points, so they agree: each saved pixel is the
average of the screen pixels it covers (a box filter, exact for the game's flat colours), a mask pixel
is set when the screen mask covers at least :data:`MASK_COVERAGE` of it, and a point (x, y) (pixel
(i, j) covering [j, j+1) x [i, i+1), as in :mod:`lcvg_env.data.transforms`) is shifted by the crop's
corner and scaled. :class:`lcvg_env.data.transforms.ResizeCrop` keeps the aspect ratio; the court is
taller than wide, and a square frame that keeps both players whole needs the slight stretch done here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COURT_BOX = (17, 8, 171, 152)
"""(top, left, height, width) of the saved region of the 210x160 screen: every row a player's sprite can
reach (18-187; ``benchmarks/atari_tennis_ram.py``) and the columns right of ALE's 8-pixel black bar."""
MASK_COVERAGE = 0.25
"""A saved pixel belongs to a player's mask when the sprite covers at least this share of it: the
sprite's one-pixel limbs (0.4 of a saved pixel wide at 64x64) then stay in the mask, as they stay
visible, blended, in the frame."""


def box_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32: share of output pixel i covered by input pixel j (rows sum to 1)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)  # output pixel edges in input pixels
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)  # (n_out, n_in)
    return (overlap / overlap.sum(1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class CourtView:
    """Crop :data:`COURT_BOX` and resize to ``size`` x ``size`` (frames, masks and points alike)."""

    size: int
    box: tuple[int, int, int, int] = COURT_BOX

    def __post_init__(self) -> None:
        if not 1 <= self.size <= min(self.box[2:]):
            raise ValueError(f"size must be in [1, {min(self.box[2:])}] (no upsampling), got {self.size}.")

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) saved pixels per screen pixel."""
        return self.size / self.box[3], self.size / self.box[2]

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        _, _, h, w = self.box
        return box_weights(h, self.size), box_weights(w, self.size)

    def _crop(self, screen: np.ndarray) -> np.ndarray:
        top, left, h, w = self.box
        return screen[..., top : top + h, left : left + w]

    def _resample(self, images: np.ndarray) -> np.ndarray:
        """(..., 210, 160) -> (..., size, size) float32, box-filtered. np.einsum without ``optimize`` runs
        its own loops: the BLAS path (``@``) starts a thread pool that, on a CPU shared with other jobs,
        was 50x slower (0.13 s a frame against 2 ms)."""
        wy, wx = self._weights()
        rows = np.einsum("ih,...hw->...iw", wy, self._crop(images).astype(np.float32))  # (..., size, w)
        return np.einsum("jw,...iw->...ij", wx, rows)  # (..., size, size)

    def frame(self, screen: np.ndarray) -> np.ndarray:
        """(210, 160, 3) uint8 screen -> (size, size, 3) uint8 saved frame."""
        out = self._resample(np.moveaxis(screen, -1, 0))  # (3, size, size)
        return np.clip(np.rint(np.moveaxis(out, 0, -1)), 0, 255).astype(np.uint8)

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """(..., 210, 160) bool -> (..., size, size) bool (coverage >= :data:`MASK_COVERAGE`)."""
        return self._resample(masks) >= MASK_COVERAGE

    def points(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) (x, y) screen pixels -> saved pixels (NaN stays NaN)."""
        top, left, _, _ = self.box
        return ((np.asarray(points, dtype=np.float64) - (left, top)) * self.scale).astype(np.float32)
