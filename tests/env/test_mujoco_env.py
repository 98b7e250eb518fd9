"""PusherMuJoCoEnv: LCVG-Pusher-v0's spaces, both checkers, seeding, the action mapping, a scripted reach
steered by the true tip, the learned criterion and AsyncVectorEnv."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lcvg_agents.policies import ScriptedReacher
from lcvg_env.env import LCVGEnv
from lcvg_env.env.mujoco_env import PusherMuJoCoEnv

ID = "LCVG-PusherMuJoCo-v0"


def _real(**kwargs) -> PusherMuJoCoEnv:
    return PusherMuJoCoEnv(learned_criterion=kwargs.pop("learned_criterion", False), **kwargs)


@pytest.mark.parametrize("observation", ["pixels", "dict"])
def test_spaces_equal_the_learned_envs(observation: str) -> None:
    learned = gymnasium.make("LCVG-Pusher-v0", observation=observation)  # the bundled model
    real = gymnasium.make(ID, observation=observation, learned_criterion=False)
    assert real.observation_space == learned.observation_space
    assert real.action_space == learned.action_space
    assert real.unwrapped.max_displacement == learned.unwrapped.core.cfg.max_displacement
    assert real.spec.max_episode_steps == learned.spec.max_episode_steps
    real.close()


@pytest.mark.parametrize("observation", ["pixels", "dict"])
def test_both_checkers_pass(observation: str, tiny_ckpt64: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gymnasium.make(ID, checkpoint=str(tiny_ckpt64), observation=observation, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no checker warning either
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    env.close()


def _rollout(env: PusherMuJoCoEnv, seed: int, actions: np.ndarray) -> tuple[list, list]:
    obs, info = env.reset(seed=seed)
    frames, tips = [obs], [info["tip_px"]]
    for action in actions:
        obs, _, _, _, info = env.step(action)
        frames.append(obs)
        tips.append(info["tip_px"])
    return frames, tips


def test_same_seed_same_episode_other_seed_other_episode() -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (6, 2)).astype(np.float32)
    a, b = _real(), _real()
    frames_a, tips_a = _rollout(a, 3, actions)
    frames_b, tips_b = _rollout(b, 3, actions)
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    assert np.array_equal(np.array(tips_a), np.array(tips_b))
    assert frames_a[0].max() > 16  # a rendered scene, not a black frame (lost GL context)
    other, _ = _rollout(b, 4, actions[:0])
    assert not np.array_equal(other[0], frames_a[0])
    a.close()
    b.close()


@pytest.mark.parametrize("action", [(1.0, 0.0), (0.0, 1.0)])
def test_an_action_moves_the_true_tip_by_max_displacement_in_the_image(action: tuple[float, float]) -> None:
    """One action of 1, then no-ops while the servos settle. Measured over 50 starts (one step then 7
    no-ops): the tip lags (about 0.5 px after the step, 1.5 px after two: the joint servos' response), and
    once settled it lies within 1.6 px of the moved target (median 0.7-0.9 px: the IK's pitch term trades
    a centimetre of the gripper's height, which shifts the tip in the image). Hence 1.6 px here."""
    env = _real()
    direction = np.array(action, dtype=np.float32)
    md = env.max_displacement
    for seed in range(3):
        _, info = env.reset(seed=seed)
        tip0, target0 = info["tip_px"], info["target_px"]
        _, _, _, _, info = env.step(direction)
        np.testing.assert_allclose(info["target_px"] - target0, md * direction, atol=1e-4)  # not clipped
        first = info["tip_px"] - tip0
        for _ in range(7):
            _, _, _, _, info = env.step(np.zeros(2, np.float32))
        moved = info["tip_px"] - tip0
        assert 0 < first @ direction < md  # it starts moving, with the servo's lag
        assert np.linalg.norm(moved - md * direction) <= 1.6, (seed, moved)
    env.close()


def test_scripted_policy_steering_the_true_tip_succeeds() -> None:
    env = _real()
    policy = ScriptedReacher(env.action_space, env.max_displacement, point="tip_px")
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        for _ in range(30):
            action = policy(obs[None], {k: np.asarray(v)[None] for k, v in info.items()})[0]
            obs, reward, terminated, _, info = env.step(action)
            if terminated:
                break
        assert info["is_success"] and info["distance_px"] <= env.task.success_radius
        assert reward == pytest.approx(-info["distance_px"] / env.task.diagonal)
    env.close()


def test_goals_are_reachable_inside_the_margin_and_can_be_set() -> None:
    env = _real()
    size = env.cfg.size
    for seed in range(5):
        _, info = env.reset(seed=seed)
        goal = info["goal_px"]
        assert np.all(goal >= env.cfg.goal_margin * size) and np.all(goal <= (1 - env.cfg.goal_margin) * size)
        assert env.real.reachable(goal)
    obs, info = env.reset(seed=0, options={"goal": (20.0, 30.0)})
    np.testing.assert_array_equal(info["goal_px"], [20.0, 30.0])
    assert tuple(obs[30, 20]) == (255, 0, 255)  # the goal cross, drawn as LCVG-Pusher-v0 draws it
    with pytest.raises(ValueError, match="start_index"):
        env.reset(options={"start_index": 0})
    env.close()


def test_dict_observation_holds_the_true_tip_and_compute_reward_matches() -> None:
    env = _real(observation="dict")
    obs, info = env.reset(seed=1)
    obs, reward, _, _, info = env.step(np.array([0.5, -0.5], np.float32))
    np.testing.assert_allclose(obs["achieved_goal"] * env.cfg.size, info["tip_px"], atol=1e-4)
    np.testing.assert_allclose(obs["desired_goal"] * env.cfg.size, info["goal_px"], atol=1e-4)
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == pytest.approx(
        reward, abs=1e-5
    )
    env.close()


def test_learned_criterion_is_the_learned_envs_on_the_real_frame(tiny_ckpt64: Path) -> None:
    real = PusherMuJoCoEnv(tiny_ckpt64)
    _, info = real.reset(seed=2)
    learned = LCVGEnv(tiny_ckpt64)
    _, learned_info = learned.reset(options={"frame": real.frame})
    np.testing.assert_allclose(info["centroid_px"], learned_info["centroid_px"], atol=1e-4)
    assert "centroid_px" not in _real().reset(seed=2)[1]
    real.close()


def test_close_releases_the_renderer_and_step_asks_for_reset() -> None:
    env = _real()
    env.reset(seed=0)
    sim = env.real.sim
    env.close()
    assert sim.renderer is None
    env.close()  # twice is fine
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.float32))
    assert env.reset(seed=0)[0].max() > 16  # a new renderer after close
    env.close()


