"""How the real arm follows a command: the actuator response an env can apply to its actions.

The learned env moves the foreground's mask by the whole command in the step it is given (the paper's
control, Eq. 5). A real arm does not: the built-in pusher data's arm tracks its end-effector target
through joint servos that take several frames to settle (docs/sim_to_real.md, "How an action moves the
arm"), so the same commands move the learned arm ahead of the real one from the first step.

:class:`Actuator` is a finite impulse response per image axis, fitted on the training data's commands
and the true tip's motion (ground truth the data carries; no model and no MuJoCo involved)::

    d_t[a] = sum_{i=0}^{L-1} h_a[i] * u_{t-i}[a]        a in {x, y}

where u_t is the command of step t in pixels (the displacement of the end-effector target, projected
through the camera) and d_t the tip's motion over that step. The fitted taps sum to a little under 1
(0.88-0.90 on the pusher data: the IK steers the gripper's centre, which a turn of the arm moves further
than the tip); they are scaled to sum to 1, because the env's action is a displacement of the point the
arm is steered to (the MuJoCo env's ``target_px``), which the real arm reaches once it settles. With
``EnvConfig.actuation="data"`` the env sends d_t, not u_t, to the mask: commands accumulate in a history
of the last L steps per env (cleared on reset), and a command's full displacement arrives over L steps.

With ``region="data"`` the env bounds the steered point (the start centroid of M's mask plus the commands
so far) rather than each move, as the real arm's workspace bounds its target. The region of steered
points, ``Actuator.region``, is measured in those coordinates: for every training episode, M's centroid
in its first frame plus the true tip's displacement since (:func:`steered_region_of_split`). M's own
centroids (:mod:`lcvg_env.control.region`) would bound it too tightly: the centroid sits mid-arm and
moves less than the tip when the arm turns, while a command moves the tip.

``lcvg checkpoint bundle MODEL --actuator auto --data DIR`` fits both on the data and stores them in the
checkpoint (``extra["actuator"]``); the env reads them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lcvg_env.control.region import MotionRegion

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint

ACTUATOR_KEY = "actuator"
"""Key of the checkpoint's ``extra`` that holds the recorded actuator response."""
DEFAULT_TAPS = 6
"""Steps of the fitted response. Fitted on the pusher's training split, it explains R^2 0.952 (x) / 0.863
(y) of the test split's tip motion with 6 taps, the same with 8, 0.613 / 0.649 with the step's own command
alone (``python benchmarks/arm_response.py --data data/pusher``)."""


