"""A resumable, crash-safe episode store: the folder every export writes into.

Layout of an export folder ``OUT``::

    OUT/
      lcvg_export.json        the manifest: what is being exported (fingerprint), which episodes are done
      episodes/               (npz format)  episode_00000.npz ...   one file per finished episode
      .episodes/              (minari format) the same files, staged; the Minari dataset is built from them
      <dataset_id>/data/      (minari format) the Minari dataset: ``MINARI_DATASETS_PATH=OUT``
      .minari-build/          (minari format) a new version of it being built, swapped in when complete
      previews/               (--preview) episode_00000.mp4 ...

Guarantees (issue 7, item 5):

* an episode file appears only complete: it is written to a hidden temporary name and renamed;
  the manifest (also replaced atomically) lists it only after the rename;
* a re-run with the same fingerprint skips the finished episodes (names are deterministic, so
  nothing is duplicated) and removes stale temporary files;
* a folder holding anything else (another export, a different fingerprint) is never touched without
  ``overwrite=True``, and ``overwrite`` removes only the files the export wrote: a folder that also holds
  foreign files is refused (:mod:`lcvg_env.export.folder`);
* a full disk stops the export with :class:`ExportError` naming the folder and the space needed; the
  finished episodes are kept and a re-run resumes from them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.atomic import atomic_path, atomic_write_json, disk_full, is_disk_full, restore_dir
from lcvg_env.export.folder import (
    BUILD_DIR,
    MANIFEST,
    dataset_ids,
    foreign_entries,
    refusal,
    remove_own_files,
)

FORMAT_NAME = "lcvg-export"
FORMAT_VERSION = 1
OUTPUT_FORMATS = ("minari", "npz")


class ExportError(RuntimeError):
    """An export folder that cannot be used as asked; the message names the folder and the fix."""


@dataclass
class EpisodeRecord:
    """One exported episode: N actions, N+1 observations (the initial frame included).

    ``infos`` follow Gymnasium/Minari: row t is the info that came with observation t (so every
    info array has N+1 rows; row 0 belongs to the initial frame).
    """

    observations: np.ndarray
    """(N+1, H, W, 3) uint8."""
    actions: np.ndarray
    """(N, dims) float32."""
    infos: dict[str, np.ndarray]
    """Extra fields, each with N+1 rows: ``mask`` (N+1, H, W) bool, ``control_px`` (N+1, dims), ..."""
    rewards: np.ndarray | None = None
    """(N,) float32; zeros when None."""
    meta: dict[str, Any] = field(default_factory=dict)
    """JSON-able facts about the episode (source video, seed, ...), kept in the manifest."""

    def __post_init__(self) -> None:
        n = len(self.actions)
        if self.observations.shape[0] != n + 1 or self.observations.dtype != np.uint8:
            raise ValueError(
                f"observations must be uint8 with one more row than actions ({n + 1}), "
                f"got {self.observations.dtype} {self.observations.shape}."
            )
        for key, value in self.infos.items():
            if len(value) != n + 1:
                raise ValueError(
                    f"infos[{key!r}] must have {n + 1} rows (one per observation), got {len(value)}."
                )
        if self.rewards is None:
            self.rewards = np.zeros(n, dtype=np.float32)

    @property
    def num_steps(self) -> int:
        return len(self.actions)

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez``: the Minari fields plus ``infos/<key>``."""
        n = self.num_steps
        truncations = np.zeros(n, dtype=bool)
        truncations[-1:] = True  # episodes end by length, never by a terminal state
        out = {
            "observations": self.observations,
            "actions": self.actions.astype(np.float32),
            "rewards": np.asarray(self.rewards, dtype=np.float32),
            "terminations": np.zeros(n, dtype=bool),
            "truncations": truncations,
        }
        out.update({f"infos/{k}": v for k, v in self.infos.items()})
        return out


def load_episode(path: str | os.PathLike) -> dict[str, Any]:
    """An episode file as a dict: the Minari field names, with ``infos`` as a nested dict."""
    with np.load(path) as data:
        out: dict[str, Any] = {"infos": {}}
        for key in data.files:
            if key.startswith("infos/"):
                out["infos"][key[len("infos/") :]] = data[key]
            else:
                out[key] = data[key]
    return out


