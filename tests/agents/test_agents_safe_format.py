"""The pickle-free agent format: round trips per algorithm, the refusal of pickled zips, bad files.

The models are untrained SB3 agents on a spaces-only env (no world model): saving and loading
concern the policy's classes, keywords, spaces and weights, not what it learned.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_agents.config import ALGOS
from lcvg_agents.loading import ModelSource, UntrustedPickleError, find_model, load_model
from lcvg_agents.networks import policy_kwargs
from lcvg_agents.safe_format import (
    build_policy,
    load_safe_agent,
    read_agent_json,
    safe_paths,
    save_safe_agent,
)
from lcvg_agents.safe_json import AgentFormatError, policy_classes
from lcvg_env.cli import app
from tests.agents.conftest import tiny_env_kwargs

runner = CliRunner()
PIXELS = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
GOALS = gym.spaces.Dict(
    {
        "image": PIXELS,
        "achieved_goal": gym.spaces.Box(0.0, 1.0, (2,)),
        "desired_goal": gym.spaces.Box(0.0, 1.0, (2,)),
    }
)
BOX2 = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


class SpacesEnv(gym.Env):
    """An env that only has spaces: enough to build an SB3 model."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def build_model(algo: str, observation: gym.Space = PIXELS, features: str = "keypoints", action=None):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from lcvg_agents.train import algo_class

    action = action or (gym.spaces.Discrete(5) if algo == "dqn" else BOX2)
    env = DummyVecEnv([lambda: SpacesEnv(observation, action)])
    policy = "MultiInputPolicy" if isinstance(observation, gym.spaces.Dict) else "CnnPolicy"
    return algo_class(algo)(
        policy,
        env,
        policy_kwargs=policy_kwargs(observation, features, 16),
        seed=0,
        device="cpu",
        **({} if algo == "ppo" else {"buffer_size": 64}),
    )


def observations(space: gym.Space, count: int = 6):
    space.seed(1)
    batch = [space.sample() for _ in range(count)]
    if isinstance(space, gym.spaces.Dict):
        return {key: np.stack([obs[key] for obs in batch]) for key in space}  # {key: (B, ...)}
    return np.stack(batch)  # (B, H, W, 3)


def _forbid_unpickling(monkeypatch) -> None:
    import cloudpickle
    from stable_baselines3.common.base_class import BaseAlgorithm

    def refuse(*args, **kwargs):
        raise AssertionError("the safe path must not unpickle")

    for owner, name in ((pickle, "load"), (pickle, "loads"), (cloudpickle, "loads"), (torch, "load")):
        monkeypatch.setattr(owner, name, refuse)
    monkeypatch.setattr(BaseAlgorithm, "load", classmethod(refuse))


def test_every_algorithm_has_allow_listed_policies():
    assert set(policy_classes()) == set(ALGOS)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    ("observation", "features"),
    [pytest.param(PIXELS, "coord", id="pixels"), pytest.param(GOALS, "keypoints", id="goal-dict")],
)
def test_round_trip_gives_the_same_actions_without_unpickling(
    algo, observation, features, tmp_path, monkeypatch
):
    model = build_model(algo, observation, features)
    path = save_safe_agent(model, tmp_path / "agent", "LCVG-Pusher-v0", {"max_episode_steps": 8})
    _forbid_unpickling(monkeypatch)
    agent = load_safe_agent(path.with_suffix(".safetensors"))  # either file names the agent
    obs = observations(observation)
    want, _ = model.predict(obs, deterministic=True)
    got, _ = agent.predict(obs, deterministic=True)
    np.testing.assert_array_equal(got, want)
    assert agent.observation_space == model.observation_space and agent.action_space == model.action_space
    loaded, original = agent.policy.state_dict(), model.policy.state_dict()
    assert loaded.keys() == original.keys()
    assert all(torch.equal(loaded[k], original[k]) for k in original)
    assert (agent.algo, agent.env_id, agent.env_kwargs) == (algo, "LCVG-Pusher-v0", {"max_episode_steps": 8})
    if algo != "dqn":  # the check can fail: fresh weights act differently
        fresh, _ = build_policy(read_agent_json(path)).predict(obs, deterministic=True)
        assert not np.array_equal(fresh, want)


def test_dqn_explores_with_its_rate_unless_deterministic(tmp_path):
    model = build_model("dqn")
    model.exploration_rate = 1.0
    agent = load_safe_agent(save_safe_agent(model, tmp_path / "dqn"))
    assert agent.exploration_rate == 1.0
    obs = observations(PIXELS, 64)
    np.random.seed(0)
    explored, _ = agent.predict(obs, deterministic=False)
    greedy, _ = agent.predict(obs, deterministic=True)
    assert len(set(explored.tolist())) > 1 and explored.shape == greedy.shape == (64,)


class RunsCode:
    """Unpickling this makes the directory ``marker``: a stand-in for any code an attacker wants run."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def crafted_zip(path, marker):
    """An SB3-looking .zip whose serialized policy class runs code when SB3's loader unpickles it."""
    payload = base64.b64encode(pickle.dumps(RunsCode(marker))).decode()
    data = {
        "policy_class": {
            ":type:": "<class 'abc.ABCMeta'>",
            ":serialized:": payload,
            "__module__": "stable_baselines3.common.policies",
        }
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data))
    return path


