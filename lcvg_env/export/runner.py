"""The loop every export shares: produce the missing episodes, write them, preview, build Minari.

An export is a list of episode indices and a function that turns a chunk of indices into
:class:`~lcvg_env.export.store.EpisodeRecord` s. Finished episodes (from an earlier, interrupted
run) are skipped; a rich progress bar counts all of them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.export.store import EpisodeRecord, EpisodeStore

Producer = Callable[[Sequence[int]], list[EpisodeRecord]]


@dataclass
class ExportSummary:
    """What an export did."""

    out: Path
    output_format: str
    dataset_id: str | None
    episodes: int
    """Finished episodes in the export (old and new)."""
    written: int
    """Episodes written by this run (the rest were already there)."""
    steps: int
    """Actions over all finished episodes."""

    def as_dict(self) -> dict[str, Any]:
        doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        if self.output_format == "minari":
            load = f"import minari; minari.load_dataset('{self.dataset_id}')"
            doc["load"] = f'MINARI_DATASETS_PATH={self.out} python -c "{load}"'
        return doc


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file (the checkpoint's identity in an export's fingerprint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def mask_overlay(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with the mask (T, H, W) tinted red: what the model calls foreground."""
    tint = frames.astype(np.float32)
    tint[masks] = 0.45 * tint[masks] + 0.55 * np.array([255.0, 40.0, 40.0])
    return tint.astype(np.uint8)


def write_preview(record: EpisodeRecord, path: Path, fps: float = 8.0) -> Path:
    """An mp4 of the episode: frames | frames with the mask, side by side, upscaled to ~256 px."""
    from lcvg_env.env.render import auto_scale, write_video

    frames = record.observations
    if "mask" in record.infos:
        frames = np.concatenate([frames, mask_overlay(frames, record.infos["mask"].astype(bool))], axis=2)
    return write_video(list(frames), path, fps=fps, scale=auto_scale(frames.shape[1:3], 256))


def run_episodes(
    store: EpisodeStore,
    indices: Sequence[int],
    produce: Producer,
    *,
    chunk_size: int = 1,
    preview: bool = False,
    progress: bool = True,
    description: str = "export",
) -> int:
    """Produce and write every episode of ``indices`` not finished yet; returns how many were written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    done = store.done()
    todo = [i for i in indices if i not in done]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    written = 0
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(description, total=len(indices), completed=len(indices) - len(todo))
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            for index, record in zip(chunk, produce(chunk), strict=True):
                store.write(index, record)
                if preview:
                    write_preview(record, store.root / "previews" / f"episode_{index:05d}.mp4")
                written += 1
                bar.advance(task)
    return written


def finish(
    store: EpisodeStore,
    written: int,
    *,
    dataset_id: str | None,
    observation_space: Any,
    action_space: Any,
    description: str,
) -> ExportSummary:
    """Build the Minari dataset when the format asks for it (and it is not already up to date)."""
    from lcvg_env.export.minari_io import assemble_minari, is_assembled

    fmt = store.manifest["output_format"]
    if fmt == "minari" and not is_assembled(store, dataset_id):
        assemble_minari(store, dataset_id, observation_space, action_space, description)
    steps = sum(int(store.manifest["episodes"][f"{i:05d}"]["steps"]) for i in store.done())
    return ExportSummary(
        store.root, fmt, dataset_id if fmt == "minari" else None, len(store.done()), written, steps
    )