def _make_real() -> gymnasium.Env:
    return gymnasium.make(ID, learned_criterion=False)


def test_async_vector_env_with_two_processes() -> None:
    # forkserver: this test process has rendered with EGL already, which a forked worker cannot reuse.
    venv = gymnasium.vector.AsyncVectorEnv([_make_real, _make_real], context="forkserver")
    obs, info = venv.reset(seed=[5, 6])
    assert obs.shape == (2, 64, 64, 3) and obs.reshape(2, -1).max(axis=1).min() > 16
    for _ in range(3):
        obs, reward, _, _, info = venv.step(np.full((2, 2), 0.5, np.float32))
    venv.close()
    single = _real()
    frames, _ = _rollout(single, 6, np.full((3, 2), 0.5, np.float32))
    assert np.array_equal(obs[1], frames[-1])
    assert reward.shape == (2,) and info["tip_px"].shape == (2, 2)
    single.close()


def test_forked_workers_of_an_egl_process_raise_instead_of_hanging() -> None:
    parent = _real()
    parent.reset(seed=0)  # this process renders with EGL before forking
    venv = gymnasium.vector.AsyncVectorEnv([_make_real, _make_real], context="fork")
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="forkserver"):
        venv.reset(seed=0)
    venv.close(terminate=True)
    parent.close()
