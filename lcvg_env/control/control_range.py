"""The controls a model was trained to follow, and the action range they give the environment.

Stage 2 trains the generator on the controls theta^t fitted (Eq. 5) between the binarized masks
M(x^t), M(x^{t+1}) of consecutive training frames. Their distribution in pixels is the range the model
has seen; a command far outside it asks for motion it never learned (issue 16's train/act mismatch,
docs/fidelity.md). :func:`measure_control_range` measures it with the model's own M on a split of the
video (no ground truth needed: these are the model's training labels), and :class:`ControlRange`
turns it into the environment's default ``max_displacement``: the 99th percentile of the per-axis
translation, so that an action of +-1 on an axis asks for the largest displacement the data shows
on that axis, and every action in the box is inside (or at the edge of) the trained range.

The default is stored in the checkpoint (``extra["env_defaults"]``, :func:`env_defaults`) by
``lcvg train`` and ``lcvg checkpoint bundle --max-displacement auto``; the environment reads it when
``max_displacement`` is not given (:func:`default_max_displacement`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint

FALLBACK_MAX_DISPLACEMENT = 4.0
"""Pixels per unit action when a checkpoint records no range (checkpoints written before it existed)."""

ENV_DEFAULTS_KEY = "env_defaults"
"""Key of the checkpoint's ``extra`` that holds the environment defaults derived from its data."""

# Columns of ``ControlFit.params_px`` that are the (x, y) translation, per control mode.
_TRANSLATION_COLUMNS = {"translation": (0, 1), "rotation": (0, 1), "affine": (2, 5)}


@dataclass(frozen=True)
class ControlRange:
    """Distribution of the fitted controls' translation in pixels over ``pairs`` frame pairs."""

    pairs: int
    """Consecutive-frame pairs with a foreground in both masks (the others carry no label)."""
    axis_p50: float
    axis_p90: float
    axis_p99: float
    """Quantiles of |dx| and |dy| pooled (pixels per step, per axis)."""
    norm_p50: float
    norm_p90: float
    norm_p99: float
    """Quantiles of ||(dx, dy)|| (pixels per step)."""
    source: str = ""
    """What was measured (data folder, split, model step)."""

    @property
    def max_displacement(self) -> float:
        """The environment default it gives: the per-axis 99th percentile, to 0.1 px (at least 0.5 px)."""
        return max(0.5, round(self.axis_p99, 1))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "max_displacement": self.max_displacement}


def _quantiles(values: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(np.quantile(values, q)) for q in (0.5, 0.9, 0.99))  # type: ignore[return-value]


def measure_control_range(
    generator: Any,
    clips: list[np.ndarray],
    mode: str,
    solver: str = "fast",
    source: str = "",
    players: int = 1,
) -> ControlRange:
    """Fit Eq. 5 between M's binarized masks of consecutive frames of each clip (T, H, W, 3) uint8.

    ``players`` > 1 (several foregrounds, each moved by its own control in the env): each mask is split into
    its ``players`` largest components (:func:`~lcvg_env.control.components.largest_components`), the
    components of consecutive frames are paired by nearest centroid, and each pair gives its own step
    (:func:`_paired_shifts`). A fit of the union lays one player's pixels onto the other's whenever the
    two move differently, and reports the distance between them as a step (51 px per axis at p99 on
    Atari Tennis, whose players move under 2.3 px a step).
    """
    import torch

    from lcvg_env.control.fit import fit_controls
    from lcvg_env.model import to_model_range

    if players < 1:
        raise ValueError(f"players must be >= 1, got {players}.")
    cols = list(_TRANSLATION_COLUMNS[mode])
    device = next(generator.parameters()).device
    shifts = []
    with torch.no_grad():
        for clip in clips:
            if len(clip) < 2:
                continue
            masks = generator.binary_mask(to_model_range(clip).to(device))[:, 0].cpu()  # (T, H, W) in {0, 1}
            if players > 1:
                shifts.append(_paired_shifts(masks, players))  # (n, 2) pixels
                continue
            fit = fit_controls(masks[:-1], masks[1:], mode, solver=solver)
            shifts.append(fit.params_px[fit.valid][:, cols].double().numpy())  # (n, 2) pixels
    xy = np.concatenate(shifts) if shifts else np.zeros((0, 2))
    if len(xy) == 0:
        raise ValueError(
            "No frame pair with a foreground in both masks: the mask network finds nothing to move "
            "in this data, so no control range can be measured. Check the data and the model."
        )
    return ControlRange(
        len(xy), *_quantiles(np.abs(xy).ravel()), *_quantiles(np.linalg.norm(xy, axis=1)), source=source
    )


