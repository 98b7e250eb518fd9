"""``VideoDataset``: frame pairs (x^t, x^{t+k}) for training, from any format :func:`open_episodes` reads.

LCVG trains on pairs of a frame and the frame ``k = frame_skip`` steps later (the mask and the control
are inferred from the change between them). Every pair of every episode is one item; frames are
resized and centre-cropped to ``size`` (:mod:`lcvg_env.data.transforms`) and scaled to [-1, 1].

Decoded episodes (uint8, already at ``size``) are kept in an in-memory LRU cache of ``cache_bytes``;
when the whole dataset fits (the default for datasets of tens to thousands of 64x64 episodes), it is
decoded once up front, so training is not IO-bound. Either way every episode is checked when the
dataset is built (:func:`~lcvg_env.data.validate.check_episode`: every frame decoded, annotations
against the frames), so broken files are left out before training starts, never in the middle of it.
"""

from __future__ import annotations

import bisect
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lcvg_env.data.discover import DataWarning, open_episodes
from lcvg_env.data.episodes import DataError, Episode
from lcvg_env.data.transforms import Size, rescale_annotations
from lcvg_env.data.validate import DataReport, check_episode, fix_hint


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1] (:func:`lcvg_env.model.to_model_range`)."""
    from lcvg_env.model import to_model_range

    return to_model_range(np.ascontiguousarray(frame)[None])[0]


def _as_size(size: int | Size) -> Size:
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in hw):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}.")
    return int(hw[0]), int(hw[1])


class VideoDataset(Dataset):
    """Pairs ``{"frame": x^t, "next": x^{t+k}}``, float32 (3, H, W) in [-1, 1], k = ``frame_skip``.

    Args:
        root: dataset path (layout folder, folder of episodes, videos or TFRecords; see open_episodes).
        split: train, val or test (ignored for a folder without split folders).
        size: (height, width) of the model's frames, or an int for square frames.
        frame_skip: k, the distance in frames between the two frames of a pair.
        strict: raise on the first broken episode instead of skipping it with a warning.
        cache_bytes: budget of the in-memory cache of decoded episodes.
        preload: keep everything decoded from the start; default: when the estimated size fits
            ``cache_bytes``.
        validate: check every episode when the dataset is built (decoded once, annotations read) and
            leave the broken ones out with one warning; False finds them only when they are read.

    Attributes: ``episodes`` (the usable ones), ``skipped`` (count of broken or too-short episodes),
    ``problems`` (their messages).

    Example::

        ds = VideoDataset("data/pusher", split="train", size=(64, 64), frame_skip=1)
        batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)))
        batch["frame"].shape  # (8, 3, 64, 64)
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: int | Size = (64, 64),
        frame_skip: int = 1,
        strict: bool = False,
        cache_bytes: int = 1 << 30,
        preload: bool | None = None,
        validate: bool = True,
    ) -> None:
        self.size = _as_size(size)
        if not isinstance(frame_skip, int) or frame_skip < 1:
            raise ValueError(f"frame_skip must be an int >= 1, got {frame_skip!r}.")
        self.root, self.split, self.frame_skip, self.strict = Path(root), split, frame_skip, strict
        self.cache_bytes = cache_bytes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # one warning below lists every left-out episode
            found = open_episodes(root, split=split, strict=strict)
        self.problems: list[str] = list(found.problems)
        self.episodes: list[Episode] = [ep for ep in found if self._long_enough(ep)]
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._build_index()
        frame_bytes = 3 * self.size[0] * self.size[1]
        if preload is None:
            preload = sum(ep.num_frames for ep in self.episodes) * frame_bytes <= cache_bytes
        if preload or validate:
            self._check_all(keep=bool(preload))
        if self.problems:
            report = DataReport(self.root, self.split, list(self.episodes), list(self.problems))
            warnings.warn(report.summary(), DataWarning, stacklevel=2)

    # ------------------------------------------------------------------ bookkeeping
    def _long_enough(self, ep: Episode) -> bool:
        if ep.num_frames > self.frame_skip:
            return True
        msg = (
            f"{ep.source}: {ep.num_frames} frame(s), too short for frame_skip={self.frame_skip} "
            f"(needs at least {self.frame_skip + 1})."
        )
        if self.strict:
            raise DataError(msg + " Lower frame_skip or remove the episode.")
        self.problems.append(msg)
        return False

    def _build_index(self) -> None:
        if not self.episodes:
            raise DataError(
                f"No usable episode in {self.root} (split {self.split!r}): {len(self.problems)} left out, "
                f"e.g. {self.problems[0] if self.problems else 'none'} Check the path and frame_skip."
            )
        counts = [ep.num_frames - self.frame_skip for ep in self.episodes]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).tolist()

    def _drop(self, index: int, exc: DataError, warn: bool = True) -> None:
        """Forget a broken episode (non-strict mode) and re-index; cached episodes are re-keyed."""
        if warn:  # found late (validate=False): the pair index changes under the sampler
            warnings.warn(f"Skipping broken episode: {exc} {fix_hint(self.root, self.split)}", DataWarning, 3)
        self.problems.append(str(exc))
        self.episodes.pop(index)
        self._cache = OrderedDict((k - (k > index), v) for k, v in self._cache.items() if k != index)
        self._cached_bytes = sum(v.nbytes for v in self._cache.values())
        self._build_index()

    def _check_all(self, keep: bool) -> None:
        """Decode and check every episode (kept in the cache if ``keep``), leaving the broken ones out."""
        i = 0
        while i < len(self.episodes):
            try:
                if keep:
                    self.episode_frames(i)
                check_episode(self.episodes[i], decode=not keep)
                i += 1
            except DataError as exc:
                if self.strict:
                    raise
                self._drop(i, exc, warn=False)

    @property
    def skipped(self) -> int:
        """Number of episodes left out: broken files and episodes shorter than ``frame_skip + 1``."""
        return len(self.problems)

    # ------------------------------------------------------------------ access
    def episode_frames(self, index: int) -> np.ndarray:
        """Frames of episode ``index`` at the dataset's size, uint8 (T, H, W, 3), through the cache."""
        frames = self._cache.get(index)
        if frames is not None:
            self._cache.move_to_end(index)
            return frames
        frames = self.episodes[index].frames(self.size)
        self._cache[index] = frames
        self._cached_bytes += frames.nbytes
        while len(self._cache) > 1 and self._cached_bytes > self.cache_bytes:
            self._cached_bytes -= self._cache.popitem(last=False)[1].nbytes
        return frames

    def annotations(self, index: int) -> dict[str, np.ndarray] | None:
        """Ground truth of episode ``index`` mapped to the dataset's frame size (pixels and masks)."""
        ep = self.episodes[index]
        ann = ep.annotations()
        if ann is None:
            return None
        return rescale_annotations(ann, ep.stored_size(), self.size)

    def locate(self, i: int) -> tuple[int, int]:
        """(episode index, t) of item ``i``: the pair is frames t and t + frame_skip of that episode."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} pairs")
        i %= len(self)
        ep = bisect.bisect_right(self._starts, i) - 1
        return ep, i - self._starts[ep]

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        while True:
            ep, t = self.locate(min(i, len(self) - 1))
            try:
                frames = self.episode_frames(ep)
                break
            except DataError as exc:  # found late (lazy mode): skip it, serve another pair
                if self.strict:
                    raise
                self._drop(ep, exc)
        return {"frame": to_tensor(frames[t]), "next": to_tensor(frames[t + self.frame_skip])}

    def __repr__(self) -> str:
        return (
            f"VideoDataset(root='{self.root}', split={self.split!r}, episodes={len(self.episodes)}, "
            f"pairs={len(self)}, size={self.size}, frame_skip={self.frame_skip}, skipped={self.skipped})"
        )
