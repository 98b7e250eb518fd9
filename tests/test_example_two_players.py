"""examples/two_players.py: its legs, each player moved by its own command, and the video it writes."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest

from lcvg_env.checkpoint import load_checkpoint
from tests.conftest import load_script
from tests.env.conftest import make_checkpoint
from tests.env.test_multi_foreground import perfect_generator, picture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def example():
    return load_script("examples/two_players.py")


def test_legs_command_each_player_separately(example) -> None:
    actions, starts = example.leg_actions(8, 4)
    assert actions.shape == (8, 4) and starts == [0, 2, 4, 6]
    np.testing.assert_array_equal(actions[0], [1, 0, -1, 0])  # ours right, opponent left
    np.testing.assert_array_equal(actions[7], [0, 0, 1, 0])  # ours stays, opponent right
    rotation, _ = example.leg_actions(4, 6)  # rotation control: [dx0, dy0, phi0 | dx1, dy1, phi1]
    np.testing.assert_array_equal(rotation[0], [1, 0, 0, -1, 0, 0])


def test_each_player_follows_its_own_leg(example, monkeypatch, tmp_path: Path) -> None:
    model = load_checkpoint(make_checkpoint(tmp_path / "tiny32.safetensors", 32))
    model.start_frames = picture((4, 12, 4), (22, 12, 4))[None]  # player 0 on the left (order "x")
    env = gymnasium.make("LCVG-Pusher-v0", checkpoint=model, players=2, task="none", max_displacement=1.0)
    perfect_generator(env.unwrapped.core.sim, monkeypatch)
    frames, moves = example.run(env, 8, seed=0)
    assert len(frames) == 9 and frames[0].shape == (32, 64, 3)  # frame | tinted players
    expected = [[[2, 0], [-2, 0]], [[-2, 0], [2, 0]], [[2, 0], [0, 0]], [[0, 0], [2, 0]]]
    np.testing.assert_allclose(moves, expected, atol=1e-6)
    gif = example.write(frames, tmp_path / "two.gif", fps=8, scale=2)
    assert gif.stat().st_size > 0
    with pytest.raises(ValueError, match="two-player env"):
        example.run(gymnasium.make("LCVG-Pusher-v0", checkpoint=model, task="none"), 4, seed=0)
