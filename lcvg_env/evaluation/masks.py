"""How well the learned mask finds the moving foreground: IoU with a ground-truth mask (training's check
at the end of stage 1; ``lcvg evaluate`` reports the same against the test split's ``arm_mask``).

The built-in pusher data stores the arm's pixels (``annotations()["arm_mask"]``), Atari Tennis each player's
(``ours_mask``, ``opponent_mask``): the true foreground is the arm, or the union of the players
(:func:`with_foreground`). The IoU of the binarized
mask 1[M(x) > 0.5] with it is reported next to two baselines a mask that knows nothing would reach:
the whole frame (IoU = the arm's share of the frame) and a random mask of the same size as the learned
one (expected IoU = p q / (p + q - p q) for independent pixels with shares p and q).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lcvg_env.data import DataError, DataWarning, open_episodes, rescale_annotations
from lcvg_env.data.validate import validate_split
from lcvg_env.metrics.masks import overlap_counts
from lcvg_env.model import binary_masks
from lcvg_env.models.generator import LayeredGenerator

FOREGROUND_KEY = "foreground_mask"
"""The key :func:`with_foreground` adds: the true foreground LCVG's single mask should find."""


def with_foreground(ann: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """``ann`` with :data:`FOREGROUND_KEY` added: ``arm_mask`` (the pusher), or without it the union of
    the ``*_mask`` keys (Atari Tennis: ``ours_mask | opponent_mask``, both players in LCVG's one mask);
    ``ann`` as it is when it has no mask (None stays None)."""
    if not ann:
        return None if ann is None else dict(ann)
    keys = ["arm_mask"] if "arm_mask" in ann else sorted(k for k in ann if k.endswith("_mask"))
    if not keys:
        return dict(ann)
    return {**ann, FOREGROUND_KEY: np.logical_or.reduce([np.asarray(ann[k], dtype=bool) for k in keys])}


def mask_split(data_dir: str | Path) -> str:
    """The split the stage-1 mask check reads: ``val`` where the dataset has one, else ``train``."""
    return "val" if (Path(data_dir) / "val").is_dir() else "train"


def check_mask_split(data_dir: str | Path) -> None:
    """Decode and check, before the first step, the episodes the stage-1 mask check will read (the
    training split is checked by ``VideoDataset``): one warning names the broken ones, which
    :func:`mask_iou_summary` then leaves out, so the check at the end of stage 1 cannot stop the run."""
    if mask_split(data_dir) != "val":
        return
    try:
        validate_split(data_dir, "val")
    except DataError as exc:  # no episode at all: the check is skipped, as mask_iou_summary does
        warnings.warn(f"The stage-1 mask check will be skipped: {exc}", DataWarning, stacklevel=2)


@torch.no_grad()
def mask_iou_summary(
    generator: LayeredGenerator,
    root: str | Path,
    split: str = "val",
    max_frames: int = 256,
    key: str = FOREGROUND_KEY,
) -> dict[str, float] | None:
    """IoU of the binarized learned mask with ``annotations()[key]`` (default: the true foreground,
    :func:`with_foreground`) on up to ``max_frames`` frames.

    Returns ``{"iou", "iou_full_frame", "iou_random", "frames"}`` or None when the split has no such
    annotations (e.g. real video).
    """
    size = (generator.cfg.height, generator.cfg.width)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # reported before the first step
            episodes = open_episodes(root, split=split)
    except (DataError, FileNotFoundError, ValueError):
        return None
    totals = np.zeros(4)  # pixels of pred & truth, pred | truth, pred, truth over the frames
    frames_done = 0
    for ep in episodes:
        try:
            ann = with_foreground(ep.annotations())  # checked against the frames: a mismatch is a DataError
        except DataError:
            continue
        if ann is None or key not in ann or frames_done >= max_frames:
            continue
        n = min(ep.num_frames, max_frames - frames_done)
        try:
            frames = ep.frames(size)[:n]
        except DataError:
            continue  # broken: left out here as everywhere (check_mask_split warned before step 1)
        truth = rescale_annotations({key: ann[key]}, ep.stored_size(), size)[key][:n].astype(bool)
        totals += overlap_counts(binary_masks(generator, frames), torch.from_numpy(truth))  # (n, H, W) each
        frames_done += n
    if frames_done == 0:
        return None
    inter, union, pred_area, true_area = totals.tolist()
    pixels = frames_done * size[0] * size[1]
    p, q = pred_area / pixels, true_area / pixels
    return {
        "iou": inter / max(union, 1.0),
        "iou_full_frame": q,
        "iou_random": p * q / max(p + q - p * q, 1e-12),
        "mask_share": p,
        "frames": float(frames_done),
    }
