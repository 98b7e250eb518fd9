"""Where the data's foreground went: the region an env keeps the foreground's centroid in.

The generator learned to draw the foreground where the training video showed it. Sent further (a
constant push for 30 steps), the mask keeps moving but the generator has nothing to draw there: the
pusher's gripper dissolves (docs/fidelity.md, docs/sim_to_real.md). The real arm stops at the edge of
its workspace. :class:`MotionRegion` records where the centroid of M's binarized mask was in the
training video (a grid of cells, each visited or not), so that the env can refuse the part of a move
that would take the foreground further from that region than it already is.

The rule (:meth:`MotionRegion.limit`): a move of the centroid c by d is kept whole when dist(c + d) <=
dist(c), dist being the distance (px) from a point to the nearest visited cell; otherwise it becomes
round(s * d), whole pixels, with the largest s in {7/8, ..., 1/8} that passes the same test, else no move.
Inside the region a move may go anywhere inside it; outside it (a start frame from elsewhere) a move may
not go further away; moves along the edge or back in are whole.
It needs the mask's centroid only, so it works for any checkpoint; the region is measured by
``lcvg checkpoint bundle --region auto --data DIR`` with the model's own M (no ground truth: these are
the positions the model was trained on) and stored in the checkpoint (``extra["motion_region"]``).

**Several foregrounds** (``players`` K > 1, the env's players): the region is measured from the
centroids of the K largest components of each mask (:func:`~lcvg_env.control.components.largest_components`,
as the env splits M), so it holds every place where some player was, and the env applies the rule to
each player's own move from its own centroid. One region serves every player: players who change ends
(Atari Tennis) have been on both halves. It is a bound on where players can be drawn, not on which half
each one keeps to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint

REGION_KEY = "motion_region"
"""Key of the checkpoint's ``extra`` that holds the recorded region."""
FRACTIONS = np.arange(1, 8) / 8
"""The fractions of a refused move tried, 1/8 to 7/8 (:meth:`MotionRegion.limit`)."""


def default_cell(size: tuple[int, int]) -> int:
    """Cell side: 4 px per 64 px of frame size (the default action range), at least 1 px."""
    return max(1, round(4 * max(size) / 64))


