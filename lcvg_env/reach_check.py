"""Scripted reach judged by the independent tip detector, not by the model's own mask.

The env's reach task (:mod:`lcvg_env.env.task`) steers and scores by the centroid of the binarized mask
of the model's own mask network M: a model whose mask follows the command while the rendered arm does
not still scores well by it. This check keeps the env's episodes (its start frames, its goal sampling,
its success radius) and replaces the judge: a scripted controller reads the gripper tip from the
independent tip detector (:mod:`lcvg_env.metrics.detector`, trained on real frames) applied to the
clean generated frame (:attr:`LCVGVectorEnv.frames <lcvg_env.env.vector.LCVGVectorEnv.frames>`, without
the goal cross), and commands

    a = clip((goal - tip) / max_displacement, -1, 1)        (the no-op where the tip is not found)

in the action's translation entries. An episode succeeds when the *detected* tip comes within the
success radius of the goal at some step 1..T. Every episode runs the full horizon T (the registered
``max_episode_steps``); the env's own criterion (M's centroid within the radius, ``info["is_success"]``)
is recorded on the same rollouts, labelled as the model's own view.

With a dataset (``data_dir``) the goals are also checked against where the tip can be: the share of the
env's goal region farther than the success radius from every ``tip_px`` of the data (goals no real arm
position reaches), and the success rate over the episodes whose goal is reachable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lcvg_env.control_gain import Detector
from lcvg_env.env.registration import ENV_IDS

if TYPE_CHECKING:
    from lcvg_env.env.task import ReachTask
    from lcvg_env.env.vector import LCVGVectorEnv

PUSHER_MAX_STEPS = next(spec.max_episode_steps for spec in ENV_IDS if spec.id == "LCVG-Pusher-v0")
"""The horizon of ``LCVG-Pusher-v0`` (100 steps)."""
M_CRITERION = "M-centroid criterion (the model's own mask)"


@dataclass
class ReachCheckConfig:
    """Settings of one reach check."""

    episodes: int = 50
    """Episodes, stepped together as one vector env (sub-env i seeded with ``seed + i``)."""
    max_steps: int = PUSHER_MAX_STEPS
    """Horizon T: success counts at steps 1..T."""
    seed: int = 0
    """Seed of the vector env's reset (start frames and goals)."""
    detector: str = "pusher"
    """Tip detector: a packaged name or a detector file."""
    device: str = "cpu"
    dtype: str = "bfloat16"
    """The env's generator dtype (as a user runs it)."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.max_steps < 1:
            raise ValueError(f"episodes and max_steps must be >= 1, got {self.episodes}, {self.max_steps}.")


def detect_tips(detector: Detector, frames: np.ndarray) -> np.ndarray:
    """Tip positions (B, 2) float32 (x, y) px of uint8 frames (B, H, W, 3); NaN where not found."""
    from lcvg_env.metrics.detector import as_unit_frames

    det = detector.detect(as_unit_frames(frames))  # float (B, 3, H, W) in [-1, 1]
    found = np.asarray(det.found, dtype=bool)
    return np.where(found[:, None], np.asarray(det.xy, dtype=np.float32), np.nan).astype(np.float32)


def reach_actions(
    tips: np.ndarray, goals: np.ndarray, max_displacement: float, right: np.ndarray, down: np.ndarray
) -> np.ndarray:
    """Actions (B, dims): ``clip((goal - tip) / max_displacement, -1, 1)`` along ``right`` (the unit +x
    action, (dims,)) and ``down`` (+y); the no-op (0) where the tip is NaN (not found)."""
    step = np.clip((goals - tips) / max_displacement, -1.0, 1.0)  # (B, 2) in action units
    step = np.nan_to_num(step, nan=0.0)
    return (step[:, :1] * right + step[:, 1:] * down).astype(np.float32)


def _first_hit(first: np.ndarray, hit: np.ndarray, t: int) -> None:
    """Record step ``t`` in ``first`` (B,) for rows that hit now and never did before (0 = never)."""
    first[hit & (first == 0)] = t


@dataclass
class ReachResult:
    """Per-episode figures of one reach check."""

    first_success: np.ndarray
    """(E,) int: first step at which the detected tip is within the radius; 0 = never."""
    model_first_success: np.ndarray
    """(E,) int: the same by the env's own criterion (M's centroid, ``info["is_success"]``)."""
    final_distance_px: np.ndarray
    """(E,) detected tip -> goal distance at step T; NaN where the tip is not found then."""
    min_distance_px: np.ndarray
    """(E,) the smallest detected distance over steps 1..T; NaN if never found."""
    lost: np.ndarray
    """(E, T) bool: no tip detected at step t (1..T)."""
    start_found: np.ndarray
    """(E,) bool: the tip is detected in the start frame."""
    goals: np.ndarray
    """(E, 2) goals (x, y) px."""
    success_radius: float
    max_displacement: float
    goal_reachable: np.ndarray | None = None
    """(E,) bool: a ``tip_px`` of the data lies within the radius of the goal (None without data)."""
    coverage: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ok, m_ok = self.first_success > 0, self.model_first_success > 0
        final = self.final_distance_px
        out: dict[str, Any] = {
            "episodes": len(ok),
            "max_steps": int(self.lost.shape[1]),
            "success_radius_px": round(self.success_radius, 4),
            "success_rate": round(float(ok.mean()), 4),
            "mean_steps_to_success": _rounded(self.first_success[ok].mean()) if ok.any() else None,
            "median_final_distance_px": _rounded(np.nanmedian(final)) if np.isfinite(final).any() else None,
            "final_not_found": int(np.isnan(final).sum()),
            "median_min_distance_px": _median_or_none(self.min_distance_px),
            "no_detection_share": round(float(self.lost.mean()), 4),
            "start_frames_with_tip": int(self.start_found.sum()),
            "m_centroid_success_rate": round(float(m_ok.mean()), 4),
            "m_centroid_mean_steps_to_success": _rounded(self.model_first_success[m_ok].mean())
            if m_ok.any()
            else None,
        }
        if self.goal_reachable is not None:
            reach = self.goal_reachable
            out["reachable_goals"] = int(reach.sum())
            out["success_rate_reachable_goals"] = round(float(ok[reach].mean()), 4) if reach.any() else None
            out["success_rate_unreachable_goals"] = (
                round(float(ok[~reach].mean()), 4) if (~reach).any() else None
            )
        return out

    def to_json(self) -> dict[str, Any]:
        episodes = [
            {
                "goal_px": [round(float(v), 2) for v in self.goals[i]],
                "steps_to_success": int(self.first_success[i]) or None,
                "m_centroid_steps_to_success": int(self.model_first_success[i]) or None,
                "final_distance_px": _rounded(self.final_distance_px[i]),
                "no_detection_share": round(float(self.lost[i].mean()), 4),
                "goal_reachable": None if self.goal_reachable is None else bool(self.goal_reachable[i]),
            }
            for i in range(len(self.goals))
        ]
        return {"meta": self.meta, "summary": self.summary(), "coverage": self.coverage, "episodes": episodes}


def _rounded(x: float) -> float | None:
    return round(float(x), 3) if np.isfinite(x) else None


def _or(value: Any, default: str) -> Any:
    return default if value is None else value


def _median_or_none(values: np.ndarray) -> float | None:
    return _rounded(np.nanmedian(values)) if np.isfinite(values).any() else None


def run_reach(env: LCVGVectorEnv, detector: Detector, max_steps: int, seed: int) -> ReachResult:
    """Reset ``env`` (reach task, no autoreset: ``terminate_on_success=False``, no ``max_episode_steps``)
    with ``seed`` and drive every sub-env for ``max_steps`` steps by the detected tip."""
    if env.cfg.task != "reach" or env.cfg.terminate_on_success or env.max_episode_steps is not None:
        raise ValueError(
            "run_reach needs a reach env that never resets by itself: task='reach', "
            "terminate_on_success=False, max_episode_steps=None (see make_env)."
        )
    _, info = env.reset(seed=seed)
    goals = np.asarray(info["goal_px"], dtype=np.float32)  # (E, 2)
    controls, radius = env.controls, float(env.task.success_radius)
    right, down = controls.discrete(4), controls.discrete(2)  # unit +x / +y actions (DISCRETE_ACTIONS)
    e = env.num_envs
    first, model_first = np.zeros(e, dtype=np.int64), np.zeros(e, dtype=np.int64)
    lost = np.zeros((e, max_steps), dtype=bool)
    min_dist = np.full(e, np.nan, dtype=np.float32)
    tips = detect_tips(detector, env.frames)
    start_found = ~np.isnan(tips[:, 0])
    for t in range(1, max_steps + 1):
        actions = reach_actions(tips, goals, env.cfg.max_displacement, right, down)
        _, _, _, _, info = env.step(actions)
        tips = detect_tips(detector, env.frames)
        dist = np.linalg.norm(tips - goals, axis=1)  # (E,) NaN where not found
        lost[:, t - 1] = np.isnan(dist)
        min_dist = np.fmin(min_dist, dist)
        _first_hit(first, np.nan_to_num(dist, nan=np.inf) <= radius, t)
        _first_hit(model_first, np.asarray(info["is_success"], dtype=bool), t)
    return ReachResult(
        first_success=first,
        model_first_success=model_first,
        final_distance_px=dist.astype(np.float32),
        min_distance_px=min_dist,
        lost=lost,
        start_found=start_found,
        goals=goals,
        success_radius=radius,
        max_displacement=float(env.cfg.max_displacement),
    )


def make_env(checkpoint: Any, cfg: ReachCheckConfig) -> LCVGVectorEnv:
    """The reach env of ``checkpoint`` as registered (goal margin, success radius, action scaling), with
    ``cfg.episodes`` sub-envs that run the whole horizon (no termination, no autoreset)."""
    from lcvg_env.env.vector import LCVGVectorEnv

    return LCVGVectorEnv(
        cfg.episodes,
        checkpoint,
        max_episode_steps=None,
        task="reach",
        terminate_on_success=False,
        device=cfg.device,
        dtype=cfg.dtype,
    )


def data_tips(data_dir: str | Path, split: str, size: tuple[int, int]) -> np.ndarray:
    """Every ``tip_px`` (N, 2) (x, y) of a split's annotations, at the model's frame ``size``."""
    from lcvg_env.data import open_episodes, rescale_annotations

    tips = []
    for ep in open_episodes(data_dir, split=split):
        ann = ep.annotations()
        if ann is None or "tip_px" not in ann:
            raise ValueError(
                f"{data_dir} ({split}): an episode has no tip_px annotation; pass a pusher dataset."
            )
        tips.append(rescale_annotations({"tip_px": ann["tip_px"]}, ep.stored_size(), size)["tip_px"])
    tips = np.concatenate(tips).astype(np.float32)  # (episodes * T, 2)
    return tips[np.isfinite(tips).all(axis=1)]


def nearest_distance(points: np.ndarray, tips: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Distance (P,) from each point (P, 2) to the nearest of ``tips`` (N, 2)."""
    out = np.empty(len(points), dtype=np.float32)
    for lo in range(0, len(points), chunk):
        diff = points[lo : lo + chunk, None, :] - tips[None]  # (c, N, 2)
        out[lo : lo + chunk] = np.sqrt((diff**2).sum(-1).min(axis=1))
    return out


