"""task="reach_each": every foreground its own goal in its half of the frame; reward, success, dict goals."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.env.config import EnvConfig
from lcvg_env.env.task import PLAYER_GOAL_COLOURS, PlayersReachTask
from tests.env.test_multi_foreground import perfect_generator, picture

TOP_AND_BOTTOM = picture((14, 2, 4), (14, 24, 4))  # foreground 0 at the top (order "y"), 1 at the bottom


def env_with(ckpt: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> LCVGEnv:
    env = LCVGEnv(ckpt, players=2, player_order="y", task="reach_each", max_displacement=2.0, **kwargs)
    perfect_generator(env.core.sim, monkeypatch)
    return env


def test_goals_lie_in_each_players_half(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_with(tiny_ckpt, monkeypatch)
    for seed in range(20):
        _, info = env.reset(seed=seed, options={"frame": TOP_AND_BOTTOM})
        goals = info["goal_px"]  # (2, 2)
        assert goals.shape == (2, 2)
        assert 0.15 * 32 <= goals[0, 1] <= 0.35 * 32 and 0.65 * 32 <= goals[1, 1] <= 0.85 * 32
        assert (goals[:, 0] >= 0.15 * 32).all() and (goals[:, 0] <= 0.85 * 32).all()


def test_reward_success_and_the_goal_crosses(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_with(tiny_ckpt, monkeypatch, success_radius=1.5)
    obs, info = env.reset(seed=3, options={"frame": TOP_AND_BOTTOM})
    for k in (0, 1):  # each goal drawn in its own colour
        gx, gy = info["goal_px"][k].astype(int)
        np.testing.assert_array_equal(obs[gy, gx], PLAYER_GOAL_COLOURS[k])
    expected = -info["distance_px"].mean() / np.hypot(32, 32)
    _, reward, terminated, _, info = env.step(np.zeros(4, np.float32))
    assert info["distance_px"].shape == (2,) and reward == pytest.approx(expected, rel=1e-5)
    for _ in range(20):  # steer each player straight to its goal
        gap = info["goal_px"] - info["player_centroids_px"]  # (2, 2)
        _, reward, terminated, _, info = env.step(np.clip(gap / 2.0, -1, 1).reshape(-1).astype(np.float32))
        if terminated:
            break
    assert terminated and info["is_success"] and info["player_success"].all()
    assert reward == pytest.approx(-info["distance_px"].mean() / np.hypot(32, 32), rel=1e-5)


def test_one_player_at_its_goal_is_not_success() -> None:
    task = PlayersReachTask((32, 32), 2.0, 0.15, 2)
    distance = np.array([[0.5, 10.0], [1.0, 1.9]])
    np.testing.assert_array_equal(task.success(distance), [False, True])
    np.testing.assert_allclose(task.reward(distance), -distance.mean(1) / np.hypot(32, 32))
    absent = task.distance(np.array([[[np.nan, np.nan], [4.0, 4.0]]]), np.array([[[1.0, 1.0], [4.0, 4.0]]]))
    np.testing.assert_allclose(absent, [[np.hypot(32, 32), 0.0]])
    goals = task.sample_goal(np.random.default_rng(0), np.array([[np.nan, np.nan], [10.0, 5.0]]))
    assert goals[1, 1] < 16 <= goals[0, 1]  # the absent one gets the other half


def test_dict_observation_and_compute_reward(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_with(tiny_ckpt, monkeypatch, observation="dict")
    assert env.observation_space["achieved_goal"].shape == (4,)
    obs, _ = env.reset(seed=1, options={"frame": TOP_AND_BOTTOM})
    obs, reward, _, _, info = env.step(np.array([1, 0, -1, 0], np.float32))
    np.testing.assert_allclose(obs["desired_goal"].reshape(2, 2) * 32, info["goal_px"], rtol=1e-6)
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == pytest.approx(
        reward, rel=1e-5
    )
    batch = env.compute_reward(np.stack([obs["achieved_goal"]] * 3), np.stack([obs["desired_goal"]] * 3), {})
    assert batch.shape == (3,)


def test_env_checker_and_vector_env(tiny_ckpt: Path) -> None:
    env = gymnasium.make(
        "LCVG-Pusher-v0", checkpoint=str(tiny_ckpt), players=2, task="reach_each", observation="dict"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    venv = LCVGVectorEnv(3, checkpoint=str(tiny_ckpt), players=2, task="reach_each")
    _, info = venv.reset(seed=5)
    single = LCVGEnv(tiny_ckpt, players=2, task="reach_each")
    _, single_info = single.reset(seed=6)
    np.testing.assert_array_equal(info["goal_px"][1], single_info["goal_px"])  # sub-env i = seed + i


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="players >= 2"):
        EnvConfig(task="reach_each")
    with pytest.raises(ValueError, match=r"goal_margin < 0\.25"):
        EnvConfig(task="reach_each", players=2, goal_margin=0.3)
