"""Data: datasets on disk, readers for every format, and the built-in dataset generators.

Read any dataset (the project's layout, PVG's, a folder of videos, BAIR's TFRecords) with
:func:`open_episodes` (episodes) or :class:`VideoDataset` (training pairs). Generate the built-in
datasets with ``lcvg data pusher OUT`` / ``lcvg data breakout OUT`` / ``lcvg data atari-tennis OUT`` or
:func:`lcvg_env.data.pusher.generate_pusher` / :func:`lcvg_env.data.breakout.generate_breakout` /
:func:`lcvg_env.data.atari_tennis.generate_atari_tennis` (imported from their modules: they need the
``data`` extra, MuJoCo and ale-py, which this package does not import). The on-disk layout is
described in :mod:`lcvg_env.data.layout` and ``docs/data.md``.

Attributes load lazily (PEP 562): importing this package (as the ``lcvg`` command line does to build
its help) does not import torch; ``VideoDataset`` and ``to_tensor`` load it when first used.
"""

from __future__ import annotations

from lcvg_env.lazy import lazy_exports

_EXPORTS = {
    "VideoDataset": "lcvg_env.data.dataset",
    "to_tensor": "lcvg_env.data.dataset",
    "DataWarning": "lcvg_env.data.discover",
    "EpisodeList": "lcvg_env.data.discover",
    "open_episodes": "lcvg_env.data.discover",
    "DataError": "lcvg_env.data.episodes",
    "Episode": "lcvg_env.data.episodes",
    "FolderEpisode": "lcvg_env.data.episodes",
    "VideoFileEpisode": "lcvg_env.data.episodes",
    "ANNOTATIONS_FILE": "lcvg_env.data.layout",
    "SPLITS": "lcvg_env.data.layout",
    "write_episode": "lcvg_env.data.layout",
    "TFRecordEpisode": "lcvg_env.data.tfrecord",
    "ResizeCrop": "lcvg_env.data.transforms",
    "rescale_annotations": "lcvg_env.data.transforms",
    "resize_frames": "lcvg_env.data.transforms",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