JUMP_AREAS = 4.0
"""A component of frame t and one of frame t + 1 are paired only when their centroids are at most
sqrt(JUMP_AREAS * area) apart (twice the side of a square of the larger one's area): a foreground moves
continuously, so a jump farther than its own size is another foreground (a ball taking a player's place
among the largest components, a player lost for a frame)."""


def _paired_shifts(masks: Any, players: int) -> np.ndarray:
    """Masks (T, H, W) in {0, 1} -> (n, 2) centroid shifts (px) of the components of frames t and t + 1
    paired by nearest centroid: up to ``players`` per step, pairs farther apart than :data:`JUMP_AREAS`
    allows left out.

    The shift of a component's centroid is the translation of Eq. 5 for a component that moves without
    changing shape; it is used instead of a fit because a player of a few dozen pixels that moves more
    than its own width has no overlap with its next place, and the fit of two disjoint small masks can
    land anywhere that keeps them disjoint (36 px per axis at p99 on Atari Tennis with the fast solver).
    """
    from lcvg_env.control.components import default_min_area, largest_components, match

    comps, centroids = largest_components(masks.bool(), players, default_min_area(tuple(masks.shape[-2:])))
    areas = comps.sum(axis=(2, 3))  # (T, players)
    shifts = []
    for t in range(len(masks) - 1):
        a = [i for i in range(players) if areas[t, i] > 0]
        b = [j for j in range(players) if areas[t + 1, j] > 0]
        if not a or not b:
            continue
        cost = ((centroids[t, a][:, None] - centroids[t + 1, b][None]) ** 2).sum(-1)  # (|a|, |b|)
        for i, j in match(cost):
            if cost[i, j] > JUMP_AREAS * max(areas[t, a[i]], areas[t + 1, b[j]]):
                continue  # farther than its own size: another foreground, not this one's next place
            shifts.append(centroids[t + 1, b[j]] - centroids[t, a[i]])
    return np.asarray(shifts, dtype=np.float64).reshape(-1, 2)


def split_clips(
    ckpt: Checkpoint, data_dir: str | Path, split: str = "train", episodes: int | None = None
) -> list[np.ndarray]:
    """The episodes of ``data_dir``'s ``split`` (at most ``episodes``), checked (broken ones left out, with
    a warning) and decoded at the model's size: uint8 clips (T, H, W, 3), what the measurements of the
    training data (this module's range, :mod:`lcvg_env.control.region`'s region) read."""
    from lcvg_env.data.validate import validate_split

    size = (ckpt.config.height, ckpt.config.width)
    return [ep.frames(size=size) for ep in validate_split(data_dir, split, limit=episodes).episodes]


def control_range_of_split(
    ckpt: Checkpoint,
    data_dir: str | Path,
    split: str = "train",
    episodes: int | None = None,
    players: int = 1,
    clips: list[np.ndarray] | None = None,
) -> ControlRange:
    """:func:`measure_control_range` over the episodes of ``data_dir``'s ``split`` at the model's size
    (per foreground when ``players`` > 1); ``clips``: that split's :func:`split_clips`, when the caller
    has decoded them already."""
    clips = split_clips(ckpt, data_dir, split, episodes) if clips is None else clips
    each = f", per foreground of {players}" if players > 1 else ""
    source = f"{data_dir} ({split}, {len(clips)} episodes, model step {ckpt.step}{each})"
    return measure_control_range(ckpt.generator, clips, ckpt.control_mode, source=source, players=players)


def env_defaults(control_range: ControlRange) -> dict[str, Any]:
    """The checkpoint's ``extra[ENV_DEFAULTS_KEY]`` for a measured range."""
    return {"max_displacement": control_range.max_displacement, "control_range": control_range.to_json()}


def default_max_displacement(extra: dict[str, Any] | None) -> float:
    """The checkpoint's recorded ``max_displacement``, else :data:`FALLBACK_MAX_DISPLACEMENT`."""
    value = ((extra or {}).get(ENV_DEFAULTS_KEY) or {}).get("max_displacement")
    if isinstance(value, int | float) and np.isfinite(value) and value > 0:
        return float(value)
    return FALLBACK_MAX_DISPLACEMENT
