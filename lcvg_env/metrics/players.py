"""Where the Atari Tennis players are in a frame, by colour alone: a locator independent of the model.

The court of Atari Tennis has four colours in the saved view (ALE's palette; ``lcvg data atari-tennis``):
the grass, the white lines and net, our player's orange and the opponent's blue (the side lines take the
colour of the player on their half). Each saved pixel is a box-filtered average of screen pixels
(:mod:`lcvg_env.data.atari_tennis_view`), so its colour c is a mixture of those four and

    c - grass = a_orange (orange - grass) + a_blue (blue - grass) + a_white (white - grass)

has one exact solution per pixel (three unknowns, three channels): the share of the pixel each colour
covers, its *abundance*. A generated frame blurs and shifts colours a little; the abundances then are
approximate, which the steps below tolerate:

1. abundance a_k of player k, clipped to [0, 1];
2. the peak of its sum over a box of about a player's core (7 x 5 px at 64x64, scaled with the frame):
   the player's body; the side lines, one screen pixel wide, sum to at most a third of a player there;
3. the player's position: the a_k-weighted centroid of the pixels with a_k >= ``threshold`` in a 15 x 11
   px window around the peak. No peak of at least ``min_mass`` (pixels' worth of the colour): not found.

``lcvg control-gain --players 2`` prints the locator's error against the emulator's ``players_px`` on the
real frames it starts from (:func:`locator_errors`), so its accuracy is measured where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.data.atari_tennis_ram import PLAYER_COLOURS

COURT_COLOUR = (82, 126, 45)
"""The grass: ALE's palette colour, the most common one of the court (tests/metrics/test_players.py)."""
LINE_COLOUR = (214, 214, 214)
"""The white base lines and net band."""
PLAYER_NAMES = ("ours", "opponent")


