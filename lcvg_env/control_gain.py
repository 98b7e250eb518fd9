"""Control gain: how far the environment's foreground really moves per commanded pixel.

From real held-out start frames (frame 0 of each test episode), the environment is driven with a
constant command ``a = f * u`` for k steps, u a unit direction among E, NE, N, NW, W, SW, S, SE (x to
the right, y down: N is u = (0, -1)) and f a fraction of the action range. The env scales actions by
its ``max_displacement`` (:class:`~lcvg_env.env.config.EnvConfig`), so the commanded displacement is
``c = f * max_displacement`` px per step *along u*: a diagonal at 100 % moves ``max_displacement`` px
along the diagonal (action components 0.71), not ``sqrt(2)`` times that.

The realized displacement is measured by the independent tip detector (trained on real frames, not
part of the model): ``r = d(x^k) - d(x^0)``. Per start frame::

    gain        = (r . u)     / (k c)      1 = the arm moves as far as commanded
    cross-axis  = |r x u|     / (k c)      0 = no motion across the command

The same figures from the centroid of the model's own mask M (``info["centroid_px"]``) are reported
beside them as the model's own view. Medians are over start frames where the detector finds the tip
in both frames; "lost" is the share of start frames where it does not. The no-op command (action 0)
is run too: how far the tip moves without being told to (the model's drift plus the detector's noise)
is the floor under the cross-axis error, largest next to the smallest commands.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from lcvg_env.env.batch import LCVGBatch

DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("E", 0.0),
    ("NE", 45.0),
    ("N", 90.0),
    ("NW", 135.0),
    ("W", 180.0),
    ("SW", 225.0),
    ("S", 270.0),
    ("SE", 315.0),
)
"""(name, angle in degrees counter-clockwise from +x as seen on screen)."""


def direction_vectors() -> np.ndarray:
    """Unit directions (8, 2) (x, y) in image coordinates (y down), in :data:`DIRECTIONS` order."""
    rad = np.deg2rad([a for _, a in DIRECTIONS])
    return np.stack([np.cos(rad), -np.sin(rad)], axis=1)  # screen angle -> image y is flipped


class Detector(Protocol):
    """What the measurement needs of a detector: ``detect(uint8 (N, H, W, 3))`` with ``.xy``, ``.found``."""

    def detect(self, frames: np.ndarray) -> Any: ...


@dataclass
class ControlGainConfig:
    """Settings of one control-gain measurement."""

    starts: int = 48
    """Real start frames: frame 0 of the first ``starts`` episodes of the split."""
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    """Command sizes as fractions of the action range (1 = ``max_displacement`` px per step)."""
    steps: tuple[int, ...] = (1, 5, 10)
    """Steps after which the displacement is measured (one rollout per command, read at each)."""
    split: str = "test"
    """Dataset split the start frames come from."""
    batch_size: int = 96
    """Environments stepped together in one forward pass."""
    device: str = "cpu"
    dtype: str = "bfloat16"
    """The env's generator dtype (as a user runs it)."""
    region: str = "none"
    """The env's ``EnvConfig.region``: ``none`` or ``data`` (docs/env.md)."""
    actuation: str = "direct"
    """The env's ``EnvConfig.actuation``: ``direct`` or ``data`` (docs/env.md)."""

    def __post_init__(self) -> None:
        self.fractions, self.steps = tuple(self.fractions), tuple(self.steps)
        if self.starts < 1 or self.batch_size < 1:
            raise ValueError(
                f"starts (--starts) and batch_size (--n-envs) must be >= 1, got {self.starts} and "
                f"{self.batch_size}."
            )
        if not self.fractions or not all(0.0 < f <= 1.0 for f in self.fractions):
            raise ValueError(f"fractions must be in (0, 1] (of the action range), got {self.fractions}.")
        if not self.steps or list(self.steps) != sorted(set(self.steps)) or self.steps[0] < 1:
            raise ValueError(f"steps must be increasing integers >= 1, got {self.steps}.")