class EpisodeStore:
    """The episodes of one export in folder ``root`` (see the module docstring)."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.root = root
        self.manifest = manifest

    @classmethod
    def open(
        cls, root: str | os.PathLike, fingerprint: dict[str, Any], output_format: str, overwrite: bool = False
    ) -> EpisodeStore:
        """Start or resume the export described by ``fingerprint`` in ``root``.

        Raises :class:`ExportError` if ``root`` holds anything else, unless ``overwrite``.
        """
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"Unknown export format {output_format!r}; choose one of {OUTPUT_FORMATS}.")
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ExportError(f"{root} is a file; the export needs a folder. Choose another OUT.")
        fingerprint = json.loads(json.dumps(fingerprint))  # the JSON form, as stored
        try:
            existing = cls._read_manifest(root)
        except ExportError:
            if not overwrite:
                raise
            existing = None  # replaced anyway; without it only the fixed names count as the export's
        if existing is not None and existing.get("fingerprint") == fingerprint and not overwrite:
            store = cls(root, existing)
            store._recover()
            return store
        if root.exists() and any(root.iterdir()):
            if not overwrite:
                raise ExportError(cls._refusal(root, existing, fingerprint))
            foreign = foreign_entries(root, existing)
            if foreign:
                raise ExportError(refusal(root, foreign))
            remove_own_files(root, existing)
        root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fingerprint": fingerprint,
            "output_format": output_format,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "episodes": {},
            "assembled": None,
        }
        store = cls(root, manifest)
        store.save()
        return store

    @staticmethod
    def _read_manifest(root: Path) -> dict[str, Any] | None:
        path = root / MANIFEST
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ExportError(f"{path} is unreadable ({e}); remove it or pass --overwrite.") from e
        return doc if doc.get("format") == FORMAT_NAME else None

    @staticmethod
    def _refusal(root: Path, existing: dict[str, Any] | None, fingerprint: dict[str, Any]) -> str:
        if existing is None:
            return (
                f"{root} is not empty and holds no lcvg export; choose another (empty or new) OUT. "
                "(--overwrite replaces only an lcvg export's own files, never other files.)"
            )
        old = existing.get("fingerprint", {})
        diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        details = ", ".join(f"{k}: {old.get(k)!r} -> {fingerprint.get(k)!r}" for k in diff)
        return (
            f"{root} holds a different export ({details}). Re-run with the same settings to resume it, "
            "choose another OUT, or pass --overwrite to replace it."
        )

    @property
    def episodes_dir(self) -> Path:
        name = "episodes" if self.manifest["output_format"] == "npz" else ".episodes"
        return self.root / name

    def episode_path(self, index: int) -> Path:
        return self.episodes_dir / f"episode_{index:05d}.npz"

    def done(self) -> set[int]:
        """Indices of the finished episodes (listed in the manifest and present on disk)."""
        return {int(k) for k in self.manifest["episodes"] if self.episode_path(int(k)).is_file()}

    def write(self, index: int, record: EpisodeRecord) -> Path:
        """Write episode ``index`` atomically, then record it in the manifest."""
        path = self.episode_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = record.arrays()
        try:
            with atomic_path(path, suffix=".tmp.npz") as tmp:  # numpy appends .npz to other names
                np.savez_compressed(tmp, **arrays)
        except OSError as exc:
            self._raise_if_full(exc, f"episode {index}", sum(a.nbytes for a in arrays.values()))
            raise
        self.manifest["episodes"][f"{index:05d}"] = {
            "file": str(path.relative_to(self.root)),
            "steps": record.num_steps,
            **record.meta,
        }
        self.save()  # "assembled" still describes the Minari dataset on disk, now one episode behind
        return path

    def save(self) -> None:
        try:
            atomic_write_json(self.root / MANIFEST, self.manifest, sort_keys=True)
        except OSError as exc:
            self._raise_if_full(exc, MANIFEST, len(json.dumps(self.manifest)))
            raise

    def _raise_if_full(self, exc: OSError, what: str, needed: int) -> None:
        """Turn a full disk into an :class:`ExportError` that says what is kept and how to go on."""
        if is_disk_full(exc):
            kept = f"The {len(self.done())} finished episode(s) are kept; the export resumes from them."
            raise ExportError(str(disk_full(exc, self.root, what, needed, kept))) from exc

    def _recover(self) -> None:
        """Clean up after a killed run: half-written files, an unfinished Minari build; and put back a
        Minari dataset that a killed swap had parked aside."""
        for folder in (self.episodes_dir, self.root):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp*"):
                    tmp.unlink(missing_ok=True)
        if (self.root / BUILD_DIR).exists():
            shutil.rmtree(self.root / BUILD_DIR)
        for dataset_id in dataset_ids(self.manifest):
            restore_dir(self.root / dataset_id)

    def set_info(self, **info: Any) -> None:
        """Record JSON-able facts about the whole export (spaces, dataset id, units) in the manifest."""
        self.manifest.setdefault("info", {}).update(json.loads(json.dumps(info)))
        self.save()
