"""LCVGEnv: API checks, determinism, reset options, actions, rewards and info."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.env import DiscreteControl, LCVGEnv
from lcvg_env.env.registration import ENV_IDS
from lcvg_env.env.task import GOAL_COLOUR
from tests.env.conftest import make_checkpoint


@pytest.mark.parametrize("env_id", [s.id for s in ENV_IDS])
def test_gymnasium_check_env_every_id(env_id: str, tiny_ckpt: Path) -> None:
    # the tiny checkpoint records no region; the tennis id's region="data" is checked in test_atari_tennis_env
    plain = {"region": "none"} if gymnasium.spec(env_id).kwargs.get("region") == "data" else {}
    env = gymnasium.make(env_id, checkpoint=str(tiny_ckpt), render_mode="rgb_array", **plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no checker warning either
        check_env(env.unwrapped)
    assert env.observation_space.shape == (32, 32, 3)


def test_sb3_check_env(tiny_ckpt64: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no SB3 warning either
        sb3_check_env(LCVGEnv(tiny_ckpt64))


def _rollout(env: gymnasium.Env, seed: int, actions: np.ndarray) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    for a in actions:
        frames.append(env.step(a)[0])
    return frames


def test_same_seed_same_actions_same_frames(tiny_ckpt: Path) -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (6, 2)).astype(np.float32)
    a = _rollout(LCVGEnv(tiny_ckpt), 7, actions)
    b = _rollout(LCVGEnv(tiny_ckpt), 7, actions)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[-1], _rollout(LCVGEnv(tiny_ckpt), 7, -actions)[-1])  # actions matter


def test_seed_draws_start_frame_and_goal(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt)
    seen = set()
    for seed in range(8):
        _, info = env.reset(seed=seed)
        seen.add((tuple(env.frame[::4, ::4, 0].ravel()), tuple(info["goal_px"])))
        lo, hi = env.core.task.low, env.core.task.high
        assert np.all(info["goal_px"] >= lo) and np.all(info["goal_px"] <= hi)
    assert len(seen) == 8


def test_reset_options(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt)
    bank = env.core.start_frames
    env.reset(seed=0, options={"start_index": 3})
    assert np.array_equal(env.frame, bank[3])
    picture = np.zeros((50, 70, 3), dtype=np.uint8)
    picture[:, 35:] = 200
    obs, _ = env.reset(options={"frame": picture})  # another size: resized
    assert obs.shape == (32, 32, 3) and env.frame[:, :12].max() <= 2 and env.frame[:, 18:].min() > 150
    for bad in ({"frame": picture.astype(np.float32)}, {"start_index": 99}, {"frames": picture}):
        with pytest.raises(ValueError):
            env.reset(options=bad)


@pytest.mark.parametrize("action", [[np.nan, 0.0], [0.0, np.inf], [0.0], [0.0, 0.0, 0.0], [[0.0, 0.0]], "up"])
def test_bad_actions_raise(tiny_ckpt: Path, action) -> None:
    env = LCVGEnv(tiny_ckpt)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(action)


def test_out_of_range_actions_are_clipped(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, max_displacement=3.0)
    env.reset(seed=1)
    obs_big, _, _, _, info = env.step(np.array([5.0, -7.0], dtype=np.float32))
    np.testing.assert_allclose(info["control_px"], [3.0, -3.0])
    np.testing.assert_allclose(info["control_norm"], [3.0 * 2 / 32, -3.0 * 2 / 32])
    env.reset(seed=1)
    obs_unit = env.step(np.array([1.0, -1.0], dtype=np.float32))[0]
    assert np.array_equal(obs_big, obs_unit)


def test_info_contents(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt)
    _, info = env.reset(seed=0)
    assert info["mask"].shape == (32, 32) and info["mask"].dtype == bool
    np.testing.assert_allclose(info["control_px"], [0.0, 0.0])
    ys, xs = np.nonzero(info["mask"])
    if len(xs):
        np.testing.assert_allclose(info["centroid_px"], [xs.mean() + 0.5, ys.mean() + 0.5], atol=1e-3)
    distance = np.linalg.norm(info["centroid_px"] - info["goal_px"])
    _, reward, *_ = env.step(np.zeros(2, np.float32))
    assert -1.0 <= reward <= 0.0
    assert isinstance(info["is_success"], bool) and distance == pytest.approx(info["distance_px"], abs=1e-4)


def test_goal_drawn_on_observation_never_fed_to_generator(tiny_ckpt: Path) -> None:
    actions = np.random.default_rng(1).uniform(-1, 1, (4, 2)).astype(np.float32)
    reach, plain = LCVGEnv(tiny_ckpt), LCVGEnv(tiny_ckpt, task="none")
    obs_r, info_r = reach.reset(seed=5)
    obs_p, info_p = plain.reset(seed=5)
    assert "goal_px" not in info_p and np.array_equal(obs_p, plain.frame)
    gx, gy = info_r["goal_px"].astype(int)
    assert np.array_equal(obs_r[gy, gx], GOAL_COLOUR) and not np.array_equal(obs_r, reach.frame)
    for a in actions:
        reach.step(a)
        _, reward, *_ = plain.step(a)
        assert reward == 0.0
        assert np.array_equal(reach.frame, plain.frame)


def test_empty_mask_still_steps(tiny_ckpt: Path) -> None:
    ckpt = load_checkpoint(tiny_ckpt)
    last = [m for m in ckpt.generator.mask_net.modules() if hasattr(m, "bias") and m.bias is not None][-1]
    last.bias.data.fill_(-50.0)  # sigmoid -> 0 everywhere: no foreground
    env = LCVGEnv(ckpt)
    assert ckpt.generator.quant_conv.weight.dtype.is_floating_point  # the caller's model is untouched:
    assert str(ckpt.generator.quant_conv.weight.dtype) == "torch.float32"
    _, info = env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(np.array([1.0, 0.0], np.float32))
    assert not info["mask"].any() and np.isnan(info["centroid_px"]).all()
    assert reward == -1.0 and not terminated and obs.dtype == np.uint8


def test_success_terminates_when_asked(tiny_ckpt: Path) -> None:
    env = LCVGEnv(tiny_ckpt, success_radius=100.0)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert info["is_success"] and terminated
    env = LCVGEnv(tiny_ckpt, success_radius=100.0, terminate_on_success=False)
    env.reset(seed=0)
    assert not env.step(np.zeros(2, np.float32))[2]


def test_reward_fn_replaces_reward(tiny_ckpt: Path) -> None:
    calls = []

    def reward_fn(frame: np.ndarray, mask: np.ndarray, info: dict) -> float:
        calls.append((frame.shape, mask.dtype, "goal_px" in info))
        return float(mask.sum())

    env = LCVGEnv(tiny_ckpt, reward_fn=reward_fn)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(2, np.float32))
    assert reward == float(info["mask"].sum())
    assert calls[-1] == ((32, 32, 3), np.dtype(bool), True)


@pytest.mark.parametrize(("control", "dims"), [("rotation", 3), ("affine", 6)])
def test_control_modes(tiny_ckpt: Path, control: str, dims: int) -> None:
    env = LCVGEnv(tiny_ckpt, control=control, max_rotation=0.1)
    assert env.action_space.shape == (dims,)
    env.reset(seed=0)
    action = np.zeros(dims, np.float32)
    action[-1] = 1.0
    _, _, _, _, info = env.step(action)
    if control == "rotation":
        np.testing.assert_allclose(info["control_px"], [0.0, 0.0, 0.1])
    else:  # an offset from the identity; the last entry is the y translation
        np.testing.assert_allclose(info["control_px"], [1, 0, 0, 0, 1, 4.0])
        np.testing.assert_allclose(info["control_norm"], [1, 0, 0, 0, 1, 4.0 * 2 / 32])


def test_discrete_control(tiny_ckpt: Path) -> None:
    env = DiscreteControl(LCVGEnv(tiny_ckpt, control="affine"))
    assert env.action_space.n == 5
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)  # up: y decreases
    np.testing.assert_allclose(info["control_px"], [1, 0, 0, 0, 1, -4.0])
    _, _, _, _, info = env.step(np.int64(3))  # left
    np.testing.assert_allclose(info["control_px"], [1, 0, -4.0, 0, 1, 0])
    with pytest.raises(ValueError):
        env.step(7)


def test_bad_kwargs_are_reported(tiny_ckpt: Path) -> None:
    with pytest.raises(ValueError, match="task"):
        LCVGEnv(tiny_ckpt, task="chase")
    with pytest.raises(ValueError, match="control"):
        LCVGEnv(tiny_ckpt, control="shear")
    with pytest.raises(ValueError, match="render_mode"):
        LCVGEnv(tiny_ckpt, render_mode="ascii")


def test_non_square_frames_and_float32(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "wide.safetensors", size=32, width=64)
    env = gymnasium.make("LCVG-Tennis-v0", checkpoint=str(ckpt), dtype="float32", render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env = env.unwrapped
    _, info = env.reset(seed=0)
    assert env.observation_space.shape == (32, 64, 3)
    assert 0 <= info["goal_px"][0] <= 64 and 0 <= info["goal_px"][1] <= 32
    _, _, _, _, info = env.step(np.array([1.0, 1.0], np.float32))
    np.testing.assert_allclose(info["control_norm"], [4.0 * 2 / 64, 4.0 * 2 / 32])


def test_a_composite_checkpoint_keeps_the_scene_outside_the_masks(tmp_path: Path) -> None:
    """``composite_margin`` set in a checkpoint: the env's frame outside the old and the moved mask is
    the previous frame's, byte for byte, and equals ``LayeredGenerator.step`` (float32)."""
    import torch

    from lcvg_env.env.sim import to_uint8, to_unit_range

    path = make_checkpoint(tmp_path / "composite.safetensors", 32, composite_margin=0)
    env = LCVGEnv(path, dtype="float32", task="none")
    env.reset(seed=0)
    before, mask_before = env.frame.copy(), env.core.sim.mask_arrays()[0]
    _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
    gen = load_checkpoint(path).generator
    x = to_unit_range(torch.from_numpy(before).permute(2, 0, 1)[None])  # (1, 3, H, W)
    control = torch.as_tensor(info["control_norm"], dtype=torch.float32)[None]
    expected = to_uint8(gen.step(x, control, "translation").frame)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(env.frame, expected)
    moved = gen.warp_mask(torch.from_numpy(mask_before)[None, None].float(), control, "translation")
    outside = ~(mask_before | moved[0, 0].bool().numpy())
    assert outside.any() and np.array_equal(env.frame[outside], before[outside])


