"""Open-loop agreement of the learned simulator with the real system: the same start, the same actions.

``LCVG-Pusher-v0`` is a world model of the MuJoCo pushing scene that rendered its training data, and
``LCVG-PusherMuJoCo-v0`` (:mod:`lcvg_env.env.mujoco_env`) is that scene. This measurement asks how far
the learned simulator's arm drifts from the real one when both are driven blind by the same commands:

1. reset the MuJoCo env with seed ``seed + s`` (a real start state) and take its rendered frame;
2. reset the learned env from that frame (``options={"frame": frame}``, ``task="none"``): its start
   state is the real one (the mask M(x^0) of docs/method.md section 3 is computed on the real frame);
3. drive both with the same action sequences for ``steps`` steps: ``walks`` smooth random walks (AR(1),
   :func:`random_walks`) and a constant push in each of the 8 directions of
   :func:`~lcvg_env.control_gain.direction_vectors` at full speed;
4. at the measured steps k, the distance between the tip the independent tip detector
   (:mod:`lcvg_env.metrics.detector`, trained on real frames) finds in the learned env's clean frame x^k
   and MuJoCo's TRUE tip (``info["tip_px"]``, the data's ``tip_px``).

Both envs move by the same ``max_displacement`` (the learned env's, resolved from its checkpoint; the
MuJoCo env's default for the same model is recorded beside it). The detector's own error on real frames
(the detector on MuJoCo's frame vs the true tip, same steps) is the floor under every figure, and the
true tip's distance from where it started says how far there was to go: a simulator whose arm never
moved would score that.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.control_gain import DIRECTIONS, Detector, direction_vectors
from lcvg_env.reach_check import detect_tips

FAMILIES = ("random walk", "constant push")
"""The action families; :meth:`OpenLoopResult.summary` also pools them as ``all``."""
REPORTED_STEPS = (1, 5, 10, 30)
"""Steps at which the distance is measured (those up to ``steps``, and ``steps`` itself)."""
RESAMPLES = 2000
"""Bootstrap resamples of the start states behind each median's 90 % interval (:func:`median_interval`)."""


@dataclass
class OpenLoopConfig:
    """Settings of one open-loop agreement measurement."""

    starts: int = 50
    """Real start states: the MuJoCo env reset with seeds ``seed .. seed + starts - 1``."""
    steps: int = 30
    """Steps of every action sequence."""
    seed: int = 0
    """First start seed; the random walks are drawn from ``numpy.random.default_rng(seed)``."""
    walks: int = 8
    """Random-walk sequences per start (beside the 8 constant pushes)."""
    correlation: float = 0.9
    """AR(1) coefficient of the random walks: a_t = rho a_{t-1} + sqrt(1 - rho^2) std e_t."""
    walk_std: float = 0.5
    """Stationary standard deviation of each action component of a random walk (before the clip to
    [-1, 1])."""
    detector: str = "pusher"
    """Tip detector: a packaged name or a detector file."""
    device: str = "cpu"
    """Torch device of the learned env."""
    dtype: str = "bfloat16"
    """The learned env's generator dtype (as a user runs it)."""
    threads: int | None = 1
    """Torch CPU threads of the learned env's steps (None: the caller's)."""
    region: str = "none"
    """The env's ``EnvConfig.region``: ``none`` or ``data`` (docs/env.md)."""
    actuation: str = "direct"
    """The env's ``EnvConfig.actuation``: ``direct`` or ``data`` (docs/env.md)."""

    def __post_init__(self) -> None:
        if self.starts < 1 or self.steps < 1 or self.walks < 0:
            raise ValueError(
                "starts and steps must be >= 1 and walks >= 0, "
                f"got {self.starts}, {self.steps}, {self.walks}."
            )
        if not 0.0 <= self.correlation < 1.0:
            raise ValueError(f"correlation must be in [0, 1), got {self.correlation!r}.")
        if not self.walk_std > 0:
            raise ValueError(f"walk_std must be > 0, got {self.walk_std!r}.")

    @property
    def measured_steps(self) -> tuple[int, ...]:
        """The steps of :data:`REPORTED_STEPS` up to ``steps``, and ``steps`` itself."""
        return tuple(sorted({k for k in REPORTED_STEPS if k <= self.steps} | {self.steps}))

    @property
    def sequences(self) -> int:
        """Action sequences per start: the random walks, then the 8 pushes."""
        return self.walks + len(DIRECTIONS)


