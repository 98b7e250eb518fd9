"""The reference controllers, the features extractor and the run configuration (no env needed)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from lcvg_agents.config import Args, parse_key_values
from lcvg_agents.networks import CoordCNN, num_downsamples, policy_kwargs
from lcvg_agents.policies import RandomPolicy, ScriptedReacher

BOX2 = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def reach_info(centroids, goals) -> dict:
    return {"centroid_px": np.asarray(centroids, np.float32), "goal_px": np.asarray(goals, np.float32)}


def test_scripted_moves_straight_to_the_goal_in_action_units():
    policy = ScriptedReacher(BOX2, max_displacement=4.0)
    info = reach_info([[10, 10], [10, 10], [5, 5]], [[12, 9], [30, 10], [5, 5]])
    actions = policy(np.zeros((3, 32, 32, 3), np.uint8), info)
    np.testing.assert_allclose(
        actions, [[0.5, -0.25], [1.0, 0.0], [0.0, 0.0]]
    )  # far goal: clipped to the box


@pytest.mark.parametrize(("dims", "index"), [(3, (0, 1)), (6, (2, 5))])
def test_scripted_sets_only_the_translation_entries(dims, index):
    space = gym.spaces.Box(-1.0, 1.0, shape=(dims,), dtype=np.float32)
    action = ScriptedReacher(space, max_displacement=2.0)(None, reach_info([[0, 0]], [[1, -1]]))[0]
    expected = np.zeros(dims, np.float32)
    expected[list(index)] = (0.5, -0.5)
    np.testing.assert_allclose(action, expected)


def test_scripted_without_foreground_does_nothing():
    action = ScriptedReacher(BOX2, max_displacement=4.0)(None, reach_info([[np.nan, np.nan]], [[3, 3]]))
    np.testing.assert_array_equal(action, [[0.0, 0.0]])


def test_scripted_discrete_picks_the_best_direction_and_stops_near_the_goal():
    policy = ScriptedReacher(gym.spaces.Discrete(5), max_displacement=4.0)
    info = reach_info([[10, 10]] * 5, [[10, 0], [10, 20], [0, 11], [20, 12], [11, 10]])
    np.testing.assert_array_equal(policy(None, info), [1, 2, 3, 4, 0])  # up, down, left, right, no-op


def test_scripted_needs_the_reach_info():
    with pytest.raises(ValueError, match="goal_px"):
        ScriptedReacher(BOX2, max_displacement=4.0)(None, {"centroid_px": np.zeros((1, 2))})
    with pytest.raises(ValueError, match="max_displacement"):
        ScriptedReacher(BOX2, max_displacement=0.0)


def test_random_policy_is_in_bounds_and_seeded():
    obs = np.zeros((64, 8, 8, 3), np.uint8)
    a, b = RandomPolicy(BOX2, seed=3)(obs, {}), RandomPolicy(BOX2, seed=3)(obs, {})
    assert a.shape == (64, 2) and np.all(np.abs(a) <= 1.0)
    np.testing.assert_array_equal(a, b)
    assert a.std() > 0.3  # uniform on [-1, 1] has std 0.58


@pytest.mark.parametrize(("h", "w", "downs"), [(16, 16, 1), (32, 32, 2), (64, 64, 3), (96, 256, 4)])
def test_coord_cnn_works_for_any_size_from_16(h, w, downs):
    assert num_downsamples(h, w) == downs
    space = gym.spaces.Box(0, 255, shape=(3, h, w), dtype=np.uint8)
    net = CoordCNN(space, features_dim=32)
    out = net(torch.rand(2, 3, h, w))
    assert out.shape == (2, 32)
    assert torch.all(out >= 0)


def test_coord_cnn_sees_position():
    """Two frames that differ only by where a dot is give different features (the coord channels)."""
    net = CoordCNN(gym.spaces.Box(0, 255, shape=(3, 16, 16), dtype=np.uint8), features_dim=16)
    a, b = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    a[..., 2, 2], b[..., 12, 12] = 1.0, 1.0
    assert not torch.allclose(net(a), net(b))


def test_coord_cnn_rejects_small_frames_and_dict_gets_combined_extractor():
    with pytest.raises(ValueError, match="at least 16"):
        CoordCNN(gym.spaces.Box(0, 255, shape=(3, 8, 8), dtype=np.uint8))
    image = gym.spaces.Box(0, 255, shape=(3, 16, 16), dtype=np.uint8)
    kwargs = policy_kwargs(gym.spaces.Dict({"image": image, "goal": BOX2}), "coord", 8)
    extractor = kwargs["features_extractor_class"](gym.spaces.Dict({"image": image, "goal": BOX2}), 8)
    out = extractor({"image": torch.rand(2, 3, 16, 16), "goal": torch.rand(2, 2)})
    assert out.shape == (2, 8 + 2) and extractor.features_dim == 10


def test_args_validate_and_name_runs():
    args = Args(env_id="LCVG-Pusher-v0", algo="sac", seed=3, start_time=123, hyperparams={"buffer_size": 10})
    assert args.run_name == "LCVG-Pusher-v0__sac__3__123"
    assert str(args.run_dir).endswith("runs/agents/LCVG-Pusher-v0__sac__3__123")
    assert args.algo_kwargs()["buffer_size"] == 10 and args.algo_kwargs()["learning_starts"] == 1_000
    ppo = Args(algo="ppo", hyperparams={"log_std_init": -2.0, "n_epochs": 3})
    assert ppo.policy_overrides() == {"log_std_init": -2.0} and "log_std_init" not in ppo.algo_kwargs()
    assert ppo.algo_kwargs()["n_epochs"] == 3
    with pytest.raises(ValueError, match="algo"):
        Args(algo="a2c")
    with pytest.raises(ValueError, match="n_stepz"):
        Args(algo="ppo", hyperparams={"n_stepz": 3})
    with pytest.raises(ValueError, match="n_envs"):
        Args(n_envs=0)


def test_parse_key_values():
    parsed = parse_key_values(
        ["max_displacement=2.5", "checkpoint=a/b.safetensors", "flag=true"], "--env-kwargs"
    )
    assert parsed == {"max_displacement": 2.5, "checkpoint": "a/b.safetensors", "flag": True}
    with pytest.raises(ValueError, match="key=value"):
        parse_key_values(["oops"], "--env-kwargs")


def test_goals_extractor_reads_only_the_goal_vectors():
    from lcvg_agents.networks import GoalsExtractor

    image = gym.spaces.Box(0, 255, (3, 32, 32), np.uint8)
    space = gym.spaces.Dict({"image": image, "achieved_goal": BOX2, "desired_goal": BOX2})
    kwargs = policy_kwargs(space, "goals")
    assert kwargs["features_extractor_class"] is GoalsExtractor
    extractor = GoalsExtractor(space)
    assert extractor.features_dim == 4
    obs = {
        "image": torch.rand(2, 3, 32, 32),
        "achieved_goal": torch.tensor([[0.1, 0.2], [0.3, 0.4]]),
        "desired_goal": torch.tensor([[0.5, 0.6], [0.7, 0.8]]),
    }
    features = extractor(obs)
    torch.testing.assert_close(features, torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.3, 0.4, 0.7, 0.8]]))
    with pytest.raises(ValueError, match="observation=dict"):
        policy_kwargs(image, "goals")


def test_spatial_softmax_finds_the_peak():
    """A map with one hot pixel at (x=12, y=3) of 16x16 gives that pixel's grid point in [-1, 1]."""
    from lcvg_agents.networks import SpatialSoftmax

    maps = torch.zeros(1, 2, 16, 16)
    maps[0, 0, 3, 12] = 50.0
    points = SpatialSoftmax(16, 16)(maps)
    assert points.shape == (1, 2, 2)
    torch.testing.assert_close(
        points[0, 0], torch.tensor([-1 + 2 * 12 / 15, -1 + 2 * 3 / 15]), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(points[0, 1], torch.zeros(2), atol=1e-6, rtol=0)  # flat map: the centre


@pytest.mark.parametrize(("h", "w"), [(16, 16), (64, 64), (48, 80)])
def test_keypoint_cnn_gives_coordinates_and_follows_a_dot(h, w):
    from lcvg_agents.networks import KeypointCNN

    space = gym.spaces.Box(0, 255, shape=(3, h, w), dtype=np.uint8)
    kwargs = policy_kwargs(space, "keypoints")
    assert kwargs["features_extractor_class"] is KeypointCNN
    assert kwargs["features_extractor_kwargs"]["features_dim"] == 32  # default: 16 keypoints
    net = KeypointCNN(space, features_dim=8)
    a, b = torch.zeros(1, 3, h, w), torch.zeros(1, 3, h, w)
    a[..., 2, 2], b[..., h - 3, w - 3] = 1.0, 1.0
    fa, fb = net(a), net(b)
    assert fa.shape == (1, 8) and torch.all(fa.abs() <= 1.0)
    assert not torch.allclose(fa, fb)
    with pytest.raises(ValueError, match="even"):
        KeypointCNN(space, features_dim=7)


def test_keypoints_on_dict_observations_read_the_goal_but_not_the_foreground_position():
    """``keypoints`` on goal dicts: the image through KeypointCNN and ``desired_goal``; the agent must
    find the foreground itself, so ``achieved_goal`` is left out."""
    image = gym.spaces.Box(0, 255, (3, 32, 32), np.uint8)
    space = gym.spaces.Dict({"image": image, "achieved_goal": BOX2, "desired_goal": BOX2})
    kwargs = policy_kwargs(space, "keypoints", 8)
    extractor = kwargs["features_extractor_class"](space, **kwargs["features_extractor_kwargs"])
    assert extractor.features_dim == 8 + 2
    obs = {
        "image": torch.rand(2, 3, 32, 32),
        "achieved_goal": torch.rand(2, 2),
        "desired_goal": torch.rand(2, 2),
    }
    out = extractor(obs)
    assert list(extractor.extractors) == ["desired_goal", "image"]  # gymnasium sorts the Dict's keys
    torch.testing.assert_close(out[:, :2], obs["desired_goal"])
    moved = {**obs, "achieved_goal": torch.rand(2, 2)}
    torch.testing.assert_close(extractor(moved), out)  # achieved_goal is not read


def test_auto_features_pick_keypoints_for_goal_dicts_and_coord_for_pixels():
    from lcvg_agents.networks import CombinedExtractor, KeypointCNN, resolve_features

    image = gym.spaces.Box(0, 255, (3, 32, 32), np.uint8)
    goal_dict = gym.spaces.Dict({"image": image, "achieved_goal": BOX2, "desired_goal": BOX2})
    assert resolve_features(image, "auto") == "coord" and resolve_features(goal_dict, "auto") == "keypoints"
    assert resolve_features(goal_dict, "nature") == "nature"
    assert policy_kwargs(image)["features_extractor_class"] is CoordCNN
    kwargs = policy_kwargs(goal_dict)
    assert kwargs["features_extractor_class"] is CombinedExtractor
    assert kwargs["features_extractor_kwargs"]["cnn"] is KeypointCNN
    assert Args().features == "auto"
