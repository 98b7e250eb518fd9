"""One handle on a world model: open it by name or path, and the operations everyone shares.

Every command and library function that takes a model takes it the same way, through
:func:`open_model`: a loaded :class:`~lcvg_env.checkpoint.Checkpoint` passes through; a path or a
model name is resolved in the order written in :mod:`lcvg_env.env.resolve` (an existing file, then
``$LCVG_HOME/checkpoints/NAME.safetensors`` where ``--install-as`` writes, then the package's
``lcvg_env/assets/NAME.safetensors``), loaded, and the file it loaded is printed to stderr.

The operations the env, evaluation, export, mimic and training share (docs/method.md sections 3-7):

* :func:`to_model_range` / :func:`to_frames`: uint8 video frames (T, H, W, 3) to the model's input
  range [-1, 1] (T, 3, H, W) and back; :func:`to_unit_range` / :func:`to_uint8`, the same values
  without the layout change, for tensors already channels-first (the env's frames on the device);
* :func:`binary_masks`: the binarized foreground mask 1[M(x) > 0.5] of frames, the mask the control
  moves (section 3);
* :func:`fit_and_replay`: fit the controls between consecutive masks of a video (Eq. 5) and replay
  them through the generator from a start frame: evaluation's rollout (section 6) and action
  mimicking (section 7).

:class:`~lcvg_env.checkpoint.Checkpoint` carries the last two as methods (``ckpt.binary_masks(frames)``,
``ckpt.fit_and_replay(frames)``).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lcvg_env.models.generator import MASK_THRESHOLD  # re-exported: M's binarization threshold

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint
    from lcvg_env.control.fit import ControlFit


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 values -> float32 in [-1, 1], any layout (x / 127.5 - 1)."""
    return x.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float values roughly in [-1, 1] -> uint8 (clipped, rounded), any layout; the inverse of
    :func:`to_unit_range`."""
    return ((x.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def to_model_range(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) -> float32 (T, 3, H, W) in [-1, 1]; a float tensor (already in the
    model's range and layout) passes unchanged."""
    if isinstance(frames, torch.Tensor) and frames.is_floating_point():
        return frames
    arr = frames if isinstance(frames, torch.Tensor) else np.asarray(frames)
    arr = torch.as_tensor(arr if isinstance(arr, torch.Tensor) or arr.flags.writeable else arr.copy())
    if arr.dtype != torch.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(
            f"Expected uint8 frames (T, H, W, 3), got {arr.dtype} {tuple(arr.shape)}; for one frame "
            "pass frame[None]."
        )
    return to_unit_range(arr.permute(0, 3, 1, 2))  # (T, 3, H, W)


def to_frames(x: torch.Tensor) -> np.ndarray:
    """float (T, 3, H, W) in [-1, 1] (clipped) -> uint8 frames (T, H, W, 3), the inverse of
    :func:`to_model_range`."""
    return to_uint8(x.detach()).permute(0, 2, 3, 1).cpu().numpy()  # (T, H, W, 3)


@torch.no_grad()
def binary_masks(
    generator: Any, frames: np.ndarray | torch.Tensor, batch_size: int = 64, threshold: float = MASK_THRESHOLD
) -> torch.Tensor:
    """1[M(x) > threshold] of frames (uint8 (T, H, W, 3) or float (T, 3, H, W) in [-1, 1]): bool (T, H, W)
    on the CPU, computed on the generator's device in batches of ``batch_size``."""
    x = to_model_range(frames)
    device = next(generator.parameters()).device
    out = [
        generator.binary_mask(x[i : i + batch_size].to(device), threshold)[:, 0].cpu().bool()  # (B, H, W)
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out) if out else torch.zeros((0, *x.shape[-2:]), dtype=torch.bool)


@dataclass
class Replay:
    """Controls fitted on a video and the frames the generator makes from them."""

    masks: torch.Tensor
    """(T, H, W) bool binarized masks of the video's frames."""
    fit: ControlFit
    """The T-1 controls between consecutive masks (Eq. 5), in pixels and normalized units."""
    generated: torch.Tensor
    """(T, 3, H, W) in [-1, 1]: frame 0 is the start frame, frame t+1 the generator's step from frame t
    under control t (autoregressive)."""
    seconds: float
    """Wall-clock time of the masks, the fit and the generation."""