def goal_coverage(task: ReachTask, tips: np.ndarray, samples: int = 20000, seed: int = 0) -> dict[str, Any]:
    """Where the env draws goals versus where the tip is in the data: the goal box, the tip's range, and
    the share of uniformly drawn goals farther than the success radius from every data tip."""
    rng = np.random.default_rng(seed)
    goals = rng.uniform(task.low, task.high, size=(samples, 2)).astype(np.float32)  # as sample_goal
    far = nearest_distance(goals, tips) > task.success_radius
    pct = np.percentile(tips, [0, 1, 99, 100], axis=0)  # (4, 2)
    return {
        "goal_box_px": {"x": [round(float(task.low[0]), 2), round(float(task.high[0]), 2)],
                        "y": [round(float(task.low[1]), 2), round(float(task.high[1]), 2)]},
        "tip_range_px": {"x_min_p1_p99_max": [round(float(v), 2) for v in pct[:, 0]],
                         "y_min_p1_p99_max": [round(float(v), 2) for v in pct[:, 1]]},
        "data_tips": len(tips),
        "unreachable_goal_share": round(float(far.mean()), 4),
        "samples": samples,
    }  # fmt: skip


def measure(
    checkpoint: Any,
    cfg: ReachCheckConfig,
    detector: Detector,
    data_dir: str | Path | None = None,
    split: str = "train",
) -> ReachResult:
    """Run the reach check on ``checkpoint``; with ``data_dir``, also check the goals against its tips."""
    env = make_env(checkpoint, cfg)
    try:
        # the data is read before the run, so a dataset without tip_px fails at once, not after it
        tips = None if data_dir is None else data_tips(data_dir, split, env.size)
        result = run_reach(env, detector, cfg.max_steps, cfg.seed)
        if tips is not None:
            result.coverage = goal_coverage(env.task, tips)
            result.coverage.update(data=str(data_dir), split=split)
            result.goal_reachable = nearest_distance(result.goals, tips) <= result.success_radius
        result.meta = {"config": asdict(cfg), "checkpoint": str(checkpoint),
                       "checkpoint_file": str(env.checkpoint_path),
                       "max_displacement": result.max_displacement}  # fmt: skip
    finally:
        env.close()
    return result


