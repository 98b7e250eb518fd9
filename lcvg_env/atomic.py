"""Writes that replace something, done so that a kill at any moment leaves the old or the new version.

Every dataset and export writer goes through these helpers (issue 19: "data writes that replace
something are atomic"):

* :func:`atomic_write_json`: a file written under a hidden temporary name, then renamed over the old one;
* :func:`replace_dir`: a folder built aside (``staged``), then swapped with the old one. On Linux the swap
  is one ``renameat2(RENAME_EXCHANGE)`` call, so the target name always holds a complete folder; where
  that call does not exist, the old folder is first renamed to ``.<name>.old`` next to it and
  :func:`restore_dir` puts it back if the process dies between the two renames;
* :class:`DiskFullError`: a full disk (``ENOSPC``, ``EDQUOT``) reported with the folder, the space
  needed and what to do, instead of a raw ``[Errno 28]`` traceback.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
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


def atomic_write_json(path: Path, doc: Any, **dump_kwargs: Any) -> None:
    """Write JSON to ``path`` via a temporary file and a rename: readers see the old or the new file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, **{"indent": 2, **dump_kwargs})
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are for everyone who reads the data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
