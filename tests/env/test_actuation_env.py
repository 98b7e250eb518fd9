"""Commands that arrive over steps, as the data's arm's do (``EnvConfig.actuation``,
lcvg_env/control/actuation.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import save_checkpoint
from lcvg_env.control.actuation import ACTUATOR_KEY, Actuator
from lcvg_env.control.region import MotionRegion
from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.models import LayeredGenerator
from tests.env.conftest import square_frames, tiny_config
from tests.env.test_multi_foreground import perfect_generator, picture

TAPS = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]])


def actuated_checkpoint(path: Path, size: int = 32, region: MotionRegion | None = None) -> Path:
    """A tiny checkpoint that records the response ``TAPS`` (and ``region`` of steered points)."""
    torch.manual_seed(0)
    return save_checkpoint(
        path,
        LayeredGenerator(tiny_config(size)).eval(),
        control_mode="translation",
        start_frames=square_frames(4, size),
        extra={ACTUATOR_KEY: Actuator(TAPS, "test", region=region).to_json()},
    )


def test_a_command_arrives_over_the_response_and_the_mask_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = LCVGEnv(
        actuated_checkpoint(tmp_path / "a.safetensors"), task="none", max_displacement=4.0, actuation="data"
    )
    perfect_generator(env.core.sim, monkeypatch)
    env.reset(seed=0, options={"frame": picture((8, 8, 6))})
    made, commanded, xs = [], [], []
    for t in range(4):
        action = np.array([1.0, 0.5] if t == 0 else [0.0, 0.0], np.float32)  # one command, then none
        _, _, _, _, info = env.step(action)
        made.append(info["control_px"].tolist())
        commanded.append(info["commanded_px"].tolist())
        xs.append(float(info["centroid_px"][0]))
    np.testing.assert_allclose(made, [[1.0, 1.0], [2.0, 0.5], [1.0, 0.5], [0.0, 0.0]])
    assert commanded[0] == [4.0, 2.0] and commanded[1] == [0.0, 0.0]
    assert xs == pytest.approx([12.0, 14.0, 15.0, 15.0])  # from x 11: 4 px right in 3 steps
    env.reset(seed=0, options={"frame": picture((8, 8, 6))})  # reset forgets the commands in flight
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["control_px"].tolist() == [0.0, 0.0]


def test_direct_actuation_is_the_default_and_moves_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = LCVGEnv(actuated_checkpoint(tmp_path / "a.safetensors"), task="none", max_displacement=4.0)
    perfect_generator(env.core.sim, monkeypatch)
    assert env.core.actuator is None
    env.reset(seed=0, options={"frame": picture((8, 8, 6))})
    _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
    assert info["control_px"].tolist() == info["commanded_px"].tolist() == [4.0, 0.0]


def test_each_env_of_a_vector_env_keeps_its_own_commands(tmp_path: Path) -> None:
    venv = LCVGVectorEnv(2, actuated_checkpoint(tmp_path / "a.safetensors"), task="none", actuation="data")
    md = venv.cfg.max_displacement
    venv.reset(seed=0)
    venv.step(np.array([[1.0, 0.0], [0.0, 0.0]], np.float32))
    _, _, _, _, info = venv.step(np.zeros((2, 2), np.float32))
    np.testing.assert_allclose(info["control_px"], [[0.5 * md, 0.0], [0.0, 0.0]], atol=1e-6)
    venv.reset(seed=1, options={"frame": picture((8, 8, 6))})  # every env's history cleared
    _, _, _, _, info = venv.step(np.zeros((2, 2), np.float32))
    assert not info["control_px"].any()
    venv.close()


def test_several_foregrounds_each_get_the_response(tmp_path: Path) -> None:
    env = LCVGEnv(
        actuated_checkpoint(tmp_path / "a.safetensors"),
        task="none",
        players=2,
        control="rotation",
        max_displacement=4.0,
        actuation="data",
    )
    env.reset(seed=0, options={"frame": picture((2, 2, 5), (20, 20, 5))})
    _, _, _, _, info = env.step(np.array([1.0, 0.0, 1.0, 0.0, -1.0, 0.0], np.float32))
    # (dx, dy, phi) per player: the translations arrive over steps, the angle at once
    np.testing.assert_allclose(
        info["control_px"], [1.0, 0.0, env.cfg.max_rotation, 0.0, -2.0, 0.0], atol=1e-6
    )


def test_the_region_of_steered_points_bounds_the_target_not_each_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steered = MotionRegion.from_centroids(
        np.array([[x + 2.0, 12.0] for x in range(8, 20, 4)]), (32, 32), cell=4
    )
    path = actuated_checkpoint(tmp_path / "a.safetensors", region=steered)  # x in [8, 20) on row 12-16
    env = LCVGEnv(path, task="none", max_displacement=2.0, actuation="data", region="data")
    perfect_generator(env.core.sim, monkeypatch)
    assert env.core.region is steered or np.array_equal(env.core.region.visited, steered.visited)
    env.reset(seed=0, options={"frame": picture((8, 12, 4))})  # centroid (10, 14): the steered point
    commanded, xs = [], []
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        commanded.append(float(info["commanded_px"][0]))
        xs.append(float(info["centroid_px"][0]))
    assert commanded[:4] == [2.0] * 4 and commanded[-1] == 0.0  # the target stops at the region's edge
    assert env.core.targets[0, 0] < 20.0
    assert xs[-1] == pytest.approx(env.core.targets[0, 0], abs=1.0)  # and the mask settles on it


def test_data_actuation_needs_a_recorded_response(tiny_ckpt: Path) -> None:
    with pytest.raises(ValueError, match=r"does not record.*--actuator auto"):
        LCVGEnv(tiny_ckpt, task="none", actuation="data")
    with pytest.raises(ValueError, match="actuation must be one of"):
        LCVGEnv(tiny_ckpt, actuation="lagged")