def render(result: ReachResult) -> list[str]:
    """The report as lines of text."""
    s = result.summary()
    na = "n/a"
    lines = [
        f"reach check: {s['episodes']} episodes x {s['max_steps']} steps, success radius "
        f"{s['success_radius_px']:g} px, max_displacement {result.max_displacement:g} px, "
        f"checkpoint {result.meta.get('checkpoint_file', '')}",
        "judged by the tip detector on the clean generated frame:",
        f"  success rate:                 {s['success_rate']:.2f} ({int((result.first_success > 0).sum())}"
        f" of {s['episodes']})",
        f"  mean steps to success:        {s['mean_steps_to_success'] if s['mean_steps_to_success'] else na}",
        f"  final distance to goal (med): {s['median_final_distance_px']} px at step {s['max_steps']} "
        f"(tip not found in {s['final_not_found']})",
        f"  closest distance (median):    {s['median_min_distance_px']} px",
        f"  steps with no detection:      {s['no_detection_share']:.1%} "
        f"(tip found in {s['start_frames_with_tip']} of {s['episodes']} start frames)",
        f"{M_CRITERION}:",
        f"  success rate:                 {s['m_centroid_success_rate']:.2f}",
        f"  mean steps to success:        {s['m_centroid_mean_steps_to_success'] or na}",
    ]
    if result.coverage is not None:
        c = result.coverage
        lines += [
            f"goals vs the data's tips ({c['data']}, split {c['split']}, {c['data_tips']} tip_px):",
            f"  goal box: x {c['goal_box_px']['x']}, y {c['goal_box_px']['y']} px",
            f"  tip range (min, p1, p99, max): x {c['tip_range_px']['x_min_p1_p99_max']}, "
            f"y {c['tip_range_px']['y_min_p1_p99_max']} px",
            f"  goals farther than the radius from every data tip: {c['unreachable_goal_share']:.1%} "
            f"of {c['samples']} drawn as the env draws them",
            f"  this run: {s['reachable_goals']} of {s['episodes']} goals within the radius of a data tip; "
            f"success rate on them: {_or(s['success_rate_reachable_goals'], na)}, on the others: "
            f"{_or(s['success_rate_unreachable_goals'], na)}",
        ]
    return lines
