"""Self-describing checkpoints: one ``.safetensors`` file, never a pickle.

The file holds

* tensors: the generator's weights under ``generator.*`` (optionally fp16, widened on load) and a
  bank of real start frames ``start_frames`` (N, H, W, 3) uint8 the environment resets from;
* metadata: a JSON document under the safetensors header key ``lcvg`` with the format version,
  the preset name and full generator config, the control parameterization, the frame size, the
  training step and free-form ``extra`` information (data set, losses, ...).

:func:`load_checkpoint` rebuilds the model from the file alone. Every way a file can be wrong
(missing, a folder, unreadable, truncated, not ours, a newer format, metadata of the wrong types,
weights that do not fit the config or hold NaN or inf, start frames missing or not uint8) raises a
:class:`CheckpointError` that names the file and says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.atomic import atomic_save_tensors
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

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames the model takes and makes."""
        return self.config.height, self.config.width

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.generator.parameters()).device

    def frames_in(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (T, H, W, 3) -> the model's input, float (T, 3, H, W) in [-1, 1] on its device
        (:func:`lcvg_env.model.to_model_range`)."""
        from lcvg_env.model import to_model_range

        return to_model_range(frames).to(self.device)

    @staticmethod
    def frames_out(x: torch.Tensor) -> np.ndarray:
        """The model's output, float (T, 3, H, W) in [-1, 1] -> uint8 frames (T, H, W, 3) on the CPU
        (:func:`lcvg_env.model.to_frames`)."""
        from lcvg_env.model import to_frames

        return to_frames(x)

    def binary_masks(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """1[M(x) > 0.5] of frames, bool (T, H, W) (:func:`lcvg_env.model.binary_masks`)."""
        from lcvg_env.model import binary_masks

        return binary_masks(self.generator, frames)

    def fit_and_replay(
        self, frames: np.ndarray | torch.Tensor, start: Any = None, solver: str = "fast", players: int = 1
    ) -> Any:
        """Controls fitted on ``frames`` replayed from ``start``, one per foreground with ``players`` > 1
        (:func:`lcvg_env.model.fit_and_replay`)."""
        from lcvg_env.model import fit_and_replay

        return fit_and_replay(self.generator, frames, self.control_mode, start, solver, players)


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
    # a kill or a full disk leaves the old file, never half a checkpoint
    atomic_save_tensors(path, tensors, metadata={METADATA_KEY: json.dumps(meta)})
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


def stored_config(path: str | os.PathLike, meta: dict[str, Any]) -> GeneratorConfig:
    """The generator config a checkpoint's metadata (:func:`read_metadata`) records; a
    :class:`CheckpointError` when a field has the wrong type or value (the file's, not a bug here)."""
    try:
        return GeneratorConfig(**meta["config"])
    except Exception as e:
        raise CheckpointError(_invalid_config(path, e)) from e


def _invalid_config(path: str | os.PathLike, error: Exception) -> str:
    return (
        f"{path}: the stored model config is invalid ({type(error).__name__}: {error}). "
        "The file was edited or written by an incompatible version; re-create it."
    )


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
    cfg = stored_config(path, meta)
    try:
        generator = LayeredGenerator(cfg)
    except Exception as e:  # a field that builds no network: the file's config, not a bug here
        raise CheckpointError(_invalid_config(path, e)) from e
    state = {
        k.removeprefix("generator."): v.float() if v.is_floating_point() else v
        for k, v in tensors.items()
        if k.startswith("generator.")
    }
    _load_state(path, generator, state)
    frames = _start_frames(path, tensors.get("start_frames"), cfg)
    return Checkpoint(
        generator=generator.to(device).eval(),
        config=cfg,
        control_mode=meta["control_mode"],
        start_frames=frames,
        preset=meta.get("preset"),
        step=int(meta.get("step", 0)),
        extra=meta.get("extra", {}),
        path=path,
    )


def _existing(path: str | os.PathLike) -> Path:
    """``path`` when it is a file this process can read; else a CheckpointError saying which case."""
    path = Path(path).expanduser()
    if path.is_dir():
        inside = sorted(path.glob("*.safetensors"))
        hint = f" (it holds {', '.join(p.name for p in inside[:3])})" if inside else " (it holds none)"
        raise CheckpointError(
            f"Checkpoint {path} is a folder, not a checkpoint file: pass the .safetensors file inside "
            f"it{hint}, e.g. {path / 'model.safetensors'} for a run folder of `lcvg train`."
        )
    if not path.exists():
        what = "is a broken link (its target is missing)" if path.is_symlink() else "does not exist"
        raise CheckpointError(
            f"Checkpoint {path} {what}. Train one with `lcvg train DATA_DIR --out RUN_DIR` "
            "(it writes RUN_DIR/model.safetensors) or pass the path of an existing .safetensors file."
        )
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} is not a regular file; pass a .safetensors file.")
    try:
        with path.open("rb") as f:
            f.read(8)
    except OSError as e:
        raise CheckpointError(
            f"Checkpoint {path} cannot be read ({e.strerror or e}): check its permissions "
            "(e.g. `chmod u+r`) or copy it somewhere you can read."
        ) from e
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
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path}: the checkpoint metadata is a JSON {_json_type(meta)}, expected an object; "
            "the file was edited or is not an lcvg checkpoint. Re-create it."
        )
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: unknown format {meta.get('format')!r}; expected {FORMAT_NAME!r}.")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by this lcvg-env "
            f"(it reads version {FORMAT_VERSION}). Upgrade lcvg-env (`pip install -U lcvg-env`) or re-export."
        )
    _check_fields(path, meta)
    try:
        check_mode(meta["control_mode"])
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    return meta


