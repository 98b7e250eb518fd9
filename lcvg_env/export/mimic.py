"""Action mimicking (docs/method.md section 7): the motion of a driving video replayed from another frame.

1. masks of the driving video with the checkpoint's mask network (binarized, as the env uses them);
2. the controls between consecutive masks, Eq. 5 (:func:`~lcvg_env.control.fit_controls`);
3. those controls replayed through the generator from a different start frame: each step
   binarizes M(x) of the current generated frame, moves it by the control (rotation about its
   centroid, as fitted) and generates the next frame (``LayeredGenerator.step``).

Steps 1-3 are the model handle's :func:`~lcvg_env.model.fit_and_replay`, the evaluation protocol's
rollout with another start frame. ``lcvg mimic MODEL DRIVING_VIDEO --start-frame IMG --out video.mp4``
writes driving | generated side by side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class MimicResult:
    """A driving video, its fitted controls and the generated video that replays them."""

    driving: np.ndarray
    """(T+1, H, W, 3) uint8 driving frames at the model's size."""
    generated: np.ndarray
    """(T+1, H, W, 3) uint8 frames generated from the start frame."""
    controls_px: np.ndarray
    """(T, dims) fitted controls in pixels (and radians)."""
    fit_loss: np.ndarray
    """(T,) loss of Eq. 5 per fitted control."""

    def side_by_side(self) -> np.ndarray:
        """(T+1, H, 2W, 3): driving | generated."""
        return np.concatenate([self.driving, self.generated], axis=2)


def load_image(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """An RGB image file as uint8 (H, W, 3) resized to ``size`` (height, width)."""
    from PIL import Image

    from lcvg_env.data.episodes import to_rgb

    try:
        with Image.open(path) as img:
            frame = Image.fromarray(to_rgb(img))  # any mode, 16-bit grey included (the data's own rule)
    except (OSError, ValueError) as e:
        raise ValueError(f"Cannot read the start frame {path}: {e}. Pass a PNG or JPEG image.") from e
    if frame.size != (size[1], size[0]):
        frame = frame.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return np.asarray(frame, dtype=np.uint8)


def mimic(
    checkpoint: str | os.PathLike | Any,
    driving: str | os.PathLike | np.ndarray,
    start_frame: np.ndarray | None = None,
    *,
    episode: int = 0,
    max_frames: int | None = None,
    solver: str = "fast",
) -> MimicResult:
    """Fit the controls of ``driving`` (a video path/folder, or uint8 frames) and replay them.

    ``checkpoint`` is a loaded :class:`~lcvg_env.checkpoint.Checkpoint`, a model name or a path
    (:func:`lcvg_env.model.open_model`); ``start_frame`` defaults to the first frame of its start-frame
    bank.
    """
    from lcvg_env.model import open_model, to_frames

    if max_frames is not None and max_frames < 2:
        raise ValueError(f"max_frames must be >= 2 (a move needs two frames), got {max_frames}.")
    ckpt = open_model(checkpoint)
    frames = driving if isinstance(driving, np.ndarray) else _driving_frames(driving, episode, ckpt.size)
    frames = frames if max_frames is None else frames[:max_frames]
    if len(frames) < 2:
        raise ValueError(f"The driving video needs at least 2 frames, got {len(frames)}.")
    start = ckpt.start_frames[0] if start_frame is None else start_frame
    run = ckpt.fit_and_replay(frames, start=start, solver=solver)
    controls_px = run.fit.params_px.numpy().astype(np.float32)  # (T, dims)
    return MimicResult(frames, to_frames(run.generated), controls_px, run.fit.loss.numpy())


def _driving_frames(path: str | os.PathLike, episode: int, size: tuple[int, int]) -> np.ndarray:
    from lcvg_env.data import open_episodes

    episodes = open_episodes(path, strict=True)
    if not 0 <= episode < len(episodes):
        raise ValueError(f"{path} has {len(episodes)} episode(s); --episode {episode} is out of range.")
    return episodes[episode].frames(size=size)
