"""The arm's response to its commands (lcvg_env/control/actuation.py): fitting, applying, recording."""

from __future__ import annotations

import numpy as np
import pytest

from lcvg_env.control.actuation import Actuator, fit_actuator, lagged, recorded_actuator
from lcvg_env.control.region import MotionRegion


def simulate(taps: np.ndarray, commands: np.ndarray) -> np.ndarray:
    """Motions (T, 2) of an arm with impulse responses ``taps`` (2, L) to ``commands`` (T, 2)."""
    x = lagged(commands, taps.shape[1])  # (T, 2, L)
    return np.einsum("tal,al->ta", x, taps)


def test_lagged_shifts_commands_back_with_zeros_before_the_start() -> None:
    u = np.arange(1, 7, dtype=float).reshape(3, 2)  # (3, 2)
    x = lagged(u, 2)
    assert x.shape == (3, 2, 2)
    np.testing.assert_array_equal(x[:, :, 0], u)
    np.testing.assert_array_equal(x[:, :, 1], [[0, 0], [1, 2], [3, 4]])


def test_fit_recovers_a_known_response_and_scales_it_to_one() -> None:
    rng = np.random.default_rng(0)
    true = np.array([[0.1, 0.3, 0.3, 0.2], [0.3, 0.3, 0.2, 0.1]]) * 0.9  # sums 0.81, 0.81
    commands = [rng.normal(size=(29, 2)) for _ in range(40)]
    motions = [simulate(true, u) + rng.normal(scale=0.01, size=u.shape) for u in commands]
    act = fit_actuator(commands, motions, taps=4, source="synthetic")
    np.testing.assert_allclose(act.taps, true / true.sum(1, keepdims=True), atol=0.01)
    np.testing.assert_allclose(act.fitted_sum, true.sum(1), atol=0.01)
    assert min(act.r2) > 0.99 and act.source == "synthetic" and act.length == 4


def test_respond_spreads_one_command_over_the_taps() -> None:
    act = Actuator(np.array([[0.25, 0.5, 0.25], [0.5, 0.5, 0.0]]))
    history = np.zeros((1, 3, 1, 2))  # (B, L, K, 2), newest first
    moves = []
    for t in range(4):
        history = np.roll(history, 1, axis=1)
        history[:, 0] = [4.0, 2.0] if t == 0 else 0.0  # one command, then none
        moves.append(act.respond(history)[0, 0])
    np.testing.assert_allclose(moves, [[1.0, 1.0], [2.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert np.sum(moves, axis=0).tolist() == [4.0, 2.0]  # the whole command arrives
    np.testing.assert_allclose(act.step_response(5)[:, 0], [0.25, 0.75, 1.0, 1.0, 1.0])


def test_record_round_trips_and_bad_records_are_refused() -> None:
    act = Actuator(np.array([[0.4, 0.6], [1.0, 0.0]]), "data", (0.9, 0.8), (0.95, 0.85))
    back = Actuator.from_json(act.to_json())
    np.testing.assert_allclose(back.taps, act.taps)
    assert back.source == "data" and back.fitted_sum == (0.9, 0.8) and back.r2 == (0.95, 0.85)
    assert recorded_actuator({}) is None and recorded_actuator({"actuator": act.to_json()}) is not None
    assert back.region is None
    region = MotionRegion.from_centroids(np.array([[3.0, 5.0]]), (16, 16), cell=4)
    with_region = Actuator.from_json(Actuator(act.taps, region=region).to_json())
    np.testing.assert_array_equal(with_region.region.visited, region.visited)
    with pytest.raises(ValueError, match="not an actuator record"):
        Actuator.from_json([1, 2])
    with pytest.raises(ValueError, match="sum to 1"):
        Actuator(np.array([[0.5, 0.2], [1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"finite \(2, L\)"):
        Actuator(np.array([[np.nan, 1.0], [1.0, 0.0]]))


def test_fit_refuses_mismatched_or_too_little_data() -> None:
    u = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same episodes"):
        fit_actuator([u], [])
    with pytest.raises(ValueError, match=r"\(T, 2\) each"):
        fit_actuator([u], [np.zeros((9, 2))])
    with pytest.raises(ValueError, match="too few"):
        fit_actuator([u[:5]], [u[:5]], taps=6)
    rng = np.random.default_rng(1)
    commands = [rng.normal(size=(30, 2))]
    with pytest.raises(ValueError, match="does not follow its commands"):
        fit_actuator(commands, [rng.normal(size=(30, 2))], taps=2)
