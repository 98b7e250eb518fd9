"""The resume state of a run, pickle-free: safetensors for every tensor, JSON for everything else.

``RUN_DIR/state/`` holds ``tensors-<step>.safetensors`` (model, discriminator and flattened optimizer
tensors, the torch RNG state), ``meta-<step>.json`` (config, step counters, optimizer hyper-parameters,
scheduler, data-sampler position, numpy/python RNG states) and ``manifest.json`` naming the two. Each
file is written to a temporary name and renamed; the manifest is written last, so a run killed while
saving leaves the previous state intact, and older files are deleted only after the new manifest is in
place.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.atomic import atomic_save_tensors, atomic_write_text

MANIFEST = "manifest.json"
STATE_VERSION = 1


class StateError(RuntimeError):
    """A resume state that cannot be used, with the folder and the reason in the message."""


def save_state(
    state_dir: str | os.PathLike, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write one resume state for ``step`` atomically into ``state_dir`` and drop older ones."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    names = {"tensors": f"tensors-{step:09d}.safetensors", "meta": f"meta-{step:09d}.json"}
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_save_tensors(state_dir / names["tensors"], cpu)
    atomic_write_text(state_dir / names["meta"], json.dumps(meta))
    atomic_write_text(state_dir / MANIFEST, json.dumps({"version": STATE_VERSION, "step": step, **names}))
    for old in state_dir.iterdir():
        if old.name not in (MANIFEST, *names.values()) and not old.name.startswith("."):
            old.unlink()
    return state_dir


def has_state(run_dir: str | os.PathLike) -> bool:
    """Whether the run folder holds a complete resume state (its manifest, written last)."""
    return (Path(run_dir) / "state" / MANIFEST).exists()


def load_state(state_dir: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the state named by ``state_dir/manifest.json``: (tensors, meta)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state_dir = Path(state_dir)
    manifest_path = state_dir / MANIFEST
    if not manifest_path.is_file():
        raise StateError(
            f"No resume state in {state_dir} (no {MANIFEST}). Start a new run without --resume, or pass "
            "the RUN_DIR of an earlier `lcvg train` run."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        meta = json.loads((state_dir / manifest["meta"]).read_text())
        tensors = load_file(str(state_dir / manifest["tensors"]))
    except (OSError, KeyError, TypeError, ValueError, SafetensorError) as e:  # damaged, truncated, edited
        raise StateError(f"The resume state in {state_dir} is unreadable ({e}); start a new run.") from e
    if manifest.get("version") != STATE_VERSION:
        raise StateError(f"{manifest_path}: state version {manifest.get('version')} is not supported.")
    return tensors, meta


# ----------------------------------------------------------------------------- optimizers
def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``opt.state_dict()`` into tensors ``{prefix.<param>.<key>: t}`` and a JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`: a state dict for ``opt.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


# ----------------------------------------------------------------------------- random number generators
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """States of torch (CPU and CUDA), numpy's global and python's ``random`` generators."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {
        "numpy": [name, int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    name, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` under ``prefix.``."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Load the ``prefix.*`` tensors into ``module`` (strict)."""
    sd = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    module.load_state_dict(sd, strict=True)
