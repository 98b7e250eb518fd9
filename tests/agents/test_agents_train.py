"""A few hundred steps of PPO, SAC and DQN on a tiny random-weight checkpoint; `lcvg agent` on the results."""

from __future__ import annotations

import json
import types
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_agents.config import Args
from lcvg_agents.loading import check_compatible, detect_algo, find_model
from lcvg_agents.train import train
from lcvg_env.cli import app
from tests.agents.conftest import tiny_env_kwargs
from tests.conftest import load_script

pytestmark = pytest.mark.slow

STEPS = 256
HYPERPARAMS = {
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2, "log_std_init": -0.5},
    "sac": {"buffer_size": 512, "learning_starts": 64, "batch_size": 32},
    "dqn": {"buffer_size": 512, "learning_starts": 64, "batch_size": 32, "target_update_interval": 64},
}
runner = CliRunner()


def small_run(algo: str, out, checkpoint) -> Args:
    return Args(
        algo=algo,
        total_timesteps=STEPS,
        n_envs=4,
        seed=1,
        out=str(out),
        env_kwargs=tiny_env_kwargs(checkpoint),
        hyperparams=HYPERPARAMS[algo],
        eval_freq=128,
        eval_episodes=2,
        checkpoint_freq=128,
        video_episodes=1,
        progress=False,
        threads=1,
        features_dim=32,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory, agent_checkpoint) -> dict:
    """One tiny run per algorithm: PPO through the CLI, SAC and DQN through ``agents.train.train``."""
    root = tmp_path_factory.mktemp("runs")
    kwargs = tiny_env_kwargs(agent_checkpoint)
    args = [
        "agent",
        "train",
        "LCVG-Pusher-v0",
        "--algo",
        "ppo",
        "--timesteps",
        str(STEPS),
        "--n-envs",
        "4",
        "--out",
        str(root / "ppo"),
        "--seed",
        "1",
        "--eval-freq",
        "128",
        "--eval-episodes",
        "2",
        "--checkpoint-freq",
        "128",
        "--video-episodes",
        "1",
        "--no-progress",
        "--threads",
        "1",
    ]
    args += [f"--env-kwargs={k}={v}" for k, v in kwargs.items()]
    args += [f"--hp={k}={v}" for k, v in HYPERPARAMS["ppo"].items()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = {"ppo": root / "ppo", "cli_output": result.stdout}
    for algo in ("sac", "dqn"):
        out[algo] = train(small_run(algo, root / algo, agent_checkpoint)).run_dir
    return out


@pytest.mark.parametrize("algo", ["ppo", "sac", "dqn"])
def test_run_folder_has_everything(runs, algo):
    run = runs[algo]
    safe = {f"{name}.{ext}" for name in ("model", "best_model") for ext in ("json", "safetensors")}
    assert {
        "model.zip",
        "best_model.zip",
        "args.json",
        "eval.json",
        "video.mp4",
        "evaluations.npz",
    } | safe <= {p.name for p in run.iterdir()}
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"{algo}_{steps}_steps.{ext}" for steps in (128, 256) for ext in ("json", "safetensors", "zip")
    ]
    assert list((run / "tb").glob(f"LCVG-Pusher-v0__{algo}__1__*_1/events.out.tfevents.*"))
    assert len(np.load(run / "evaluations.npz")["results"]) == 2  # evaluated at 128 and 256 steps
    assert (run / "video.mp4").stat().st_size > 0
    report = json.loads((run / "eval.json").read_text())
    assert report["episodes"] == 2 and report["extra"]["timesteps"] >= STEPS
    assert report["success_rate"] is not None and 0.0 <= report["success_rate"] <= 1.0
    assert json.loads((run / "args.json").read_text())["run_name"].startswith(f"LCVG-Pusher-v0__{algo}__1__")
    assert detect_algo(run / "model.zip") == algo


def test_cli_train_prints_the_evaluation(runs):
    summary = json.loads(runs["cli_output"])
    assert {"run_dir", "model", "mean_return", "std_return", "success_rate", "episodes"} <= set(summary)
    assert summary["timesteps"] >= 256 and 0 < summary["train_seconds"] <= summary["seconds"]


def test_policy_hyperparameters_reach_the_model(runs):
    from stable_baselines3 import PPO

    model = PPO.load(runs["ppo"] / "model.zip", device="cpu")
    assert model.n_epochs == 2 and model.n_steps == 32
    assert abs(model.policy.log_std.detach().mean().item() + 0.5) < 0.2  # started at -0.5, few small updates


def test_dqn_acts_discretely(runs):
    from stable_baselines3 import DQN

    model = DQN.load(runs["dqn"] / "model.zip", device="cpu")
    actions, _ = model.predict(np.zeros((3, 32, 32, 3), np.uint8), deterministic=True)
    assert model.action_space.n == 5 and actions.shape == (3,) and set(actions) <= set(range(5))


