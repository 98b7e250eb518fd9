"""ControlMap: actions <-> controls in pixels, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from lcvg_env.env.controls import ControlMap


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_to_actions_inverts_to_pixels_and_clips_to_the_range(mode: str) -> None:
    controls = ControlMap(mode, (64, 48), max_displacement=4.0, max_rotation=0.3, players=2)
    actions = np.random.default_rng(0).uniform(-1, 1, (5, controls.action_dims)).astype(np.float32)
    np.testing.assert_allclose(controls.to_actions(controls.to_pixels(actions)), actions, atol=1e-6)
    np.testing.assert_array_equal(
        controls.to_actions(controls.identity(3)), np.zeros((3, controls.action_dims))
    )
    far = controls.to_pixels(np.ones((1, controls.action_dims), np.float32)) * 3.0  # beyond the range
    assert controls.to_actions(far).max() == 1.0 and controls.to_actions(-far).min() == -1.0