# (key, JSON types allowed, required): the metadata fields readers use, checked before any is read.
_FIELDS: tuple[tuple[str, tuple[type, ...], bool], ...] = (
    ("config", (dict,), True),
    ("control_mode", (str,), True),
    ("height", (int,), True),
    ("width", (int,), True),
    ("preset", (str, type(None)), False),
    ("step", (int,), False),
    ("extra", (dict,), False),
)


def _check_fields(path: Path, meta: dict[str, Any]) -> None:
    """Every field of :data:`_FIELDS` present when required and of its type; the frame size a positive
    integer that agrees with the config's."""
    for key, types, required in _FIELDS:
        if key not in meta:
            if required:
                raise CheckpointError(f"{path}: the checkpoint metadata lacks {key!r}; re-create the file.")
            continue
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(_json_type(t()) if t is not type(None) else "null" for t in types)
            raise CheckpointError(
                f"{path}: the checkpoint metadata's {key!r} is {value!r} (a JSON {_json_type(value)}), "
                f"expected a JSON {expected}; the file was edited or is damaged. Re-create it."
            )
    for key in ("height", "width"):
        stored = meta["config"].get(key, meta[key])
        if meta[key] < 1 or stored != meta[key]:
            raise CheckpointError(
                f"{path}: the checkpoint metadata's {key} {meta[key]!r} is not a positive size that "
                f"agrees with its config ({key} {stored!r}); the file was edited. Re-create it."
            )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _start_frames(path: Path, frames: torch.Tensor | None, cfg: GeneratorConfig) -> np.ndarray:
    """The file's start-frame bank as uint8 (N, H, W, 3), N >= 1, at the model's size."""
    expected = f"uint8 (N, {cfg.height}, {cfg.width}, 3) with N >= 1"
    if frames is None:
        raise CheckpointError(
            f"{path}: the start frames are missing (tensor 'start_frames', {expected}); the environment "
            "resets from them. Re-create the file with `lcvg train` or `save_checkpoint`."
        )
    shape = tuple(frames.shape)
    if frames.dtype != torch.uint8 or shape[1:] != (cfg.height, cfg.width, 3) or shape[0] < 1:
        raise CheckpointError(
            f"{path}: the start frames are {str(frames.dtype).removeprefix('torch.')} {shape}, expected "
            f"{expected}. Re-create the file with `lcvg train` or `save_checkpoint`."
        )
    return frames.numpy()


def _load_state(path: Path, generator: LayeredGenerator, state: dict[str, torch.Tensor]) -> None:
    own = generator.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs config {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    kinds = [
        f"{k}: file {str(state[k].dtype).removeprefix('torch.')} vs {str(v.dtype).removeprefix('torch.')}"
        for k, v in own.items()
        if k in state and state[k].is_floating_point() != v.is_floating_point()
    ]
    if missing or unexpected or wrong or kinds:
        details = "; ".join(
            part
            for part in (
                f"missing {len(missing)} tensors (e.g. {missing[:3]})" if missing else "",
                f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})" if unexpected else "",
                f"{len(wrong)} shape mismatches (e.g. {wrong[:2]})" if wrong else "",
                f"{len(kinds)} dtype mismatches (e.g. {kinds[:2]})" if kinds else "",
            )
            if part
        )
        raise CheckpointError(
            f"{path}: the weights do not match the stored config ({details}). "
            "The file was edited or written by an incompatible version; re-create it."
        )
    # Weights with NaN or inf load silently and render black frames: refuse them here.
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} of {len(state)} weight tensors hold NaN or inf (e.g. {bad[:3]}): the "
            "training diverged or the file is damaged. Use an earlier checkpoint of the run "
            "or re-train."
        )
    generator.load_state_dict(state, strict=True)