def random_walks(
    rng: np.random.Generator, count: int, steps: int, correlation: float, std: float
) -> np.ndarray:
    """``count`` smooth random action sequences (count, steps, 2) float32 in [-1, 1]: a stationary AR(1)
    process per component, a_0 ~ N(0, std^2), a_t = rho a_{t-1} + sqrt(1 - rho^2) std e_t, clipped."""
    noise = rng.standard_normal((count, steps, 2))
    out = np.empty_like(noise)
    out[:, 0] = std * noise[:, 0]
    innovation = math.sqrt(1.0 - correlation**2) * std
    for t in range(1, steps):
        out[:, t] = correlation * out[:, t - 1] + innovation * noise[:, t]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def constant_pushes(steps: int) -> np.ndarray:
    """(8, steps, 2) float32: full-speed pushes along the unit directions E, NE, N, ... (y down)."""
    return np.repeat(direction_vectors()[:, None, :], steps, axis=1).astype(np.float32)


@dataclass
class OpenLoopResult:
    """Per-sequence positions of one measurement: S starts x N sequences x K measured steps."""

    learned_tip: np.ndarray
    """(S, N, K, 2) the detector's tip on the learned env's clean frame; NaN where not found."""
    true_tip: np.ndarray
    """(S, N, K, 2) MuJoCo's true tip (``info["tip_px"]``)."""
    real_detected: np.ndarray
    """(S, N, K, 2) the detector's tip on MuJoCo's frame (the detector's floor); NaN where not found."""
    start_tip: np.ndarray
    """(S, 2) the true tip of each start state."""
    at_edge: np.ndarray
    """(S, N, K) bool: MuJoCo's end-effector target had stopped at the workspace's edge by step k."""
    family: np.ndarray
    """(N,) index into :data:`FAMILIES` of each sequence."""
    steps: tuple[int, ...]
    """The K measured steps."""
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{family or ``all``: {step: figures}} with, over the family's sequences of every start: the
        median and 90th percentile of the learned-vs-true tip distance (px, where the tip is found), the
        share of learned frames without a tip, the same for the detector on the real frames (the floor),
        the true tip's median distance from its start, the share of targets at the workspace's edge, and
        the distance's median and 90th percentile over the sequences whose target has not reached the edge
        (``in_workspace_*``: where the real arm went where it was told; the learned simulator knows no edge
        but the data's)."""
        learned = np.linalg.norm(self.learned_tip - self.true_tip, axis=-1)  # (S, N, K), NaN: not found
        floor = np.linalg.norm(self.real_detected - self.true_tip, axis=-1)
        moved = np.linalg.norm(self.true_tip - self.start_tip[:, None, None], axis=-1)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        groups = [(name, self.family == i) for i, name in enumerate(FAMILIES)]
        for name, rows in [*groups, ("all", np.ones_like(self.family, dtype=bool))]:
            if not rows.any():
                continue
            out[name] = {
                str(k): _figures(
                    learned[:, rows, j], floor[:, rows, j], moved[:, rows, j], self.at_edge[:, rows, j]
                )
                for j, k in enumerate(self.steps)
            }
        return out

    def push_offsets(self) -> dict[str, dict[str, list[float] | None]]:
        """{direction: {step: [dx, dy]}}: the mean over the start states of the learned tip minus the true
        tip (px, where the tip is found; None where it never is) under each constant push. Where the two
        arms stop at different edges, or one drifts sideways, this says which way."""
        out: dict[str, dict[str, list[float] | None]] = {}
        pushes = np.flatnonzero(self.family == FAMILIES.index("constant push"))
        for (name, _), col in zip(DIRECTIONS, pushes, strict=False):
            offset = self.learned_tip[:, col] - self.true_tip[:, col]  # (S, K, 2)
            out[name] = {}
            for j, k in enumerate(self.steps):
                found = np.isfinite(offset[:, j]).all(axis=1)
                mean = offset[found, j].mean(axis=0) if found.any() else None
                out[name][str(k)] = None if mean is None else [round(float(v), 3) for v in mean]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "steps": list(self.steps),
            "summary": self.summary(),
            "push_offsets": self.push_offsets(),
        }

    def save_positions(self, path: str | Path) -> Path:
        """Every sequence's positions as a plain .npz (no pickled objects; ``np.load(path)`` reads it):
        ``learned_tip``, ``true_tip``, ``real_detected`` (S, N, K, 2) px, ``start_tip`` (S, 2),
        ``at_edge`` (S, N, K), ``family`` (N,) (index into ``families``), ``steps`` (K,),
        ``families`` and ``directions`` (the constant pushes' order). Written aside, then renamed."""
        from lcvg_env.atomic import atomic_path

        arrays = {
            "learned_tip": self.learned_tip,
            "true_tip": self.true_tip,
            "real_detected": self.real_detected,
            "start_tip": self.start_tip,
            "at_edge": self.at_edge,
            "family": self.family,
            "steps": np.asarray(self.steps),
            "families": np.asarray(FAMILIES),
            "directions": np.asarray([name for name, _ in DIRECTIONS]),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return Path(path)


def _figures(learned: np.ndarray, floor: np.ndarray, moved: np.ndarray, edge: np.ndarray) -> dict[str, Any]:
    """Figures of one family at one step from (S, n) arrays: S start states x n sequences each."""
    return {
        "sequences": int(learned.size),
        "median_px": _percentile(learned, 50),
        "median_ci90_px": median_interval(learned),
        "p90_px": _percentile(learned, 90),
        "not_found_share": round(float(np.isnan(learned).mean()), 4),
        "floor_median_px": _percentile(floor, 50),
        "floor_p90_px": _percentile(floor, 90),
        "floor_not_found_share": round(float(np.isnan(floor).mean()), 4),
        "true_tip_moved_median_px": _percentile(moved, 50),
        "at_edge_share": round(float(edge.mean()), 4),
        "in_workspace_sequences": int((~edge).sum()),
        "in_workspace_median_px": _percentile(learned[~edge], 50),
        "in_workspace_p90_px": _percentile(learned[~edge], 90),
    }


def median_interval(
    values: np.ndarray, level: float = 0.9, resamples: int = RESAMPLES, seed: int = 0
) -> list[float] | None:
    """A ``level`` bootstrap interval [lo, hi] (px) of the median of ``values`` (S, n), NaN where the tip was
    not found: the S start states are drawn with replacement, each with all its n sequences (the
    sequences of one start share its frame and are not independent), and the median over the found
    values of each resample is taken; percentile interval, fixed ``seed`` (the same result reprints the
    same interval). None with fewer than 2 start states or nothing found. It says how far the median
    would move with another set of start states of the same kind: a target inside it is not reliably
    met or missed."""
    if values.ndim != 2 or values.shape[0] < 2 or not np.isfinite(values).any():
        return None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.shape[0], size=(resamples, values.shape[0]))  # (R, S) start indices
    with warnings.catch_warnings():  # a resample of starts without a found tip: dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(values[draws].reshape(resamples, -1), axis=1)  # (R, S n) -> (R,)
    medians = medians[np.isfinite(medians)]
    if medians.size == 0:
        return None
    lo, hi = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return [round(float(lo), 3), round(float(hi), 3)]


