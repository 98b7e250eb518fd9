"""The on-disk layout of every dataset in this project, and the one writer that produces it.

The layout is the one Playable Video Generation (PVG) and the released LCVG code use::

    ROOT/
      dataset.json                 # what made each split (generator, arguments, summary); optional
      train/
        00000/                     # one folder per episode (video)
          00000.png 00001.png ...  # frames, numbered from 0, five digits, RGB
          annotations.npz          # ground truth beside the frames; optional
        00001/ ...
      val/ ...
      test/ ...

Annotations are numpy arrays in one ``.npz`` (no pickles); arrays whose name ends in ``_px`` are (x, y)
pixel coordinates, (T, ..., 2) with one row per frame, and arrays ending in ``_mask`` are (T, H, W)
booleans, both in the stored frame size (see :mod:`lcvg_env.data.transforms` to follow a resize;
:func:`lcvg_env.data.episodes.check_annotations` enforces these shapes when annotations are read).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.atomic import atomic_write_json, disk_full, is_disk_full, replace_dir

SPLITS: tuple[str, ...] = ("train", "val", "test")
ANNOTATIONS_FILE = "annotations.npz"
DATASET_INFO_FILE = "dataset.json"
FRAME_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def frame_filename(t: int) -> str:
    """Name of frame ``t`` inside an episode folder: ``00000.png``."""
    return f"{t:05d}.png"


def episode_dirname(index: int) -> str:
    """Name of episode ``index`` inside a split folder: ``00000``."""
    return f"{index:05d}"


def check_split(split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`, else raise with the accepted names."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    return split


def _check_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"Episode frames must be uint8 (T, H, W, 3); got {arr.dtype} {arr.shape}. "
            "Convert with np.asarray(frames, dtype=np.uint8) and drop any alpha channel."
        )
    if len(arr) == 0:
        raise ValueError("An episode needs at least one frame; got none.")
    return arr


def write_episode(
    split_dir: str | Path,
    name: str,
    frames: np.ndarray | Sequence[np.ndarray],
    annotations: Mapping[str, np.ndarray] | None = None,
    compress_level: int = 1,
) -> Path:
    """Write one episode folder ``split_dir/name`` (frames as PNG, ground truth as ``annotations.npz``).

    The folder is written under a temporary name and swapped in at the end
    (:func:`~lcvg_env.atomic.replace_dir`), so an interrupted run never leaves a half-written episode
    that looks complete, and an existing episode of the same name is replaced only by a complete one. A
    full disk raises :class:`~lcvg_env.atomic.DiskFullError` (the message says what is kept).
    Annotation arrays with a leading time axis should have ``len(frames)`` (or ``len(frames) - 1`` for
    actions between frames) rows.
    """
    arr = _check_frames(frames)
    final = Path(split_dir) / name
    tmp = Path(split_dir) / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        _write_frames(tmp, arr, annotations, compress_level)
        replace_dir(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_disk_full(exc):
            raise
        needed = arr.nbytes + sum(np.asarray(v).nbytes for v in (annotations or {}).values())
        kept = (
            f"Episode {final} was not written"
            + (" (its previous version is kept)." if final.exists() else ".")
            + " The episodes written before it are complete."
        )
        raise disk_full(exc, Path(split_dir), f"episode {name}", needed, kept) from exc
    return final


def _write_frames(
    folder: Path, frames: np.ndarray, annotations: Mapping[str, np.ndarray] | None, compress_level: int
) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / frame_filename(t), compress_level=compress_level)
    if annotations:
        np.savez_compressed(folder / ANNOTATIONS_FILE, **{k: np.asarray(v) for k, v in annotations.items()})


RECIPE_KEYS = ("generator", "seed", "frames", "size", "frameskip")
"""The settings that decide which episodes a generator writes (``dataset.json``); two runs that agree on
them write the same episode under the same name."""


def _episode_dirs(folder: Path) -> list[str]:
    """The episode folders of a split folder (hidden temporaries left out), sorted; none if it is absent."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def recorded_recipe(root: str | Path, split: str) -> dict[str, Any]:
    """What ``dataset.json`` records for ``split`` (empty when nothing, or nothing readable, is there)."""
    try:
        splits = json.loads((Path(root) / DATASET_INFO_FILE).read_text()).get("splits", {})
        entry = splits.get(split) if isinstance(splits, dict) else None
    except (OSError, ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def check_split_free(
    root: str | Path, split: str, recipe: Mapping[str, Any], overwrite: bool = False
) -> None:
    """Before a generator writes ``ROOT/SPLIT``: a ``FileExistsError`` when episodes another recipe made are
    there (writing would replace them by different episodes under the same names).

    Writing is allowed into an empty split, with ``overwrite``, or when ``dataset.json`` records the same
    ``recipe`` for the split (:data:`RECIPE_KEYS`: the same generator, seed and sizes write the same
    episodes again, and more episodes extend it), also for a run that stopped part-way (recorded by
    :func:`begin_split` before its first episode)."""
    existing = _episode_dirs(Path(root) / split)
    if not existing or overwrite:
        return
    recorded = recorded_recipe(root, split)
    wanted = {k: recipe[k] for k in RECIPE_KEYS if k in recipe}
    if recorded and all(_same(recorded.get(k), v) for k, v in wanted.items()):
        return
    made = (
        "made by " + ", ".join(f"{k}={recorded.get(k)!r}" for k in wanted if k in recorded)
        if recorded
        else "not made by this generator, or made before dataset.json recorded it"
    )
    raise FileExistsError(
        f"{Path(root) / split} already holds {len(existing)} episode(s) ({made}); writing "
        + ", ".join(f"{k}={v!r}" for k, v in wanted.items())
        + " there would replace them by other episodes under the same names. Write another --split or "
        "OUT_DIR, or pass --overwrite to replace them."
    )


def begin_split(root: str | Path, split: str, recipe: Mapping[str, Any]) -> None:
    """Record ``recipe`` for ``split`` in ``dataset.json`` before the first episode is written, marked
    ``"complete": false`` until the generator records its summary at the end: a run stopped part-way (a
    full disk, Ctrl-C) can be run again, and a split half re-made by ``--overwrite`` names its new recipe."""
    Path(root).mkdir(parents=True, exist_ok=True)
    update_dataset_info(root, split, {**recipe, "complete": False})


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


def remove_episodes_beyond(root: str | Path, split: str, count: int) -> list[str]:
    """After ``--overwrite`` wrote ``count`` episodes: remove the split's older episode folders that the new
    run did not write over (``00240`` ... of a 300-episode split re-made with 240), so the split holds one
    dataset, not two. Only the names the generators write (``00000``) are removed: a folder of your own in
    the split stays. Returns the names removed."""
    folder = Path(root) / split
    keep = {episode_dirname(i) for i in range(count)}
    ours = [name for name in _episode_dirs(folder) if re.fullmatch(r"\d{5,}", name)]  # generators' names only
    gone = [name for name in ours if name not in keep]
    for name in gone:
        shutil.rmtree(folder / name)
    return gone


def update_dataset_info(root: str | Path, split: str, info: Mapping[str, Any]) -> Path:
    """Record what generated ``split`` in ``ROOT/dataset.json`` (other splits' entries are kept)."""
    path = Path(root) / DATASET_INFO_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            data = {}  # a corrupt info file only loses the description, never the data
    data.setdefault("layout", "ROOT/{split}/<episode>/00000.png + annotations.npz")
    data.setdefault("splits", {})[split] = dict(info)
    try:
        atomic_write_json(path, data, default=_json_default)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full(exc, path.parent, path.name, 1 << 16, "The episodes are complete.") from exc
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Cannot write {type(obj).__name__} to {DATASET_INFO_FILE}")
