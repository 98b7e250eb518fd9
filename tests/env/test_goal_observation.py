"""``observation="dict"``: gymnasium-robotics' goal layout, its reward recomputation, and its use by SB3."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lcvg_env.env import LCVGEnv, LCVGVectorEnv, SB3VecEnv


def test_dict_observation_passes_both_checkers(tiny_ckpt64: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gymnasium.make(
        "LCVG-Pusher-v0", checkpoint=str(tiny_ckpt64), observation="dict", render_mode="rgb_array"
    )
    assert set(env.observation_space.spaces) == {"image", "achieved_goal", "desired_goal"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        check_env(env.unwrapped)
        sb3_check_env(LCVGEnv(tiny_ckpt64, observation="dict"))


def test_goals_are_the_info_points_as_fractions_and_the_image_is_the_pixel_observation(
    tiny_ckpt: Path,
) -> None:
    pixels, dicts = LCVGEnv(tiny_ckpt), LCVGEnv(tiny_ckpt, observation="dict")
    obs_p, _ = pixels.reset(seed=3)
    obs_d, info = dicts.reset(seed=3)
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 2)).astype(np.float32)
    for a in actions:
        np.testing.assert_array_equal(obs_d["image"], obs_p)
        np.testing.assert_allclose(obs_d["desired_goal"] * 32, info["goal_px"], atol=1e-5)
        if np.isnan(info["centroid_px"]).any():
            np.testing.assert_array_equal(obs_d["achieved_goal"], [-1.0, -1.0])
        else:
            np.testing.assert_allclose(obs_d["achieved_goal"] * 32, info["centroid_px"], atol=1e-5)
        obs_p, *_ = pixels.step(a)
        obs_d, reward, _, _, info = dicts.step(a)
        recomputed = dicts.compute_reward(obs_d["achieved_goal"], obs_d["desired_goal"], info)
        assert recomputed == pytest.approx(reward, abs=1e-5)


def test_compute_reward_is_vectorized_and_counts_no_foreground_as_the_diagonal(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, observation="dict")
    achieved = np.array([[0.5, 0.5], [-1.0, -1.0], [0.25, 0.5]], dtype=np.float32)
    desired = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], dtype=np.float32)
    rewards = env.compute_reward(achieved, desired, None)
    np.testing.assert_allclose(rewards, [0.0, -1.0, -8.0 / np.hypot(32, 32)], atol=1e-6)


def test_dict_observation_needs_the_reach_task(tiny_ckpt: Path) -> None:
    with pytest.raises(ValueError, match="task='reach'"):
        LCVGEnv(tiny_ckpt, observation="dict", task="none")
    with pytest.raises(ValueError, match="observation must be one of"):
        LCVGEnv(tiny_ckpt, observation="state")


def test_vector_env_dict_observations_match_single_envs_and_autoreset(tiny_ckpt: Path) -> None:
    n = 3
    venv = LCVGVectorEnv(n, tiny_ckpt, observation="dict", max_episode_steps=2)
    singles = [LCVGEnv(tiny_ckpt, observation="dict") for _ in range(n)]
    obs, _ = venv.reset(seed=10)
    for i, env in enumerate(singles):
        single_obs, _ = env.reset(seed=10 + i)
        for key in single_obs:
            np.testing.assert_array_equal(obs[key][i], single_obs[key])
    actions = np.zeros((n, 2), dtype=np.float32)
    venv.step(actions)
    _, _, _, truncated, info = venv.step(actions)
    assert truncated.all()
    assert set(info["final_obs"][0]) == {"image", "achieved_goal", "desired_goal"}


def test_sb3_multi_input_ppo_runs_on_dict_observations(tiny_ckpt: Path) -> None:
    from stable_baselines3 import PPO

    from lcvg_agents.networks import policy_kwargs

    venv = SB3VecEnv(LCVGVectorEnv(2, tiny_ckpt, observation="dict", max_episode_steps=8))
    model = PPO(
        "MultiInputPolicy",
        venv,
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        policy_kwargs=policy_kwargs(venv.observation_space, "coord", 32),
        seed=0,
    )
    model.learn(32)
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (2, 2)
