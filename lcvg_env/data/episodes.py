"""Episodes: one video each, whatever it is stored as (a folder of frames, a video file, a TFRecord).

An :class:`Episode` knows its name and length without decoding its frames; ``frames(size)`` decodes
them to uint8 (T, H, W, 3), resized and centre-cropped to ``size`` = (height, width) if given
(:mod:`lcvg_env.data.transforms`); ``annotations()`` returns the ground truth stored beside the frames,
in the stored frame size, or None.

Problems with the data raise :class:`DataError`, whose message names the offending file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from lcvg_env.data.layout import ANNOTATIONS_FILE, FRAME_SUFFIXES
from lcvg_env.data.transforms import Size, resize_frames

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".gif", ".webm", ".mov", ".mkv")


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file."""


class Episode(ABC):
    """One video of a dataset; subclasses read one storage format."""

    def __init__(self, name: str, source: Path) -> None:
        self.name = name
        self.source = source

    @property
    @abstractmethod
    def num_frames(self) -> int:
        """Number of frames, known without decoding them."""

    @abstractmethod
    def _decode(self) -> np.ndarray:
        """All frames at the stored size, uint8 (T, H, W, 3)."""

    def frames(self, size: Size | None = None) -> np.ndarray:
        """All frames as uint8 (T, H, W, 3), resized and centre-cropped to ``size`` (height, width)."""
        frames = self._decode()
        if len(frames) != self.num_frames:
            raise DataError(
                f"{self.source}: expected {self.num_frames} frames, decoded {len(frames)}; "
                "the file changed or is damaged. Re-create or remove it."
            )
        return resize_frames(frames, size)

    def annotations(self) -> dict[str, np.ndarray] | None:
        """Ground truth stored with the episode (arrays, stored frame size), or None if there is none."""
        return None

    def stored_size(self) -> Size:
        """(height, width) of the frames as stored, the size the annotations refer to."""
        return self._decode().shape[1:3]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, num_frames={self.num_frames}, source='{self.source}')"
        )


def _natural_key(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


def load_image(path: Path) -> np.ndarray:
    """Decode one image file to uint8 (H, W, 3); grey or RGBA images are converted to RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"Cannot decode frame {path}: {exc}. Replace or delete the file.") from exc


class FolderEpisode(Episode):
    """An episode folder of the project's layout (and PVG's): ``00000.png ...`` + ``annotations.npz``.

    Files with an image suffix are frames, in natural order of the number in their name; other files
    (``annotations.npz``, PVG's ``actions.pkl``, ...) are not frames. Every frame's header is read when
    the episode is opened: a file that is not an image, or a frame of another size, is reported then.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        super().__init__(path.name, path)
        if not path.is_dir():
            raise DataError(f"Episode folder {path} does not exist.")
        files = [
            p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")
        ]
        if not files:
            raise DataError(f"Episode folder {path} holds no frames (expected 00000.png, 00001.png, ...).")
        self.files = sorted(files, key=_natural_key)
        self.frame_size = self._check_headers()

    def _check_headers(self) -> Size:
        from PIL import Image, UnidentifiedImageError

        size: Size | None = None
        for f in self.files:
            try:
                with Image.open(f) as img:
                    hw = (img.height, img.width)
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"Frame {f} is not an image ({exc}). Replace or delete the file.") from exc
            if size is not None and hw != size:
                raise DataError(
                    f"Frame {f} is {hw[0]}x{hw[1]} but {self.files[0].name} is {size[0]}x{size[1]}: "
                    "all frames of an episode must have one size. Re-export the episode."
                )
            size = hw
        assert size is not None
        return size

    @property
    def num_frames(self) -> int:
        return len(self.files)

    def stored_size(self) -> Size:
        return self.frame_size

    def _decode(self) -> np.ndarray:
        return np.stack([load_image(f) for f in self.files])

    def annotations(self) -> dict[str, np.ndarray] | None:
        path = self.source / ANNOTATIONS_FILE
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"Cannot read annotations {path}: {exc}. Re-generate the episode.") from exc


class VideoFileEpisode(Episode):
    """A video file (mp4, avi, webm, mov, mkv through imageio's ffmpeg; gif through Pillow).

    The file is probed when the episode is opened (frame count, readable header), so a truncated or
    damaged file is reported then rather than in the middle of training.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        super().__init__(path.stem, path)
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise DataError(f"{path} is not a video file ({', '.join(VIDEO_SUFFIXES)}).")
        self._num_frames = self._probe()
        if self._num_frames == 0:
            raise DataError(f"Video {path} has no frames. Replace or delete the file.")

    def _probe(self) -> int:
        try:
            if self.source.suffix.lower() == ".gif":
                from PIL import Image

                with Image.open(self.source) as img:
                    return int(getattr(img, "n_frames", 1))
            import imageio.v2 as iio

            with iio.get_reader(self.source, format="FFMPEG") as reader:
                return int(reader.count_frames())
        except Exception as exc:  # ffmpeg and Pillow raise many types for damaged files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"Cannot read video {self.source}: {first}. It may be truncated or not a video; "
                "re-encode it (e.g. ffmpeg -i in.mp4 out.mp4) or remove it."
            ) from exc

    @property
    def num_frames(self) -> int:
        return self._num_frames

    def _decode(self) -> np.ndarray:
        try:
            if self.source.suffix.lower() == ".gif":
                from PIL import Image, ImageSequence

                with Image.open(self.source) as img:
                    return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)])
            import imageio.v2 as iio

            with iio.get_reader(self.source, format="FFMPEG") as reader:
                return np.stack([np.asarray(f)[..., :3] for f in reader])
        except Exception as exc:  # see _probe
            raise DataError(f"Cannot decode video {self.source}: {exc}. Re-encode or remove it.") from exc
