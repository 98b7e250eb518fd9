"""Self-describing checkpoints: one ``.safetensors`` file, never a pickle.

The file holds

* tensors: the generator's weights under ``generator.*`` (optionally fp16, widened on load) and a
  bank of real start frames ``start_frames`` (N, H, W, 3) uint8 the environment resets from;
* metadata: a JSON document under the safetensors header key ``lcvg`` with the format version,
  the preset name and full generator config, the control parameterization, the frame size, the
  training step and free-form ``extra`` information (data set, losses, ...).

:func:`load_checkpoint` rebuilds the model from the file alone. Every way a file can be wrong
(missing, truncated, not ours, a newer format, weights that do not fit the config) raises a
:class:`CheckpointError` that names the file and says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.control.warp import check_mode
from lcvg_env.models.generator import GeneratorConfig, LayeredGenerator

FORMAT_NAME = "lcvg-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "lcvg"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used, with the file and the reason in the message."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model and everything the environment needs to start."""

    generator: LayeredGenerator
    config: GeneratorConfig
    control_mode: str
    start_frames: np.ndarray
    """(N, H, W, 3) uint8 real frames to reset from."""
    preset: str | None = None
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path: str | os.PathLike,
    generator: LayeredGenerator,
    *,
    control_mode: str,
    start_frames: np.ndarray,
    preset: str | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``generator`` and its start-frame bank to ``path`` atomically (temp file + rename).

    ``half=True`` stores the weights in fp16 (half the size; they are widened to fp32 on load).
    """
    from safetensors.torch import save_file

    path = Path(path)
    check_mode(control_mode)
    cfg = generator.cfg
    frames = np.ascontiguousarray(start_frames)
    if frames.ndim != 4 or frames.shape[1:] != (cfg.height, cfg.width, 3) or frames.dtype != np.uint8:
        raise ValueError(
            f"start_frames must be uint8 (N, {cfg.height}, {cfg.width}, 3), "
            f"got {frames.dtype} {frames.shape}."
        )
    if len(frames) == 0:
        raise ValueError(
            "start_frames is empty: the environment needs at least one real frame to reset from."
        )
    tensors = {
        f"generator.{k}": (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in generator.state_dict().items()
    }
    tensors["start_frames"] = torch.from_numpy(frames)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "control_mode": control_mode,
        "height": cfg.height,
        "width": cfg.width,
        "step": int(step),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "extra": extra or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without loading its weights."""
    from safetensors import safe_open

    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise CheckpointError(
            f"{path}: not a readable lcvg checkpoint (corrupt or truncated safetensors file: {e}). "
            "Re-create it with `lcvg train` or copy it again."
        ) from e
    return _parse_metadata(path, header)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the generator and start frames from a checkpoint file alone (eval mode)."""
    from safetensors.torch import load_file

    path = _existing(path)
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(
            f"{path}: the weights cannot be read (truncated or corrupt file: {e}). "
            "Re-create it with `lcvg train` or copy it again."
        ) from e
    try:
        cfg = GeneratorConfig(**meta["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the stored model config is invalid ({e}).") from e
    generator = LayeredGenerator(cfg)
    state = {
        k.removeprefix("generator."): v.float() if v.is_floating_point() else v
        for k, v in tensors.items()
        if k.startswith("generator.")
    }
    _load_state(path, generator, state)
    frames = tensors.get("start_frames")
    if frames is None or tuple(frames.shape[1:]) != (cfg.height, cfg.width, 3):
        raise CheckpointError(
            f"{path}: start frames missing or of the wrong size "
            f"({None if frames is None else tuple(frames.shape)}; "
            f"expected (N, {cfg.height}, {cfg.width}, 3))."
        )
    return Checkpoint(
        generator=generator.to(device).eval(),
        config=cfg,
        control_mode=meta["control_mode"],
        start_frames=frames.numpy(),
        preset=meta.get("preset"),
        step=int(meta.get("step", 0)),
        extra=meta.get("extra", {}),
        path=path,
    )


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint {path} does not exist. Train one with `lcvg train DATA_DIR --out RUN_DIR` "
            "(it writes RUN_DIR/model.safetensors) or pass the path of an existing .safetensors file."
        )
    return path


def _parse_metadata(path: Path, header: dict[str, str]) -> dict[str, Any]:
    if METADATA_KEY not in header:
        raise CheckpointError(
            f"{path}: a safetensors file, but not an lcvg checkpoint (no '{METADATA_KEY}' metadata)."
        )
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: the checkpoint metadata is not valid JSON ({e}).") from e
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: unknown format {meta.get('format')!r}; expected {FORMAT_NAME!r}.")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by this lcvg-env "
            f"(it reads version {FORMAT_VERSION}). Upgrade lcvg-env (`pip install -U lcvg-env`) or re-export."
        )
    for key in ("config", "control_mode"):
        if key not in meta:
            raise CheckpointError(f"{path}: the checkpoint metadata lacks {key!r}.")
    try:
        check_mode(meta["control_mode"])
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    return meta


def _load_state(path: Path, generator: LayeredGenerator, state: dict[str, torch.Tensor]) -> None:
    own = generator.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs config {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        details = "; ".join(
            part
            for part in (
                f"missing {len(missing)} tensors (e.g. {missing[:3]})" if missing else "",
                f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})" if unexpected else "",
                f"{len(wrong)} shape mismatches (e.g. {wrong[:2]})" if wrong else "",
            )
            if part
        )
        raise CheckpointError(
            f"{path}: the weights do not match the stored config ({details}). "
            "The file was edited or written by an incompatible version; re-create it."
        )
    generator.load_state_dict(state, strict=True)
