"""Minari (Farama's offline-RL format) from the finished episodes of an export.

The dataset lives in the export folder, which is a Minari datasets root: ``OUT/<dataset_id>/data``.
Open it with ``MINARI_DATASETS_PATH=OUT`` and ``minari.load_dataset(dataset_id)``, or with
:func:`load_minari` (which does exactly that). It is assembled after the episodes are written,
episode by episode (memory stays at one episode), into a folder that is rebuilt from scratch if an
earlier assembly was interrupted, and swapped in when complete; the manifest records a finished
assembly.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lcvg_env.atomic import disk_full, free_bytes, is_disk_full, replace_dir, restore_dir
from lcvg_env.export.folder import BUILD_DIR, NAMESPACE_FILE, dataset_ids
from lcvg_env.export.store import EpisodeStore, ExportError, load_episode

INSTALL_HINT = (
    'Minari export needs minari with h5py: pip install "lcvg-env[export]" (or pip install minari h5py).'
)


def import_minari() -> Any:
    """``minari``, or an ImportError that says how to install it (and its HDF5 backend)."""
    try:
        import h5py  # noqa: F401  (Minari's default storage)
        import minari
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return minari


def default_dataset_id(name: str, kind: str) -> str:
    """A valid Minari id ``lcvg/<name>-<kind>-v0`` from a checkpoint or data name."""
    clean = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "lcvg"
    return f"lcvg/{clean}-{kind}-v0"


DATASET_ID_RE = re.compile(r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+-v\d+$")
"""A Minari dataset id, ``[namespace/...]name-vN`` (letters, digits, ``_``, ``-``; namespaces may nest, as
``D4RL/door/human-v2``): never a path (no ``.`` or ``..``)."""


def check_dataset_id(dataset_id: str | None, output_format: str = "minari") -> str | None:
    """``dataset_id`` when it is None or a Minari id (:data:`DATASET_ID_RE`), else a ``ValueError``: checked
    before the export's work, as the id becomes folders under OUT (``../x-v0`` would escape it). An id given
    with another ``output_format`` than Minari would be ignored: refused too."""
    if dataset_id is not None and output_format != "minari":
        raise ValueError(
            f"--dataset-id names a Minari dataset; with --format {output_format} it would be ignored: drop "
            "it, or pass --format minari."
        )
    if dataset_id is not None and not DATASET_ID_RE.match(dataset_id):
        raise ValueError(
            f"--dataset-id {dataset_id!r} is not a Minari dataset id: use [namespace/]name-vN with letters, "
            "digits, '_' and '-', e.g. lcvg/pusher-rollouts-v0."
        )
    return dataset_id


@contextlib.contextmanager
def datasets_root(root: Path) -> Iterator[None]:
    """Point Minari at ``root`` (``MINARI_DATASETS_PATH``) for the duration, then restore."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _buffer(episode: dict[str, Any]) -> Any:
    from minari.data_collector import EpisodeBuffer

    return EpisodeBuffer(
        observations=episode["observations"],
        actions=episode["actions"],
        rewards=episode["rewards"],
        terminations=episode["terminations"],
        truncations=episode["truncations"],
        infos=episode["infos"],
    )


def assemble_minari(
    store: EpisodeStore,
    dataset_id: str,
    observation_space: Any,
    action_space: Any,
    description: str,
    author: str = "lcvg-env",
) -> Path:
    """Build ``store.root/<dataset_id>`` from the store's finished episodes, in index order.

    The dataset is built in ``.minari-build/`` and swapped in only when complete
    (:func:`~lcvg_env.atomic.replace_dir`): a kill or a full disk during the build leaves the
    previous dataset (e.g. the first 120 episodes of an export being extended to 150) whole and loadable.
    """
    import_minari()
    indices = sorted(store.done())
    if not indices:
        raise ValueError(f"No finished episodes in {store.root} to build a Minari dataset from.")
    build, target = store.root / BUILD_DIR, store.root / dataset_id
    if build.exists():
        shutil.rmtree(build)  # ours: a build that was interrupted
    needed = sum(_unpacked_bytes(store.episode_path(i)) for i in indices)

    def no_space(exc: OSError) -> ExportError:
        kept = "The episode files and the previous Minari dataset (if any) are kept."
        return ExportError(str(disk_full(exc, store.root, f"Minari dataset {dataset_id}", needed, kept)))

    free = free_bytes(store.root)
    if free is not None and free < needed * BUILD_MARGIN + 2**20:
        # h5py can crash the whole process (a segfault, no Python error) when the disk fills mid-write:
        # a build that cannot fit is refused before it starts
        raise no_space(OSError(errno.ENOSPC, "No space left on device"))
    try:
        _build(store, indices, build, dataset_id, observation_space, action_space, description, author)
        replace_dir(build / dataset_id, target)
        _copy_namespace_files(build, store.root, dataset_id)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise no_space(exc) from exc
    finally:
        shutil.rmtree(build, ignore_errors=True)
    store.manifest["assembled"] = {"dataset_id": dataset_id, "episodes": len(indices)}
    store.save()
    return target