def test_reset_goal_option_sets_the_goal_and_is_checked(tmp_path: Path) -> None:
    env = LCVGEnv(checkpoint=make_checkpoint(tmp_path / "m.safetensors", 32))
    _, drawn = env.reset(seed=3)
    _, info = env.reset(seed=3, options={"goal": (10.0, 20.0)})
    np.testing.assert_allclose(info["goal_px"], [10.0, 20.0])
    assert not np.allclose(drawn["goal_px"], [10.0, 20.0])
    for bad in ((1.0,), (np.nan, 2.0), (-1.0, 3.0), (1e4, 3.0)):
        with pytest.raises(ValueError, match="options\\['goal'\\]"):
            env.reset(seed=3, options={"goal": bad})


def test_subpixel_remainders_are_carried_per_env_and_cleared_on_reset(tmp_path: Path) -> None:
    """``subpixel`` checkpoints: the sim carries each env's unmoved remainder to its next step (the same
    frames as the generator's own step with that remainder) and a reset starts it from zero."""
    import torch

    from lcvg_env.control.warp import pixels_to_normalized
    from lcvg_env.env.sim import to_uint8, to_unit_range

    path = make_checkpoint(tmp_path / "sub.safetensors", 32, subpixel=True)
    env = LCVGEnv(path, task="none", max_displacement=1.0, dtype="float32")
    env.reset(seed=0)
    sim = env.core.sim
    env.step(np.array([0.3, -0.75], np.float32))  # 0.3 px, -0.75 px: whole moves 0 and -1
    np.testing.assert_allclose(sim.residual.numpy(), [[0.3, 0.25]], atol=1e-5)
    before = env.frame.copy()
    env.step(np.array([0.3, 0.0], np.float32))  # 0.6 px now: one whole pixel, -0.4 left
    np.testing.assert_allclose(sim.residual.numpy(), [[-0.4, 0.25]], atol=1e-5)
    gen = load_checkpoint(path).generator
    x = to_unit_range(torch.from_numpy(before).permute(2, 0, 1)[None])  # (1, 3, H, W)
    control = pixels_to_normalized(torch.tensor([[0.3, 0.0]]), "translation", (32, 32))
    out = gen.step(x, control, "translation", residual=torch.tensor([[0.3, 0.25]]))
    np.testing.assert_array_equal(env.frame, to_uint8(out.frame)[0].permute(1, 2, 0).numpy())
    env.reset(seed=1)
    assert not sim.residual.any()
