"""Reward tasks: ``reach`` (bring the foreground to a goal point), ``reach_each`` (with ``players`` K > 1:
every foreground to its own goal) and ``none`` (reward 0).

Reach: at reset a goal g is drawn uniformly in the frame, ``goal_margin`` away from the border.
The foreground centroid c is that of the binarized mask of the generated frame. Per step

    reward = -||c - g|| / diagonal          in [-1, 0], pixels normalized by the frame diagonal

and the task succeeds when ||c - g|| <= success_radius (default 4 px per 64 px of frame size).
When the frame has no foreground (empty mask, c = NaN) the distance counts as the full diagonal
(reward -1, no success). The goal is drawn on the observation as a small cross; it is never fed
to the generator.

Reach each (:class:`PlayersReachTask`): foreground k gets its own goal g_k, drawn at reset in the half of
the frame (top or bottom, split at the middle row) its start centroid c_k lies in, ``goal_margin`` away
from the border and from the middle row: the two players of tennis each stay on their side of the net
(Atari Tennis' net is the middle row of the saved court). Per step

    reward = -mean_k ||c_k - g_k|| / diagonal      in [-1, 0], an absent foreground at the full diagonal

and the task succeeds when every foreground is within ``success_radius`` of its goal. Goal k is drawn
in ``PLAYER_GOAL_COLOURS[k]``.
"""

from __future__ import annotations

import math

import numpy as np

GOAL_COLOUR = np.array([255, 0, 255], dtype=np.uint8)
"""Magenta: rare in the data sets, visible on both light and dark backgrounds."""
PLAYER_GOAL_COLOURS = np.array([[255, 0, 255], [0, 255, 255], [255, 255, 0], [255, 255, 255]], dtype=np.uint8)
"""``reach_each``: the goal of foreground 0 magenta (as ``reach``), 1 cyan, 2 yellow, 3 white."""


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

    def sample_goal(self, rng: np.random.Generator, centroids: np.ndarray | None = None) -> np.ndarray:
        """A goal (2,) float32 (x, y) in pixels (``centroids``, the start's, are not used)."""
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
        """Draw each goal as a cross on ``obs`` (B, H, W, 3) in place (goals (B, 2), or (B, K, 2) in
        :data:`PLAYER_GOAL_COLOURS`); returns ``obs``."""
        h, w = self.size
        offsets = np.arange(-self.arm, self.arm + 1)
        per_frame = goals.reshape(len(obs), -1, 2)  # (B, K, 2)
        colours = PLAYER_GOAL_COLOURS if goals.ndim == 3 else GOAL_COLOUR[None]
        for frame, points in zip(obs, per_frame, strict=True):
            for (gx, gy), colour in zip(points, colours, strict=False):
                x, y = min(int(gx), w - 1), min(int(gy), h - 1)
                frame[y, np.clip(x + offsets, 0, w - 1)] = colour
                frame[np.clip(y + offsets, 0, h - 1), x] = colour
        return obs


class PlayersReachTask(ReachTask):
    """``reach_each``: one goal per foreground, in the half of the frame it starts in (module docstring).
    Goals are (K, 2) per env; distances (B, K); rewards and success over all K."""

    def __init__(
        self, size: tuple[int, int], success_radius: float | None, margin: float, players: int
    ) -> None:
        super().__init__(size, success_radius, margin)
        h, _ = size
        self.players = players
        # y ranges of the top and the bottom half, ``margin`` of the frame away from the border and the middle
        self.halves = ((margin * h, (0.5 - margin) * h), ((0.5 + margin) * h, (1.0 - margin) * h))

    def sample_goal(self, rng: np.random.Generator, centroids: np.ndarray | None = None) -> np.ndarray:
        """Goals (K, 2) float32 (x, y) px for foregrounds starting at ``centroids`` (K, 2) (NaN: absent,
        then the half the others leave free, foreground k alternating top and bottom)."""
        h, _ = self.size
        half = np.arange(self.players) % 2  # 0 top, 1 bottom: for absent foregrounds
        if centroids is not None:
            seen = ~np.isnan(centroids[:, 1])
            half[seen] = centroids[seen, 1] >= h / 2
            if seen.sum() == 1 and self.players == 2:
                half[~seen] = 1 - half[seen]
        goals = np.empty((self.players, 2), dtype=np.float32)
        for k, side in enumerate(half):
            lo, hi = self.halves[side]
            goals[k] = rng.uniform((self.low[0], lo), (self.high[0], hi))
        return goals

    def reward(self, distance: np.ndarray) -> np.ndarray:
        """-mean_k distance_k / diagonal, (B,) float32 in [-1, 0]."""
        return (-distance.mean(axis=-1) / self.diagonal).astype(np.float32)

    def success(self, distance: np.ndarray) -> np.ndarray:
        """(B,) bool: every foreground within the radius of its goal."""
        return (distance <= self.success_radius).all(axis=-1)
