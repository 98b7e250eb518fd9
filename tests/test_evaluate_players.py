"""``lcvg evaluate`` on two-player data: M against the union of the players' masks, the players located by
colour against ``players_px``, and the detection distance skipped with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.evaluation.cli import ground_truth_lines
from lcvg_env.evaluation.masks import FOREGROUND_KEY, mask_iou_summary, with_foreground
from lcvg_env.evaluation.video import OPTIONAL_METRICS, EvalConfig, evaluate
from lcvg_env.metrics.players import COURT_COLOUR
from tests.env.conftest import make_checkpoint
from tests.test_control_gain_players import tennis_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_with_foreground_is_the_arm_or_the_union_of_the_players() -> None:
    a, b = np.zeros((1, 2, 2), bool), np.zeros((1, 2, 2), bool)
    a[0, 0, 0], b[0, 1, 1] = True, True
    union = with_foreground({"ours_mask": a, "opponent_mask": b, "players_px": np.zeros((1, 2, 2))})
    np.testing.assert_array_equal(union[FOREGROUND_KEY], a | b)
    arm = with_foreground({"arm_mask": a, "objects_mask": b})
    np.testing.assert_array_equal(arm[FOREGROUND_KEY], a)  # the pusher's arm, not its objects
    assert FOREGROUND_KEY not in with_foreground({"tip_px": np.zeros((1, 2))})
    assert with_foreground(None) is None


@pytest.fixture
def court_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mask network finds what is not grass: the two players, exactly."""
    from lcvg_env.models import LayeredGenerator

    grass = torch.tensor(COURT_COLOUR, dtype=torch.float32)[None, :, None, None] / 127.5 - 1.0
    monkeypatch.setattr(
        LayeredGenerator, "mask", lambda self, x: ((x - grass).abs().amax(1, keepdim=True) > 0.2).float()
    )


def test_evaluate_scores_the_players(tmp_path: Path, court_mask: None) -> None:
    data = tennis_data(tmp_path / "data", episodes=2, frames=4)  # both players 1 px right per frame
    ckpt = make_checkpoint(tmp_path / "tiny64.safetensors", 64)
    result = evaluate(ckpt, data, EvalConfig(frames=4, skip=OPTIONAL_METRICS))
    assert result.meta["mask_net_real"]["iou"] > 0.6  # the union: one player alone would give under 0.5
    copy = result.rows["copy_first_frame"]
    assert abs(copy["player_error_px"] - 2.0) < 0.2  # still at frame 0: 1, 2, 3 px behind
    assert copy["player_missing_rate"] == 0.0 and result.rows["model"]["player_error_px"] is not None
    assert result.rows["model"]["m_iou_generated"] is not None
    assert result.meta["players_controlled"] == 2  # the data's players_px count: one control each
    assert any(line.startswith("driven per player: 2 foregrounds") for line in ground_truth_lines(result))
    assert "two-player" in result.unavailable["detection"]
    floor = result.meta["player_locator_real"]
    assert floor["median_px"] < 0.2 and floor["missed_rate"] == 0.0
    assert any(
        line.startswith("player locator (colour) on real frames") for line in ground_truth_lines(result)
    )


def test_players_option_sets_the_controls_per_foreground(tmp_path: Path, court_mask: None) -> None:
    data = tennis_data(tmp_path / "data", episodes=1, frames=3)
    ckpt = make_checkpoint(tmp_path / "tiny64.safetensors", 64)
    result = evaluate(ckpt, data, EvalConfig(frames=3, skip=OPTIONAL_METRICS, players=1))
    assert result.meta["players_controlled"] == 1  # the paper's protocol: one control for the whole mask
    with pytest.raises(ValueError, match="players must be 1 to 4"):
        EvalConfig(players=0)


def test_training_mask_check_uses_the_players(tmp_path: Path, court_mask: None) -> None:
    from lcvg_env.checkpoint import load_checkpoint

    data = tennis_data(tmp_path / "data", episodes=1, frames=3)
    generator = load_checkpoint(make_checkpoint(tmp_path / "tiny64.safetensors", 64)).generator
    summary = mask_iou_summary(generator, data, split="test")
    assert summary is not None and summary["iou"] > 0.6 and summary["frames"] == 3