def _build(
    store: EpisodeStore,
    indices: list[int],
    build: Path,
    dataset_id: str,
    observation_space: Any,
    action_space: Any,
    description: str,
    author: str,
) -> None:
    """Write the Minari dataset of episodes ``indices`` under the datasets root ``build``."""
    minari = import_minari()
    kwargs: dict[str, Any] = {}
    if "jpeg_encoding" in inspect.signature(minari.create_dataset_from_buffers).parameters:
        kwargs["jpeg_encoding"] = False  # frames exactly as generated: lossless
    build.mkdir(parents=True)
    with datasets_root(build), warnings.catch_warnings():
        # Minari nags about unset metadata (code link, e-mail, eval env) that an export does not have.
        warnings.filterwarnings("ignore", category=UserWarning, module="minari")
        first = _buffer(load_episode(store.episode_path(indices[0])))
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            [first],
            observation_space=observation_space,
            action_space=action_space,
            algorithm_name="lcvg-env export",
            author=author,
            description=description,
            data_format="hdf5",
            **kwargs,
        )
        for index in indices[1:]:
            dataset.update_dataset_from_buffer([_buffer(load_episode(store.episode_path(index)))])


def _copy_namespace_files(build: Path, root: Path, dataset_id: str) -> None:
    """Minari's ``namespace_metadata.json`` of each namespace folder, where the export lacks it."""
    for rel in Path(dataset_id).parents:
        source = build / rel / NAMESPACE_FILE
        if rel != Path(".") and source.is_file() and not (root / rel / NAMESPACE_FILE).exists():
            shutil.copyfile(source, root / rel / NAMESPACE_FILE)


BUILD_MARGIN = 1.1
"""A Minari build starts only with this many times its episodes' unpacked size free (plus 1 MiB): HDF5's
own overhead is small, and h5py can take the process down when the disk fills mid-write."""


def _unpacked_bytes(path: Path) -> int:
    """Size of an episode file's arrays unpacked (about what Minari's HDF5 file takes for them)."""
    with zipfile.ZipFile(path) as zf:
        return sum(info.file_size for info in zf.infolist())


def is_assembled(store: EpisodeStore, dataset_id: str) -> bool:
    """Whether the Minari dataset holds every finished episode (nothing to rebuild)."""
    done = store.manifest.get("assembled")
    return bool(
        done
        and done.get("dataset_id") == dataset_id
        and done.get("episodes") == len(store.done())
        and (store.root / dataset_id / "data").is_dir()
    )


def load_minari(out: str | os.PathLike, dataset_id: str | None = None) -> Any:
    """Open the Minari dataset of export folder ``out`` with ``minari.load_dataset``."""
    minari = import_minari()
    root = Path(out)
    for parked in dataset_ids(EpisodeStore._read_manifest(root)):
        restore_dir(root / parked)  # after a swap killed half-way (where renameat2 is missing)
    if dataset_id is None:
        manifest = EpisodeStore._read_manifest(root) or {}
        dataset_id = (manifest.get("assembled") or {}).get("dataset_id")
        if dataset_id is None:
            raise FileNotFoundError(f"{root} holds no finished Minari export; run `lcvg export ...` first.")
    with datasets_root(root):
        return minari.load_dataset(dataset_id)
