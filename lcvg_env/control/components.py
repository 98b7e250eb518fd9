"""Several foregrounds in one binarized mask: connected components that keep their identities.

LCVG has one foreground mask per frame (docs/method.md section 3); a scene with several independent
movers (two tennis players) has them all in it. To move each by its own control, the environment splits
m = 1[M(x) > 0.5] into up to K foregrounds and follows them from step to step:

1. **Split**: the 8-connected components of m (:func:`label_components`, batched, pure torch).
   Components under ``min_area`` pixels are specks and are dropped; the K largest stay (the pixels of
   the others are no foreground's: the environment leaves them in place).
2. **Identity** (:class:`ForegroundTracker`): foreground k keeps an estimate e_k of its centroid, sent on
   every step by its own control (:func:`move_points`, the warp's forward map). The components continue
   the foregrounds present at the previous step by the assignment with the least summed squared
   distance between centroids and estimates (:func:`match`, brute force: K <= ``MAX_PLAYERS``).
3. **Merge**: a present foreground left without a component, whose estimate lies within
   ``merge_radius`` px of one, shares it: the component's pixels go to the nearest estimate of the
   foregrounds sharing it (one k-means step), so each keeps a part of its own, is moved by its own
   control and can separate again. A foreground whose estimate is nowhere nearest (one on top of
   another) holds the whole component: both move it, and it parts if their controls differ.
4. **Vanish**: otherwise the foreground is absent: empty mask, NaN centroid, its control moves nothing;
   its estimate stays where it was last sent. A component left over (more components than present
   foregrounds) revives the absent foreground whose estimate is nearest.
5. **Reset** (no estimates yet): the components are numbered in ``order``, ``x`` left to right (by
   centroid) or ``y`` top to bottom; foregrounds without a component start absent. With ``colours`` (one
   RGB per foreground) the start frame numbers them instead: foreground k takes the component whose mean
   colour is nearest to ``colours[k]`` (least summed squared distance, :func:`colour_owner`), so a game's
   players keep their numbers whichever end of the court each starts on.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from lcvg_env.control.warp import control_matrix, mask_centroid, pixels_to_normalized_points

MAX_PLAYERS = 4
"""The most foregrounds one env controls (the assignment tries every permutation: 24 at K = 4)."""
ORDERS = ("x", "y")


def default_min_area(size: tuple[int, int]) -> int:
    """Smallest component kept: 4 px at 64x64, scaled with the frame area (24 px at 96x256)."""
    return max(2, round(size[0] * size[1] / 1024))


def default_merge_radius(size: tuple[int, int]) -> float:
    """Largest distance (px) from a lost foreground's estimate to a component it merged into: 4 px per
    64 px of frame size, the default ``max_displacement`` and reach radius."""
    return 4.0 * max(size) / 64.0


def label_components(masks: torch.Tensor) -> torch.Tensor:
    """8-connected components of binary masks (B, H, W): labels (B, H, W) int64, 0 off the mask, else
    1 + the row-major index of the component's last pixel (unique within a mask).

    Parallel label propagation: every mask pixel takes the largest label in its 3x3 neighbourhood, then
    the label held by the pixel its label names (pointer jumping, which shortens long chains), until
    nothing changes (about 10 passes on the bundled pusher's masks).
    """
    b, h, w = masks.shape
    fg = masks.reshape(b, 1, h, w).long()  # (B, 1, H, W) in {0, 1}
    labels = torch.arange(1, h * w + 1, device=masks.device).reshape(1, 1, h, w) * fg
    while True:
        grown = (_max3x3(labels) * fg).reshape(b, h * w)
        # label v names pixel v - 1, at v in the row padded with a leading 0 (off the mask stays 0)
        jumped = F.pad(grown, (1, 0)).gather(1, grown).reshape(b, 1, h, w)
        if torch.equal(jumped, labels):
            return labels.reshape(b, h, w)
        labels = jumped


def _max3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 maximum filter of (B, 1, H, W) >= 0, zero-padded, as two separable passes (on one CPU thread
    5-25x faster than ``max_pool2d`` on one channel)."""
    p = F.pad(x, (1, 1, 1, 1))
    rows = torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])  # (B, 1, H + 2, W)
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def largest_components(masks: torch.Tensor, k: int, min_area: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest components of at least ``min_area`` px of masks (B, H, W): their masks (B, k, H, W)
    bool and centroids (B, k, 2) (x, y) px, largest first (equal areas: by label); missing ones are empty
    with a NaN centroid."""
    labels = label_components(masks)
    b, h, w = labels.shape
    flat = labels.reshape(b, h * w)
    areas = torch.zeros(b, h * w + 1, dtype=torch.int64, device=labels.device)
    areas.scatter_add_(1, flat, torch.ones_like(flat))
    areas[:, 0] = 0  # the background
    key = areas * (h * w + 1) + torch.arange(h * w + 1, device=labels.device)  # unique: area, then label
    top = key.topk(k, dim=1).indices  # (B, k) labels
    keep = areas.gather(1, top) >= max(min_area, 1)
    comp = (labels[:, None] == top[:, :, None, None]) & keep[:, :, None, None]  # (B, k, H, W)
    centroids = mask_centroid(comp.reshape(b * k, h, w).float()).reshape(b, k, 2)
    return comp.cpu().numpy(), centroids.cpu().numpy().astype(np.float64)


def move_points(
    points_px: np.ndarray, control_norm: np.ndarray, mode: str, size: tuple[int, int]
) -> np.ndarray:
    """Where controls (N, dims) in normalized units send points (N, 2) (x, y) px: the forward map of
    :func:`~lcvg_env.control.warp.control_matrix`, a rotation turning about the point itself (the env
    turns each mask about its own centroid, so its centroid only shifts). NaN points stay NaN."""
    h, w = size
    points = torch.as_tensor(points_px, dtype=torch.float64)
    p_n = pixels_to_normalized_points(points, size)  # (N, 2)
    pivot = p_n if mode == "rotation" else None
    matrix = control_matrix(torch.as_tensor(control_norm, dtype=torch.float64), mode, size, pivot)
    moved = (matrix[:, :, :2] @ p_n[:, :, None])[:, :, 0] + matrix[:, :, 2]  # (N, 2) normalized
    return ((moved + 1.0) * torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)).numpy()


def match(cost: np.ndarray) -> list[tuple[int, int]]:
    """The pairs (row, column) of least summed ``cost`` (n, m), min(n, m) of them, each row and column
    used once; exhaustive (small n, m), ties go to the first in lexicographic order."""
    n, m = cost.shape
    best: tuple[float, list[tuple[int, int]]] = (math.inf, [])
    if n <= m:
        options = ([(i, j) for i, j in enumerate(p)] for p in itertools.permutations(range(m), n))
    else:
        options = ([(i, j) for j, i in enumerate(p)] for p in itertools.permutations(range(n), m))
    for pairs in options:
        total = float(sum(cost[i, j] for i, j in pairs))
        if total < best[0]:
            best = (total, pairs)
    return sorted(best[1])


def _squared_distances(points: np.ndarray, estimates: np.ndarray, unknown: float) -> np.ndarray:
    """(n, 2) x (m, 2) -> (n, m) squared distances; ``unknown`` where an estimate is NaN (never seen)."""
    d = ((points[:, None] - estimates[None]) ** 2).sum(-1)
    return np.where(np.isnan(d), unknown, d)


def assign(
    estimates: np.ndarray,
    present: np.ndarray,
    centroids: np.ndarray,
    comp_masks: np.ndarray,
    merge_radius: float,
) -> np.ndarray:
    """The component (index into ``centroids`` (n, 2)) each of K foregrounds holds now, -1 for none:
    present foregrounds first (least squared distance to their ``estimates`` (K, 2)), then merges within
    ``merge_radius`` px of ``comp_masks`` (n, H, W), then left-over components revive absent ones.
    Components are expected in the reset order: with no estimates, component i goes to foreground i."""
    k, n = len(estimates), len(centroids)
    owner = np.full(k, -1)
    alive = np.flatnonzero(present)
    for i, j in match(_squared_distances(centroids, estimates[alive], math.inf)):
        owner[alive[j]] = i
    for j in alive[owner[alive] < 0]:  # more foregrounds than components: merged, or gone
        if n:
            gaps = [_distance_to_mask(estimates[j], comp_masks[i]) for i in range(n)]
            if min(gaps) <= merge_radius:
                owner[j] = int(np.argmin(gaps))
    spare = np.setdiff1d(np.arange(n), owner)
    absent = np.flatnonzero(~present)
    if len(spare) and len(absent):
        unknown = 4.0 * float(np.abs(comp_masks.shape[-2:]).sum()) ** 2  # beyond any real distance
        for i, j in match(_squared_distances(centroids[spare], estimates[absent], unknown)):
            owner[absent[j]] = spare[i]
    return owner


def colour_owner(frame: np.ndarray, comp_masks: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The component (index into ``comp_masks`` (n, H, W)) each of K foregrounds holds at reset, -1 for
    none: foreground k the one whose mean colour in ``frame`` (H, W, 3) is nearest to ``colours[k]``
    (K, 3), by the assignment of least summed squared distance (each component to one foreground)."""
    owner = np.full(len(colours), -1)
    if not len(comp_masks):
        return owner
    means = np.stack([frame[m].reshape(-1, 3).mean(0) for m in comp_masks])  # (n, 3)
    cost = ((means[:, None, :] - colours[None].astype(np.float64)) ** 2).sum(-1)  # (n, K)
    for i, k in match(cost):
        owner[k] = i
    return owner


def _distance_to_mask(point: np.ndarray, mask: np.ndarray) -> float:
    """Distance (px) from ``point`` (x, y) to the nearest pixel centre of ``mask`` (H, W)."""
    ys, xs = np.nonzero(mask)
    return float(np.hypot(xs + 0.5 - point[0], ys + 0.5 - point[1]).min())


def split_merged(mask: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """Divide a component ``mask`` (H, W) shared by several foregrounds between them: each pixel goes to the
    nearest of ``estimates`` (j, 2) (ties: the first). Returns (j, H, W) bool, disjoint, union ``mask``."""
    h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    d = (xs[None] - estimates[:, 0, None, None]) ** 2 + (ys[None] - estimates[:, 1, None, None]) ** 2
    nearest = d.argmin(axis=0)  # (H, W)
    return (nearest[None] == np.arange(len(estimates))[:, None, None]) & mask[None]


class ForegroundTracker:
    """K foregrounds of B masks followed from step to step (the rules in the module docstring).

    State, all numpy: ``masks`` (B, K, H, W) bool, each foreground's pixels (empty when absent;
    disjoint but for foregrounds on top of one another); ``centroids`` (B, K, 2) (x, y) px, NaN when
    absent; ``present`` (B, K) bool; ``estimates`` (B, K, 2), where each foreground is expected (its
    last centroid, sent on by its control).
    """

    def __init__(
        self,
        num_envs: int,
        players: int,
        size: tuple[int, int],
        order: str = "x",
        min_area: int | None = None,
        merge_radius: float | None = None,
        colours: np.ndarray | None = None,
    ) -> None:
        if not 1 <= players <= MAX_PLAYERS:
            raise ValueError(f"players must be in 1..{MAX_PLAYERS}, got {players!r}.")
        if order not in ORDERS:
            raise ValueError(f"player_order must be one of {ORDERS}, got {order!r}.")
        if colours is not None and np.shape(colours) != (players, 3):
            raise ValueError(
                f"colours must be one RGB per foreground, ({players}, 3), got {np.shape(colours)}."
            )
        h, w = size
        self.players, self.size, self.order = players, size, order
        self.colours = None if colours is None else np.asarray(colours, dtype=np.float64)
        self.min_area = default_min_area(size) if min_area is None else min_area
        self.merge_radius = default_merge_radius(size) if merge_radius is None else merge_radius
        self.masks = np.zeros((num_envs, players, h, w), dtype=bool)
        self.centroids = np.full((num_envs, players, 2), np.nan, dtype=np.float32)
        self.present = np.zeros((num_envs, players), dtype=bool)
        self.estimates = np.full((num_envs, players, 2), np.nan)

    def reset(self, rows: np.ndarray, masks: torch.Tensor, frames: np.ndarray | None = None) -> None:
        """Start ``rows`` afresh from their masks (k, H, W): foregrounds numbered in ``order``, or by
        ``colours`` in ``frames`` (k, H, W, 3) uint8 when the tracker has colours."""
        if self.colours is not None and frames is None:
            raise ValueError("This tracker numbers foregrounds by colour: pass the start frames to reset.")
        self.estimates[rows] = np.nan
        self.present[rows] = False
        self._observe(np.asarray(rows), masks, frames)

    def advance(self, control_norm: np.ndarray, mode: str) -> None:
        """Send each present foreground's estimate on by its control (B, K, dims), normalized units."""
        b, k = self.present.shape
        moved = move_points(
            self.estimates.reshape(b * k, 2), control_norm.reshape(b * k, -1), mode, self.size
        )
        self.estimates = np.where(self.present[..., None], moved.reshape(b, k, 2), self.estimates)

    def update(self, masks: torch.Tensor) -> None:
        """Follow the foregrounds into the masks (B, H, W) of the new frames."""
        self._observe(np.arange(len(self.present)), masks)

    def _observe(self, rows: np.ndarray, masks: torch.Tensor, frames: np.ndarray | None = None) -> None:
        comp, centroids = largest_components(masks, self.players, self.min_area)
        axis = ORDERS.index(self.order)
        for j, row in enumerate(rows):
            found = np.flatnonzero(~np.isnan(centroids[j, :, 0]))
            found = found[np.argsort(centroids[j, found, axis], kind="stable")]  # the reset order
            if frames is not None and self.colours is not None:  # a reset numbered by colour
                owner = colour_owner(frames[j], comp[j, found], self.colours)
            else:
                owner = assign(
                    self.estimates[row],
                    self.present[row],
                    centroids[j, found],
                    comp[j, found],
                    self.merge_radius,
                )
            self._take(row, owner, comp[j, found])
        cents = mask_centroid(torch.from_numpy(self.masks[rows]).flatten(0, 1).float()).numpy()
        self.centroids[rows] = cents.reshape(len(rows), self.players, 2)
        self.present[rows] = self.masks[rows].any(axis=(2, 3))
        seen = self.present[rows][..., None]
        self.estimates[rows] = np.where(seen, self.centroids[rows], self.estimates[rows])

    def _take(self, row: int, owner: np.ndarray, comp: np.ndarray) -> None:
        """Foreground masks of ``row`` from the components they hold; shared ones split by estimate."""
        self.masks[row] = False
        for i in np.unique(owner[owner >= 0]):
            holders = np.flatnonzero(owner == i)
            if len(holders) == 1:
                self.masks[row, holders[0]] = comp[i]
            else:
                parts = split_merged(comp[i], self.estimates[row, holders])
                empty = ~parts.any(axis=(1, 2))
                parts[empty] = comp[i]  # on top of another one (equal estimates): it holds the whole
                self.masks[row, holders] = parts
