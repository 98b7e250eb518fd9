"""Episodes: one video each, whatever it is stored as (a folder of frames, a video file, a TFRecord).

An :class:`Episode` knows its name and length without decoding its frames; ``frames(size)`` decodes
them to uint8 (T, H, W, 3), resized and centre-cropped to ``size`` = (height, width) if given
(:mod:`lcvg_env.data.transforms`); ``annotations()`` returns the ground truth stored beside the frames,
in the stored frame size, or None.

Problems with the data raise :class:`DataError`, whose message names the offending file.
"""

from __future__ import annotations

import itertools
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

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
        """Ground truth stored with the episode (arrays, stored frame size), or None if there is none.

        Checked against the frames (:func:`check_annotations`): annotations that no longer match them
        raise :class:`DataError` here rather than an IndexError, or wrong pixels, where they are used.
        """
        ann = self._read_annotations()
        if ann is not None:
            check_annotations(ann, self.num_frames, self.stored_size, self.source)
        return ann

    def _read_annotations(self) -> dict[str, np.ndarray] | None:
        """The stored annotations as they are, or None; formats that store some override this."""
        return None

    def stored_size(self) -> Size:
        """(height, width) of the frames as stored, the size the annotations refer to."""
        return self._decode().shape[1:3]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, num_frames={self.num_frames}, source='{self.source}')"
        )


def check_annotations(
    ann: dict[str, np.ndarray], num_frames: int, stored_size: Callable[[], Size], where: Path
) -> None:
    """Raise :class:`DataError` if annotations contradict the frames they describe (the layout's rules,
    :mod:`lcvg_env.data.layout`): ``*_mask`` arrays are (T, H, W) at the stored frame size, ``*_px``
    arrays end in an (x, y) axis and, with a time axis, have one row per frame."""
    size: Size | None = None
    for key, value in ann.items():
        shape = tuple(np.shape(value))
        if key.endswith("_mask"):
            size = size or tuple(stored_size())
            if shape != (num_frames, *size):
                problem = f"{key} is {shape} but the episode has {num_frames} frames of {size[0]}x{size[1]}"
                break
        elif key.endswith("_px") and (shape[-1:] != (2,) or (len(shape) > 1 and shape[0] != num_frames)):
            problem = f"{key} is {shape}, expected ({num_frames}, ..., 2): one (x, y) per frame"
            break
    else:
        return
    raise DataError(
        f"{where}: {ANNOTATIONS_FILE} does not match the frames ({problem}); the frames or the annotations "
        "changed since they were written. Re-generate the episode or delete it."
    )


def _frame_number(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _natural_key(path: Path) -> tuple[int, str]:
    number = _frame_number(path)
    return (-1 if number is None else number, path.name)


def _check_numbering(files: list[Path]) -> None:
    """Frames are ordered by the number in their name: raise :class:`DataError` where that order is
    ambiguous (a frame without a number among numbered ones, two frames with one number) or a frame is
    missing (the numbers do not go up by one step). Folders with no numbered frame keep name order."""
    numbers = [_frame_number(f) for f in files]
    if all(n is None for n in numbers):
        return
    fix = "Rename or remove it: frames are 00000.png, 00001.png, ... in the order they were recorded."
    for f, n in zip(files, numbers, strict=True):
        if n is None:
            raise DataError(f"Frame {f} has no number in its name while the others do. {fix}")
    for (a, m), (b, n) in itertools.pairwise(zip(files, numbers, strict=True)):
        if m == n:
            raise DataError(
                f"Frames {a} and {b.name} have the same number {n}: their order is unknown. {fix}"
            )
    steps = np.diff(numbers)
    if len(steps) and np.any(steps != steps[0]):
        k = int(np.argmax(steps != steps[0]))
        raise DataError(
            f"Episode {files[0].parent}: frame numbers go from {numbers[k]} to {numbers[k + 1]} "
            f"({files[k].name} -> {files[k + 1].name}) where the others step by {steps[0]}: a frame is "
            "missing. Re-export the episode, or remove it."
        )


def to_rgb(img: Any) -> np.ndarray:
    """A Pillow image of any mode as uint8 (H, W, 3): the one conversion every frame reader uses.

    16-bit grey (``I;16``, and ``I`` as PNG stores it) is scaled from 0..65535 to 0..255, where Pillow's
    own ``convert("RGB")`` clips it to solid white; grey, bilevel and palette images are expanded; an
    alpha channel (RGBA, LA, palette transparency) is composited over black, so fully transparent
    pixels are black whatever colour they store.
    """
    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.asarray(img, dtype=np.float64)  # (H, W), 0..65535
        grey = np.clip(np.rint(wide * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)  # (H, W, 4)
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255  # composite over black
        return rgb.astype(np.uint8)
    return np.asarray(img.convert("RGB"))


def load_image(source: Path | BinaryIO, where: str | Path | None = None) -> np.ndarray:
    """Decode one image (a file, or an open binary stream) to uint8 (H, W, 3) with :func:`to_rgb`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as img:
            return to_rgb(img)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DataError(f"Cannot decode frame {where or source}: {exc}. Replace or delete the file.") from exc


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
        _check_numbering(self.files)
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

    def _read_annotations(self) -> dict[str, np.ndarray] | None:
        path = self.source / ANNOTATIONS_FILE
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
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
                    return np.stack([to_rgb(f) for f in ImageSequence.Iterator(img)])
            import imageio.v2 as iio

            with iio.get_reader(self.source, format="FFMPEG") as reader:
                return np.stack([np.asarray(f)[..., :3] for f in reader])
        except Exception as exc:  # see _probe
            raise DataError(f"Cannot decode video {self.source}: {exc}. Re-encode or remove it.") from exc