@dataclass(frozen=True)
class MotionRegion:
    """Cells of ``cell`` px over a frame of ``size`` (H, W), ``visited`` (rows, cols) bool."""

    size: tuple[int, int]
    cell: int
    visited: np.ndarray
    source: str = ""
    """What was measured (data folder, split, model step)."""
    players: int = 1
    """1: the centroids of whole masks; K > 1: of each mask's K largest components (module docstring)."""

    def __post_init__(self) -> None:
        if isinstance(self.players, bool) or not isinstance(self.players, int) or self.players < 1:
            raise ValueError(f"A motion region's players must be an int >= 1, got {self.players!r}.")
        h, w = self.size
        rows, cols = -(-h // self.cell), -(-w // self.cell)
        if self.visited.shape != (rows, cols) or self.visited.dtype != bool:
            raise ValueError(
                f"A motion region of {h}x{w} px in cells of {self.cell} px has ({rows}, {cols}) bool cells, "
                f"got {self.visited.dtype} {self.visited.shape}."
            )
        if not self.visited.any():
            raise ValueError("A motion region needs at least one visited cell.")

    @classmethod
    def from_centroids(
        cls,
        centroids: np.ndarray,
        size: tuple[int, int],
        cell: int | None = None,
        source: str = "",
        players: int = 1,
    ) -> MotionRegion:
        """The cells that hold at least one of ``centroids`` (N, 2) or (N, K, 2) (x, y) px (NaN: no
        foreground); ``players``: what the centroids are of (the class docstring)."""
        cell = default_cell(size) if cell is None else cell
        h, w = size
        visited = np.zeros((-(-h // cell), -(-w // cell)), dtype=bool)
        pts = np.asarray(centroids, dtype=np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if not len(pts):
            raise ValueError("No foreground centroid to measure a motion region from (every mask was empty).")
        visited[_cells(pts, cell, visited.shape)] = True
        return cls((h, w), cell, visited, source, players)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(...,) bool: each point (..., 2) (x, y) px lies in a visited cell (points off the frame count in
        the border cell they are nearest, as when the region was measured; NaN: False)."""
        flat = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        found = np.isfinite(flat).all(axis=1)
        inside = found & self.visited[_cells(np.nan_to_num(flat), self.cell, self.visited.shape)]
        return inside.reshape(np.shape(points)[:-1])

    def distance_map(self) -> np.ndarray:
        """(H, W) float32: the distance (px) from each pixel's centre to the nearest visited cell."""
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w] + 0.5  # (H, W) pixel centres
        rows, cols = np.nonzero(self.visited)
        x0, y0 = cols * self.cell, rows * self.cell  # (C,) each visited cell's corner
        dx = np.maximum(0.0, np.maximum(x0 - xs[..., None], xs[..., None] - (x0 + self.cell)))  # (H, W, C)
        dy = np.maximum(0.0, np.maximum(y0 - ys[..., None], ys[..., None] - (y0 + self.cell)))
        return np.sqrt(dx * dx + dy * dy).min(axis=-1).astype(np.float32)

    def limit(
        self, centroids: np.ndarray, shifts: np.ndarray, distances: np.ndarray | None = None
    ) -> np.ndarray:
        """The moves ``shifts`` (B, 2) px from ``centroids`` (B, 2) px, shortened by the module docstring's
        rule: a move that would take the centroid further from the region than it is becomes the longest
        fraction of it that does not, rounded to whole pixels (the binarized mask moves by whole pixels:
        a kept 0.7 px would move it a whole one, past the edge). A NaN centroid (no foreground) keeps its
        move. ``distances``: this region's :meth:`distance_map`, when the caller keeps it."""
        dist = self.distance_map() if distances is None else distances
        start = np.nan_to_num(centroids)
        found = np.isfinite(centroids).all(axis=1)
        here = _lookup(dist, start) + 1e-6
        whole = _lookup(dist, start + shifts) <= here
        out = np.zeros_like(shifts)
        for s in FRACTIONS:  # shortest first: the last fraction that passes is the longest
            step = np.round(s * shifts)
            out = np.where((_lookup(dist, start + step) <= here)[:, None], step, out)
        return np.where((whole | ~found)[:, None], shifts, out)

    def to_json(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "cell": self.cell,
            "visited": ["".join("1" if v else "0" for v in row) for row in self.visited],
            "source": self.source,
            "players": self.players,
        }

    @classmethod
    def from_json(cls, value: Any) -> MotionRegion:
        """The region of a checkpoint's ``extra["motion_region"]``; ValueError naming what is wrong."""
        try:
            size = tuple(int(v) for v in value["size"])
            rows = [[c == "1" for c in row] for row in value["visited"]]
            return cls(
                size,  # type: ignore[arg-type]
                int(value["cell"]),
                np.array(rows, dtype=bool),
                str(value.get("source", "")),
                int(value.get("players", 1)),  # regions recorded before players existed: whole masks
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"The checkpoint's {REGION_KEY!r} is not a motion region ({exc}); record it again with "
                "`lcvg checkpoint bundle MODEL --out OUT --region auto --data DATA_DIR`."
            ) from exc


def _cells(points: np.ndarray, cell: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the cells of ``cell`` px holding points (N, 2) (x, y) px, clipped to a grid of
    ``shape`` (rows, cols)."""
    col = np.clip((points[:, 0] // cell).astype(int), 0, shape[1] - 1)
    row = np.clip((points[:, 1] // cell).astype(int), 0, shape[0] - 1)
    return row, col


def _lookup(dist: np.ndarray, points: np.ndarray) -> np.ndarray:
    """dist at points (B, 2) (x, y) px; points off the frame take the nearest border pixel's distance
    plus how far off they are."""
    h, w = dist.shape
    x, y = points[:, 0], points[:, 1]
    cx, cy = np.clip(x, 0.0, w - 1e-3), np.clip(y, 0.0, h - 1e-3)
    off = np.hypot(x - cx, y - cy)
    return dist[cy.astype(int), cx.astype(int)] + off


def recorded_region(extra: dict[str, Any] | None) -> MotionRegion | None:
    """The checkpoint's recorded region, None when it records none."""
    value = (extra or {}).get(REGION_KEY)
    return None if value is None else MotionRegion.from_json(value)


def region_of_split(
    ckpt: Checkpoint,
    data_dir: str | Path,
    split: str = "train",
    episodes: int | None = None,
    clips: list[np.ndarray] | None = None,
    players: int = 1,
) -> MotionRegion:
    """The region of M's centroids over the frames of ``data_dir``'s ``split`` at the model's size;
    ``clips``: that split's :func:`~lcvg_env.control.control_range.split_clips`, when the caller has
    decoded them already; ``players`` > 1: the centroids of each mask's ``players`` largest components
    (the env's split of M into players), not of the whole mask."""
    from lcvg_env.control.components import default_min_area, largest_components
    from lcvg_env.control.control_range import split_clips
    from lcvg_env.control.warp import mask_centroid
    from lcvg_env.model import binary_masks

    if isinstance(players, bool) or not isinstance(players, int) or players < 1:
        raise ValueError(f"players must be an int >= 1, got {players!r}.")
    clips = split_clips(ckpt, data_dir, split, episodes) if clips is None else clips
    size = (ckpt.config.height, ckpt.config.width)
    centroids = []
    for clip in clips:
        masks = binary_masks(ckpt.generator, clip)  # (T, H, W) bool
        if players == 1:
            centroids.append(mask_centroid(masks[:, None].float()).numpy())  # (T, 2)
        else:
            centroids.append(largest_components(masks, players, default_min_area(size))[1])  # (T, K, 2)
    frames = sum(len(c) for c in centroids)
    each = f", the {players} largest components of each mask" if players > 1 else ""
    source = f"{data_dir} ({split}, {len(clips)} episodes, {frames} frames{each}, model step {ckpt.step})"
    return MotionRegion.from_centroids(np.concatenate(centroids), size, source=source, players=players)