@torch.no_grad()
def fit_and_replay(
    generator: Any,
    frames: np.ndarray | torch.Tensor,
    mode: str,
    start: np.ndarray | torch.Tensor | None = None,
    solver: str = "fast",
    players: int = 1,
) -> Replay:
    """Fit the controls between consecutive binarized masks of ``frames`` (T >= 2, at the model's size)
    and replay them autoregressively from ``start`` (one frame (H, W, 3) uint8 or (3, H, W) float;
    default: the video's first frame). ``solver``: see :func:`~lcvg_env.control.fit_controls`.

    ``players`` > 1: the masks hold several foregrounds (two tennis players) that move independently.
    Each is followed through the video as the env follows it
    (:class:`~lcvg_env.control.components.ForegroundTracker`, numbered top to bottom on the first frame),
    its control fitted between its own masks (:func:`fit_players`), and the replay moves each foreground
    of the generated frames by its own control, as the env's ``players=K`` step does; one control for
    the whole mask would lay one player onto the other's motion."""
    from lcvg_env.control.components import ForegroundTracker
    from lcvg_env.control.fit import fit_controls

    t0 = time.perf_counter()
    if len(frames) < 2:
        raise ValueError(f"Fitting controls needs a video of at least 2 frames, got {len(frames)}.")
    device = next(generator.parameters()).device
    masks = binary_masks(generator, frames)  # (T, H, W)
    if players == 1:
        fit = fit_controls(masks[:-1].float(), masks[1:].float(), mode, solver=solver)
    else:
        fit = fit_players(masks, players, mode, solver)
    first = frames[:1] if start is None else (start[None] if start.ndim == 3 else start)
    generated = [to_model_range(first).to(device)]  # (1, 3, H, W)
    controls = fit.params_norm.to(device)  # (T-1, players * dims)
    tracker, current = None, None  # with several players: the tracker and M(x_hat^t), shared with the step
    if players > 1:
        tracker = ForegroundTracker(1, players, tuple(masks.shape[-2:]), order=PLAYER_ORDER)
        current = generator.binary_mask(generated[0])  # (1, 1, H, W)
        tracker.reset(np.array([0]), current[:, 0].cpu())
    residual = None  # the moves' sub-pixel remainder (GeneratorConfig.subpixel), carried step to step
    for t in range(len(controls)):
        parts = None if tracker is None else torch.from_numpy(tracker.masks).to(device, torch.float32)
        step = generator.step(generated[-1], controls[t : t + 1], mode, parts, current, residual)
        generated.append(step.frame.clamp(-1.0, 1.0))
        residual = step.residual
        if tracker is not None:
            current = generator.binary_mask(generated[-1])
            tracker.advance(controls[t : t + 1].cpu().numpy().reshape(1, players, -1), mode)
            tracker.update(current[:, 0].cpu())
    return Replay(masks, fit, torch.cat(generated).cpu(), time.perf_counter() - t0)


PLAYER_ORDER = "y"
"""How :func:`fit_and_replay` numbers several foregrounds on its first frame (top to bottom): the same
rule on the video and on the replay's start, so foreground k of one is foreground k of the other."""