def gain_and_cross(
    tracks: np.ndarray, directions: np.ndarray, commanded_px: np.ndarray, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gain and cross-axis error (S, D, F, K) of positions ``tracks`` (S, D, F, 1 + K, 2).

    ``tracks[..., 0, :]`` is the position in the start frame, ``tracks[..., 1 + i, :]`` after
    ``steps[i]`` steps of the command ``directions[d]`` (D, 2, unit) of ``commanded_px[f]`` px per step.
    NaN positions (not found) give NaN.
    """
    realized = tracks[..., 1:, :] - tracks[..., :1, :]  # (S, D, F, K, 2)
    u = directions[None, :, None, None, :]  # (1, D, 1, 1, 2)
    along = (realized * u).sum(-1)
    across = np.abs(realized[..., 0] * u[..., 1] - realized[..., 1] * u[..., 0])
    expected = commanded_px[None, None, :, None] * steps[None, None, None, :]  # (1, 1, F, K) px
    return along / expected, across / expected


def _nan_median(values: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():  # an all-NaN slice (tip lost everywhere) is a NaN median
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


@dataclass
class ControlGainResult:
    """Per start frame figures (S, D, F, K) of the detector and of M's centroid, with their settings."""

    gain: np.ndarray
    cross: np.ndarray
    centroid_gain: np.ndarray
    centroid_cross: np.ndarray
    start_found: np.ndarray
    """(S,) bool: the detector finds the tip in the real start frame."""
    drift_px: np.ndarray
    """(S, K) distance in px the detected tip moves under the no-op command; NaN where lost."""
    centroid_drift_px: np.ndarray
    """(S, K) the same for M's centroid."""
    fractions: tuple[float, ...]
    steps: tuple[int, ...]
    max_displacement: float
    meta: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One row per direction x fraction x steps: medians over start frames and the lost share."""
        med = {k: _nan_median(getattr(self, k)) for k in ("gain", "cross", "centroid_gain", "centroid_cross")}
        lost = np.isnan(self.gain).mean(axis=0)  # (D, F, K)
        out = []
        for d, (name, _) in enumerate(DIRECTIONS):
            for f, frac in enumerate(self.fractions):
                for k, steps in enumerate(self.steps):
                    row = {"direction": name, "fraction": frac, "steps": steps}
                    row["commanded_px_per_step"] = frac * self.max_displacement
                    row.update({key: _json_float(v[d, f, k]) for key, v in med.items()})
                    row["lost"] = round(float(lost[d, f, k]), 4)
                    out.append(row)
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Per fraction x steps: the worst gain over directions and the largest cross-axis error."""
        gain, cross = _nan_median(self.gain), _nan_median(self.cross)  # (D, F, K)
        names = [n for n, _ in DIRECTIONS]
        out = []
        for f, frac in enumerate(self.fractions):
            for k, steps in enumerate(self.steps):
                g, c = gain[:, f, k], cross[:, f, k]
                ok_g, ok_c = np.isfinite(g).any(), np.isfinite(c).any()
                out.append(
                    {
                        "fraction": frac,
                        "steps": steps,
                        "median_gain": _json_float(np.nanmedian(g)) if ok_g else None,
                        "worst_gain": _json_float(np.nanmin(g)) if ok_g else None,
                        "worst_gain_direction": names[int(np.nanargmin(g))] if ok_g else None,
                        "max_cross": _json_float(np.nanmax(c)) if ok_c else None,
                        "max_cross_direction": names[int(np.nanargmax(c))] if ok_c else None,
                    }
                )
        return out

    def noop(self) -> list[dict[str, Any]]:
        """Per steps: median displacement (px) under the no-op command, detector and M centroid."""
        tip, cent = _nan_median(self.drift_px), _nan_median(self.centroid_drift_px)  # (K,)
        lost = np.isnan(self.drift_px).mean(axis=0)
        return [
            {
                "steps": k,
                "tip_px": _json_float(tip[i]),
                "centroid_px": _json_float(cent[i]),
                "lost": float(lost[i]),
            }
            for i, k in enumerate(self.steps)
        ]

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": self.rows(), "summary": self.summary(), "noop": self.noop()}


def command_actions(batch: LCVGBatch, fractions: tuple[float, ...]) -> np.ndarray:
    """Actions (D, F, dims): ``f * u`` in the action's translation components (any control mode)."""
    from lcvg_env.env.controls import DISCRETE_ACTIONS

    names = [name for name, _, _ in DISCRETE_ACTIONS]
    right = batch.controls.discrete(names.index("right"))  # (dims,) the unit +x action
    down = batch.controls.discrete(names.index("down"))  # (dims,) the unit +y action
    u = direction_vectors()
    actions = u[:, :1] * right + u[:, 1:] * down  # (D, dims)
    frac = np.asarray(fractions, dtype=np.float32)
    return (actions[:, None, :] * frac[None, :, None]).astype(np.float32)  # (D, F, dims)


def rollout_positions(
    batch: LCVGBatch, detector: Detector, starts: np.ndarray, actions: np.ndarray, steps: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Tip and M-centroid positions (R, 1 + K, 2) of R rollouts: row r starts at ``starts[r]`` (H, W, 3)
    and repeats ``actions[r]``; positions at step 0 and at each of ``steps``; NaN where not found."""
    rows, b = len(starts), batch.num_envs
    tips = np.full((rows, 1 + len(steps), 2), np.nan, dtype=np.float32)
    cents = np.full_like(tips, np.nan)
    rngs = [np.random.default_rng(0)] * b  # unused: the start frame is given and task="none" has no goal
    for lo in range(0, rows, b):
        n = min(b, rows - lo)
        index = np.r_[lo : lo + n, np.full(b - n, lo)]  # the last chunk is padded with repeats
        batch.reset(np.arange(b), rngs, [{"frame": f} for f in starts[index]])
        act = batch.controls.check(actions[index], batch=b)
        _record(batch, detector, tips[lo : lo + n, 0], cents[lo : lo + n, 0], n)
        for t in range(1, steps[-1] + 1):
            batch.step(act)
            if t in steps:
                k = 1 + steps.index(t)
                _record(batch, detector, tips[lo : lo + n, k], cents[lo : lo + n, k], n)
    return tips, cents


def _record(batch: LCVGBatch, detector: Detector, tips: np.ndarray, cents: np.ndarray, n: int) -> None:
    frames = batch.sim.observations()[:n]  # (n, H, W, 3) clean frames (no goal marker)
    det = detector.detect(frames)
    found = np.asarray(det.found, dtype=bool)
    tips[:] = np.where(found[:, None], np.asarray(det.xy, dtype=np.float32), np.nan)
    cents[:] = batch.infos()["centroid_px"][:n]


def measure(
    batch: LCVGBatch, detector: Detector, starts: np.ndarray, cfg: ControlGainConfig
) -> ControlGainResult:
    """Drive ``batch`` from each start frame (S, H, W, 3) with every command and score the motion."""
    actions = command_actions(batch, cfg.fractions)  # (D, F, dims)
    d, f = actions.shape[:2]
    s = len(starts)
    row_starts = np.broadcast_to(starts[:, None, None], (s, d, f, *starts.shape[1:]))
    row_actions = np.broadcast_to(actions[None], (s, d, f, actions.shape[-1]))
    tips, cents = rollout_positions(
        batch,
        detector,
        row_starts.reshape(s * d * f, *starts.shape[1:]),  # rows ordered (start, direction, fraction)
        row_actions.reshape(s * d * f, -1),
        cfg.steps,
    )
    shape = (s, d, f, 1 + len(cfg.steps), 2)
    u = direction_vectors()
    commanded = np.asarray(cfg.fractions) * batch.cfg.max_displacement  # (F,) px per step
    steps = np.asarray(cfg.steps, dtype=np.float64)
    gain, cross = gain_and_cross(tips.reshape(shape).astype(np.float64), u, commanded, steps)
    c_gain, c_cross = gain_and_cross(cents.reshape(shape).astype(np.float64), u, commanded, steps)
    still = np.zeros((s, actions.shape[-1]), dtype=np.float32)  # the no-op action, in every control mode
    still_tips, still_cents = rollout_positions(batch, detector, starts, still, cfg.steps)  # (S, 1 + K, 2)
    return ControlGainResult(
        gain=gain,
        cross=cross,
        centroid_gain=c_gain,
        centroid_cross=c_cross,
        start_found=~np.isnan(tips.reshape(shape)[:, 0, 0, 0, 0]),
        drift_px=np.linalg.norm(still_tips[:, 1:] - still_tips[:, :1], axis=-1),
        centroid_drift_px=np.linalg.norm(still_cents[:, 1:] - still_cents[:, :1], axis=-1),
        fractions=cfg.fractions,
        steps=cfg.steps,
        max_displacement=float(batch.cfg.max_displacement),
        meta={"config": asdict(cfg), "max_displacement": float(batch.cfg.max_displacement)},
    )


def load_start_frames(data_dir: str | Path, split: str, count: int, size: tuple[int, int]) -> np.ndarray:
    """Frame 0 (count, H, W, 3) uint8 of the first ``count`` sound episodes of ``split``, at ``size``
    (broken ones are left out with a warning, :func:`~lcvg_env.data.validate.validate_split`)."""
    from lcvg_env.data.validate import validate_split

    episodes = validate_split(data_dir, split, limit=count).episodes
    if len(episodes) < count:
        raise ValueError(
            f"{count} start frames asked for, but the {split!r} split of {data_dir} has {len(episodes)} "
            f"usable episodes: pass --starts {len(episodes)} or a larger split."
        )
    return np.stack([ep.frames(size=size)[0] for ep in episodes[:count]])


def load_tip_detector(spec: str) -> Detector:
    """The tip detector named ``spec`` (``pusher``) or stored at the path ``spec``."""
    try:
        from lcvg_env.metrics.detector import load_detector
    except ImportError as exc:
        raise ValueError(
            f"The tip detector is not available in this install ({exc}); "
            "update lcvg-env to a version that ships lcvg_env.metrics.detector."
        ) from exc
    try:
        return load_detector(spec)
    except (FileNotFoundError, OSError, KeyError) as exc:
        raise ValueError(
            f"Could not load the tip detector {spec!r} ({exc}). Pass --detector pusher (the packaged one) "
            "or --detector PATH to a detector .safetensors file."
        ) from exc


def make_batch(checkpoint: str | Path, num_envs: int, cfg: ControlGainConfig) -> LCVGBatch:
    """The env's batched core as a user gets it (default action scaling), without a reach goal."""
    from lcvg_env.env.batch import LCVGBatch
    from lcvg_env.env.config import EnvConfig

    return LCVGBatch(
        checkpoint,
        num_envs,
        EnvConfig(
            task="none",
            device=cfg.device,
            dtype=cfg.dtype,
            region=cfg.region,
            actuation=cfg.actuation,
        ),
    )


def _fmt(x: float | None, pattern: str = "{:.2f}") -> str:
    return "n/a" if x is None else pattern.format(x)


def render_tables(result: ControlGainResult) -> tuple[Any, Any, Any]:
    """Rich tables: every direction x fraction x steps, the summary per fraction x steps, the no-op."""
    from rich.table import Table

    meta = result.meta
    title = (
        f"lcvg control-gain: {meta.get('checkpoint', '')} from {meta.get('starts', '')} real start frames "
        f"({meta.get('data', '')}), detector {meta.get('detector', '')}"
    )
    table = Table(title=title)
    heads = ("dir", "fraction", "px/step", "steps", "gain", "cross-axis", "lost")
    for col in (*heads, "M centroid gain", "M centroid cross-axis"):
        table.add_column(col, justify="right")
    for r in result.rows():
        table.add_row(
            r["direction"],
            f"{r['fraction']:.0%}",
            f"{r['commanded_px_per_step']:.2f}",
            str(r["steps"]),
            _fmt(r["gain"]),
            _fmt(r["cross"]),
            f"{r['lost']:.0%}",
            _fmt(r["centroid_gain"]),
            _fmt(r["centroid_cross"]),
        )
    summary = Table(title="summary over the 8 directions (medians over start frames; detector)")
    for col in ("fraction", "steps", "median gain", "worst gain", "", "max cross-axis", ""):
        summary.add_column(col, justify="right")
    for r in result.summary():
        summary.add_row(
            f"{r['fraction']:.0%}",
            str(r["steps"]),
            _fmt(r["median_gain"]),
            _fmt(r["worst_gain"]),
            r["worst_gain_direction"] or "",
            _fmt(r["max_cross"]),
            r["max_cross_direction"] or "",
        )
    noop = Table(title="no-op command (action 0): displacement from the start frame (px, median)")
    for col in ("steps", "detected tip", "lost", "M centroid"):
        noop.add_column(col, justify="right")
    for r in result.noop():
        noop.add_row(str(r["steps"]), _fmt(r["tip_px"]), f"{r['lost']:.0%}", _fmt(r["centroid_px"]))
    return table, summary, noop
