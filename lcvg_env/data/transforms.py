"""Frame resizing to the model's frame size, and the same transform for pixel annotations.

One rule everywhere: scale the frame so that it covers the target (the shorter side, relative to the
target's aspect, fits exactly), then crop the centre to the target size. Nothing is stretched, and a
frame already of the target size is left untouched. Sizes are ``(height, width)``.

Pixel annotations (``*_px``, (x, y) with the origin at the top-left image corner, pixel (i, j) covering
``[j, j+1) x [i, i+1)``) and masks (``*_mask``, (T, H, W) bool) are stored in the stored frame size;
:func:`rescale_annotations` maps them to the resized frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Size = tuple[int, int]


@dataclass(frozen=True)
class ResizeCrop:
    """The resize-then-centre-crop from ``src`` to ``dst`` (both (height, width))."""

    src: Size
    dst: Size

    def __post_init__(self) -> None:
        for name, (h, w) in (("src", self.src), ("dst", self.dst)):
            if h < 1 or w < 1:
                raise ValueError(f"{name} size must be positive (height, width), got {(h, w)}.")

    @property
    def resized(self) -> Size:
        """(height, width) after scaling, before cropping: covers ``dst``."""
        (h, w), (th, tw) = self.src, self.dst
        scale = max(th / h, tw / w)
        return max(th, round(h * scale)), max(tw, round(w * scale))

    @property
    def offset(self) -> tuple[int, int]:
        """(x, y) of the crop's top-left corner in the resized frame."""
        (rh, rw), (th, tw) = self.resized, self.dst
        return (rw - tw) // 2, (rh - th) // 2

    @property
    def is_identity(self) -> bool:
        return tuple(self.src) == tuple(self.dst)

    def frame(self, frame: np.ndarray) -> np.ndarray:
        """Resize (bicubic, antialiased by PIL when shrinking) and crop one (H, W, 3) uint8 frame."""
        if self.is_identity:
            return frame
        from PIL import Image

        (rh, rw), (th, tw), (ox, oy) = self.resized, self.dst, self.offset
        img = Image.fromarray(frame).resize((rw, rh), Image.Resampling.BICUBIC)
        return np.asarray(img.crop((ox, oy, ox + tw, oy + th)))

    def points(self, points_px: np.ndarray) -> np.ndarray:
        """Map (..., 2) (x, y) pixel coordinates of the source frame to the output frame."""
        (h, w), (rh, rw), (ox, oy) = self.src, self.resized, self.offset
        scale = np.array([rw / w, rh / h])
        return (np.asarray(points_px, dtype=np.float64) * scale - (ox, oy)).astype(np.float32)

    def mask(self, mask: np.ndarray) -> np.ndarray:
        """Map a (..., H, W) bool mask (nearest neighbour, so it stays a mask)."""
        if self.is_identity:
            return mask
        (h, w), (rh, rw), (th, tw), (ox, oy) = self.src, self.resized, self.dst, self.offset
        rows = np.minimum(((np.arange(oy, oy + th) + 0.5) * h / rh).astype(int), h - 1)
        cols = np.minimum(((np.arange(ox, ox + tw) + 0.5) * w / rw).astype(int), w - 1)
        return mask[..., rows[:, None], cols[None, :]]


def resize_frames(frames: np.ndarray, size: Size | None) -> np.ndarray:
    """Resize-and-crop (T, H, W, 3) uint8 frames to ``size`` = (height, width); None keeps them."""
    if size is None:
        return frames
    op = ResizeCrop(src=frames.shape[1:3], dst=tuple(size))
    if op.is_identity:
        return frames
    return np.stack([op.frame(f) for f in frames])


def rescale_annotations(annotations: Mapping[str, np.ndarray], src: Size, dst: Size) -> dict[str, np.ndarray]:
    """Annotations of frames of size ``src`` made to match the frames resized to ``dst``.

    Arrays named ``*_px`` are mapped as points, ``*_mask`` as masks; the others (commands, world
    coordinates, RAM, ...) do not depend on the image size and are returned as they are.
    """
    op = ResizeCrop(src=tuple(src), dst=tuple(dst))
    out: dict[str, np.ndarray] = {}
    for key, value in annotations.items():
        if key.endswith("_px"):
            out[key] = op.points(value)
        elif key.endswith("_mask"):
            out[key] = op.mask(value)
        else:
            out[key] = value
    return out
