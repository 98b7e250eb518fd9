"""Open-loop agreement (lcvg_env.sim_to_real): the action sequences, the figures on known positions, and
short real runs (MuJoCo + a tiny random-weight model) checked against an independent MuJoCo rollout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.control_gain import DIRECTIONS, direction_vectors
from lcvg_env.metrics.detector import TipDetections
from lcvg_env.sim_to_real import (
    FAMILIES,
    OpenLoopConfig,
    OpenLoopResult,
    constant_pushes,
    measure,
    median_interval,
    random_walks,
    render,
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread) -> None:
    """One torch thread (tests/conftest.py)."""


def test_random_walks_are_smooth_seeded_and_in_range() -> None:
    a = random_walks(np.random.default_rng(0), 400, 30, 0.9, 0.5)
    assert a.shape == (400, 30, 2) and a.dtype == np.float32
    assert np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, random_walks(np.random.default_rng(0), 400, 30, 0.9, 0.5))
    lag1 = np.corrcoef(a[:, :-1].reshape(-1), a[:, 1:].reshape(-1))[0, 1]
    assert 0.85 < lag1 < 0.95  # AR(1) with rho 0.9 (the clip at 2 std barely changes it)
    assert 0.4 < a.std() < 0.55
    white = random_walks(np.random.default_rng(0), 400, 30, 0.0, 0.5)
    assert abs(np.corrcoef(white[:, :-1].reshape(-1), white[:, 1:].reshape(-1))[0, 1]) < 0.05


def test_constant_pushes_go_the_eight_ways_at_full_speed() -> None:
    pushes = constant_pushes(5)
    assert pushes.shape == (8, 5, 2)
    assert np.all(pushes == pushes[:, :1])  # constant in time
    np.testing.assert_allclose(np.linalg.norm(pushes[:, 0], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(pushes[0, 0], [1.0, 0.0], atol=1e-6)  # E
    np.testing.assert_allclose(pushes[2, 0], [0.0, -1.0], atol=1e-6)  # N is up: y down in the image


def test_config_measures_the_reported_steps_up_to_the_last() -> None:
    assert OpenLoopConfig().measured_steps == (1, 5, 10, 30)
    assert OpenLoopConfig(steps=3).measured_steps == (1, 3)
    assert OpenLoopConfig(steps=12).measured_steps == (1, 5, 10, 12)
    for bad, message in ((dict(steps=0), "steps"), (dict(correlation=1.0), "correlation")):
        with pytest.raises(ValueError, match=message):
            OpenLoopConfig(**bad)


def test_summary_on_known_positions() -> None:
    """2 starts x (1 walk + 1 push) x 2 steps, the learned tip off by known distances."""
    true = np.zeros((2, 2, 2, 2), np.float32)
    true[..., 0] = 10.0
    learned = true.copy()
    learned[:, 0, :, 0] += np.array([[1.0, 2.0], [3.0, 4.0]])  # walk: off by 1, 3 (step 1), 2, 4 (step 2)
    learned[0, 1, :, 1] += 5.0  # push, start 0: off by 5
    learned[1, 1] = np.nan  # push, start 1: tip not found
    floor = true + 0.5
    start_tip = np.array([[10.0, -2.0], [10.0, -4.0]], np.float32)  # the true tip moved 2 and 4 px
    edge = np.zeros((2, 2, 2), bool)
    edge[:, 1, 1] = True  # the push reached the edge by step 2
    result = OpenLoopResult(learned, true, floor, start_tip, edge, np.array([0, 1]), (1, 2))
    s = result.summary()
    assert list(s) == [*FAMILIES, "all"] and list(s["all"]) == ["1", "2"]
    walk1, push2, all1 = s["random walk"]["1"], s["constant push"]["2"], s["all"]["1"]
    assert walk1["median_px"] == pytest.approx(2.0) and walk1["p90_px"] == pytest.approx(2.8)
    assert walk1["not_found_share"] == 0 and walk1["sequences"] == 2
    assert push2["median_px"] == pytest.approx(5.0) and push2["not_found_share"] == 0.5
    assert push2["at_edge_share"] == 1.0 and s["random walk"]["2"]["at_edge_share"] == 0.0
    assert push2["in_workspace_sequences"] == 0 and push2["in_workspace_median_px"] is None
    all2 = s["all"]["2"]  # in workspace at step 2: the walks only, off by 2 and 4
    assert all2["in_workspace_sequences"] == 2 and all2["in_workspace_median_px"] == pytest.approx(3.0)
    assert all1["median_px"] == pytest.approx(3.0) and all1["not_found_share"] == 0.25
    assert all1["floor_median_px"] == pytest.approx(np.hypot(0.5, 0.5), abs=1e-3)
    assert all1["true_tip_moved_median_px"] == pytest.approx(3.0)
    assert all1["median_ci90_px"][0] <= all1["median_px"] <= all1["median_ci90_px"][1]
    assert result.push_offsets() == {"E": {"1": [0.0, 5.0], "2": [0.0, 5.0]}}  # start 1's push: no tip
    assert json.loads(json.dumps(result.to_json()))["summary"] == s
    result.meta = {
        "checkpoint_file": "m.safetensors",
        "checkpoint_sha256": "0" * 64,
        "max_displacement": 4.0,
        "mujoco_default_max_displacement": 4.0,
        "config": {"starts": 2, "seed": 0, "walks": 1, "steps": 2, "detector": "pusher"},
    }
    ci = all1["median_ci90_px"]
    lines = render(result)
    assert f"step 1 3.00 [{ci[0]:.2f}, {ci[1]:.2f}]" in lines[-3]
    assert lines[-2].endswith("at step 2 (px, y down): E (+0.0, +5.0)")


def test_median_interval_resamples_start_states_whole() -> None:
    """Starts of identical sequences: every resample's median is one start's value, so the interval is
    spanned by the starts' values; one start (or nothing found) gives no interval."""
    same = np.repeat(np.array([[1.0], [2.0], [3.0], [4.0], [5.0]]), 8, axis=1)  # (S=5, n=8)
    lo, hi = median_interval(same)
    assert 1.0 <= lo < 3.0 < hi <= 5.0
    assert median_interval(same) == [lo, hi]  # fixed seed: the same figures reprint the same interval
    assert median_interval(same, level=0.5)[1] - median_interval(same, level=0.5)[0] < hi - lo
    spread = np.linspace(0.0, 10.0, 40).reshape(5, 8)  # the same median, larger scatter across starts
    tight = np.full((5, 8), 5.0) + np.linspace(-0.1, 0.1, 8)
    wide_ci, tight_ci = median_interval(spread), median_interval(tight)
    assert tight_ci[0] <= 5.0 <= tight_ci[1] and tight_ci[1] - tight_ci[0] < wide_ci[1] - wide_ci[0]
    assert median_interval(same[:1]) is None and median_interval(np.full((4, 3), np.nan)) is None
    with_gaps = same.copy()
    with_gaps[0] = np.nan  # a start whose tip was never found: its draws add nothing
    assert median_interval(with_gaps)[0] >= 2.0


