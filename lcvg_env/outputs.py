"""Where a command writes: checked before its long work starts, written whole or not at all.

A command calls :func:`check_output_file` / :func:`check_output_dir` for every path it will write
before it loads a model or reads a dataset, so a directory given for a file, a parent that is a file,
a folder it cannot write or an existing file it must not replace fails in a second, not after an
hour of evaluation. The check creates nothing: it probes the nearest existing folder with a temporary
file and removes it. :func:`write_text` then writes through :mod:`lcvg_env.atomic` (beside the target,
then renamed: a reader never sees half a file, and a full disk leaves the old file as it was).

Nothing here imports torch: the CLI imports this module at start-up.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be written; the message names the option, the path and what to do."""


def check_output_file(
    path: str | os.PathLike,
    option: str = "--json",
    *,
    overwrite: bool = True,
    example: str | None = None,
    suffix: str | None = None,
) -> Path:
    """``path`` when a file can be written there: not a folder, its parent a folder (or creatable) that
    can be written; an existing file only with ``overwrite``; ending in ``suffix`` when one is given (a
    model file: ``.safetensors``). Creates nothing. ``example``: a file name the message suggests when
    ``path`` is a folder (default: ``result.json`` for ``--json``)."""
    path = Path(path).expanduser()
    if suffix is not None and path.suffix != suffix and not path.is_dir():
        raise OutputError(f"{option} {path} must end in {suffix}, e.g. {path.with_suffix(suffix)}.")
    if path.is_dir():
        name = example or ("result.json" if option == "--json" else "FILE")
        raise OutputError(f"{option} {path} is a directory; pass a file path, e.g. {path / name}.")
    if path.exists() and not overwrite:
        raise OutputError(f"{option} {path} already exists; pass --overwrite to replace it, or another path.")
    _check_folder(path.parent, option, path)
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out-dir") -> Path:
    """``path`` when it is a folder (or can be created as one) that can be written. Creates nothing."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} is a file, not a directory; pass a directory path.")
    _check_folder(path, option, path)
    return path


def write_text(path: str | os.PathLike, text: str, option: str = "--json") -> Path:
    """Write ``text`` to ``path`` with :func:`lcvg_env.atomic.atomic_write_text` (aside, then renamed);
    parents are created.

    Raises :class:`OutputError` (disk full, permission, ...) with the option and the file named; a file
    already at ``path`` is left as it was when writing fails.
    """
    from lcvg_env.atomic import atomic_write_text

    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, text)
    except OSError as e:
        raise OutputError(f"{option} {path}: could not write it ({describe_os_error(e)}).") from e


def finite_json(obj: object) -> object:
    """``obj`` (JSON-able) with every infinite or NaN float replaced by None: strict JSON (``null``), which
    ``json.dumps`` would otherwise write as ``Infinity``/``NaN``, values no JSON reader accepts."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(value) for value in obj]
    return obj


def write_figures(path: str | os.PathLike | None, figures: object, option: str = "--json") -> None:
    """A measuring command's ``--json``: ``figures`` as indented JSON (NaN refused), written with
    :func:`write_text` and reported; on failure a one-line error and exit code 1. None: nothing."""
    import json

    import typer

    if path is None:
        return
    try:
        write_text(path, json.dumps(figures, indent=2, allow_nan=False) + "\n", option)
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"figures written to {path}")


def describe_os_error(error: OSError) -> str:
    """A short reason with the remedy for the usual write failures (full disk, permissions, ...)."""
    if error.errno == errno.ENOSPC:
        return "the disk is full: free some space or write elsewhere"
    if error.errno == errno.EDQUOT:
        return "the disk quota is exceeded: free some space or write elsewhere"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: pick a folder you can write, or fix its permissions"
    if error.errno == errno.EROFS:
        return "the file system is read-only: write elsewhere"
    return error.strerror or str(error)


def _check_folder(folder: Path, option: str, target: Path) -> None:
    """The nearest existing ancestor of ``folder`` is a folder we can create files in."""
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"{option} {target}: {existing} is a broken link; fix it or pick another path.")
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{option} {target}: {existing} is a file, so no directory can be made there; pick another path."
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".lcvg-write-check-", dir=existing)
    except OSError as e:
        raise OutputError(f"{option} {target}: cannot write in {existing} ({describe_os_error(e)}).") from e
    os.close(fd)
    os.unlink(probe)
