"""Several foregrounds in the env (``players=K``): action layout, info, K = 1, the vector env, play."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gymnasium
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.cli import app
from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.env.cli import _constant_action, pressed_action
from lcvg_env.env.config import EnvConfig
from lcvg_env.env.sim import to_uint8, to_unit_range
from lcvg_env.env.wrappers import DiscreteControl

BACKGROUND = (0, 90, 60)
RED = (230, 20, 20)


def picture(*squares: tuple[int, int, int], size: int = 32) -> np.ndarray:
    """uint8 (size, size, 3): red squares (x0, y0, side) on a plain background."""
    frame = np.empty((size, size, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    for x0, y0, side in squares:
        frame[y0 : y0 + side, x0 : x0 + side] = RED
    return frame


def perfect_generator(sim: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the simulator a generator that follows the moved mask exactly: M finds the red pixels and the
    next frame is red where m' is, background elsewhere (the warp, the split and the tracking are real)."""
    generator = sim.generator
    colours = torch.tensor([BACKGROUND, RED], dtype=torch.float32) / 127.5 - 1.0  # (2, 3)

    def mask(frame: torch.Tensor) -> torch.Tensor:
        return (frame[:, :1] > 0.5).float()  # (B, 1, H, W)

    def render(
        frame: torch.Tensor,
        current: torch.Tensor,
        moved: torch.Tensor,
        parts: torch.Tensor | None = None,
        residual: torch.Tensor | None = None,
    ) -> SimpleNamespace:
        return SimpleNamespace(
            frame=torch.where(moved.bool(), colours[1, :, None, None], colours[0, :, None, None]),
            residual=residual,
            next_mask=None,  # GeneratorOutput's: the lag is not carried to the next step here
        )

    monkeypatch.setattr(generator, "mask", mask)
    monkeypatch.setattr(generator, "render", render)