@pytest.mark.parametrize("algo", ["ppo", "sac", "dqn"])
def test_safe_agent_acts_as_the_zip(runs, algo):
    """The trained run's model.json + model.safetensors act as SB3's own model.zip (trusted here)."""
    from lcvg_agents.safe_format import load_safe_agent
    from lcvg_agents.train import algo_class

    zipped = algo_class(algo).load(runs[algo] / "model.zip", device="cpu")
    safe = load_safe_agent(runs[algo] / "model.json")
    obs = np.random.default_rng(0).integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        safe.predict(obs, deterministic=True)[0], zipped.predict(obs, deterministic=True)[0]
    )


@pytest.mark.parametrize(
    ("algo", "target", "flags"),
    [
        ("ppo", ".", []),
        ("sac", "checkpoints/sac_128_steps.json", []),
        ("sac", "checkpoints/sac_128_steps.zip", ["--trust-pickle"]),
        ("dqn", ".", []),
    ],
)
def test_eval_cli_on_saved_models(runs, tmp_path, algo, target, flags):
    model = runs[algo] / target
    out = tmp_path / "row.json"
    result = runner.invoke(
        app,
        [
            "agent",
            "eval",
            str(model),
            "LCVG-Pusher-v0",
            "--episodes",
            "3",
            "--n-envs",
            "2",
            "--json",
            str(out),
            "--video",
            str(tmp_path / "v.mp4"),
            *flags,
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())
    assert row["episodes"] == 3 and len(row["returns"]) == 3
    assert row["std_return"] == pytest.approx(np.std(row["returns"]))
    assert row["success_rate"] == pytest.approx(np.mean(row["successes"]))
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_eval_cli_default_video_beside_the_run(runs):
    result = runner.invoke(app, ["agent", "eval", str(runs["ppo"]), "LCVG-Pusher-v0", "--episodes", "1"])
    assert result.exit_code == 0, result.output
    assert (runs["ppo"] / "eval.mp4").stat().st_size > 0


def test_train_refuses_to_overwrite_a_run(runs, agent_checkpoint):
    with pytest.raises(FileExistsError, match=r"model\.json"):
        train(small_run("sac", runs["sac"], agent_checkpoint))


def test_find_model_and_mismatched_frames(runs, tmp_path):
    assert find_model(str(runs["sac"]), best=True).path.name == "best_model.json"
    for name in ("sac_256_steps.json", "sac_256_steps.zip"):
        source = find_model(str(runs["sac"] / "checkpoints" / name), trust_pickle=True)
        assert source.env_kwargs["max_episode_steps"] == 8 and source.algo == "sac"
    with pytest.raises(ValueError, match="--trust-pickle"):
        find_model(str(runs["sac"] / "checkpoints" / "sac_256_steps.zip"))
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        find_model(str(tmp_path / "nothing"))
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.writestr("other", "x")
    with pytest.raises(ValueError, match="stable-baselines3"):
        find_model(str(tmp_path / "bad.zip"), trust_pickle=True)
    space = types.SimpleNamespace(shape=(3, 64, 64))
    with pytest.raises(ValueError, match="64, 64"):
        check_compatible(types.SimpleNamespace(observation_space=space), _FakeVenv(), tmp_path / "m.zip")


class _FakeVenv:
    core = object()
    single_observation_space = types.SimpleNamespace(shape=(32, 32, 3))


def test_time_limit_stops_learning_early(tmp_path, agent_checkpoint):
    args = small_run("ppo", tmp_path / "run", agent_checkpoint)
    args.total_timesteps, args.time_limit_min, args.eval_freq, args.checkpoint_freq = 100_000, 1e-6, 0, 0
    result = train(args)
    assert result.evaluation.extra["timesteps"] < 1_000  # stopped long before 100k steps
    assert (result.run_dir / "model.zip").is_file() and (result.run_dir / "eval.json").is_file()
    assert result.model_path == result.run_dir / "model.json" and result.model_path.is_file()


def test_train_reach_agent_example_runs(agent_checkpoint, tmp_path):
    """examples/train_reach_agent.py end to end on the tiny checkpoint (a few hundred steps, eager)."""
    module = load_script("examples/train_reach_agent.py")
    report = module.main(
        ["--checkpoint", str(agent_checkpoint), "--timesteps", "256", "--n-envs", "4", "--no-compile",
         "--out", str(tmp_path / "run")]
    )  # fmt: skip
    assert report["timesteps"] >= 256 and 0.0 <= report["success_rate"] <= 1.0
    assert (tmp_path / "run" / "model.zip").is_file()