@dataclass(frozen=True)
class Actuator:
    """Per-axis impulse responses ``taps`` (2, L): row 0 for x, row 1 for y, tap 0 for the current step."""

    taps: np.ndarray
    source: str = ""
    """What it was fitted on (data folder, split, episodes, steps)."""
    fitted_sum: tuple[float, float] = (1.0, 1.0)
    """The taps' sums per axis before they were scaled to 1 (the data's steady-state ratio)."""
    r2: tuple[float, float] = (float("nan"), float("nan"))
    """Share of the variance of the true tip's per-step motion the fitted response explains, per axis."""
    region: MotionRegion | None = None
    """Where the data's arm was steered to, in the env's steered-point coordinates (module docstring)."""

    def __post_init__(self) -> None:
        taps = np.asarray(self.taps, dtype=np.float64)
        if taps.ndim != 2 or taps.shape[0] != 2 or taps.shape[1] < 1 or not np.isfinite(taps).all():
            raise ValueError(f"An actuator's taps are a finite (2, L) array, L >= 1; got shape {taps.shape}.")
        if not np.allclose(taps.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError(f"An actuator's taps sum to 1 per axis; got sums {taps.sum(axis=1).tolist()}.")
        object.__setattr__(self, "taps", taps)

    @property
    def length(self) -> int:
        """Steps over which one command arrives (L)."""
        return self.taps.shape[1]

    def respond(self, history: np.ndarray) -> np.ndarray:
        """The moves (B, K, 2) px of this step from the commands ``history`` (B, L, K, 2) px, newest first
        (``history[:, 0]`` is this step's command)."""
        return np.einsum("blka,al->bka", history, self.taps[:, : history.shape[1]])

    def step_response(self, steps: int) -> np.ndarray:
        """Share of one command's displacement arrived after 1..``steps`` steps, per axis (steps, 2)."""
        cumulative = np.cumsum(self.taps, axis=1).T  # (L, 2)
        if steps <= self.length:
            return cumulative[:steps]
        return np.concatenate([cumulative, np.ones((steps - self.length, 2))])

    def to_json(self) -> dict[str, Any]:
        return {
            "taps": self.taps.round(6).tolist(),
            "source": self.source,
            "fitted_sum": list(self.fitted_sum),
            "r2": list(self.r2),
            "region": None if self.region is None else self.region.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any) -> Actuator:
        if not isinstance(value, dict) or "taps" not in value:
            raise ValueError(
                f"The checkpoint's {ACTUATOR_KEY!r} entry is not an actuator record (a mapping with 'taps'); "
                "bundle the model again: `lcvg checkpoint bundle MODEL --out OUT --actuator auto --data DIR`."
            )
        taps = np.asarray(value["taps"], dtype=np.float64)
        region = value.get("region")
        return cls(
            taps,
            str(value.get("source", "")),
            tuple(float(v) for v in value.get("fitted_sum", (1.0, 1.0))),
            tuple(float(v) for v in value.get("r2", (float("nan"), float("nan")))),
            None if region is None else MotionRegion.from_json(region),
        )


def recorded_actuator(extra: dict[str, Any] | None) -> Actuator | None:
    """The checkpoint's recorded actuator response, None when it records none."""
    value = (extra or {}).get(ACTUATOR_KEY)
    return None if value is None else Actuator.from_json(value)


def lagged(commands: np.ndarray, taps: int) -> np.ndarray:
    """The regressors of one episode's commands (T, 2): (T, 2, taps), column i the command i steps back
    (zeros before the first: the arm starts at rest on its target)."""
    steps = len(commands)
    padded = np.concatenate([np.zeros((taps - 1, 2)), commands])  # (T + taps - 1, 2)
    return np.stack([padded[taps - 1 - i : taps - 1 - i + steps] for i in range(taps)], axis=-1)


def fit_actuator(
    commands: list[np.ndarray], motions: list[np.ndarray], taps: int = DEFAULT_TAPS, source: str = ""
) -> Actuator:
    """Least-squares taps per axis from episodes' commands and the tip's motions (each (T, 2) px, step t
    the command sent before frame t + 1 and the motion from frame t to t + 1), scaled to sum to 1."""
    if taps < 1:
        raise ValueError(f"taps must be >= 1, got {taps}.")
    if len(commands) != len(motions) or not commands:
        raise ValueError(
            f"Need commands and motions of the same episodes, got {len(commands)} and {len(motions)}."
        )
    for u, d in zip(commands, motions, strict=True):
        if u.shape != d.shape or u.ndim != 2 or u.shape[1] != 2:
            raise ValueError(
                f"An episode's commands and motions are (T, 2) each; got {u.shape} and {d.shape}."
            )
    x = np.concatenate([lagged(np.asarray(u, np.float64), taps) for u in commands])  # (N, 2, taps)
    y = np.concatenate([np.asarray(d, np.float64) for d in motions])  # (N, 2)
    if len(y) < 4 * taps:
        raise ValueError(f"{len(y)} steps are too few to fit {taps} taps; use more episodes.")
    rows, sums, r2 = [], [], []
    for axis in range(2):
        h, *_ = np.linalg.lstsq(x[:, axis], y[:, axis], rcond=None)
        residual = y[:, axis] - x[:, axis] @ h
        r2.append(float(1.0 - residual.var() / max(float(y[:, axis].var()), 1e-12)))
        total = float(h.sum())
        if not total > 0.1:
            raise ValueError(
                f"The data's tip does not follow its commands along {'xy'[axis]} (the fitted taps sum to "
                f"{total:.3f}): check that the commands and the tip positions belong to the same episodes."
            )
        rows.append(h / total)
        sums.append(total)
    return Actuator(np.stack(rows), source, (sums[0], sums[1]), (r2[0], r2[1]))


def actuator_of_split(
    ckpt: Checkpoint,
    data_dir: str | Path,
    split: str = "train",
    taps: int = DEFAULT_TAPS,
    clips: list[np.ndarray] | None = None,
) -> Actuator:
    """The response fitted on ``data_dir``'s ``split`` (every episode's ``commands`` and ``tip_px``, in
    pixels of the model's frame) and the region of steered points (:func:`steered_region_of_split`);
    ``clips``: that split's :func:`~lcvg_env.control.control_range.split_clips`, when already decoded."""
    import dataclasses

    from lcvg_env.data.pusher import command_pixels

    episodes = _episodes(data_dir, split)
    size = ckpt.config.height
    commands, motions = [], []
    for ep in episodes:
        u, d = command_pixels(ep.annotations(), ep.source, size)
        commands.append(u)
        motions.append(d)
    steps = sum(len(u) for u in commands)
    source = f"{data_dir} ({split}, {len(episodes)} episodes, {steps} steps, {taps} taps)"
    fitted = fit_actuator(commands, motions, taps, source)
    region = steered_region_of_split(ckpt, data_dir, split, clips=clips, episodes=episodes)
    return dataclasses.replace(fitted, region=region)


def steered_region_of_split(
    ckpt: Checkpoint,
    data_dir: str | Path,
    split: str = "train",
    clips: list[np.ndarray] | None = None,
    episodes: list[Any] | None = None,
) -> MotionRegion:
    """The cells of the points the data's arm was steered to, in the env's coordinates: per episode, the
    centroid of M's binarized mask in its first frame plus the true tip's displacement since then.
    ``episodes``: the split's checked episodes and ``clips`` their frames at the model's size, when the
    caller has them already (each is read and checked once)."""
    from lcvg_env.control.warp import mask_centroid
    from lcvg_env.data.transforms import rescale_annotations
    from lcvg_env.model import binary_masks

    size = (ckpt.config.height, ckpt.config.width)
    episodes = _episodes(data_dir, split) if episodes is None else episodes
    clips = [ep.frames(size=size) for ep in episodes] if clips is None else clips
    if len(clips) != len(episodes):
        raise ValueError(f"{data_dir} ({split}): {len(clips)} decoded episodes for {len(episodes)} listed.")
    first = np.stack([clip[0] for clip in clips])  # (E, H, W, 3)
    starts = mask_centroid(binary_masks(ckpt.generator, first)[:, None].float()).numpy()  # (E, 2)
    points = []
    for ep, start in zip(episodes, starts, strict=True):
        ann = ep.annotations()
        if "tip_px" not in ann:
            raise ValueError(
                f"{ep.source}: no tip_px; the steered region needs the data's true tip positions."
            )
        stored = ann["arm_mask"].shape[-2:] if "arm_mask" in ann else ep.stored_size()
        tip = rescale_annotations({"tip_px": ann["tip_px"]}, stored, size)["tip_px"]
        points.append(start + (tip - tip[0]))  # (T, 2)
    source = f"{data_dir} ({split}, {len(episodes)} episodes: M's first centroid + the true tip's motion)"
    return MotionRegion.from_centroids(np.concatenate(points), size, source=source)


def _episodes(data_dir: str | Path, split: str) -> list[Any]:
    """The checked episodes of a split (broken ones left out, with a warning), as the training reads them."""
    from lcvg_env.data.validate import validate_split

    return list(validate_split(data_dir, split).episodes)