def fit_players(masks: torch.Tensor, players: int, mode: str, solver: str = "fast") -> ControlFit:
    """Per-foreground controls of a video's binarized masks (T, H, W): the K foregrounds followed from
    frame to frame (:class:`~lcvg_env.control.components.ForegroundTracker`, numbered in
    :data:`PLAYER_ORDER`), and each one's control fitted between its masks at t and t+1 (Eq. 5).

    Returns a :class:`~lcvg_env.control.fit.ControlFit` of T - 1 rows whose ``params_norm`` and
    ``params_px`` are (T-1, K * dims), foreground k's control in columns k * dims to (k + 1) * dims (the
    env's action layout), ``params`` (T-1, K, ...), ``loss`` the foregrounds' mean, ``valid`` True where
    any foreground has both masks (an absent one's control is the identity); ``extra["parts"]`` holds
    the foregrounds' masks (T, K, H, W)."""
    from lcvg_env.control.components import ForegroundTracker
    from lcvg_env.control.fit import ControlFit, fit_controls

    t, h, w = masks.shape
    tracker = ForegroundTracker(1, players, (h, w), order=PLAYER_ORDER)
    tracker.reset(np.array([0]), masks[:1].float())
    parts = [tracker.masks[0].copy()]
    for i in range(1, t):
        tracker.update(masks[i : i + 1].float())  # identities by nearest centroid, as the env keeps them
        parts.append(tracker.masks[0].copy())
    held = torch.from_numpy(np.stack(parts))  # (T, K, H, W)
    pairs = fit_controls(held[:-1].flatten(0, 1).float(), held[1:].flatten(0, 1).float(), mode, solver=solver)

    def per_step(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(t - 1, players, *x.shape[1:])  # (T-1, K, ...)

    return ControlFit(
        mode=mode,
        size=(h, w),
        params=per_step(pairs.params),
        params_norm=per_step(pairs.params_norm).flatten(1),  # (T-1, K * dims)
        params_px=per_step(pairs.params_px).flatten(1),
        loss=per_step(pairs.loss).mean(dim=1),
        valid=per_step(pairs.valid).any(dim=1),
        extra={"players": players, "parts": held},
    )


def model_path(model: str | os.PathLike, *, quiet: bool = False) -> Path:
    """The checkpoint file ``model`` (a name or a path) resolves to, in the order of the module docstring,
    said on stderr unless ``quiet``: for the commands that hand the model to an env to load."""
    from lcvg_env.checkpoint import CheckpointError, read_metadata
    from lcvg_env.env.resolve import resolve_checkpoint

    path = resolve_checkpoint(model)
    if not quiet:
        asked = os.fspath(model)
        line = asked if asked == str(path) else f"{asked} -> {path}"
        try:  # what describe() says of a loaded model, from the header alone
            meta = read_metadata(path)
            line += " " + _what(
                meta.get("preset"), meta["step"], meta["control_mode"], meta["height"], meta["width"]
            )
        except (CheckpointError, KeyError, TypeError):
            pass  # an unusable file: the loader that follows says why
        print(f"lcvg: model {line}", file=sys.stderr)
    return path


def env_model_path(env_id: str, checkpoint: str | os.PathLike | None = None) -> Path | None:
    """The world-model file a registered env id runs on (``checkpoint`` when given, else the id's model
    name), said on stderr as :func:`model_path` says it; None for an id without a world model (MuJoCo)
    or an id gymnasium does not know (its own error comes when the env is made)."""
    import gymnasium

    import lcvg_env  # noqa: F401  (registers the ids)

    if env_id not in gymnasium.registry:
        return None
    model = checkpoint if checkpoint is not None else gymnasium.spec(env_id).kwargs.get("name")
    return None if model is None or not isinstance(model, (str, os.PathLike)) else model_path(model)


def open_model(
    model: str | os.PathLike | Checkpoint, device: str | torch.device = "cpu", *, quiet: bool = False
) -> Checkpoint:
    """The world model ``model`` names: a loaded :class:`~lcvg_env.checkpoint.Checkpoint` (returned as
    it is), a checkpoint path, or a model name (lookup order in the module docstring). Prints which file
    it loaded to stderr unless ``quiet``. Raises
    :class:`~lcvg_env.env.resolve.CheckpointNotFoundError` (what to create, and how) or
    :class:`~lcvg_env.checkpoint.CheckpointError` (the file is unusable)."""
    from lcvg_env.checkpoint import Checkpoint, load_checkpoint
    from lcvg_env.env.resolve import resolve_checkpoint

    if isinstance(model, Checkpoint):
        return model
    path = resolve_checkpoint(model)
    ckpt = load_checkpoint(path, device=device)
    if not quiet:
        print(f"lcvg: model {describe(ckpt, os.fspath(model))}", file=sys.stderr, flush=True)
    return ckpt


def describe(ckpt: Checkpoint, asked: str | None = None) -> str:
    """One line: which file a model came from and what it is (``pusher -> /path (base-64, step 18495,
    translation control, 64x64)``)."""
    where = str(ckpt.path) if ckpt.path is not None else "(in memory)"
    head = where if asked is None or asked == where else f"{asked} -> {where}"
    return f"{head} {_what(ckpt.preset, ckpt.step, ckpt.control_mode, ckpt.config.height, ckpt.config.width)}"


def _what(preset: str | None, step: int, mode: str, height: int, width: int) -> str:
    return f"({preset or 'custom config'}, step {step}, {mode} control, {height}x{width})"
