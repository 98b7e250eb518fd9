"""Fault catalogue, commands and writers (issue 19; docs/faults.md): options and output paths checked
before the long work of every command, data read before it, every compute command's --threads, and what
a kill (Ctrl-C) or a full disk leaves behind: the old file, or the finished episodes, never half of one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.checkpoint import load_checkpoint, save_checkpoint
from lcvg_env.cli import app
from lcvg_env.data import DataWarning
from tests.faults.conftest import clean_exit, enospc, fail_on_call, failing_writes, fills_disk, must_not_run
from tests.training.conftest import write_squares

runner = CliRunner()


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ----------------------------------------------------------------------- output paths, before the work
@pytest.mark.parametrize(
    ("command", "generator"),
    [
        ("pusher", "lcvg_env.data.pusher.generate_pusher"),
        ("breakout", "lcvg_env.data.breakout.generate_breakout"),
        ("atari-tennis", "lcvg_env.data.atari_tennis.generate_atari_tennis"),
    ],
)
def test_data_generation_checks_its_folder_first(tmp_path, monkeypatch, command, generator):
    pytest.importorskip("mujoco" if command == "pusher" else "ale_py")  # the generator's module imports
    monkeypatch.setattr(generator, must_not_run)
    (tmp_path / "file").write_text("keep")
    result = runner.invoke(app, ["data", command, str(tmp_path / "file" / "data"), "--episodes", "1"])
    assert "file is a file, so no directory can be made there" in clean_exit(result)
    assert listing(tmp_path) == ["file"] and (tmp_path / "file").read_text() == "keep"


@pytest.mark.parametrize(
    ("out", "extra", "message"),
    [
        ("file/x.safetensors", [], "file is a file, so no directory can be made there"),
        ("folder.safetensors", [], "is a directory; pass a file path, e.g. "),
        ("old.safetensors", [], "old.safetensors already exists; pass --overwrite"),
        ("new.safetensors", ["--threads", "0"], "--threads must be an integer >= 1"),
    ],
    ids=["under-a-file", "folder", "exists", "threads"],
)
def test_bundle_checks_out_before_the_model_loads(ckpt, tmp_path, monkeypatch, out, extra, message):
    monkeypatch.setattr("lcvg_env.checkpoint.load_checkpoint", must_not_run)
    (tmp_path / "file").write_text("keep")
    (tmp_path / "folder.safetensors").mkdir()
    (tmp_path / "old.safetensors").write_bytes(b"old model")
    before = listing(tmp_path)
    result = runner.invoke(app, ["checkpoint", "bundle", str(ckpt), str(tmp_path / out), *extra])
    assert message in clean_exit(result)
    assert listing(tmp_path) == before and (tmp_path / "old.safetensors").read_bytes() == b"old model"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-displacement", "-3"], "max_displacement must be a finite number >= 0"),
        (["--dtype", "int8"], "dtype must be one of"),
        (["--format", "parquet"], "Unknown export format 'parquet'"),
        (["--episodes", "0"], "--episodes, --steps and --n-envs must be >= 1"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
    ],
    ids=["range", "dtype", "format", "episodes", "threads"],
)
def test_rollout_export_with_a_bad_option_writes_nothing(ckpt, tmp_path, extra, message):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["export", "rollouts", str(ckpt), str(out), "--steps", "2", "--quiet", *extra]
    )
    assert message in clean_exit(result)
    assert not out.exists()  # no manifest with the bad settings for the next run to trip over


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--solver", "adam"], "Unknown solver 'adam'"),
        (["--max-episodes", "0"], "--max-episodes must be >= 1"),
        (["--control", "shear"], "Unknown control mode 'shear'"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
    ],
    ids=["solver", "max-episodes", "control", "threads"],
)
def test_label_export_with_a_bad_option_writes_nothing(ckpt, tmp_path, extra, message):
    write_squares(tmp_path / "data", "train", 2)
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "labels", str(ckpt), str(tmp_path / "data"), str(out), *extra])
    assert message in clean_exit(result)
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "{tmp}"], "is a directory; pass a file path"),
        (["-o", "{tmp}/file/x.mp4"], "file is a file, so no directory can be made there"),
        (["-o", "{tmp}/x.avi"], "give a video file ending in .mp4"),
        (["--fps", "0"], "--fps must be a number > 0"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
        (["--max-frames", "-5"], "Input should be greater than or equal to 2"),
    ],
    ids=["folder", "under-a-file", "suffix", "fps", "threads", "max-frames"],
)
def test_mimic_checks_its_options_before_the_model_opens(ckpt, tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr("lcvg_env.model.open_model", must_not_run)
    (tmp_path / "file").write_text("keep")
    write_squares(tmp_path / "data", "train", 1)
    argv = ["mimic", str(ckpt), str(tmp_path / "data"), *(e.format(tmp=tmp_path) for e in extra)]
    assert message in clean_exit(runner.invoke(app, argv), 2)  # reported as a bad parameter
    assert (tmp_path / "file").read_text() == "keep"
    assert not [*tmp_path.glob("*.mp4"), *tmp_path.glob("*.avi")]


# --------------------------------------------------------------------------- data, read before the work
def test_reach_check_reads_its_data_before_the_episodes_run(ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_env.reach_check.run_reach", must_not_run)
    write_squares(tmp_path / "data", "train", 2)  # arm_mask only: no tip_px
    argv = ["reach-check", str(ckpt), "--episodes", "2", "--data", str(tmp_path / "data")]
    assert "has no tip_px annotation; pass a pusher dataset" in clean_exit(runner.invoke(app, argv))


def test_control_gain_start_frames_leave_a_broken_episode_out(tmp_path):
    from lcvg_env.control_gain import load_start_frames

    write_squares(tmp_path / "data", "test", 4)
    bad = tmp_path / "data" / "test" / "00001" / "00005.png"
    bad.write_bytes(bad.read_bytes()[:60])  # frame 0 is sound: only decoding the episode finds it
    with pytest.warns(DataWarning, match=r"test/00001/00005\.png"):
        frames = load_start_frames(tmp_path / "data", "test", 3, (32, 32))
    assert frames.shape == (3, 32, 32, 3)
    with (
        pytest.warns(DataWarning),
        pytest.raises(ValueError, match=r"has 3 usable episodes: pass --starts 3"),
    ):
        load_start_frames(tmp_path / "data", "test", 4, (32, 32))


def _truncated_test_split(root: Path) -> Path:
    """3 square episodes of 6 frames (the test split); a frame in the middle of episode 1 cut short."""
    from tests.conftest import write_square_dataset

    data = write_square_dataset(root, episodes=3, frames=6, tips=True)
    bad = data / "test" / "episode_00001" / "00003.png"
    bad.write_bytes(bad.read_bytes()[:60])
    return data


def _recording(monkeypatch, target: str, caught, seen: list):
    """Replace ``target`` by a wrapper that checks the broken episode was reported before it runs."""
    import importlib

    module, _, name = target.rpartition(".")
    real = getattr(importlib.import_module(module), name)

    def wrapper(*args, **kwargs):
        assert any("episode_00001/00003.png" in str(w.message) for w in caught), "reported too late"
        seen.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, wrapper)


def test_evaluate_leaves_a_broken_episode_out_before_the_first_rollout(
    tiny_checkpoint, tmp_path, monkeypatch, red_mask
):
    from lcvg_env.evaluation.video import OPTIONAL_METRICS, EvalConfig, evaluate

    data, seen = _truncated_test_split(tmp_path / "data"), []
    with pytest.warns(DataWarning, match=r"episode_00001/00003\.png.*truncated") as caught:
        _recording(monkeypatch, "lcvg_env.evaluation.video.rollout", caught, seen)
        result = evaluate(tiny_checkpoint, data, EvalConfig(frames=4, skip=OPTIONAL_METRICS))
    assert result.meta["episode_names"] == ["episode_00000", "episode_00002"] and len(seen) == 2


def test_budget_leaves_a_broken_episode_out_before_the_first_prediction(
    tiny_checkpoint, tmp_path, monkeypatch, red_mask, red_detector
):
    from lcvg_env.fidelity_budget import BudgetConfig, measure

    data, seen = _truncated_test_split(tmp_path / "data"), []
    with pytest.warns(DataWarning, match=r"episode_00001/00003\.png") as caught:
        _recording(monkeypatch, "lcvg_env.fidelity_budget.predict_levels", caught, seen)
        result = measure(tiny_checkpoint, data, BudgetConfig(frames=4))
    assert result.meta["episodes"] == 2 and len(seen) == 2


@pytest.mark.parametrize(
    ("command", "work"),
    [
        ("evaluate", "lcvg_env.evaluation.video.rollout"),
        ("budget", "lcvg_env.fidelity_budget.predict_levels"),
    ],
)
def test_a_missing_detector_fails_before_the_rollouts(tiny_checkpoint, tmp_path, monkeypatch, command, work):
    from tests.conftest import write_square_dataset

    monkeypatch.setattr(work, must_not_run)
    data = write_square_dataset(tmp_path / "data", episodes=2, frames=6, tips=True)
    argv = [command, str(tiny_checkpoint), str(data), "--detector", str(tmp_path / "nope.safetensors")]
    assert "No tip detector at" in clean_exit(runner.invoke(app, argv))


def test_env_realism_reads_the_real_frames_before_the_env_runs(ckpt, tmp_path, monkeypatch):
    import lcvg_env.env_realism as realism

    data = _truncated_test_split(tmp_path / "data")
    (tmp_path / "empty" / "test").mkdir(parents=True)
    monkeypatch.setattr(realism, "env_frames", must_not_run)
    cfg = realism.EnvRealismConfig(rollouts=2, steps=2)
    with pytest.warns(DataWarning, match=r"episode_00001/00003\.png"), pytest.raises(AssertionError):
        realism.measure(ckpt, data, None, cfg)  # the real set was read (and checked), then the env started
    with pytest.warns(DataWarning), pytest.raises(ValueError, match="No episodes found"):
        realism.measure(ckpt, data, tmp_path / "empty", cfg)  # a bad reference set: before the env


def test_lcvg_warnings_print_as_one_plain_block(monkeypatch):
    import warnings

    from lcvg_env.cli import plain_warnings

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after the test
    plain_warnings()
    text = warnings.formatwarning("1 broken episode(s) in d ...", DataWarning, "/x/trainer.py", 109, "code")
    assert text == "Warning: 1 broken episode(s) in d ...\n"  # no source location, no code line
    assert "trainer.py:109" in warnings.formatwarning("other", UserWarning, "/x/trainer.py", 109, "code")


# --------------------------------------------------------------------- interruptions and full disks
def test_ctrl_c_during_an_export_keeps_the_finished_episodes_and_resumes(ckpt, tmp_path, monkeypatch):
    import lcvg_env.export.rollouts as rollouts

    # Ctrl-C while the second episode is generated
    real = fail_on_call(monkeypatch, rollouts, "rollout_batch", 2, KeyboardInterrupt())
    out = tmp_path / "out"
    argv = ["export", "rollouts", str(ckpt), str(out), "--format", "npz", "--episodes", "3", "--steps", "2"]
    argv += ["--num-envs", "1", "--quiet"]
    result = runner.invoke(app, argv)
    text = clean_exit(result, 130)
    assert f"Interrupted: the 1 finished episode(s) in {out} are kept; run the same command again" in text
    assert sorted(p.name for p in (out / "episodes").iterdir()) == ["episode_00000.npz"]  # no half file
    monkeypatch.setattr(rollouts, "rollout_batch", real)
    resumed = runner.invoke(app, argv)
    assert resumed.exit_code == 0, resumed.output
    assert '"episodes": 3' in resumed.output and '"written": 2' in resumed.output


def test_full_disk_while_saving_a_checkpoint_keeps_the_old_one(ckpt, tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    target.write_bytes(ckpt.read_bytes())
    old = load_checkpoint(target)
    failing_writes(monkeypatch, enospc())  # half the bytes land, then ENOSPC: what a full disk does
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(target, old.generator, control_mode=old.control_mode, start_frames=old.start_frames)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left
    assert target.read_bytes() == ckpt.read_bytes() and load_checkpoint(target).step == old.step


def test_a_kill_while_saving_the_training_state_keeps_the_previous_state(tmp_path, monkeypatch):
    from lcvg_training.state import load_state, save_state

    state = tmp_path / "state"
    save_state(state, 10, {"w": torch.ones(3)}, {"step": 10})
    # after the tensors, before the rename and the manifest
    failing_writes(monkeypatch, KeyboardInterrupt(), where=lambda p: "tensors-" in p.name, whole=True)
    with pytest.raises(KeyboardInterrupt):
        save_state(state, 20, {"w": torch.zeros(3)}, {"step": 20})
    tensors, meta = load_state(state)
    assert meta["step"] == 10 and torch.equal(tensors["w"], torch.ones(3))
    assert not [p for p in state.iterdir() if "20" in p.name]


def test_a_kill_while_encoding_a_video_keeps_the_old_video(tmp_path, monkeypatch):
    from moviepy import ImageSequenceClip

    from lcvg_env.env.render import write_video

    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(4)]
    path = write_video(frames, tmp_path / "rollout.mp4", fps=4)
    before = path.read_bytes()
    real = ImageSequenceClip.write_videofile

    def killed(self, filename, *args, **kwargs):
        real(self, filename, *args, **kwargs)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])  # ffmpeg stopped half-way
        raise KeyboardInterrupt

    monkeypatch.setattr(ImageSequenceClip, "write_videofile", killed)
    with pytest.raises(KeyboardInterrupt):
        write_video(frames[::-1], path, fps=4)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["rollout.mp4"]


def test_full_disk_while_bundling_is_one_line_and_keeps_the_old_file(ckpt, tmp_path, monkeypatch):
    out = tmp_path / "shipped.safetensors"
    out.write_bytes(b"the previous bundle")
    failing_writes(monkeypatch, enospc())
    argv = ["checkpoint", "bundle", str(ckpt), "--out", str(out), "--overwrite"]
    text = clean_exit(runner.invoke(app, argv))
    assert f"Error: OUT {out}: could not write it (the disk is full: free some space" in text
    assert out.read_bytes() == b"the previous bundle" and listing(tmp_path) == ["shipped.safetensors"]


def test_full_disk_while_training_the_detector_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_env.metrics.detector_data.check_training_data", lambda *args: None)  # usable
    monkeypatch.setattr("lcvg_env.metrics.detector_train.main", fills_disk)
    argv = ["detector", "train", str(tmp_path), "--out", str(tmp_path / "tip.safetensors")]
    text = clean_exit(runner.invoke(app, argv))
    assert "tip.safetensors: could not write it (the disk is full" in text and "is whole" in text


@pytest.mark.parametrize("damage", ["truncated-tensors", "manifest-list"])
def test_a_damaged_resume_state_is_named_not_a_traceback(tmp_path, damage):
    import json

    from lcvg_training.state import StateError, load_state, save_state

    state = save_state(tmp_path / "state", 4, {"w": torch.ones(8)}, {"step": 4})
    if damage == "truncated-tensors":
        tensors = next(state.glob("tensors-*.safetensors"))
        tensors.write_bytes(tensors.read_bytes()[:40])
    else:
        (state / "manifest.json").write_text(json.dumps(["tensors", "meta"]))
    with pytest.raises(StateError, match=r"resume state in .*state is unreadable"):
        load_state(state)


def test_full_disk_while_writing_a_video_is_one_line_and_keeps_the_old_one(ckpt, tmp_path, monkeypatch):
    from moviepy import ImageSequenceClip

    out = tmp_path / "rollout.mp4"
    out.write_bytes(b"the previous video")
    monkeypatch.setattr(ImageSequenceClip, "write_videofile", fills_disk)
    argv = ["rollout", "LCVG-Pusher-v0", "-c", str(ckpt), "--steps", "2", "-o", str(out)]
    text = clean_exit(runner.invoke(app, argv))
    assert f"Error: {out}: could not write the video (the disk is full: free some space" in text
    assert out.read_bytes() == b"the previous video" and listing(tmp_path) == ["rollout.mp4"]


@pytest.mark.parametrize("ffmpeg", ["broken pipe", "ends well"])
def test_ffmpeg_on_a_disk_it_fills_is_a_full_disk_and_keeps_the_old_video(
    ffmpeg, ckpt, tmp_path, monkeypatch
):
    """What a real full disk does to ffmpeg (a subprocess): a broken pipe with moviepy's advice about
    codecs, or an exit without error and a file cut short. Either way: one line, the old video kept."""
    from moviepy import ImageSequenceClip

    import lcvg_env.atomic as atomic

    full = {"now": False}
    real_free = atomic.free_bytes
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 0 if full["now"] else real_free(folder))

    def ffmpeg_fills_the_disk(self, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half a video")
        full["now"] = True  # the disk is full now
        if ffmpeg == "broken pipe":
            raise BrokenPipeError(32, "Broken pipe\n\nMoviePy error: FFMPEG encountered ... specify a codec")

    out = tmp_path / "rollout.mp4"
    out.write_bytes(b"the previous video")
    monkeypatch.setattr(ImageSequenceClip, "write_videofile", ffmpeg_fills_the_disk)
    argv = ["rollout", "LCVG-Pusher-v0", "-c", str(ckpt), "--steps", "2", "-o", str(out)]
    text = clean_exit(runner.invoke(app, argv))
    assert f"Error: {out}: could not write the video (the disk is full: free some space" in text
    assert "codec" not in text
    assert out.read_bytes() == b"the previous video" and listing(tmp_path) == ["rollout.mp4"]


def test_an_arm_response_from_data_without_commands_is_one_line_and_writes_nothing(ckpt, tmp_path):
    from tests.conftest import write_square_dataset

    data = write_square_dataset(tmp_path / "data", episodes=2, frames=5, speed=3)  # squares: no commands
    out = tmp_path / "out.safetensors"
    argv = ["checkpoint", "bundle", str(ckpt), str(out), "--actuator", "auto", "--data", str(data)]
    result = runner.invoke(app, [*argv, "--split", "test"])
    assert (
        clean_exit(result) and "the annotations lack" in result.output and "lcvg data pusher" in result.output
    )
    assert not out.exists()
