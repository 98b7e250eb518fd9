"""Showing and recording frames: a pygame window (``render_mode="human"``) and mp4 files (moviepy)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PLAY_HINT = 'pip install "lcvg-env[play]"'


def import_pygame() -> Any:
    """pygame, or an ImportError that says how to install it."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError as e:
        raise ImportError(f"The human render mode and `lcvg play` need pygame: {PLAY_HINT}") from e
    return pygame


def auto_scale(size: tuple[int, int], target: int = 512) -> int:
    """The largest integer scale that keeps the longer side within ``target`` pixels (at least 1)."""
    return max(1, target // max(size))


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (H, W, 3) by an integer factor (crisp pixels)."""
    if scale == 1:
        return frame
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


class HumanWindow:
    """A pygame window showing (H, W, 3) frames scaled up, paced at ``fps``."""

    def __init__(self, size: tuple[int, int], scale: int | None, title: str, fps: float) -> None:
        self.pygame = import_pygame()
        self.scale = scale or auto_scale(size)
        h, w = size
        self.pygame.init()
        self.pygame.display.init()
        self.screen = self.pygame.display.set_mode((w * self.scale, h * self.scale))
        self.pygame.display.set_caption(title)
        self.clock = self.pygame.time.Clock()
        self.fps = fps

    def show(self, frame: np.ndarray) -> None:
        """Draw ``frame`` and wait for the next tick of the clock."""
        pg = self.pygame
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))  # (W, H, 3)
        self.screen.blit(pg.transform.scale(surface, self.screen.get_size()), (0, 0))
        pg.event.pump()
        pg.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        self.pygame.display.quit()
        self.pygame.quit()


def write_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float, scale: int = 1) -> Path:
    """Write uint8 (H, W, 3) frames to an H.264 mp4 with moviepy; returns the path."""
    from moviepy import ImageSequenceClip

    if len(frames) == 0:
        raise ValueError(f"No frames to write to {path}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # H.264 with yuv420p needs even sides: pad by one row/column when the scaled frame is odd.
    frames = [_even(upscale(np.asarray(f, dtype=np.uint8), scale)) for f in frames]
    # moviepy writes int(duration * fps) frames and n / fps * fps can round down to n - 1: pad a little.
    clip = ImageSequenceClip(frames, fps=fps).with_duration((len(frames) + 0.5) / fps)
    clip.write_videofile(
        str(path), codec="libx264", audio=False, logger=None, ffmpeg_params=["-pix_fmt", "yuv420p"]
    )
    clip.close()
    return path


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
