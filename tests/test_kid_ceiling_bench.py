"""benchmarks/kid_ceiling.py: the env's sets from real start frames (no action, a random action, no-ops)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcvg_env.env.vector import LCVGVectorEnv
from tests.conftest import load_script
from tests.env.test_multi_foreground import perfect_generator, picture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_no_action_renders_the_start_and_a_random_action_moves_it(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_script("benchmarks/kid_ceiling.py")
    venv = LCVGVectorEnv(2, tiny_checkpoint, task="none", max_displacement=3.0)
    perfect_generator(venv.core.sim, monkeypatch)  # draws the moved mask exactly: the sets show the motion
    starts = np.stack([picture((10, 10, 6)), picture((14, 8, 5)), picture((6, 16, 6))])  # 3 frames, batch 2
    sets = bench.env_sets(venv, starts, still_steps=3, seed=0)
    assert list(sets) == ["1 step, no action", "1 step, random action", "3 steps, no action"]
    for frames in sets.values():
        assert frames.shape == starts.shape and frames.dtype == np.uint8
    np.testing.assert_array_equal(sets["1 step, no action"], starts)  # nothing moves, nothing drifts
    np.testing.assert_array_equal(sets["3 steps, no action"], starts)
    moved = [not np.array_equal(a, b) for a, b in zip(sets["1 step, random action"], starts, strict=True)]
    assert sum(moved) >= 2  # uniform actions of up to 3 px move the squares
    redraw = bench.env_sets(venv, starts, still_steps=3, seed=0, redraw_only=True)
    assert list(redraw) == ["1 step, no action"]
    np.testing.assert_array_equal(redraw["1 step, no action"], starts)


def test_an_env_id_gives_its_settings_without_its_model_or_task() -> None:
    bench = load_script("benchmarks/kid_ceiling.py")
    settings = bench.env_settings("LCVG-AtariTennis-v0")
    assert settings["players"] == 2 and settings["region"] == "data" and len(settings["player_colours"]) == 2
    assert "name" not in settings and "task" not in settings
    assert bench.env_settings(None) == {} and bench.env_settings("LCVG-Pusher-v0") == {}
