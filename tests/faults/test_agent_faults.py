"""Fault catalogue, agents (issue 19; docs/faults.md): a crafted SB3 .zip never runs its code unless the user
passes --trust-pickle, and even then not before every other input is checked; a zip SB3 cannot load is one
line. The safe format's own bad files are in tests/agents/test_agents_safe_format.py.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile

import pytest
from typer.testing import CliRunner

from lcvg_env.cli import app
from tests.agents.test_agents_safe_format import crafted_zip
from tests.faults.conftest import clean_exit, enospc

runner = CliRunner()


@pytest.mark.parametrize(
    "argv",
    [
        ["agent", "eval", "{zip}", "LCVG-Pusher-v0", "--no-video"],
        ["agent", "eval", "{run}", "LCVG-Pusher-v0", "--no-video"],
        ["agent", "convert", "{zip}", "--out", "{tmp}/safe"],
    ],
    ids=["eval-zip", "eval-run-folder", "convert"],
)
def test_a_crafted_zip_runs_nothing_without_trust_pickle(tmp_path, argv):
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    run.mkdir()
    paths = {"zip": crafted_zip(tmp_path / "evil.zip", marker), "run": run, "tmp": tmp_path}
    crafted_zip(run / "model.zip", marker)
    text = clean_exit(runner.invoke(app, [a.format(**paths) for a in argv]))
    assert "can execute arbitrary code" in text and "--trust-pickle" in text
    assert not marker.exists() and not (tmp_path / "safe.json").exists()


def test_convert_checks_out_before_it_unpickles(tmp_path):
    marker = tmp_path / "ran"
    model = crafted_zip(tmp_path / "evil.zip", marker)
    (tmp_path / "file").write_text("keep")
    argv = ["agent", "convert", str(model), "--out", str(tmp_path / "file" / "agent"), "--trust-pickle"]
    assert "file is a file, so no directory can be made there" in clean_exit(runner.invoke(app, argv))
    assert not marker.exists()  # trusted or not, nothing is unpickled for an output that cannot be written


def test_a_zip_sb3_cannot_load_is_one_line(tmp_path):
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": "", "__module__": "x"}}
    data["policy_class"][":serialized:"] = base64.b64encode(pickle.dumps(dict)).decode()  # harmless
    with zipfile.ZipFile(tmp_path / "odd.zip", "w") as archive:
        archive.writestr("data", json.dumps(data))  # no spaces, no weights: SB3 raises a KeyError
    for argv in (
        ["agent", "eval", str(tmp_path / "odd.zip"), "LCVG-Pusher-v0", "--no-video", "--trust-pickle"],
        ["agent", "convert", str(tmp_path / "odd.zip"), "--out", str(tmp_path / "safe"), "--trust-pickle"],
    ):
        text = clean_exit(runner.invoke(app, argv))
        assert "odd.zip: stable-baselines3 could not load it as a PPO agent (KeyError" in text
    (tmp_path / "junk.zip").write_text("not a zip")
    argv = ["agent", "eval", str(tmp_path / "junk.zip"), "LCVG-Pusher-v0", "--no-video", "--trust-pickle"]
    assert "junk.zip is not a stable-baselines3 model" in clean_exit(runner.invoke(app, argv))


def test_full_disk_while_an_agent_trains_is_one_line(tmp_path, monkeypatch):
    def fills_up(args):
        raise enospc()

    monkeypatch.setattr("lcvg_agents.train.train", fills_up)
    result = runner.invoke(app, ["agent", "train", "LCVG-Pusher-v0", "--out", str(tmp_path / "run")])
    text = clean_exit(result)
    assert f"--out {tmp_path / 'run'}: the disk is full: free some space or write elsewhere" in text
    assert "checkpoints saved before" in text


def test_a_hyperparameter_of_the_wrong_kind_is_one_line_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    for hp, message in (
        ("n_steps=abc", "--hp n_steps='abc': ppo's n_steps takes an integer (default 64)"),
        ("learning_rate=fast", "ppo's learning_rate takes a number"),
        ("n_epochs=2.5", "ppo's n_epochs takes an integer"),
    ):
        result = runner.invoke(app, ["agent", "train", "LCVG-Pusher-v0", "--out", str(run), "--hp", hp])
        assert message in clean_exit(result)
    result = runner.invoke(app, ["agent", "train", "LCVG-Nope-v0", "--out", str(run)])
    clean_exit(result)
    assert not run.exists()  # nothing left behind: not even args.json


def test_a_bad_device_is_refused_for_the_baselines_too():
    result = runner.invoke(
        app, ["agent", "eval", "random", "LCVG-Pusher-v0", "--no-video", "--device", "tpu"]
    )
    assert "--device 'tpu' is not a device lcvg-env runs on" in clean_exit(result)


def test_ctrl_c_while_an_agent_learns_keeps_the_agent_so_far(ckpt, tmp_path, monkeypatch):
    from stable_baselines3.common.callbacks import BaseCallback

    import lcvg_agents.train as train_module

    class CtrlC(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps >= 32:
                raise KeyboardInterrupt
            return True

    monkeypatch.setattr(train_module, "build_callbacks", lambda args, eval_env, run_dir: [CtrlC()])
    run = tmp_path / "run"
    argv = ["agent", "train", "LCVG-Pusher-v0", "--out", str(run), "--timesteps", "100000", "--n-envs", "2"]
    argv += ["--env-kwargs", f"checkpoint={ckpt}", "--env-kwargs", "max_episode_steps=8", "--no-progress"]
    argv += ["--hp", "n_steps=16", "--hp", "batch_size=32", "--threads", "1"]
    text = clean_exit(runner.invoke(app, argv), 130)
    assert f"Interrupted after 32 timesteps: the agent so far is saved as {run / 'model.json'}" in text
    assert (run / "model.json").is_file() and (run / "model.safetensors").is_file()
    eval_argv = [
        "agent",
        "eval",
        str(run),
        "LCVG-Pusher-v0",
        "--episodes",
        "1",
        "--n-envs",
        "1",
        "--no-video",
    ]
    result = runner.invoke(app, [*eval_argv, "--env-kwargs", "max_episode_steps=2"])
    assert result.exit_code == 0, result.output  # the saved agent runs
