"""Frames and ground truth for the tip detector: real frames with ``tip_px``/``arm_mask``, and their
arm-free twins.

The detector learns from real frames of a dataset with the built-in pusher's annotations
(:mod:`lcvg_env.data.pusher`). Its negatives ("no gripper here") are the same states rendered without
the arm (``PusherConfig.hide_arm``): the recipe of the split is read from ``ROOT/dataset.json``, each
episode is simulated again from its seed, and the re-simulated tips must equal the stored ``tip_px``
exactly, so the arm-free frame shows the very scene of the real one, minus the arm. Rendering needs
MuJoCo (``pip install "lcvg-env[data]"``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np


@dataclass
class TipData:
    """N frames of a split with their ground truth; arrays share the first axis."""

    frames: np.ndarray
    """(N, H, W, 3) uint8 real frames."""
    tips: np.ndarray
    """(N, 2) float32 true tip (x, y) pixels (``tip_px``)."""
    masks: np.ndarray
    """(N, H, W) bool true arm pixels (``arm_mask``)."""
    episode: np.ndarray
    """(N,) int index of the frame's episode (in the order read)."""
    free: np.ndarray | None = None
    """(N, H, W, 3) uint8 the same states rendered without the arm, or None."""

    def __len__(self) -> int:
        return len(self.frames)


def load_tip_data(
    root: str | os.PathLike, split: str, episodes: int | None = None, arm_free: bool = False
) -> TipData:
    """Real frames and annotations of ``root``'s ``split`` (first ``episodes``), at the stored size.

    ``arm_free`` also renders every frame's state without the arm (see the module docstring).
    """
    from lcvg_env.data import open_episodes

    eps = list(open_episodes(root, split=split, strict=True))[:episodes]
    if not eps:
        raise ValueError(f"{root}: the {split!r} split has no episodes.")
    frames, tips, masks, index = [], [], [], []
    for i, ep in enumerate(eps):
        ann = ep.annotations()
        if ann is None or "tip_px" not in ann or "arm_mask" not in ann:
            raise ValueError(
                f"{ep.source}: no tip_px/arm_mask annotations. The tip detector needs data made by "
                "`lcvg data pusher` (annotations.npz beside the frames)."
            )
        f = ep.frames()
        frames.append(f)
        tips.append(ann["tip_px"].astype(np.float32))
        masks.append(ann["arm_mask"].astype(bool))
        index.append(np.full(len(f), i))
    data = TipData(np.concatenate(frames), np.concatenate(tips), np.concatenate(masks), np.concatenate(index))
    if arm_free:
        data.free = render_arm_free(root, split, [ep.name for ep in eps], data.tips)
    return data


def split_recipe(root: str | os.PathLike, split: str) -> dict:
    """The :class:`~lcvg_env.data.pusher.PusherConfig` fields that generated ``split`` (dataset.json)."""
    from lcvg_env.data.layout import DATASET_INFO_FILE
    from lcvg_env.data.pusher import PusherConfig

    path = Path(root) / DATASET_INFO_FILE
    try:
        info = json.loads(path.read_text())["splits"][split]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: cannot read how the {split!r} split was generated ({e!r}); arm-free frames can only "
            "be rendered for data made by `lcvg data pusher`. Pass --no-arm-free to skip them."
        ) from e
    if info.get("generator") != "pusher":
        raise ValueError(f"{path}: the {split!r} split was not made by the pusher generator.")
    names = {f.name for f in fields(PusherConfig)}
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in info.items() if k in names}


def render_arm_free(root: str | os.PathLike, split: str, names: list[str], tips: np.ndarray) -> np.ndarray:
    """The episodes ``names`` of ``split`` re-simulated and rendered without the arm, (N, H, W, 3) uint8.

    ``tips`` (N, 2) are the stored ``tip_px`` of those episodes, concatenated: the re-simulation must
    reproduce them exactly, or the data was not made by this version of the generator.
    """
    from lcvg_env.data.pusher import PusherConfig, episode_rng, rollout
    from lcvg_env.data.pusher_sim import PusherSim

    recipe = split_recipe(root, split)
    cfg = PusherConfig(**{**recipe, "hide_arm": True})
    out, start = [], 0
    with PusherSim(cfg.size, cfg.substeps, supersample=2 if cfg.size <= 128 else 1) as sim:
        for name in names:
            if not name.isdigit():
                raise ValueError(
                    f"{Path(root) / split / name}: the folder name is not an episode index, so this is not a "
                    "generated pusher episode and its arm-free frames cannot be rendered. Pass --no-arm-free."
                )
            frames, ann = rollout(sim, cfg, episode_rng(cfg.seed, cfg.split, int(name)))
            stored = tips[start : start + len(frames)]
            if len(stored) != len(frames) or not np.allclose(ann["tip_px"], stored, atol=1e-3):
                raise ValueError(
                    f"{Path(root) / split / name}: re-simulating the episode from dataset.json does not "
                    "reproduce its tip_px, so its arm-free frames cannot be rendered (data made by another "
                    "version of the generator?). Pass --no-arm-free to skip them."
                )
            out.append(frames)
            start += len(frames)
    return np.concatenate(out)
