"""Writes that replace something, done so that a kill at any moment leaves the old or the new version.

The one place for atomic writes (issue 19: "data writes that replace something are atomic"): datasets,
exports, checkpoints, training states, agents, videos and the commands' ``--json`` all go through it.

* :func:`atomic_path`: a hidden temporary path beside the target for any writer (safetensors, numpy,
  ffmpeg, JSON) to fill; renamed over the target when complete, removed when the writer fails;
* :func:`atomic_write_text` / :func:`atomic_write_json`: text or JSON through :func:`atomic_path`;
* :func:`atomic_save_tensors`: a safetensors file through :func:`atomic_path`, written by Python so that a
  full disk is an ``OSError`` (safetensors' own writer raises a ``SafetensorError`` that no ``except
  OSError`` catches);
* :func:`replace_dir`: a folder built aside (``staged``), then swapped with the old one. On Linux the swap
  is one ``renameat2(RENAME_EXCHANGE)`` call, so the target name always holds a complete folder; where
  that call does not exist, the old folder is first renamed to ``.<name>.old`` next to it and
  :func:`restore_dir` puts it back if the process dies between the two renames;
* :class:`DiskFullError`: a full disk (``ENOSPC``, ``EDQUOT``) reported with the folder, the space
  needed and what to do, instead of a raw ``[Errno 28]`` traceback.

Temporaries start with ``.<name>.``: readers skip hidden names, and a killed writer's leftover is
removed by the next run that owns the folder. Nothing here imports torch (the CLI imports it at start-up).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """The disk (or the user's quota) is full; the message names the folder, the space and the fix."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(exc: BaseException) -> bool:
    """True for the OSError of a full disk or an exceeded quota."""
    return isinstance(exc, OSError) and exc.errno in _FULL


def free_bytes(folder: Path) -> int | None:
    """Free space on the disk holding ``folder`` (or its nearest existing parent), None if unknown."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def megabytes(n: int | None) -> str:
    return "an unknown amount" if n is None else f"{n / 2**20:.1f} MB"


def disk_full(exc: OSError, folder: Path, what: str, needed: int | None, kept: str) -> DiskFullError:
    """A :class:`DiskFullError` for ``exc``, raised while writing ``what`` (about ``needed`` bytes) in
    ``folder``; ``kept`` says what is safe and how to continue."""
    message = (
        f"No space left on the disk of {folder} while writing {what} (needs about {megabytes(needed)}, "
        f"{megabytes(free_bytes(folder))} free). {kept} Free some space (or use another folder) and run "
        "the same command again."
    )
    return DiskFullError(exc.errno, message)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A hidden temporary path beside ``path`` for a writer to fill; when the block ends normally it is
    renamed over ``path`` (readers see the old or the new file, never half of one), when it raises the
    temporary is removed and ``path`` is untouched.

    ``suffix``: the temporary's ending, for writers that pick the format by the name (``.mp4``, ``.npz``).
    The file is made readable by everyone (0644), like a file written in place.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, doc: Any, **dump_kwargs: Any) -> Path:
    """Write ``doc`` as JSON (indent 2 unless given, a final newline) through :func:`atomic_path`."""
    return atomic_write_text(path, json.dumps(doc, **{"indent": 2, **dump_kwargs}) + "\n")


def atomic_save_tensors(
    path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, str] | None = None
) -> Path:
    """Write torch ``tensors`` (with string ``metadata``) as a safetensors file through :func:`atomic_path`.

    The file is serialized in memory and written with Python's own file write, so a full disk raises an
    ``OSError`` (``ENOSPC``, :func:`is_disk_full`) that the commands report in one line, and the old file
    at ``path`` is kept. The bytes are held in memory once more while written: a few MB for a model, tens
    of MB for a training state with its optimizer."""
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def old_dir(target: Path) -> Path:
    """Where :func:`replace_dir`'s fallback parks the old ``target`` during the swap."""
    return target.parent / f".{target.name}.old"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call (Linux renameat2); False where the call or the filesystem
    does not support it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE))
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_dir(staged: Path, target: Path) -> None:
    """Put the complete folder ``staged`` at ``target``, replacing what is there, with no moment at which
    ``target`` is missing or half-written (see the module docstring); the old folder is deleted."""
    staged, target = Path(staged), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged)  # now the old folder
        return
    parked = old_dir(target)
    if parked.exists():
        shutil.rmtree(parked)
    os.rename(target, parked)
    os.rename(staged, target)  # a kill before this line: restore_dir(target) brings the old one back
    shutil.rmtree(parked)


def restore_dir(target: Path) -> bool:
    """Undo a :func:`replace_dir` that was killed between its two renames; True if it did."""
    parked = old_dir(Path(target))
    if parked.is_dir() and not Path(target).exists():
        os.rename(parked, target)
        return True
    if parked.is_dir():
        shutil.rmtree(parked)  # the swap finished: the parked copy is the old version
    return False