@dataclass(frozen=True)
class PlayerLocator:
    """Locate the players of ``colours`` (ours first) in frames of ``size`` (H, W) (module docstring)."""

    size: tuple[int, int] = (64, 64)
    colours: tuple[tuple[int, int, int], ...] = tuple(tuple(int(v) for v in c) for c in PLAYER_COLOURS)
    background: tuple[int, int, int] = COURT_COLOUR
    others: tuple[tuple[int, int, int], ...] = (LINE_COLOUR,)
    """Further colours of the scene, unmixed so they do not count as a player's."""
    threshold: float = 0.25
    """Abundance under which a pixel does not count towards the centroid."""
    min_mass: float = 6.0
    """Least peak sum (at 64x64, scaled with the frame area) for a player to count as found: a player's
    core sums to about 10 in real frames, a side line to at most about 3."""

    def __post_init__(self) -> None:
        if len(self.colours) + len(self.others) != 3:
            raise ValueError(
                "The unmixing solves for 3 colours besides the background (RGB has 3 channels): "
                f"got {len(self.colours)} players and {len(self.others)} other colours."
            )
        if not 0.0 < self.threshold < 1.0 or self.min_mass <= 0:
            raise ValueError(
                f"threshold must be in (0, 1) and min_mass > 0, got {self.threshold}, {self.min_mass}."
            )

    def _scaled(self, half_h: int, half_w: int) -> tuple[int, int]:
        """A window of (2 half_h + 1) x (2 half_w + 1) px at 64x64, scaled to the frame (odd sizes)."""
        h, w = self.size
        return 2 * round(half_h * h / 64) + 1, 2 * round(half_w * w / 64) + 1

    def abundances(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, H, W, K) each player colour's share of every pixel, clipped to [0, 1]."""
        base = np.asarray(self.background, dtype=np.float64)
        basis = np.stack([np.asarray(c, dtype=np.float64) - base for c in (*self.colours, *self.others)], 1)
        shares = (np.asarray(frames, dtype=np.float64) - base) @ np.linalg.inv(basis).T  # (N, H, W, 3)
        return np.clip(shares[..., : len(self.colours)], 0.0, 1.0)

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (N, K, 2) (x, y) px, NaN where not found, and peak masses (N, K) of the players."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[1:3] != tuple(self.size) or frames.shape[-1] != 3:
            raise ValueError(f"Expected frames (N, {self.size[0]}, {self.size[1]}, 3), got {frames.shape}.")
        a = np.moveaxis(self.abundances(frames), -1, 1)  # (N, K, H, W)
        n, k, h, w = a.shape
        mass = box_sum(a, *self._scaled(3, 2))  # 7 x 5 at 64x64  # (N, K, H, W)
        peak = mass.reshape(n, k, h * w).argmax(-1)  # (N, K)
        peak_mass = np.take_along_axis(mass.reshape(n, k, h * w), peak[..., None], -1)[..., 0]
        found = peak_mass >= self.min_mass * h * w / 4096
        wh, ww = self._scaled(7, 5)  # 15 x 11 at 64x64
        xy = np.full((n, k, 2), np.nan)
        for i, j in zip(*np.nonzero(found), strict=True):
            y, x = divmod(int(peak[i, j]), w)
            y0, x0 = max(y - wh // 2, 0), max(x - ww // 2, 0)
            win = a[i, j, y0 : y + wh // 2 + 1, x0 : x + ww // 2 + 1]
            weight = np.where(win >= self.threshold, win, 0.0)
            ys, xs = np.mgrid[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]] + 0.5
            xy[i, j] = ((weight * xs).sum(), (weight * ys).sum())
            xy[i, j] /= weight.sum()
        return xy, peak_mass


def box_sum(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sum of ``x`` (..., H, W) over the h x w box (odd sizes) centred on each pixel, zero outside."""
    pad = [(0, 0)] * (x.ndim - 2) + [(h // 2 + 1, h // 2), (w // 2 + 1, w // 2)]
    c = np.pad(x, pad).cumsum(-2).cumsum(-1)  # (..., H + h, W + w), a leading zero row and column
    return c[..., h:, w:] - c[..., :-h, w:] - c[..., h:, :-w] + c[..., :-h, :-w]


def true_players(ep: Any, size: tuple[int, int], needed_for: str) -> np.ndarray:
    """The emulator's player centroids ``players_px`` (T, K, 2) (x, y) of episode ``ep`` at ``size``; a
    clear error when the episode has none (``needed_for`` says what needs them)."""
    from lcvg_env.data import rescale_annotations

    ann = ep.annotations()
    if ann is None or "players_px" not in ann:
        raise ValueError(
            f"{ep.source} has no players_px: {needed_for} Atari Tennis data (lcvg data atari-tennis)."
        )
    return rescale_annotations(ann, ep.stored_size(), size)["players_px"]


def locator_errors(data_dir: str | Path, split: str, episodes: int, locator: PlayerLocator) -> dict[str, Any]:
    """The locator against the emulator on every frame of the first ``episodes`` episodes of ``split``:
    per player the median, 90th percentile and largest distance (px) to ``players_px``, and the share of
    frames where the player is not found."""
    from lcvg_env.data.validate import validate_split

    errors, frames_seen = [], 0
    for ep in validate_split(data_dir, split, limit=episodes).episodes[:episodes]:
        truth = true_players(ep, locator.size, "the two-player locator is checked on")  # (T, K, 2)
        xy, _ = locator.locate(ep.frames(size=locator.size))
        errors.append(np.linalg.norm(xy - truth, axis=-1))  # (T, K)
        frames_seen += len(xy)
    if not errors:
        raise ValueError(f"No usable episodes in the {split!r} split of {data_dir}.")
    err = np.concatenate(errors)  # (frames, K)
    out: dict[str, Any] = {"frames": frames_seen}
    for k, name in enumerate(PLAYER_NAMES[: err.shape[1]]):
        e = err[:, k][np.isfinite(err[:, k])]
        out[name] = {
            "median_px": float(np.median(e)) if e.size else None,
            "p90_px": float(np.percentile(e, 90)) if e.size else None,
            "max_px": float(e.max()) if e.size else None,
            "lost": float(1.0 - e.size / len(err)),
        }
    return out


def reachable_area(
    data_dir: str | Path, split: str, size: tuple[int, int], tolerance_px: float = 2.0
) -> np.ndarray:
    """Where the real game lets its players be: (H, W) bool at ``size``, True within ``tolerance_px`` of
    a true player centroid (``players_px``, either player) on some frame of ``split``.

    Atari Tennis keeps each player on its half, between the net and a line a little behind the base
    line; a command that sends a player past them is one the game does not follow (docs/env.md,
    "Two-player control"). The control-gain measure scores the commands that end inside this area apart.
    """
    from scipy import ndimage

    from lcvg_env.data.validate import validate_split

    h, w = size
    seen = np.zeros((h, w), dtype=bool)
    for ep in validate_split(data_dir, split, decode=False).episodes:
        xy = true_players(ep, size, "where players can go is read from").reshape(-1, 2)  # (T K, 2)
        xy = np.round(xy[np.isfinite(xy).all(-1)]).astype(int)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        seen[xy[inside, 1], xy[inside, 0]] = True
    if not seen.any():
        raise ValueError(f"No player positions in the {split!r} split of {data_dir}.")
    r = int(np.ceil(tolerance_px))
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return ndimage.binary_dilation(seen, structure=x * x + y * y <= tolerance_px**2)
