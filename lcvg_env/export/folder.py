"""What an export folder holds that the exporter wrote, and what it holds that someone else put there.

``--overwrite`` replaces an export, never a user's files: it removes only the paths listed here, and
only when the folder holds nothing else (:func:`foreign_entries`); a folder that does is refused with
the list of the files in the way. The paths an export writes (see :mod:`lcvg_env.export.store`):

* ``lcvg_export.json`` (the manifest) and its temporaries ``.lcvg_export.json.*.tmp``;
* ``episodes/`` (npz), ``.episodes/`` (Minari's staged episodes), ``previews/``;
* ``.minari-build/``: a Minari dataset being built, swapped in when complete;
* the Minari dataset ``<namespace>/<name>`` of the manifest's dataset id, its parked old version
  ``.<name>.old`` (see :func:`lcvg_env.atomic.replace_dir`) and Minari's
  ``namespace_metadata.json`` in each namespace folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

MANIFEST = "lcvg_export.json"
BUILD_DIR = ".minari-build"
FIXED_NAMES = (MANIFEST, "episodes", ".episodes", "previews", BUILD_DIR)
NAMESPACE_FILE = "namespace_metadata.json"


def dataset_ids(manifest: dict[str, Any] | None) -> set[str]:
    """The Minari dataset ids an export (described by its manifest) builds or has built."""
    if not manifest:
        return set()
    ids = {(manifest.get("fingerprint") or {}).get("dataset_id")}
    ids.add((manifest.get("assembled") or {}).get("dataset_id"))
    return {
        i for i in ids if isinstance(i, str) and i and not Path(i).is_absolute() and ".." not in Path(i).parts
    }


def _layout(manifest: dict[str, Any] | None) -> tuple[set[Path], set[Path]]:
    """(paths owned whole, namespace folders to look inside), relative to the export folder."""
    whole = {Path(name) for name in FIXED_NAMES}
    namespaces: set[Path] = set()
    for dataset_id in dataset_ids(manifest):
        path = Path(dataset_id)
        whole |= {path, path.parent / f".{path.name}.old"}
        namespaces |= {p for p in path.parents if p != Path(".")}
    return whole, namespaces


def _is_manifest_temporary(rel: Path) -> bool:
    return rel.parent == Path(".") and rel.name.startswith(f".{MANIFEST}.") and rel.name.endswith(".tmp")


def foreign_entries(root: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """Paths under ``root`` that the export described by ``manifest`` did not write (sorted)."""
    whole, namespaces = _layout(manifest)
    foreign: list[Path] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        for entry in sorted(folder.iterdir()):
            rel = entry.relative_to(root)
            if rel in whole or _is_manifest_temporary(rel):
                continue
            if rel in namespaces and entry.is_dir() and not entry.is_symlink():
                pending.append(entry)
            elif not (rel.parent in namespaces and rel.name == NAMESPACE_FILE):
                foreign.append(rel)
    return sorted(foreign)


def remove_own_files(root: Path, manifest: dict[str, Any] | None) -> None:
    """Delete what the export wrote in ``root`` (the manifest last), keeping the folder itself."""
    whole, namespaces = _layout(manifest)
    for rel in sorted(whole - {Path(MANIFEST)}):
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for tmp in root.glob(f".{MANIFEST}.*.tmp"):
        tmp.unlink()
    for rel in sorted(namespaces, key=lambda p: len(p.parts), reverse=True):  # deepest first
        (root / rel / NAMESPACE_FILE).unlink(missing_ok=True)
        if (root / rel).is_dir() and not any((root / rel).iterdir()):
            (root / rel).rmdir()
    (root / MANIFEST).unlink(missing_ok=True)


def refusal(root: Path, foreign: list[Path], limit: int = 5) -> str:
    """Why ``--overwrite`` does not touch ``root``: the files it did not write, and what to do."""
    names = ", ".join(str(p) for p in foreign[:limit]) + (" ..." if len(foreign) > limit else "")
    return (
        f"Refusing to overwrite {root}: it holds {len(foreign)} file(s) or folder(s) that lcvg did not "
        f"write ({names}). --overwrite only replaces an lcvg export's own files; move those away, or "
        "choose another (empty or new) OUT."
    )
