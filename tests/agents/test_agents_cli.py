"""`lcvg agent eval` on the reference policies, and its errors (in-process, CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lcvg_env.cli import app
from tests.agents.conftest import tiny_env_kwargs

runner = CliRunner()


def env_args(checkpoint) -> list[str]:
    return [f"--env-kwargs={k}={v}" for k, v in tiny_env_kwargs(checkpoint).items()]


def test_eval_baselines_write_rows(agent_checkpoint, tmp_path):
    for name in ("random", "scripted"):
        out = tmp_path / f"{name}.json"
        args = [
            "agent",
            "eval",
            name,
            "LCVG-Pusher-v0",
            "--episodes",
            "2",
            "--n-envs",
            "2",
            "--json",
            str(out),
        ]
        result = runner.invoke(
            app, [*args, "--video", str(tmp_path / f"{name}.mp4"), *env_args(agent_checkpoint)]
        )
        assert result.exit_code == 0, result.output
        row = json.loads(out.read_text())
        assert row["policy"] == name and row["episodes"] == 2
        assert {"mean_return", "std_return", "success_rate"} <= set(row)
        assert -8.0 <= row["mean_return"] <= 0.0  # 8 steps of rewards in [-1, 0]
        assert json.loads(result.stdout)["mean_return"] == row["mean_return"]
        assert f"lcvg: model {agent_checkpoint}" in result.stderr  # the world-model file, said once
        assert (tmp_path / f"{name}.mp4").stat().st_size > 0


def test_eval_errors_name_the_problem(agent_checkpoint, tmp_path):
    cases = [
        (["agent", "eval", "random", "LCVG-Nope-v0", "--no-video"], "LCVG-Pusher-v0"),
        (
            ["agent", "eval", str(tmp_path / "missing"), "LCVG-Pusher-v0", "--no-video"],
            "neither a run folder",
        ),
        (["agent", "eval", "random", "LCVG-Pusher-v0", "--no-video", "--env-kwargs", "oops"], "key=value"),
        (
            [
                "agent",
                "eval",
                "random",
                "LCVG-Pusher-v0",
                "--no-video",
                "--env-kwargs",
                "checkpoint=nope.safetensors",
            ],
            "does not exist",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert message in result.output


def test_train_rejects_bad_options(agent_checkpoint, tmp_path):
    base = ["agent", "train", "LCVG-Pusher-v0", "--out", str(tmp_path / "r"), *env_args(agent_checkpoint)]
    for extra, message in (
        (["--algo", "a2c"], "algo (--algo) must be one of"),
        (["--hp", "n_stepz=3"], "n_stepz"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 1 and message in result.output


def test_missing_world_model_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("lcvg_env.env.resolve.ASSETS_DIR", tmp_path / "assets")  # even once a model ships
    result = runner.invoke(app, ["agent", "eval", "scripted", "LCVG-Pusher-v0", "--no-video"])
    assert result.exit_code == 1
    assert "lcvg train" in result.output and "--env-kwargs checkpoint=PATH" in result.output


def test_checkpoint_option_names_the_world_model_as_env_commands_do(agent_checkpoint, tmp_path):
    base = ["agent", "eval", "random", "LCVG-Pusher-v0", "--episodes", "1", "--n-envs", "1", "--no-video"]
    result = runner.invoke(app, [*base, "-c", str(agent_checkpoint), "--env-kwargs", "max_episode_steps=2"])
    assert result.exit_code == 0, result.output
    assert f"lcvg: model {agent_checkpoint}" in result.stderr
    result = runner.invoke(
        app, [*base, "--checkpoint", str(agent_checkpoint), "--env-kwargs", "checkpoint=other.safetensors"]
    )
    assert result.exit_code == 1 and "name two models" in result.output


def test_train_refuses_the_real_pusher_in_one_line_before_any_work(tmp_path):
    from lcvg_agents.envs import make_sb3_env

    out = tmp_path / "r"
    args = ["agent", "train", "LCVG-PusherMuJoCo-v0", "--timesteps", "10", "--n-envs", "1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and message.startswith("Error: LCVG-PusherMuJoCo-v0 is the real pusher")
    assert "lcvg agent eval RUN_DIR LCVG-PusherMuJoCo-v0" in message and "LCVG-Pusher-v0" in message
    assert not out.exists()
    with pytest.raises(ValueError, match="lcvg agent eval"):  # the library path says the same
        make_sb3_env("LCVG-PusherMuJoCo-v0", 1)


def test_eval_refuses_a_video_that_is_no_mp4_before_the_envs_load(tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_agents.envs.make_vector_env", lambda *a, **k: pytest.fail("built the envs"))
    out = tmp_path / "row.json"
    args = ["agent", "eval", "random", "LCVG-Pusher-v0", "--video", str(tmp_path / "x.webm")]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and message.startswith("Error: --video")
    assert "x.webm: give a video file ending in .mp4" in message and not out.exists()


def test_eval_keeps_its_figures_when_the_video_cannot_be_written(agent_checkpoint, tmp_path, monkeypatch):
    from lcvg_env.outputs import OutputError

    def broken_ffmpeg(frames, path, *args, **kwargs):
        raise OutputError(f"{path}: could not write the video (ffmpeg stopped: [Errno 32] Broken pipe).")

    monkeypatch.setattr("lcvg_env.env.render.write_video", broken_ffmpeg)
    out, video = tmp_path / "row.json", tmp_path / "x.mp4"
    args = ["agent", "eval", "random", "LCVG-Pusher-v0", "--episodes", "2", "--n-envs", "2", "--video"]
    result = runner.invoke(app, [*args, str(video), "--json", str(out), *env_args(agent_checkpoint)])
    assert result.exit_code == 1
    row = json.loads(out.read_text())  # written although the video failed
    assert row["episodes"] == 2 and len(row["returns"]) == 2 and row["video"] is None
    assert "Broken pipe" in row["video_error"]
    assert json.loads(result.stdout)["mean_return"] == row["mean_return"]  # the figures were printed
    assert "could not write the video" in result.stderr.strip().splitlines()[-1] and not video.exists()
