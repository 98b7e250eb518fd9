"""benchmarks/axis_gain.py: the actions reach the env scaled along each axis, the caller's untouched."""

from __future__ import annotations

import numpy as np

from tests.conftest import load_script


def test_actions_are_scaled_per_axis_before_the_env_and_the_callers_are_kept() -> None:
    bench = load_script("benchmarks/axis_gain.py")
    seen = []
    step = bench.scaled(lambda a: seen.append(a) or "stepped", 0.5, 2.0)
    actions = np.array([[1.0, 1.0], [-0.4, 0.25]], dtype=np.float32)
    given = actions.copy()
    assert step(actions) == "stepped"
    np.testing.assert_allclose(seen[0], [[0.5, 2.0], [-0.2, 0.5]], rtol=1e-6)
    np.testing.assert_array_equal(actions, given)  # the command as given is kept