def two_player_env(ckpt: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> LCVGEnv:
    env = LCVGEnv(ckpt, players=2, max_displacement=2.0, **({"task": "none"} | kwargs))
    perfect_generator(env.core.sim, monkeypatch)
    return env


def test_each_control_moves_its_own_foreground(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = two_player_env(tiny_ckpt, monkeypatch)
    assert env.action_space.shape == (4,)
    _, info = env.reset(options={"frame": picture((20, 12, 6), (4, 12, 6))})
    np.testing.assert_allclose(info["player_centroids_px"], [[7, 15], [23, 15]])  # numbered left to right
    assert info["player_masks"].shape == (2, 32, 32) and info["player_present"].tolist() == [True, True]
    _, _, _, _, info = env.step(np.array([1, 0, 0, 0], np.float32))  # player 0 right by 2 px
    np.testing.assert_allclose(info["player_centroids_px"], [[9, 15], [23, 15]])
    _, _, _, _, info = env.step(np.array([0, 0, 0, -1], np.float32))  # player 1 up by 2 px
    np.testing.assert_allclose(info["player_centroids_px"], [[9, 15], [23, 13]])
    assert info["control_px"].tolist() == [0, 0, 0, -2]
    assert (info["player_masks"][0] == (np.asarray(env.frame)[..., 0] > 128) & (np.arange(32) < 16)).all()


def test_specks_no_foreground_holds_stay_in_place(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = two_player_env(tiny_ckpt, monkeypatch)
    # the 1 px speck is under the minimum area (2 px at 32x32): no foreground's
    env.reset(options={"frame": picture((4, 4, 6), (20, 20, 6), (28, 2, 1))})
    env.step(np.array([1, 1, -1, -1], np.float32))
    assert (env.frame[2, 28] == RED).all()
    assert (env.frame[6:12, 6:12] == RED).all() and (env.frame[18:24, 18:24] == RED).all()
    assert (env.frame[..., 0] > 128).sum() == 2 * 36 + 1


def test_one_foreground_gives_the_frames_of_players_1(
    tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single = LCVGEnv(tiny_ckpt, max_displacement=2.0, task="none")
    perfect_generator(single.core.sim, monkeypatch)
    double = two_player_env(tiny_ckpt, monkeypatch)
    start = picture((10, 10, 8))
    single.reset(options={"frame": start})
    double.reset(options={"frame": start})
    rng = np.random.default_rng(0)
    for _ in range(4):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        single.step(action)
        _, _, _, _, info = double.step(np.concatenate([action, rng.uniform(-1, 1, 2).astype(np.float32)]))
        assert np.array_equal(single.frame, double.frame)
        assert (
            info["player_present"].tolist() == [True, False]
            and np.isnan(info["player_centroids_px"][1]).all()
        )


def test_reach_scores_foreground_0(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = two_player_env(tiny_ckpt, monkeypatch, task="reach")
    env.reset(seed=3, options={"frame": picture((2, 20, 8), (20, 4, 8))})
    _, reward, _, _, info = env.step(np.array([1, 0, -1, 0], np.float32))
    distance = np.linalg.norm(info["player_centroids_px"][0] - info["goal_px"])
    assert info["distance_px"] == pytest.approx(distance, abs=1e-4)
    assert reward == pytest.approx(-distance / np.hypot(32, 32), abs=1e-6)


def test_players_1_is_the_single_warp_step(tiny_ckpt: Path) -> None:
    """The default env is the paper's step: warp the whole mask, render, round (restated here by hand)."""
    env = LCVGEnv(tiny_ckpt, task="none")
    env.reset(options={"start_index": 2})
    generator = load_checkpoint(tiny_ckpt).generator.to(torch.bfloat16).eval()
    frame = torch.from_numpy(env.frame).permute(2, 0, 1)[None]  # (1, 3, H, W) uint8
    rng = np.random.default_rng(1)
    with torch.inference_mode():
        for _ in range(4):
            action = rng.uniform(-1, 1, 2).astype(np.float32)
            env.step(action)
            mask = (generator.mask(to_unit_range(frame)) > 0.5).float()
            control = torch.from_numpy(
                env.core.controls.to_normalized(env.core.controls.to_pixels(action[None]))
            )
            moved = generator.warp_mask(mask, control, "translation")
            frame = to_uint8(generator.render(to_unit_range(frame), mask, moved).frame)
            assert np.array_equal(env.frame, frame[0].permute(1, 2, 0).numpy())


def test_vector_env_with_players_equals_single_envs(tiny_ckpt: Path) -> None:
    venv = LCVGVectorEnv(3, tiny_ckpt, players=2)
    singles = [LCVGEnv(tiny_ckpt, players=2) for _ in range(3)]
    assert venv.single_action_space.shape == (4,)
    obs, info = venv.reset(seed=5)
    for i, env in enumerate(singles):
        single_obs, single_info = env.reset(seed=5 + i)
        assert np.array_equal(obs[i], single_obs)
        np.testing.assert_array_equal(info["player_masks"][i], single_info["player_masks"])
    rng = np.random.default_rng(2)
    for _ in range(3):
        actions = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
        obs, rewards, _, _, info = venv.step(actions)
        for i, env in enumerate(singles):
            single_obs, reward, _, _, single_info = env.step(actions[i])
            assert np.array_equal(obs[i], single_obs) and rewards[i] == reward
            for key in ("player_masks", "player_centroids_px", "player_present"):
                np.testing.assert_array_equal(info[key][i], single_info[key])


def test_action_shape_and_settings_are_checked(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, players=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected \(4,\) for control 'translation' and 2 players"):
        env.step(np.zeros(2, np.float32))
    for bad in ({"players": 0}, {"players": 5}, {"players": True}, {"player_order": "z"}):
        with pytest.raises(ValueError, match="player"):
            EnvConfig(**bad)


def test_gymnasium_make_and_discrete_actions_per_player(
    tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = DiscreteControl(gymnasium.make("LCVG-Pusher-v0", checkpoint=str(tiny_ckpt), players=2, task="none"))
    assert env.action_space == gymnasium.spaces.MultiDiscrete([5, 5])
    np.testing.assert_array_equal(env.action(np.array([4, 1])), [1, 0, 0, -1])  # right / up
    with pytest.raises(ValueError, match="2 integers"):
        env.action(3)


def test_play_drives_two_players_with_two_key_sets(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    controls = LCVGEnv(tiny_ckpt, players=2).core.controls
    held = {"K_RIGHT", "K_w"}
    names = ("K_LEFT", "K_RIGHT", "K_UP", "K_DOWN", "K_a", "K_d", "K_w", "K_s")
    pygame = SimpleNamespace(
        **{n: n for n in names}, key=SimpleNamespace(get_pressed=lambda: {n: n in held for n in names})
    )
    np.testing.assert_array_equal(pressed_action(pygame, controls), [1, 0, 0, -1])
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    args = [
        "play",
        "LCVG-Pusher-v0",
        "-c",
        str(tiny_ckpt),
        "--players",
        "2",
        "--max-steps",
        "3",
        "--fps",
        "200",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "player 0: arrows   player 1: WASD" in result.output


def test_rollout_constant_policy_moves_every_player(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, players=2, control="rotation")
    np.testing.assert_array_equal(_constant_action(env, np.array([0.5, -1.0])), [0.5, -1, 0, 0.5, -1, 0])
    full = np.arange(6, dtype=np.float32) / 6
    np.testing.assert_array_equal(_constant_action(env, full), full)
