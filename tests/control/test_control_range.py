"""The controls a model was trained on, and the env's data-derived action range."""

from __future__ import annotations

import numpy as np
import pytest

from lcvg_env.control.control_range import (
    ENV_DEFAULTS_KEY,
    FALLBACK_MAX_DISPLACEMENT,
    control_range_of_split,
    default_max_displacement,
    env_defaults,
    measure_control_range,
)
from tests.conftest import write_square_dataset


@pytest.mark.parametrize("speed", [2, 3])
def test_the_range_of_a_square_moving_right_is_its_speed(tmp_path, red_mask, tiny_checkpoint, speed):
    from lcvg_env.checkpoint import load_checkpoint

    root = write_square_dataset(tmp_path / "data", episodes=2, frames=6, speed=speed)
    measured = control_range_of_split(load_checkpoint(tiny_checkpoint), root, split="test")
    assert measured.pairs == 2 * 5
    assert measured.norm_p50 == pytest.approx(speed, abs=0.1)
    assert measured.axis_p99 == pytest.approx(speed, abs=0.1)  # |dx| = speed, |dy| = 0, pooled
    assert measured.max_displacement == pytest.approx(speed, abs=0.1)
    assert env_defaults(measured)["max_displacement"] == measured.max_displacement


def _two_squares(frames: int, speed: int) -> np.ndarray:
    """(T, 32, 32, 3) uint8: two red 4x4 squares on black, the top one moving right by ``speed`` px a frame,
    the bottom one left (rows 4-7 and 22-25)."""
    clip = np.zeros((frames, 32, 32, 3), np.uint8)
    for t in range(frames):
        clip[t, 4:8, 2 + speed * t : 6 + speed * t, 0] = 255
        clip[t, 22:26, 26 - speed * t : 30 - speed * t, 0] = 255
    return clip


def test_several_foregrounds_are_measured_each_on_its_own(tiny_generator, red_mask):
    clip = _two_squares(frames=5, speed=2)
    each = measure_control_range(tiny_generator, [clip], "translation", players=2)
    assert each.pairs == 2 * 4  # two components per frame pair
    assert each.axis_p99 == pytest.approx(2.0, abs=0.1)  # each square moves 2 px a step
    assert each.norm_p50 == pytest.approx(2.0, abs=0.1)
    union = measure_control_range(tiny_generator, [clip], "translation")
    assert union.pairs == 4
    assert union.axis_p99 > 10  # the union's fit lays one square onto the other: a jump, not a step


def test_players_must_be_positive(tiny_generator, red_mask):
    with pytest.raises(ValueError, match="players must be >= 1"):
        measure_control_range(tiny_generator, [_two_squares(3, 1)], "translation", players=0)


def test_no_foreground_anywhere_is_a_clear_error(tiny_generator, red_mask):
    clips = [np.zeros((4, 32, 32, 3), np.uint8)]  # black: no red pixels, empty masks
    with pytest.raises(ValueError, match="No frame pair with a foreground"):
        measure_control_range(tiny_generator, clips, "translation")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (None, FALLBACK_MAX_DISPLACEMENT),
        ({}, FALLBACK_MAX_DISPLACEMENT),
        ({ENV_DEFAULTS_KEY: {"max_displacement": 2.4}}, 2.4),
        ({ENV_DEFAULTS_KEY: {"max_displacement": float("nan")}}, FALLBACK_MAX_DISPLACEMENT),
        ({ENV_DEFAULTS_KEY: {"max_displacement": "2"}}, FALLBACK_MAX_DISPLACEMENT),
        ({ENV_DEFAULTS_KEY: None}, FALLBACK_MAX_DISPLACEMENT),
    ],
)
def test_default_max_displacement_reads_the_checkpoint_or_falls_back(extra, expected):
    assert default_max_displacement(extra) == expected


def test_the_env_uses_the_checkpoints_range_unless_told_otherwise(tmp_path, tiny_generator):
    from lcvg_env.checkpoint import save_checkpoint
    from lcvg_env.env import LCVGEnv, LCVGVectorEnv

    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    path = save_checkpoint(
        tmp_path / "ranged.safetensors",
        tiny_generator,
        control_mode="translation",
        start_frames=frames,
        extra={ENV_DEFAULTS_KEY: {"max_displacement": 2.5}},
    )
    env = LCVGEnv(path, task="none")
    assert env.cfg.max_displacement == 2.5
    env.reset(seed=0)
    info = env.step(np.array([1.0, -1.0], np.float32))[-1]
    np.testing.assert_allclose(info["control_norm"], [2.5 * 2 / 32, -2.5 * 2 / 32])
    assert LCVGEnv(path, task="none", max_displacement=4.0).cfg.max_displacement == 4.0
    assert LCVGVectorEnv(2, path, task="none").cfg.max_displacement == 2.5
