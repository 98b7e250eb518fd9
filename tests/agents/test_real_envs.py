"""Evaluation in the real pusher (LCVG-PusherMuJoCo-v0) and from its start states in the learned env:
agents.real_envs, the scripted-detector baseline and ``lcvg agent eval`` on both ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_agents.envs import env_ids, make_vector_env
from lcvg_agents.loading import baseline_policy
from lcvg_agents.real_envs import MUJOCO_ID, RealStarts, mujoco_env_kwargs
from lcvg_env.cli import app
from lcvg_env.env.mujoco_env import PusherMuJoCoEnv
from lcvg_env.evaluation.env_view import env_view
from lcvg_env.evaluation.policy import evaluate_policy
from tests.agents.conftest import tiny_env_kwargs

runner = CliRunner()
FAST = {"learned_criterion": False, "max_episode_steps": 12}
"""MuJoCo env keywords of the fast tests: no world model, 12-step episodes."""


def test_the_real_pusher_is_an_agent_env_id() -> None:
    assert MUJOCO_ID in env_ids() and "LCVG-Pusher-v0" in env_ids()


def test_training_keywords_become_the_real_envs(agent_checkpoint) -> None:
    kwargs = {"checkpoint": str(agent_checkpoint), "threads": 1, "task": "reach", "observation": "dict"}
    assert mujoco_env_kwargs(kwargs) == {
        "checkpoint": str(agent_checkpoint),
        "observation": "dict",
        "size": 32,
    }
    assert mujoco_env_kwargs({"max_displacement": 3.0}) == {"max_displacement": 3.0}
    # the learned env's stand-ins for the real arm's lag and workspace: the real arm has its own
    assert mujoco_env_kwargs({"actuation": "data", "region": "data"}) == {}
    with pytest.raises(ValueError, match="task='none'"):
        mujoco_env_kwargs({"task": "none"})
    with pytest.raises(ValueError, match="Drop --env-kwargs control"):
        mujoco_env_kwargs({"control": "affine"})


def test_scripted_reaches_with_the_true_tip_and_evaluation_is_seeded() -> None:
    venv = make_vector_env(MUJOCO_ID, 2, FAST)
    view = env_view(venv)
    assert view.point == "tip_px" and view.max_displacement == 4.0 and view.frames().shape == (2, 64, 64, 3)
    scripted = evaluate_policy(baseline_policy("scripted", venv), venv, 3, seed=7, name="scripted")
    random = evaluate_policy(baseline_policy("random", venv, seed=0), venv, 3, seed=7, name="random")
    again = evaluate_policy(baseline_policy("random", venv, seed=0), venv, 3, seed=7, name="random")
    venv.close()
    assert scripted.success_rate == 1.0 and max(scripted.lengths) < 12
    assert max(scripted.final_distances) <= 4.0  # the success radius at 64 px, by the true tip
    assert scripted.mean_return > random.mean_return and random.lengths == [12, 12, 12]
    assert again.returns == random.returns  # seeded: the same starts and actions


def test_real_starts_give_the_learned_env_mujocos_frames_and_goals(agent_checkpoint) -> None:
    venv = RealStarts(make_vector_env("LCVG-Pusher-v0", 2, tiny_env_kwargs(agent_checkpoint)))
    obs, info = venv.reset(seed=3)
    real = PusherMuJoCoEnv(size=32, learned_criterion=False)
    for i in range(2):
        real_obs, real_info = real.reset(seed=3 + i)
        np.testing.assert_array_equal(venv.lcvg.frames[i], real.frame)  # the same start frame
        np.testing.assert_array_equal(info["goal_px"][i], real_info["goal_px"])  # and goal
        np.testing.assert_array_equal(obs[i], real_obs)  # so the same observation
    assert info["_goal_px"].all()
    real.close()
    venv.close()


def test_scripted_detector_steers_by_the_detected_tip_in_the_learned_env(colour_checkpoint, red_detector):
    """The colour double moves its red square as commanded, and the fake detector finds the square in the
    clean frame: steering by it reaches every goal."""
    venv = make_vector_env("LCVG-Pusher-v0", 4, {"checkpoint": colour_checkpoint, "max_episode_steps": 30})
    result = evaluate_policy(baseline_policy("scripted-detector", venv), venv, 4, seed=5)
    assert result.success_rate == 1.0 and max(result.lengths) < 30


def _eval(*args: str, json_out) -> dict:
    result = runner.invoke(app, ["agent", "eval", *args, "--no-video", "--json", str(json_out)])
    assert result.exit_code == 0, result.output
    return json.loads(json_out.read_text())


def test_eval_cli_runs_the_baselines_in_the_real_env(tmp_path) -> None:
    kwargs = [f"--env-kwargs={k}={json.dumps(v)}" for k, v in FAST.items()]
    for name in ("scripted", "scripted-detector"):
        row = _eval(name, MUJOCO_ID, "--episodes", "2", "--n-envs", "2", *kwargs, json_out=tmp_path / name)
        assert row["env_id"] == MUJOCO_ID and row["episodes"] == 2
        assert row["success_rate"] == 1.0, row  # the detector finds the real tip; the mapping moves it


def test_eval_cli_runs_a_saved_agent_in_both_envs_from_the_same_starts(agent_checkpoint, tmp_path) -> None:
    from lcvg_agents.envs import make_sb3_env
    from lcvg_agents.safe_format import save_safe_agent
    from tests.agents.test_agents_safe_format import build_model

    kwargs = tiny_env_kwargs(agent_checkpoint)  # a 32x32 model, 8-step episodes
    env = make_sb3_env("LCVG-Pusher-v0", 1, kwargs)
    save_safe_agent(build_model("ppo", env.observation_space, "coord", env.action_space), tmp_path / "a",
                    "LCVG-Pusher-v0", kwargs)  # fmt: skip
    agent = str(tmp_path / "a.json")
    real = _eval(agent, MUJOCO_ID, "--episodes", "2", "--n-envs", "2", json_out=tmp_path / "real.json")
    assert real["lengths"] == [8, 8] and real["env_id"] == MUJOCO_ID  # its 8-step episodes, at its 32 px
    learned = _eval(agent, "LCVG-Pusher-v0", "--episodes", "2", "--real-starts", json_out=tmp_path / "l.json")
    assert learned["episodes"] == 2 and "MuJoCo" in learned["extra"]["starts"]
    refused = runner.invoke(app, ["agent", "eval", "random", MUJOCO_ID, "--real-starts", "--no-video"])
    assert refused.exit_code == 1 and "Drop --real-starts" in refused.output
