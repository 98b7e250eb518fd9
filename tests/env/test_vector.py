"""LCVGVectorEnv (one forward pass for N envs) equals N single envs; the SB3 adapter trains PPO."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from lcvg_env.env import LCVGEnv, LCVGVectorEnv, SB3VecEnv


def test_vector_equals_single_envs_with_autoreset(tiny_ckpt: Path) -> None:
    n, horizon = 3, 4
    venv = LCVGVectorEnv(n, tiny_ckpt, max_episode_steps=horizon)
    singles = [LCVGEnv(tiny_ckpt) for _ in range(n)]
    vobs, _ = venv.reset(seed=10)
    for i, env in enumerate(singles):
        assert np.array_equal(vobs[i], env.reset(seed=10 + i)[0])
    actions = np.random.default_rng(0).uniform(-1, 1, (3 * horizon, n, 2)).astype(np.float32)
    steps = np.zeros(n, dtype=int)
    for action in actions:
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(action)
        steps += 1
        for i, env in enumerate(singles):
            obs, rew, term, _, info = env.step(action[i])
            assert rew == pytest.approx(vrew[i]) and term == vterm[i]
            assert vtrunc[i] == (steps[i] == horizon and not term)
            if term or steps[i] == horizon:  # the vector env resets on the same step
                assert np.array_equal(vinfo["final_obs"][i], obs)
                np.testing.assert_array_equal(vinfo["final_info"]["mask"][i], info["mask"])
                obs, info = env.reset()
                steps[i] = 0
            assert np.array_equal(vobs[i], obs)
            np.testing.assert_array_equal(vinfo["goal_px"][i], info["goal_px"])


def test_make_vec_uses_the_native_vector_env(tiny_ckpt: Path) -> None:
    venv = gymnasium.make_vec(
        "LCVG-Pusher-v0", num_envs=2, vectorization_mode="vector_entry_point", checkpoint=str(tiny_ckpt)
    )
    assert isinstance(venv.unwrapped, LCVGVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.unwrapped.max_episode_steps == 100
    obs, info = venv.reset(seed=0)
    assert obs.shape == (2, 32, 32, 3) and info["_mask"].all()
    obs, rew, *_ = venv.step(venv.action_space.sample())
    assert obs.dtype == np.uint8 and rew.shape == (2,)


def test_partial_reset_and_bad_actions(tiny_ckpt: Path) -> None:
    venv = LCVGVectorEnv(2, tiny_ckpt)
    venv.reset(seed=0)
    before = venv.step(np.ones((2, 2), np.float32))[0]
    after, _ = venv.reset(seed=[None, 5], options={"reset_mask": np.array([False, True])})
    assert np.array_equal(after[0], before[0])
    assert np.array_equal(after[1], LCVGEnv(tiny_ckpt).reset(seed=5)[0])
    for bad in (np.ones((3, 2)), np.full((2, 2), np.nan)):
        with pytest.raises(ValueError):
            venv.step(bad)


def test_each_sub_env_starts_from_its_own_frame(tiny_ckpt: Path) -> None:
    venv = LCVGVectorEnv(2, tiny_ckpt, task="none")
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    venv.reset(options={"frames": frames})
    single = LCVGEnv(tiny_ckpt, task="none")
    for i in range(2):
        single.reset(options={"frame": frames[i]})
        np.testing.assert_array_equal(venv.frames[i], single.frame)  # each row its own frame
    before = venv.frames.copy()
    venv.reset(options={"frames": frames[::-1], "reset_mask": np.array([False, True])})
    np.testing.assert_array_equal(venv.frames[0], before[0])  # a row not reset keeps its frame
    np.testing.assert_array_equal(venv.frames[1], before[0])
    for bad in ({"frames": frames[:1]}, {"frames": frames, "frame": frames[0]}):
        with pytest.raises(ValueError, match="one start frame per sub-env"):
            venv.reset(options=bad)


def test_sb3_adapter_reports_terminal_observations(tiny_ckpt: Path) -> None:
    venv = SB3VecEnv(LCVGVectorEnv(2, tiny_ckpt, max_episode_steps=2, task="none"))
    venv.seed(3)
    obs = venv.reset()
    assert obs.shape == (2, 32, 32, 3)
    venv.step(np.zeros((2, 2), np.float32))
    obs, rewards, dones, infos = venv.step(np.zeros((2, 2), np.float32))
    assert dones.all() and rewards.dtype == np.float32
    assert all(i["TimeLimit.truncated"] and i["terminal_observation"].shape == (32, 32, 3) for i in infos)
    assert venv.get_attr("render_mode") == [None, None]


@pytest.mark.slow
def test_sb3_ppo_learns_on_the_vector_env(tiny_ckpt64: Path) -> None:
    from stable_baselines3 import PPO

    venv = SB3VecEnv(LCVGVectorEnv(2, tiny_ckpt64, max_episode_steps=20))
    model = PPO("CnnPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (2, 2)


def test_sliced_batch_equals_the_single_pass(tiny_ckpt: Path) -> None:
    import torch

    from lcvg_env.env.sim import ROWS_PER_WORKER

    n = 2 * ROWS_PER_WORKER
    actions = np.random.default_rng(1).uniform(-1, 1, (5, n, 2)).astype(np.float32)
    runs = []
    for threads in (2, 1):  # 2 threads: two slices side by side; 1: one pass
        torch.set_num_threads(threads)  # the autouse fixture restores the caller's setting
        venv = LCVGVectorEnv(n, tiny_ckpt, max_episode_steps=100)
        assert venv.core.sim.workers() == threads
        frames = [venv.reset(seed=3)[0]]
        for action in actions:
            obs, rew, _, _, info = venv.step(action)
            frames += [obs, rew, info["mask"], info["centroid_px"]]
        assert torch.get_num_threads() == threads  # the step hands the caller's thread count back
        venv.close()
        assert venv.core.sim._pool is None
        runs.append(frames)
    for sliced, single in zip(*runs, strict=True):
        np.testing.assert_array_equal(sliced, single)


def test_slicing_follows_thread_changes_and_forks(tiny_ckpt: Path) -> None:
    import os

    import torch

    from lcvg_env.env.sim import ROWS_PER_WORKER

    torch.set_num_threads(2)
    venv = LCVGVectorEnv(4 * ROWS_PER_WORKER, tiny_ckpt, max_episode_steps=100)
    venv.reset(seed=0)
    action = np.zeros((venv.num_envs, 2), dtype=np.float32)
    venv.step(action)
    first = venv.core.sim._pool
    torch.set_num_threads(3)
    venv.step(action)  # three slices now: a new pool, the old one stopped
    assert venv.core.sim._pool is not first and first._shutdown
    venv.core.sim._pool_key = (os.getpid() + 1, 3)  # as a forked child sees its parent's pool
    stale = venv.core.sim._pool
    venv.step(action)
    assert venv.core.sim._pool is not stale and not stale._shutdown  # never touch the parent's threads
    venv.close()
    stale.shutdown()
