"""The reach check: the controller's actions, closed-loop episodes with fake detectors of known answers on a
tiny random-weight env, the goal-coverage figures, and ``lcvg reach-check`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.control_gain import load_tip_detector
from lcvg_env.env.controls import ControlMap
from lcvg_env.env.task import ReachTask
from lcvg_env.metrics.detector import TipDetections
from lcvg_env.reach_check import (
    M_CRITERION,
    ReachCheckConfig,
    detect_tips,
    goal_coverage,
    make_env,
    reach_actions,
    run_reach,
)
from tests.conftest import RED, SQUARE_SIDE, write_square_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RIGHT, DOWN = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)


class PointDetector:
    """A fake detector that reports ``xy`` (B, 2) for every frame, or finds nothing (``found=False``)."""

    def __init__(self, xy: np.ndarray, found: bool = True) -> None:
        self.xy, self.found = np.asarray(xy, np.float32), found
        self.calls = 0

    def detect(self, frames: torch.Tensor) -> TipDetections:
        assert frames.dtype == torch.float32 and frames.shape[1] == 3  # (B, 3, H, W) in [-1, 1]
        self.calls += 1
        found = torch.full((len(frames),), self.found)
        xy = torch.from_numpy(self.xy.copy()) if self.found else torch.full((len(frames), 2), float("nan"))
        return TipDetections(xy=xy, found=found, score=found.float())


def record_actions(env) -> list[np.ndarray]:
    """Wrap ``env.step`` to keep every batch of actions it is given."""
    seen: list[np.ndarray] = []
    step = env.step

    def recording(actions):
        seen.append(np.array(actions))
        return step(actions)

    env.step = recording
    return seen


def test_actions_point_towards_the_goal_and_saturate():
    tips = np.array([[10, 10], [10, 10], [10, 10], [np.nan, np.nan]], np.float32)
    goals = np.array([[30, 10], [10, 8], [4, 16], [0, 0]], np.float32)
    actions = reach_actions(tips, goals, 4.0, RIGHT, DOWN)
    np.testing.assert_allclose(actions, [[1.0, 0.0], [0.0, -0.5], [-1.0, 1.0], [0.0, 0.0]])
    # Another control mode: the same move lands in its translation entries, the rest stays at 0.
    controls = ControlMap("rotation", (32, 32), 4.0, 0.2)
    rot = reach_actions(tips[:2], goals[:2], 4.0, controls.discrete(4), controls.discrete(2))
    np.testing.assert_allclose(rot, [[1.0, 0.0, 0.0], [0.0, -0.5, 0.0]])


def test_a_tip_found_at_the_goal_succeeds_at_the_first_step(tiny_checkpoint):
    env = make_env(tiny_checkpoint, ReachCheckConfig(episodes=4, max_steps=3))
    env.reset(seed=0)
    detector = PointDetector(env.core.goals)  # run_reach resets with the same seed: the same goals
    result = run_reach(env, detector, max_steps=3, seed=0)
    s = result.summary()
    assert s["success_rate"] == 1.0 and s["mean_steps_to_success"] == 1.0
    assert s["median_final_distance_px"] == 0.0 and s["no_detection_share"] == 0.0
    assert detector.calls == 1 + 3  # the start frame, then one detection per step
    np.testing.assert_array_equal(result.goals, env.core.goals)


def test_a_tip_never_found_fails_and_commands_nothing(tiny_checkpoint):
    env = make_env(tiny_checkpoint, ReachCheckConfig(episodes=3, max_steps=4))
    actions = record_actions(env)
    result = run_reach(env, PointDetector(np.zeros((3, 2)), found=False), max_steps=4, seed=1)
    s = result.summary()
    assert s["success_rate"] == 0.0 and s["mean_steps_to_success"] is None
    assert s["no_detection_share"] == 1.0 and s["median_final_distance_px"] is None
    assert len(actions) == 4 and all(np.all(a == 0) for a in actions)


def test_a_tip_that_follows_the_commands_reaches_the_goal(tiny_checkpoint):
    """A detected tip that moves exactly as commanded, 12 px right of the goal: 4 px steps towards it
    leave 8, 4, 0 px, inside the 2 px radius (32 px frames) at step 3."""
    env = make_env(tiny_checkpoint, ReachCheckConfig(episodes=2, max_steps=5))
    env.reset(seed=0)
    detector = PointDetector(env.core.goals + np.array([12.0, 0.0], np.float32))
    step = env.step

    def moving(actions):
        detector.xy = detector.xy + np.asarray(actions)[:, :2] * env.cfg.max_displacement
        return step(actions)

    env.step = moving
    actions = record_actions(env)
    result = run_reach(env, detector, max_steps=5, seed=0)
    assert result.success_radius == 2.0
    np.testing.assert_array_equal(result.first_success, [3, 3])
    np.testing.assert_allclose(actions[0], [[-1.0, 0.0], [-1.0, 0.0]])  # towards the goal, full speed
    np.testing.assert_allclose(result.final_distance_px, [0.0, 0.0], atol=1e-5)


def test_the_shared_red_detector_steers_from_the_clean_frame(tiny_checkpoint, red_detector):
    """With the conftest's red-square detector, the first action points from the square's centre to the
    goal; the goal cross drawn on the observation is not in the frame the detector sees."""
    env = make_env(tiny_checkpoint, ReachCheckConfig(episodes=1, max_steps=1))
    frame = np.full((32, 32, 3), 40, np.uint8)
    frame[4 : 4 + SQUARE_SIDE, 20 : 20 + SQUARE_SIDE] = RED
    obs, info = env.reset(seed=0, options={"frame": frame})
    assert not np.array_equal(obs[0], frame) and np.array_equal(env.frames[0], frame)
    tips = detect_tips(load_tip_detector("pusher"), env.frames)
    centre = np.array([20 + SQUARE_SIDE / 2, 4 + SQUARE_SIDE / 2], np.float32)
    np.testing.assert_allclose(tips[0], centre)
    action = reach_actions(tips, info["goal_px"], env.cfg.max_displacement, RIGHT, DOWN)[0]
    expected = np.clip((info["goal_px"][0] - centre) / env.cfg.max_displacement, -1, 1)
    np.testing.assert_allclose(action, expected, rtol=1e-6)


def test_goal_coverage_counts_goals_no_data_tip_reaches():
    task = ReachTask((64, 64), None, 0.15)  # goals in [9.6, 54.4]^2, radius 4 px
    xs = np.arange(0.0, 64.0, 1.0, dtype=np.float32)
    dense = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)  # a tip at every pixel
    assert goal_coverage(task, dense, samples=2000)["unreachable_goal_share"] == 0.0
    one = np.array([[32.0, 32.0]], np.float32)  # a single tip: only a disc of radius 4 is reachable
    share = goal_coverage(task, one, samples=20000)["unreachable_goal_share"]
    assert share == pytest.approx(1 - np.pi * 16 / 44.8**2, abs=0.01)


def test_cli_prints_both_criteria_and_writes_json(tmp_path, tiny_checkpoint, red_detector):
    from lcvg_env.cli import app

    data = write_square_dataset(tmp_path / "data", episodes=2, frames=4, tips=True)
    out = tmp_path / "out" / "reach.json"
    args = ["reach-check", str(tiny_checkpoint), "--episodes", "3", "--max-steps", "2", "--threads", "1"]
    args += ["--data", str(data), "--split", "test", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert M_CRITERION in result.output and "success rate" in result.output
    figures = json.loads(out.read_text())
    assert figures["summary"]["episodes"] == 3 and figures["summary"]["max_steps"] == 2
    assert figures["coverage"]["data_tips"] == 2 * 4 and len(figures["episodes"]) == 3


def test_cli_refuses_a_directory_as_json_before_running(tmp_path, tiny_checkpoint):
    from lcvg_env.cli import app

    result = CliRunner().invoke(app, ["reach-check", str(tiny_checkpoint), "--json", str(tmp_path)])
    assert result.exit_code == 1 and "is a directory" in result.output
