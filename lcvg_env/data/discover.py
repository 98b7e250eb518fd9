"""Find the episodes under a path, whatever the format: :func:`open_episodes`.

Accepted, in the order they are tried:

1. the project's layout (and PVG's): ``ROOT/{train,val,test}/<episode>/00000.png ...``;
2. a folder whose sub-folders are episodes (no split folders; ``split`` is then ignored);
3. a folder of video files (mp4, avi, gif, webm, mov, mkv), at ``ROOT/split/`` or ``ROOT/``;
4. TFRecord files (BAIR's ``softmotion30_44k/{train,test}/traj_*.tfrecords``), same places;
5. a single video or TFRecord file;
6. a single episode folder (frames directly inside).

A folder may mix episode folders, videos and TFRecords. Broken episodes are skipped with a warning
(each names its file) and counted in ``EpisodeList.skipped``, unless ``strict=True``, which raises the
first problem instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from lcvg_env.data.episodes import VIDEO_SUFFIXES, DataError, Episode, FolderEpisode, VideoFileEpisode
from lcvg_env.data.layout import FRAME_SUFFIXES, SPLITS
from lcvg_env.data.tfrecord import TFRECORD_SUFFIXES, open_tfrecord


class DataWarning(UserWarning):
    """A broken episode was skipped (the message names the file)."""


class EpisodeList(list[Episode]):
    """A list of episodes that remembers what was skipped: ``skipped`` (count), ``problems`` (messages)."""

    def __init__(self, episodes: list[Episode], problems: list[str], root: Path) -> None:
        super().__init__(episodes)
        self.problems = problems
        self.root = root

    @property
    def skipped(self) -> int:
        return len(self.problems)


def _is_tfrecord(path: Path) -> bool:
    return path.is_file() and any(s in path.name.lower() for s in TFRECORD_SUFFIXES)


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


GENERATOR_OPTIONS: dict[str, tuple[str, ...]] = {
    "pusher": ("frames", "size"),
    "breakout": ("frames", "size"),
    "atari-tennis": ("frames", "size", "frameskip"),
}
"""The ``lcvg data`` generators, and the recorded settings (``dataset.json``) a new split should share."""


def generator_command(root: Path, split: str) -> str | None:
    """The ``lcvg data`` command that writes ``split`` into ``root`` like its other splits (the generator,
    frames and size ``dataset.json`` records for them), or None when ``lcvg data`` cannot write ``split``
    (not one of :data:`SPLITS`) or the splits present were not all made by one ``lcvg data`` generator."""
    from lcvg_env.data.layout import recorded_recipe

    recipes = [recorded_recipe(root, s) for s in SPLITS if (root / s).is_dir()]
    generators = {recipe.get("generator") for recipe in recipes}
    generator = generators.pop() if len(generators) == 1 else None
    if split not in SPLITS or not recipes or generator not in GENERATOR_OPTIONS:
        return None
    parts = ["lcvg data", str(generator), str(root), "--split", split]
    for key in GENERATOR_OPTIONS[str(generator)]:
        value = recipes[0].get(key)
        if key == "size" and generator == "breakout":  # (height, width), or None for ALE's own size
            parts += ["--height", str(value[0]), "--width", str(value[1])] if value else []
        elif value is not None:
            parts += [f"--{key}", str(value)]
    return " ".join(parts)


def resolve_split_dir(root: Path, split: str) -> Path:
    """``root/split`` when root has split folders, else root itself (a folder of episodes)."""
    if (root / split).is_dir():
        return root / split
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present:
        command = generator_command(root, split)
        make = f", or write a '{split}' split with `{command}`" if command else ""
        raise DataError(
            f"{root} has no '{split}' split; it has {', '.join(present)}. Pass one of those (--split NAME "
            f"on the command line, split=NAME in Python){make}."
        )
    return root


def _openers(base: Path, tfrecord_image_key: str, problems: list[str]) -> list[tuple[Path, Callable]]:
    """(path, function returning episodes) for each candidate entry of ``base``, in name order."""
    out: list[tuple[Path, Callable]] = []
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):
            continue  # hidden files and half-written episodes (.name.tmp-*)
        if entry.is_dir():
            out.append((entry, lambda e=entry: [FolderEpisode(e)]))
        elif _is_video(entry):
            out.append((entry, lambda e=entry: [VideoFileEpisode(e)]))
        elif _is_tfrecord(entry):
            out.append((entry, lambda e=entry: open_tfrecord(e, tfrecord_image_key, problems)))
    if not out and any(p.suffix.lower() in FRAME_SUFFIXES for p in base.iterdir()):
        out.append((base, lambda: [FolderEpisode(base)]))  # base is itself one episode folder
    return out


def open_episodes(
    root: str | Path, split: str = "train", strict: bool = False, tfrecord_image_key: str = "image_aux1"
) -> EpisodeList:
    """All episodes of ``split`` under ``root`` (see the module docstring for the formats).

    Raises :class:`DataError` when nothing usable is found, and, with ``strict``, on the first broken
    episode; otherwise broken episodes are skipped with a :class:`DataWarning` and counted.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"Dataset path {root} does not exist. Generate one with `lcvg data pusher {root}`.")
    problems: list[str] = []
    if root.is_file():
        if not (_is_video(root) or _is_tfrecord(root)):
            raise DataError(f"{root} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor a TFRecord file.")
        base, candidates = root.parent, [(root, lambda: _open_file(root, tfrecord_image_key, problems))]
    else:
        base = resolve_split_dir(root, split)
        candidates = _openers(base, tfrecord_image_key, problems)
    episodes: list[Episode] = []
    for _, opener in candidates:
        try:
            episodes.extend(opener())
        except DataError as exc:
            if strict:
                raise
            problems.append(str(exc))
        if strict and problems:
            raise DataError(problems[0])
    for msg in problems:
        warnings.warn(f"Skipping broken data: {msg}", DataWarning, stacklevel=2)
    if not episodes:
        detail = f" ({len(problems)} broken, see warnings)" if problems else ""
        raise DataError(
            f"No episodes found in {base}{detail}. Expected episode folders of frames (00000.png, ...), "
            f"video files ({', '.join(VIDEO_SUFFIXES)}) or TFRecord files, or split folders {SPLITS}."
        )
    if problems:
        warnings.warn(f"{len(problems)} broken episode(s) skipped in {base}.", DataWarning, stacklevel=2)
    return EpisodeList(episodes, problems, base)


def _open_file(path: Path, tfrecord_image_key: str, problems: list[str]) -> list[Episode]:
    if _is_video(path):
        return [VideoFileEpisode(path)]
    return list(open_tfrecord(path, tfrecord_image_key, problems))
