"""Action labels for raw video: LCVG's mask network + Eq. 5 between consecutive frames.

LCVG learns from unlabelled video, yet it can label video (docs/method.md section 5): the control that
carries one frame's foreground mask onto the next is an action annotation. For every episode of a
dataset this module computes the binarized masks 1[M(x^t) > 0.5] with a checkpoint's mask network
(the masks the environment moves), fits the controls theta^t between consecutive masks with
:func:`~lcvg_env.control.fit_controls`, and writes the episode with its actions.

Actions are the fitted controls in the environment's ``control_px`` units: (dx, dy) pixels for
translation, (dx, dy, phi) with phi in radians about the mask centroid for rotation, [A | t]
(normalized linear part, t in pixels) for affine. Divide by the env's ``max_displacement`` /
``max_rotation`` to get env actions.

Those labels are *open loop*: each is fitted between two real frames. Replayed in the env from the
video's first frame they add up their per-step misses (16 steps of the bundled pusher end 6.8 px from the
real arm, docs/fidelity.md, "Where the rollout's drift comes from"). *Closed-loop* labels
(:func:`track_episode`, ``lcvg export labels --closed-loop``) run the env beside the video: each is fitted
from the env's own mask to the next real frame's mask and stepped, so replaying them from the video's
first frame reproduces the env's run, which follows the video (2.5 px at step 16 for the bundled pusher).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcvg_env.control.fit import FitConfig, check_solver, fit_controls
from lcvg_env.control.warp import (
    CONTROL_DIMS,
    check_mode,
    identity_params,
    mask_centroid,
    normalized_to_pixels,
)
from lcvg_env.export.runner import ExportSummary, file_digest, finish, run_episodes
from lcvg_env.export.store import EpisodeRecord, EpisodeStore
from lcvg_env.runtime import check_threads, torch_threads

ACTION_UNITS = {
    "translation": "fitted control (dx, dy) in pixels, x right, y down",
    "rotation": "fitted control (dx, dy, phi): pixels; radians CCW on screen about the mask centroid",
    "affine": "fitted control [A | t] row-major: normalized linear part, t in pixels",
}


def label_episode(
    frames: np.ndarray,
    masks: np.ndarray,
    mode: str,
    *,
    solver: str = "fast",
    config: FitConfig | None = None,
    meta: dict[str, Any] | None = None,
) -> EpisodeRecord:
    """An action-labelled episode from frames (T+1, H, W, 3) uint8 and their masks (T+1, H, W).

    Infos (T+1 rows; row 0 is the initial frame, with the identity control): ``mask``,
    ``centroid_px`` (NaN where empty), ``control_px``, ``control_norm``, ``fit_loss``, ``fit_valid``.
    """
    if len(frames) < 2 or len(masks) != len(frames):
        raise ValueError(
            f"Need >= 2 frames and one mask per frame, got {len(frames)} frames, {len(masks)} masks."
        )
    h, w = frames.shape[1:3]
    fit = fit_controls(
        masks[:-1].astype(np.float32), masks[1:].astype(np.float32), mode, solver=solver, config=config
    )
    first = identity_params(mode, 1)
    control_norm = torch.cat([first, fit.params_norm])  # (T+1, dims)
    infos = {
        "mask": masks.astype(bool),
        "centroid_px": mask_centroid(torch.from_numpy(masks.astype(np.float32))).numpy(),
        "control_px": normalized_to_pixels(control_norm, mode, (h, w)).numpy().astype(np.float32),
        "control_norm": control_norm.numpy().astype(np.float32),
        "fit_loss": np.concatenate([[0.0], fit.loss.numpy()]).astype(np.float32),
        "fit_valid": np.concatenate([[True], fit.valid.numpy()]),
    }
    return EpisodeRecord(frames, infos["control_px"][1:], infos, meta=dict(meta or {}))


def track_episode(
    env: Any,
    frames: np.ndarray,
    masks: np.ndarray,
    *,
    solver: str = "fast",
    meta: dict[str, Any] | None = None,
) -> EpisodeRecord:
    """Closed-loop labels: the env (an :class:`~lcvg_env.env.LCVGEnv` with ``task="none"``) is reset to
    ``frames[0]`` (T+1, H, W, 3) uint8 and at every step t takes the action whose control carries its own
    mask onto ``masks[t + 1]`` (T+1, H, W), the video's next mask (Eq. 5, in the env's control family,
    clipped to its action range). Replaying the actions in an env made the same way from ``frames[0]``
    gives its frames again.

    The episode holds the real frames and the env's actions; infos as :func:`label_episode`'s (``mask``
    is the video's; ``control_px`` the control the action gives, after clipping; ``fit_loss`` between the
    env's mask and the video's next one) and ``sim_frame`` (T+1, H, W, 3), ``sim_mask`` (T+1, H, W) and
    ``sim_mask_iou`` (T+1,), the env's frames and masks and their IoU with the video's masks."""
    from lcvg_env.metrics.masks import mask_iou

    if len(frames) < 2 or len(masks) != len(frames):
        raise ValueError(
            f"Need >= 2 frames and one mask per frame, got {len(frames)} frames, {len(masks)} masks."
        )
    controls = env.unwrapped.controls
    mode, size = controls.mode, controls.size
    obs, info = env.reset(options={"frame": frames[0]})
    sim_frames, sim_masks, actions, losses, valid = [obs], [info["mask"]], [], [0.0], [True]
    for t in range(1, len(frames)):
        fit = fit_controls(
            info["mask"][None].astype(np.float32), masks[t][None].astype(np.float32), mode, solver=solver
        )
        action = controls.to_actions(normalized_to_pixels(fit.params_norm, mode, size).numpy())[0]
        obs, _, _, _, info = env.step(action)
        actions.append(action)
        sim_frames.append(obs)
        sim_masks.append(info["mask"])
        losses.append(float(fit.loss[0]))
        valid.append(bool(fit.valid[0]))
    acts = np.stack(actions)  # (T, dims) in [-1, 1]
    control_px = np.concatenate([controls.identity(1), controls.to_pixels(acts)])  # row 0: the no-op
    sim_mask = np.stack(sim_masks).astype(bool)
    iou = mask_iou(torch.from_numpy(sim_mask), torch.from_numpy(masks.astype(bool)))
    infos = {
        "mask": masks.astype(bool),
        "centroid_px": mask_centroid(torch.from_numpy(masks.astype(np.float32))).numpy(),
        "control_px": control_px.astype(np.float32),
        "control_norm": controls.to_normalized(control_px).astype(np.float32),
        "fit_loss": np.asarray(losses, np.float32),
        "fit_valid": np.asarray(valid),
        "sim_frame": np.stack(sim_frames),
        "sim_mask": sim_mask,
        "sim_mask_iou": iou.numpy().astype(np.float32),
    }
    return EpisodeRecord(frames, infos["control_px"][1:], infos, meta=dict(meta or {}))


def export_labels(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str = "train",
    output_format: str = "minari",
    control: str | None = None,
    solver: str = "fast",
    dataset_id: str | None = None,
    max_episodes: int | None = None,
    overwrite: bool = False,
    preview: bool = False,
    progress: bool = True,
    device: str = "cpu",
    threads: int | None = None,
    closed_loop: bool = False,
) -> ExportSummary:
    """Label every episode of the raw-video dataset ``data_dir`` with the checkpoint's controls.

    ``checkpoint``: a model name or a .safetensors path, opened by :func:`lcvg_env.model.open_model`.
    ``threads``: torch CPU threads for the whole export (None: keep the current setting).
    ``closed_loop``: fit each action from the env's own frame to the video's next one
    (:func:`track_episode`, the env with its defaults and ``task="none"``) instead of between two real
    frames (:func:`label_episode`).
    """
    from gymnasium import spaces

    from lcvg_env.data.validate import validate_split
    from lcvg_env.export.minari_io import check_dataset_id, default_dataset_id
    from lcvg_env.model import open_model
    from lcvg_env.outputs import check_output_dir

    check_solver(solver)  # the options first: a bad one fails before the model and OUT are opened
    check_threads(threads)
    if max_episodes is not None and max_episodes < 1:
        raise ValueError(f"--max-episodes must be >= 1 (or left out for every episode), got {max_episodes}.")
    check_output_dir(out, "--out")  # a folder that cannot be written fails now, not after the model loads
    check_dataset_id(dataset_id, output_format)
    ckpt = open_model(checkpoint, device=device)
    checkpoint = ckpt.path
    mode = check_mode(control or ckpt.control_mode)
    dims, size = CONTROL_DIMS[mode], (ckpt.config.height, ckpt.config.width)
    # Every episode checked before the first is labelled: a broken or 1-frame episode is left out with
    # a warning that names it (as training does), never found half-way through the export.
    report = validate_split(data_dir, split, min_frames=2, limit=max_episodes)
    episodes = report.episodes
    if not episodes:
        raise ValueError(
            f"No usable episodes in {data_dir} (split {split!r}, {report.broken} left out"
            + (f", e.g. {report.problems[0]}" if report.problems else "")
            + "); check the path with `lcvg data info`."
        )
    dataset_id = dataset_id or default_dataset_id(Path(checkpoint).stem, "labels")
    fingerprint: dict[str, Any] = {
        "kind": "labels",
        "checkpoint_sha256": file_digest(checkpoint),
        "data_dir": str(Path(data_dir).resolve()),
        "split": split,
        "control": mode,
        "solver": solver,
        "format": output_format,
        "dataset_id": dataset_id if output_format == "minari" else None,
    }
    env = None
    if closed_loop:
        from lcvg_env.env import LCVGEnv

        fingerprint["closed_loop"] = True  # only then: exports made before the option resume as they were
        env = LCVGEnv(checkpoint, task="none", control=mode, device=device)  # its own copy, in bf16
    store = EpisodeStore.open(out, fingerprint, output_format, overwrite=overwrite)
    store.set_info(actions=ACTION_UNITS[mode], size=list(size), mode=mode)

    def produce(chunk: list[int]) -> list[EpisodeRecord]:
        records = []
        for i in chunk:
            frames = episodes[i].frames(size=size)
            masks = ckpt.binary_masks(frames).numpy()  # (T, H, W) bool
            meta = {"source": episodes[i].name}
            if env is None:
                records.append(label_episode(frames, masks, mode, solver=solver, meta=meta))
            else:
                records.append(track_episode(env, frames, masks, solver=solver, meta=meta))
        return records

    with torch_threads(threads):
        written = run_episodes(
            store, range(len(episodes)), produce, preview=preview, progress=progress, description="labels"
        )
    return finish(
        store,
        written,
        dataset_id=dataset_id,
        observation_space=spaces.Box(0, 255, shape=(*size, 3), dtype=np.uint8),
        action_space=spaces.Box(-np.inf, np.inf, shape=(dims,), dtype=np.float32),
        description=f"Action labels (Eq. 5, {mode}, {solver}{', closed loop' if closed_loop else ''}) of "
        f"{data_dir} by {Path(checkpoint).name}.",
    )


def label_accuracy(out: str | os.PathLike, data_dir: str | os.PathLike, split: str = "train") -> dict | None:
    """Exported labels against the true motion: the fitted (dx, dy) of every action of the export
    ``out`` vs the annotated tip displacement tip_px[t+1] - tip_px[t] of its source episode (in the
    export's pixels). Returns the mean absolute error (px), Pearson r and the gain (least-squares
    slope of the labels on the true displacement) per axis, or None when the data has no ``tip_px``
    annotations or the labels are affine (no displacement to compare)."""
    import json

    from lcvg_env.data import rescale_annotations
    from lcvg_env.data.validate import validate_split
    from lcvg_env.export.store import MANIFEST, load_episode

    manifest = json.loads((Path(out) / MANIFEST).read_text())
    info = manifest.get("info", {})
    if info.get("mode") not in ("translation", "rotation"):
        return None
    size = tuple(info["size"])
    sources = {ep.name: ep for ep in validate_split(data_dir, split, decode=False, warn=False).episodes}
    fitted, true = [], []
    for entry in manifest["episodes"].values():
        ep = sources.get(entry.get("source"))
        ann = ep.annotations() if ep is not None else None
        if ann is None or "tip_px" not in ann:
            continue
        tip = rescale_annotations({"tip_px": ann["tip_px"]}, ep.stored_size(), size)["tip_px"]
        fitted.append(load_episode(Path(out) / entry["file"])["actions"][:, :2])  # (T, 2) dx, dy
        true.append(np.diff(tip, axis=0))
    if not fitted:
        return None
    fitted, true = np.concatenate(fitted).astype(np.float64), np.concatenate(true).astype(np.float64)
    mae = np.abs(fitted - true).mean(axis=0)
    f, t = fitted - fitted.mean(axis=0), true - true.mean(axis=0)
    cov, var_f, var_t = (f * t).sum(axis=0), (f * f).sum(axis=0), (t * t).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where an axis does not vary
        r, gain = (cov / np.sqrt(var_f * var_t)).tolist(), (cov / var_t).tolist()
    return {
        "pairs": len(true), "mae_x": float(mae[0]), "mae_y": float(mae[1]), "r_x": r[0], "r_y": r[1],
        "gain_x": gain[0], "gain_y": gain[1],
    }  # fmt: skip


def closed_loop_agreement(out: str | os.PathLike) -> dict | None:
    """How closely the env followed the video in a closed-loop labels export ``out``: the IoU of the env's
    mask with the video's (``sim_mask_iou``), mean over every step after the first and at the last step of
    each episode; None for an export without it (open-loop labels)."""
    import json

    from lcvg_env.export.store import MANIFEST, load_episode

    manifest = json.loads((Path(out) / MANIFEST).read_text())
    ious = []
    for entry in manifest["episodes"].values():
        infos = load_episode(Path(out) / entry["file"])["infos"]
        if "sim_mask_iou" not in infos:
            return None
        ious.append(np.asarray(infos["sim_mask_iou"], np.float64)[1:])  # row 0: the shared first frame
    if not ious:
        return None
    return {
        "episodes": len(ious),
        "iou_mean": float(np.concatenate(ious).mean()),
        "iou_last": float(np.mean([i[-1] for i in ious])),
    }


def accuracy_line(acc: dict) -> str:
    """One line for :func:`label_accuracy`'s result."""
    return (
        f"labels vs true tip displacement (tip_px[t+1] - tip_px[t], {acc['pairs']} pairs): "
        f"MAE x {acc['mae_x']:.3f} px, y {acc['mae_y']:.3f} px; "
        f"Pearson r x {acc['r_x']:.3f}, y {acc['r_y']:.3f}; gain x {acc['gain_x']:.3f}, y {acc['gain_y']:.3f}"
    )
