"""Data: datasets on disk, readers for every format, and the built-in dataset generators.

Read any dataset (the project's layout, PVG's, a folder of videos, BAIR's TFRecords) with
:func:`open_episodes` (episodes) or :class:`VideoDataset` (training pairs). Generate the built-in
datasets with ``lcvg data pusher OUT`` / ``lcvg data breakout OUT`` or
:func:`lcvg_env.data.pusher.generate_pusher` / :func:`lcvg_env.data.breakout.generate_breakout`
(imported from their modules: they need the ``data`` extra, MuJoCo and ale-py, which this package does
not import). The on-disk layout is described in :mod:`lcvg_env.data.layout` and ``docs/data.md``.
"""

from __future__ import annotations

from lcvg_env.data.dataset import VideoDataset, to_tensor
from lcvg_env.data.discover import DataWarning, EpisodeList, open_episodes
from lcvg_env.data.episodes import DataError, Episode, FolderEpisode, VideoFileEpisode
from lcvg_env.data.layout import ANNOTATIONS_FILE, SPLITS, write_episode
from lcvg_env.data.tfrecord import TFRecordEpisode
from lcvg_env.data.transforms import ResizeCrop, rescale_annotations, resize_frames

__all__ = [
    "ANNOTATIONS_FILE",
    "SPLITS",
    "DataError",
    "DataWarning",
    "Episode",
    "EpisodeList",
    "FolderEpisode",
    "ResizeCrop",
    "TFRecordEpisode",
    "VideoDataset",
    "VideoFileEpisode",
    "open_episodes",
    "rescale_annotations",
    "resize_frames",
    "to_tensor",
    "write_episode",
]