def test_crafted_zip_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    model = crafted_zip(tmp_path / "evil.zip", marker)
    run = tmp_path / "run"
    run.mkdir()
    crafted_zip(run / "model.zip", marker)
    for args in (
        ["agent", "eval", str(model), "LCVG-Pusher-v0", "--no-video"],
        ["agent", "eval", str(run), "LCVG-Pusher-v0", "--no-video"],
        ["agent", "convert", str(model), "--out", str(tmp_path / "out")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "--trust-pickle" in result.output and "arbitrary code" in result.output
        if args[1] == "convert":  # not advised to run the command it is running
            assert "run the same command with --trust-pickle" in result.output
            assert "lcvg agent convert" not in result.output
        else:
            assert "lcvg agent convert" in result.output
    with pytest.raises(UntrustedPickleError):
        find_model(str(model))
    with pytest.raises(UntrustedPickleError):
        load_model(ModelSource(model, "ppo"))
    assert not marker.exists()
    assert not list(tmp_path.glob("out*"))


def test_crafted_zip_runs_code_once_trusted(tmp_path):
    """The refusal above is what protects: with --trust-pickle SB3's loader runs the file's code."""
    marker = tmp_path / "ran"
    model = crafted_zip(tmp_path / "evil.zip", marker)
    runner.invoke(app, ["agent", "convert", str(model), "--out", str(tmp_path / "out"), "--trust-pickle"])
    assert marker.is_dir()


def test_convert_a_trusted_zip_to_the_safe_format(tmp_path):
    from stable_baselines3 import SAC

    model = build_model("sac")
    (tmp_path / "old").mkdir()
    model.save(tmp_path / "old" / "model.zip")
    (tmp_path / "old" / "args.json").write_text(
        json.dumps({"env_id": "E-v0", "env_kwargs": {"task": "reach"}})
    )
    args = ["agent", "convert", str(tmp_path / "old" / "model.zip"), "--out", str(tmp_path / "old")]
    args += ["--trust-pickle"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"] == str(tmp_path / "old" / "model.json")
    agent = load_safe_agent(tmp_path / "old" / "model.json")
    assert (agent.algo, agent.env_id, agent.env_kwargs) == ("sac", "E-v0", {"task": "reach"})
    obs = observations(PIXELS)
    want, _ = SAC.load(tmp_path / "old" / "model.zip", device="cpu").predict(obs, deterministic=True)
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0], want)
    assert find_model(str(tmp_path / "old")).path.name == "model.json"  # the run folder now loads safely
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "exists" in again.output


def test_eval_cli_loads_a_safe_agent_with_its_env(agent_checkpoint, tmp_path):
    from lcvg_agents.envs import make_sb3_env

    kwargs = tiny_env_kwargs(agent_checkpoint)
    env = make_sb3_env("LCVG-Pusher-v0", 1, kwargs)
    model = build_model("ppo", env.observation_space, "coord", env.action_space)
    save_safe_agent(model, tmp_path / "agent", "LCVG-Pusher-v0", kwargs)
    args = [
        "agent",
        "eval",
        str(tmp_path / "agent.json"),
        "LCVG-Pusher-v0",
        "--episodes",
        "2",
        "--n-envs",
        "2",
    ]
    result = runner.invoke(app, [*args, "--json", str(tmp_path / "row.json"), "--no-video"])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "row.json").read_text())
    assert row["episodes"] == 2 and row["lengths"] == [8, 8]  # max_episode_steps=8 came from the agent's JSON


def _edit_json(path, edit) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


BAD_JSON = [
    (lambda m: m.update(algo="a2c"), "unknown algorithm 'a2c'"),
    (lambda m: m.update(policy_class="Evil"), "not allow-listed for ppo"),
    (
        lambda m: m["policy_kwargs"].update(activation_fn={"__class__": "os.system"}),
        "'os.system', which is not",
    ),
    (lambda m: m["policy_kwargs"].update(bogus=1), "do not build ActorCriticCnnPolicy"),
    (lambda m: m["action_space"].update(shape=[3]), "has shape"),
    (lambda m: m["observation_space"].update(dtype="object"), "dtype must be one of"),
    (lambda m: m["observation_space"].update(low=[0, 1]), "low has shape"),
    (lambda m: m.update(format_version=2), "format_version 2"),
    (lambda m: m.update(extra=1), "unknown keys ['extra']"),
    (lambda m: m.pop("env_kwargs"), "missing keys ['env_kwargs']"),
    (lambda m: m.update(env_kwargs=[1]), "env_kwargs must be a JSON dict"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_JSON)
def test_bad_json_gives_a_clear_error(edit, message, tmp_path):
    path = save_safe_agent(build_model("ppo"), tmp_path / "agent")
    _edit_json(path, edit)
    with pytest.raises(AgentFormatError, match=re.escape(message)):
        load_safe_agent(path)


def test_bad_weights_give_a_clear_error(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_safe_agent(build_model("ppo"), tmp_path / "agent")
    _, weights = safe_paths(path)
    tensors = load_file(weights)
    save_file({k: v for k, v in tensors.items() if k != "log_std"}, weights)
    with pytest.raises(AgentFormatError, match=r"missing tensors \['log_std'\]"):
        load_safe_agent(path)
    save_file({**tensors, "log_std": torch.full_like(tensors["log_std"], float("nan"))}, weights)
    with pytest.raises(AgentFormatError, match="NaN"):
        load_safe_agent(path)
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(AgentFormatError, match="not a readable safetensors file"):
        load_safe_agent(path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="needs its weights"):
        load_safe_agent(path)
    path.write_text("{")
    result = runner.invoke(app, ["agent", "eval", str(path), "LCVG-Pusher-v0", "--no-video"])
    assert result.exit_code == 1 and "not valid JSON" in result.output


def test_unsupported_models_are_not_saved(tmp_path):
    model = build_model("ppo")
    model.policy.features_extractor_kwargs = {"features_dim": 16, "hook": print}
    with pytest.raises(ValueError, match="cannot be stored"):
        save_safe_agent(model, tmp_path / "agent")
    assert not safe_paths(tmp_path / "agent")[0].exists()