class FixedDetector:
    """Finds the tip at one fixed point in every frame (``found=False``: finds none)."""

    def __init__(self, xy: tuple[float, float], found: bool = True) -> None:
        self.xy, self.found = xy, found

    def detect(self, frames: torch.Tensor) -> TipDetections:
        n = len(frames)
        xy = torch.tensor(self.xy).repeat(n, 1) if self.found else torch.full((n, 2), float("nan"))
        return TipDetections(xy=xy, found=torch.full((n,), self.found), score=torch.zeros(n))


def test_short_real_run_pairs_each_step_with_mujocos_own_rollout(tiny_checkpoint) -> None:
    from lcvg_env.env.mujoco_env import PusherMuJoCoEnv

    cfg = OpenLoopConfig(starts=2, steps=3, seed=4, walks=1)
    result = measure(tiny_checkpoint, cfg, FixedDetector((10.0, 20.0)))
    assert result.learned_tip.shape == (2, 9, 2, 2) and result.steps == (1, 3)
    assert result.meta["max_displacement"] == result.meta["mujoco_default_max_displacement"] == 4.0
    assert result.meta["size"] == 32 and len(result.meta["checkpoint_sha256"]) == 64
    # The true tips are MuJoCo's own for the seed and actions: the NE push (sequence 2, after the walk).
    real = PusherMuJoCoEnv(size=32, learned_criterion=False)
    _, info = real.reset(seed=5)
    np.testing.assert_allclose(result.start_tip[1], info["tip_px"])
    for _ in range(3):
        _, _, _, _, info = real.step(direction_vectors()[1].astype(np.float32))
    np.testing.assert_allclose(result.true_tip[1, 2, 1], info["tip_px"], atol=1e-5)
    real.close()
    summary = result.summary()
    expected = np.linalg.norm(result.true_tip - np.array([10.0, 20.0]), axis=-1)  # (S, N, K)
    assert summary["all"]["3"]["median_px"] == pytest.approx(np.median(expected[:, :, 1]), abs=1e-3)
    assert summary["all"]["3"]["floor_median_px"] == summary["all"]["3"]["median_px"]  # same fake both
    lines = render(result)
    assert any(line.startswith("constant push") and line.split()[2] == "3" for line in lines)


def test_cli_prints_the_table_and_writes_json(tiny_checkpoint, tmp_path, red_detector) -> None:
    out = tmp_path / "open_loop.json"
    args = ["sim-to-real", str(tiny_checkpoint), "--starts", "1", "--steps", "2", "--walks", "1"]
    positions = tmp_path / "deep" / "positions.npz"
    result = runner.invoke(app, [*args, "--json", str(out), "--positions", str(positions)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    with np.load(positions, allow_pickle=False) as saved:  # plain arrays, nothing pickled
        assert saved["learned_tip"].shape == saved["true_tip"].shape == (1, 9, 2, 2)
        assert saved["at_edge"].shape == (1, 9, 2) and list(saved["steps"]) == [1, 2]
        assert list(saved["directions"])[:2] == ["E", "NE"] and list(saved["family"]).count(1) == 8
    assert set(data["push_offsets"]) == {name for name, _ in DIRECTIONS}
    folder = runner.invoke(app, [*args, "--positions", str(tmp_path)])  # a folder, refused before the run
    assert folder.exit_code == 1 and "--positions" in folder.output and "positions.npz" in folder.output
    assert data["steps"] == [1, 2] and set(data["summary"]) == {*FAMILIES, "all"}
    assert data["summary"]["constant push"]["2"]["sequences"] == 8
    assert data["meta"]["config"]["threads"] == 1
    assert "random walk" in result.output and "max_displacement 4 px in both envs" in result.output
    assert "actuation=direct, region=none" in result.output  # the learned env's settings are printed
    missing = runner.invoke(app, [*args, "--actuation", "data"])  # the tiny model records no arm response
    assert missing.exit_code == 1 and "--actuator auto" in missing.output
    bad = runner.invoke(app, ["sim-to-real", str(tiny_checkpoint), "--steps", "0"])
    assert bad.exit_code == 1 and "steps must be >= 1" in bad.output
