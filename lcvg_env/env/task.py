"""Reward tasks: ``reach`` (bring the foreground to a goal point) and ``none`` (reward 0).

Reach: at reset a goal g is drawn uniformly in the frame, ``goal_margin`` away from the border.
The foreground centroid c is that of the binarized mask of the generated frame. Per step

    reward = -||c - g|| / diagonal          in [-1, 0], pixels normalized by the frame diagonal

and the task succeeds when ||c - g|| <= success_radius (default 4 px per 64 px of frame size).
When the frame has no foreground (empty mask, c = NaN) the distance counts as the full diagonal
(reward -1, no success). The goal is drawn on the observation as a small cross; it is never fed
to the generator.
"""

from __future__ import annotations

import math

import numpy as np

GOAL_COLOUR = np.array([255, 0, 255], dtype=np.uint8)
"""Magenta: rare in the data sets, visible on both light and dark backgrounds."""


class ReachTask:
    """Goal sampling, distance, reward and success for B environments (all in pixels, (x, y))."""

    def __init__(self, size: tuple[int, int], success_radius: float | None, margin: float) -> None:
        h, w = size
        self.size = size
        self.diagonal = math.hypot(h, w)
        self.success_radius = success_radius if success_radius is not None else 4.0 * max(h, w) / 64.0
        self.low = np.array([margin * w, margin * h])
        self.high = np.array([(1.0 - margin) * w, (1.0 - margin) * h])
        self.arm = max(1, round(min(h, w) / 32))  # half-length of the goal cross, 2 px at 64x64

    def sample_goal(self, rng: np.random.Generator) -> np.ndarray:
        """A goal (2,) float32 (x, y) in pixels."""
        return rng.uniform(self.low, self.high).astype(np.float32)

    def distance(self, centroids: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Distances (B,) in pixels; the diagonal where the centroid is NaN (no foreground)."""
        dist = np.linalg.norm(centroids - goals, axis=-1)
        return np.where(np.isnan(dist), self.diagonal, dist).astype(np.float32)

    def reward(self, distance: np.ndarray) -> np.ndarray:
        """-distance / diagonal, (B,) float32 in [-1, 0]."""
        return (-distance / self.diagonal).astype(np.float32)

    def success(self, distance: np.ndarray) -> np.ndarray:
        """(B,) bool."""
        return distance <= self.success_radius

    def draw(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Draw each goal as a cross on ``obs`` (B, H, W, 3) in place; returns ``obs``."""
        h, w = self.size
        offsets = np.arange(-self.arm, self.arm + 1)
        for frame, (gx, gy) in zip(obs, goals, strict=True):
            x, y = min(int(gx), w - 1), min(int(gy), h - 1)
            frame[y, np.clip(x + offsets, 0, w - 1)] = GOAL_COLOUR
            frame[np.clip(y + offsets, 0, h - 1), x] = GOAL_COLOUR
        return obs