def _percentile(values: np.ndarray, q: float) -> float | None:
    found = values[np.isfinite(values)]
    return round(float(np.percentile(found, q)), 3) if found.size else None


def _real_rollouts(
    real: Any, seed: int, actions: np.ndarray, steps: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Every sequence of ``actions`` (N, T, 2) from MuJoCo's start of ``seed``: the start frame and tip,
    and at the measured steps the true tip, the clean frame and whether the target stopped at the edge."""
    n, k = len(actions), len(steps)
    tips, edge = np.zeros((n, k, 2), np.float32), np.zeros((n, k), bool)
    frames = np.zeros((n, k, *real.frame.shape), np.uint8)
    start = None
    for i, sequence in enumerate(actions):
        _, info = real.reset(seed=seed)
        if start is None:
            start = (real.frame, info["tip_px"])
        elif not np.array_equal(real.frame, start[0]):
            raise RuntimeError(f"The MuJoCo env reset with seed {seed} gave two different start frames.")
        target, commanded = info["target_px"].astype(np.float64), np.zeros(2)
        for t, action in enumerate(sequence, start=1):
            _, _, _, _, info = real.step(action)
            commanded += np.clip(action, -1, 1) * real.max_displacement
            if t in steps:
                j = steps.index(t)
                tips[i, j], frames[i, j] = info["tip_px"], real.frame
                edge[i, j] = np.linalg.norm(info["target_px"] - (target + commanded)) > 1e-3
    return {"frame": start[0], "start_tip": start[1], "tip": tips, "frames": frames, "edge": edge}


def _learned_rollouts(
    venv: Any, frame: np.ndarray, actions: np.ndarray, steps: tuple[int, ...]
) -> np.ndarray:
    """The learned env's clean frames (N, K, H, W, 3) at the measured steps, every sub-env reset from
    ``frame`` and driven by its own sequence of ``actions`` (N, T, 2)."""
    venv.reset(seed=0, options={"frame": frame})
    out = []
    for t in range(1, actions.shape[1] + 1):
        venv.step(actions[:, t - 1])
        if t in steps:
            out.append(venv.frames)
    return np.stack(out, axis=1)  # (N, K, H, W, 3)


def _detect(detector: Detector, frames: np.ndarray) -> np.ndarray:
    """Tips (..., 2) of frames (..., H, W, 3); NaN where not found."""
    flat = frames.reshape(-1, *frames.shape[-3:])  # (M, H, W, 3)
    return detect_tips(detector, flat).reshape(*frames.shape[:-3], 2)


def make_envs(checkpoint: Any, cfg: OpenLoopConfig) -> tuple[Any, Any, dict[str, Any]]:
    """The learned vector env (one sub-env per sequence, no task, no time limit), the MuJoCo env moving
    by the same ``max_displacement`` at the model's frame size, and what was resolved (for ``meta``)."""
    from lcvg_env.env.mujoco_env import PusherMuJoCoEnv, learned_env_model
    from lcvg_env.env.vector import LCVGVectorEnv
    from lcvg_env.export.runner import file_digest

    venv = LCVGVectorEnv(
        cfg.sequences,
        checkpoint,
        task="none",
        device=cfg.device,
        dtype=cfg.dtype,
        threads=cfg.threads,
        region=cfg.region,
        actuation=cfg.actuation,
    )
    h, w = venv.size
    if h != w:
        raise ValueError(f"The MuJoCo env renders square frames; {checkpoint} makes {h}x{w} frames.")
    md = float(venv.cfg.max_displacement)
    path = venv.checkpoint_path  # None for a Checkpoint object made in memory
    _, _, mujoco_default = learned_env_model(checkpoint, "pusher")
    real = PusherMuJoCoEnv(size=h, max_displacement=md, learned_criterion=False)
    meta = {
        "checkpoint_file": str(path),
        "checkpoint_sha256": "" if path is None else file_digest(path),
        "max_displacement": md,
        "mujoco_default_max_displacement": float(mujoco_default),
        "size": h,
    }
    return venv, real, meta


def measure(checkpoint: Any, cfg: OpenLoopConfig, detector: Detector) -> OpenLoopResult:
    """Run the open-loop comparison of the module docstring for the world model ``checkpoint``."""
    venv, real, meta = make_envs(checkpoint, cfg)
    steps, n = cfg.measured_steps, cfg.sequences
    rng = np.random.default_rng(cfg.seed)
    walks = random_walks(rng, cfg.starts * cfg.walks, cfg.steps, cfg.correlation, cfg.walk_std)
    walks = walks.reshape(cfg.starts, cfg.walks, cfg.steps, 2)  # (S, walks, T, 2)
    pushes = constant_pushes(cfg.steps)
    shape = (cfg.starts, n, len(steps))
    learned, true, floor = (np.zeros((*shape, 2), np.float32) for _ in range(3))
    edge, start_tip = np.zeros(shape, bool), np.zeros((cfg.starts, 2), np.float32)
    try:
        for s in range(cfg.starts):
            actions = np.concatenate([walks[s], pushes])  # (N, T, 2)
            rollout = _real_rollouts(real, cfg.seed + s, actions, steps)
            learned[s] = _detect(detector, _learned_rollouts(venv, rollout["frame"], actions, steps))
            floor[s] = _detect(detector, rollout["frames"])
            true[s], edge[s], start_tip[s] = rollout["tip"], rollout["edge"], rollout["start_tip"]
    finally:
        venv.close()
        real.close()
    family = np.array([0] * cfg.walks + [1] * len(DIRECTIONS))
    meta = {**meta, "config": asdict(cfg), "measured_steps": list(steps)}
    return OpenLoopResult(learned, true, floor, start_tip, edge, family, steps, meta)


def render(result: OpenLoopResult) -> list[str]:
    """The report as lines of text: one table row per action family and measured step."""
    m, cfg = result.meta, result.meta["config"]
    na = "n/a"
    lines = [
        f"open-loop agreement: {cfg['starts']} MuJoCo start states (seeds {cfg['seed']}..."
        f"{cfg['seed'] + cfg['starts'] - 1}) x ({cfg['walks']} random walks + 8 constant pushes) x "
        f"{cfg['steps']} steps",
        f"learned env: {m['checkpoint_file']} (sha256 {m['checkpoint_sha256'][:12]}), max_displacement "
        f"{m['max_displacement']:g} px in both envs (the MuJoCo env's default for this model: "
        f"{m['mujoco_default_max_displacement']:g} px); learned env "
        f"actuation={cfg.get('actuation', 'direct')}, region={cfg.get('region', 'none')}",
        f"tip detector {cfg['detector']} on the learned env's clean frame vs MuJoCo's true tip (px):",
        f"{'family':<14} {'step':>4} {'median':>7} {'p90':>7} {'no tip':>7} | {'floor med':>9} {'p90':>6} "
        f"{'no tip':>7} | {'tip moved':>9} {'at edge':>7} | {'in workspace: n':>15} {'median':>7} {'p90':>6}",
    ]
    fmt = lambda v: na if v is None else f"{v:.2f}"  # noqa: E731
    summary = result.summary()
    for family, rows in summary.items():
        for step, f in rows.items():
            lines.append(
                f"{family:<14} {step:>4} {fmt(f['median_px']):>7} {fmt(f['p90_px']):>7} "
                f"{f['not_found_share']:>7.1%} | {fmt(f['floor_median_px']):>9} {fmt(f['floor_p90_px']):>6} "
                f"{f['floor_not_found_share']:>7.1%} | {fmt(f['true_tip_moved_median_px']):>9} "
                f"{f['at_edge_share']:>7.1%} | {f['in_workspace_sequences']:>15} "
                f"{fmt(f['in_workspace_median_px']):>7} {fmt(f['in_workspace_p90_px']):>6}"
            )
    intervals = [
        f"step {step} {fmt(f['median_px'])} [{fmt(ci[0])}, {fmt(ci[1])}]"
        for step, f in summary["all"].items()
        if (ci := f.get("median_ci90_px")) is not None
    ]
    if intervals:
        lines.append(
            "all: median with its 90 % interval from resampling the start states ("
            f"{RESAMPLES} resamples): " + "; ".join(intervals)
        )
    last = str(result.steps[-1])
    offsets = [
        f"{name} ({xy[0]:+.1f}, {xy[1]:+.1f})"
        for name, by_step in result.push_offsets().items()
        if (xy := by_step[last]) is not None
    ]
    if offsets:
        lines.append(
            f"constant pushes, mean learned tip - true tip at step {last} (px, y down): " + ", ".join(offsets)
        )
    lines.append(
        "floor: the detector on MuJoCo's own frame vs the true tip; tip moved: the true tip's median "
        "distance from its start (what a simulator that never moves would score); at edge: MuJoCo's "
        "target stopped at the workspace's edge; in workspace: the distance over the sequences whose "
        "target had not."
    )
    return lines
