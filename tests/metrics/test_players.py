"""The colour locator of the Atari Tennis players: unmixing, positions, what it must not take for a player."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcvg_env.data.atari_tennis_ram import BALL_COLOUR, PLAYER_COLOURS, SHADOW_COLOUR
from lcvg_env.metrics.players import COURT_COLOUR, LINE_COLOUR, PlayerLocator, box_sum, locator_errors
from tests.test_control_gain_players import court, tennis_data


def test_abundances_of_pure_and_mixed_colours() -> None:
    pixels = np.array([[COURT_COLOUR, PLAYER_COLOURS[0], PLAYER_COLOURS[1], LINE_COLOUR]], dtype=np.uint8)
    a = PlayerLocator(size=(1, 4)).abundances(pixels[None])[0, 0]  # (4, K)
    np.testing.assert_allclose(a, [[0, 0], [1, 0], [0, 1], [0, 0]], atol=1e-9)
    half = (np.asarray(PLAYER_COLOURS[1], float) + LINE_COLOUR) / 2  # blue over a white line
    np.testing.assert_allclose(
        PlayerLocator(size=(1, 1)).abundances(half[None, None, None])[0, 0, 0], [0, 0.5], atol=1e-9
    )


def test_positions_of_players_at_subpixel_places() -> None:
    centres = np.array([[[20.3, 12.6], [40.0, 50.5]], [[33.7, 45.1], [30.2, 9.9]]])
    xy, mass = PlayerLocator().locate(court(centres))
    np.testing.assert_allclose(xy, centres, atol=0.15)
    assert (mass > 15).all()


def test_an_absent_player_and_a_side_line_are_not_found() -> None:
    frames = court(np.array([[[20.0, 12.0], [40.0, 50.0]]]))
    frames[0, 45:56, 36:45] = COURT_COLOUR  # the opponent is gone
    line = np.round(0.42 * np.asarray(PLAYER_COLOURS[1], float) + 0.58 * np.asarray(COURT_COLOUR, float))
    frames[0, 30:62, 10] = line  # a blue side line, one screen pixel wide (0.42 of a saved pixel)
    xy, mass = PlayerLocator().locate(frames)
    assert np.isfinite(xy[0, 0]).all() and np.isnan(xy[0, 1]).all() and mass[0, 1] < 6


def test_windows_scale_with_the_frame_and_shapes_are_checked() -> None:
    assert PlayerLocator()._scaled(3, 2) == (7, 5) and PlayerLocator(size=(128, 128))._scaled(3, 2) == (13, 9)
    with pytest.raises(ValueError, match=r"Expected frames \(N, 64, 64, 3\)"):
        PlayerLocator().locate(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="3 colours"):
        PlayerLocator(others=())


def test_box_sum_equals_the_brute_force_sum() -> None:
    x = np.random.default_rng(0).random((2, 9, 8))
    brute = np.zeros_like(x)
    for i in range(9):
        for j in range(8):
            brute[:, i, j] = x[:, max(i - 3, 0) : i + 4, max(j - 2, 0) : j + 3].sum((1, 2))
    np.testing.assert_allclose(box_sum(x, 7, 5), brute)


def test_locator_errors_against_players_px(tmp_path: Path) -> None:
    root = tennis_data(tmp_path, episodes=2, frames=4)
    errors = locator_errors(root, "test", 2, PlayerLocator())
    assert errors["frames"] == 8
    for name in ("ours", "opponent"):
        assert errors[name]["max_px"] < 0.15 and errors[name]["lost"] == 0.0


def test_the_court_has_the_locators_colours_only() -> None:
    pytest.importorskip("ale_py")
    from lcvg_env.data.atari_tennis import make_env
    from lcvg_env.data.atari_tennis_view import COURT_BOX

    env = make_env()
    try:
        obs, _ = env.reset(seed=0)
        for _ in range(30):
            obs, *_ = env.step(3)  # RIGHT: the players move, the ball is served later
    finally:
        env.close()
    top, left, h, w = COURT_BOX
    colours = {
        tuple(int(v) for v in c)
        for c in np.unique(obs[top : top + h, left : left + w].reshape(-1, 3), axis=0)
    }
    expected = {COURT_COLOUR, LINE_COLOUR, *(tuple(int(v) for v in c) for c in PLAYER_COLOURS)}
    assert (
        expected
        <= colours
        <= expected | {tuple(int(v) for v in BALL_COLOUR), tuple(int(v) for v in SHADOW_COLOUR)}
    )
