"""How well the learned mask finds the moving foreground: IoU with a ground-truth mask (training's check
at the end of stage 1; ``lcvg evaluate`` reports the same against the test split's ``arm_mask``).

The built-in pusher data stores the arm's pixels (``annotations()["arm_mask"]``). The IoU of the binarized
mask 1[M(x) > 0.5] with it is reported next to two baselines a mask that knows nothing would reach:
the whole frame (IoU = the arm's share of the frame) and a random mask of the same size as the learned
one (expected IoU = p q / (p + q - p q) for independent pixels with shares p and q).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from lcvg_env.data import DataError, DataWarning, open_episodes, rescale_annotations
from lcvg_env.data.validate import validate_split
from lcvg_env.model import binary_masks
from lcvg_env.models.generator import LayeredGenerator


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
    key: str = "arm_mask",
) -> dict[str, float] | None:
    """IoU of the binarized learned mask with ``annotations()[key]`` on up to ``max_frames`` frames.

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
    inter = union = pred_area = true_area = 0.0
    frames_done = 0
    for ep in episodes:
        try:
            ann = ep.annotations()  # checked against the frames: a mismatch is a DataError
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
        pred = binary_masks(generator, frames).numpy()  # (n, H, W)
        inter += float(np.logical_and(pred, truth).sum())
        union += float(np.logical_or(pred, truth).sum())
        pred_area, true_area = pred_area + float(pred.sum()), true_area + float(truth.sum())
        frames_done += n
    if frames_done == 0:
        return None
    pixels = frames_done * size[0] * size[1]
    p, q = pred_area / pixels, true_area / pixels
    return {
        "iou": inter / max(union, 1.0),
        "iou_full_frame": q,
        "iou_random": p * q / max(p + q - p * q, 1e-12),
        "mask_share": p,
        "frames": float(frames_done),
    }
