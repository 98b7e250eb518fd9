"""Two-player data (Atari Tennis): where the players are in generated frames, against the emulator's.

``lcvg evaluate`` on data with ``players_px`` annotations (``lcvg data atari-tennis``) locates both
players in every frame by colour (:class:`lcvg_env.metrics.players.PlayerLocator`, independent of the
model's mask M) and reports, per row (the model, copy-first-frame):

- ``player_error_px``: the mean distance (px) between a located player and the true ``players_px`` of
  the real frame at the same step, over frames 1..T-1 and both players where the player is found;
- ``player_missing_rate``: the share of (frame, player) pairs where the locator finds no player.

The locator's own error on the real frames (its floor) goes to ``meta["player_locator_real"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lcvg_env.metrics.players import PlayerLocator
from lcvg_env.model import to_frames


def locate_clips(clips: torch.Tensor) -> np.ndarray:
    """Located players (E, T, K, 2) (x, y) px, NaN where not found, of clips (E, T, 3, H, W) in [-1, 1]."""
    e, t, _, h, w = clips.shape
    xy, _ = PlayerLocator(size=(h, w)).locate(to_frames(clips.flatten(0, 1)))  # (E * T, K, 2)
    return xy.reshape(e, t, *xy.shape[1:])


def player_scores(clips: torch.Tensor, truth: torch.Tensor) -> dict[str, float | None]:
    """``player_error_px`` and ``player_missing_rate`` (module docstring) of a row's clips
    (E, T, 3, H, W) against the true players (E, T, K, 2), frame 0 (the real start) left out."""
    err = np.linalg.norm(locate_clips(clips)[:, 1:] - truth[:, 1:].numpy(), axis=-1)  # (E, T - 1, K)
    found = np.isfinite(err)
    return {
        "player_error_px": float(err[found].mean()) if found.any() else None,
        "player_missing_rate": float(1.0 - found.mean()),
    }


def locator_floor(clips: torch.Tensor, truth: torch.Tensor) -> dict[str, float | None]:
    """The locator on the real clips against the true players: median and p90 error (px), missed share."""
    err = np.linalg.norm(locate_clips(clips) - truth.numpy(), axis=-1).reshape(-1)
    found = err[np.isfinite(err)]
    return {
        "median_px": float(np.median(found)) if found.size else None,
        "p90_px": float(np.percentile(found, 90)) if found.size else None,
        "missed_rate": float(1.0 - found.size / err.size),
    }


def floor_line(meta: dict[str, Any], fmt: Any) -> str | None:
    """The table's line on the locator's floor, None when the data has no players."""
    floor = meta.get("player_locator_real") or {}
    if floor.get("median_px") is None:
        return None
    return (
        f"player locator (colour) on real frames vs true players_px (its floor): median "
        f"{fmt(floor['median_px'])} px, p90 {fmt(floor['p90_px'])} px, missed {fmt(floor['missed_rate'])}"
    )
