"""Showing and recording frames: a pygame window (``render_mode="human"``) and mp4 files (moviepy).

The window initialises pygame's display (and its font, for a caption) only: never the mixer, whose
audio initialisation prints ALSA errors on machines without sound. Without a display it fails at once
with :class:`NoDisplayError`, instead of SDL's silent fallback to an invisible ``offscreen`` window.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PLAY_HINT = 'pip install "lcvg-env[play]"'
HEADLESS_DRIVERS = ("offscreen", "dummy")
"""SDL video drivers that show nothing: accepted only when asked for by ``SDL_VIDEODRIVER`` (tests)."""
CAPTION_COLOURS = ((32, 32, 32), (230, 230, 230))
"""Background and text of the caption strip under the frame."""


class NoDisplayError(RuntimeError):
    """No screen to open a window on; the message says what to do instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"No display to open a window on ({reason}). On a machine without a screen, record a video "
            "instead: `lcvg rollout ENV_ID --out rollout.mp4` (or render_mode='rgb_array' in Python); "
            "log in with a desktop session or `ssh -X` to play live."
        )


def check_display() -> None:
    """Raise :class:`NoDisplayError` at once on Linux without ``DISPLAY`` or ``WAYLAND_DISPLAY``
    (unless ``SDL_VIDEODRIVER`` names a driver): cheap, so commands call it before loading a model."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise NoDisplayError("DISPLAY and WAYLAND_DISPLAY are not set")


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
    """A pygame window showing (H, W, 3) frames scaled up, paced at ``fps``, with an optional
    ``caption`` (e.g. the keys) drawn in a strip under the frame."""

    def __init__(
        self, size: tuple[int, int], scale: int | None, title: str, fps: float, caption: str | None = None
    ) -> None:
        check_display()
        self.pygame = pg = import_pygame()
        self.scale = scale or auto_scale(size)
        h, w = size
        self.frame_px = (w * self.scale, h * self.scale)
        try:
            pg.display.init()  # the display only: pygame.init() would also start the mixer (audio)
            driver = pg.display.get_driver()
            if driver in HEADLESS_DRIVERS and os.environ.get("SDL_VIDEODRIVER") != driver:
                raise NoDisplayError(f"SDL found no video device and fell back to its {driver!r} driver")
            self.caption = self._render_caption(caption) if caption else None
            strip = self.caption.get_height() + 8 if self.caption is not None else 0
            self.screen = pg.display.set_mode((self.frame_px[0], self.frame_px[1] + strip))
        except pg.error as e:
            pg.display.quit()
            raise NoDisplayError(f"pygame: {e}") from e
        except NoDisplayError:
            pg.display.quit()
            raise
        pg.display.set_caption(title)
        self.clock = pg.time.Clock()
        self.fps = fps

    def _render_caption(self, text: str) -> Any:
        """``text`` as a surface at most the frame's width (shrunk to fit), or None without pygame.font."""
        pg = self.pygame
        try:
            pg.font.init()
            surface = pg.font.Font(None, 22).render(text, True, CAPTION_COLOURS[1])  # 32-bit, alpha
        except (pg.error, NotImplementedError, ImportError):  # a pygame built without SDL_ttf
            return None
        width = self.frame_px[0] - 8
        if surface.get_width() > width:
            height = max(1, round(surface.get_height() * width / surface.get_width()))
            surface = pg.transform.smoothscale(surface, (width, height))
        return surface

    def show(self, frame: np.ndarray) -> None:
        """Draw ``frame`` (and the caption) and wait for the next tick of the clock."""
        pg = self.pygame
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))  # (W, H, 3)
        self.screen.blit(pg.transform.scale(surface, self.frame_px), (0, 0))
        if self.caption is not None:
            strip = (0, self.frame_px[1], self.frame_px[0], self.screen.get_height() - self.frame_px[1])
            self.screen.fill(CAPTION_COLOURS[0], strip)
            self.screen.blit(self.caption, (4, self.frame_px[1] + 4))
        pg.event.pump()
        pg.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        self.pygame.display.quit()
        self.pygame.quit()


VIDEO_MIN_FREE = 256 << 10
"""Bytes free on the disk, right after ffmpeg ran, below which the video write is taken for one that filled
the disk (256 KiB): ffmpeg, a subprocess, can exit without an error on a disk it filled, its file cut
short, or fail with a broken pipe; the video is then not put in place and the write is reported as a
full disk."""


def write_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float, scale: int = 1) -> Path:
    """Write uint8 (H, W, 3) frames to an H.264 mp4 with moviepy; returns the path.

    The video is encoded beside ``path`` and renamed over it when complete (:mod:`lcvg_env.atomic`): a
    kill or a full disk leaves the old file, never a truncated video under the name; a full disk raises
    :class:`~lcvg_env.outputs.OutputError` (a ValueError) that says so.
    """
    from moviepy import ImageSequenceClip

    from lcvg_env.atomic import atomic_path, free_bytes, is_disk_full
    from lcvg_env.outputs import OutputError, describe_os_error

    if len(frames) == 0:
        raise ValueError(f"No frames to write to {path}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # H.264 with yuv420p needs even sides: pad by one row/column when the scaled frame is odd.
    frames = [_even(upscale(np.asarray(f, dtype=np.uint8), scale)) for f in frames]
    # moviepy writes int(duration * fps) frames and n / fps * fps can round down to n - 1: pad a little.
    clip = ImageSequenceClip(frames, fps=fps).with_duration((len(frames) + 0.5) / fps)
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:  # ffmpeg picks the container by the suffix
            failure: OSError | None = None
            try:
                clip.write_videofile(
                    str(tmp), codec="libx264", audio=False, logger=None, ffmpeg_params=["-pix_fmt", "yuv420p"]
                )
            except OSError as e:
                failure = e
            # Measured while the partial file still takes its space. ffmpeg is a subprocess: on a disk it
            # fills it fails with a broken pipe (and moviepy's advice about codecs), or ends "well" with its
            # file cut short; either way the free space says what happened, and the file is not kept.
            free = free_bytes(path.parent)
            full = (failure is not None and is_disk_full(failure)) or (
                free is not None and free < VIDEO_MIN_FREE
            )
            if full:
                reason = describe_os_error(OSError(errno.ENOSPC, "No space left on device"))
                raise OutputError(f"{path}: could not write the video ({reason}).") from failure
            if failure is not None:
                text = str(failure).strip()
                first = text.splitlines()[0] if text else type(failure).__name__
                raise OutputError(
                    f"{path}: could not write the video (ffmpeg stopped: {first})."
                ) from failure
    finally:
        clip.close()
    return path


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
