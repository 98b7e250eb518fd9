"""Fault catalogue, models and commands (issue 19; docs/faults.md): each test feeds one bad input and
checks the message, that the command stops before its long work, and that nothing was lost.

Sections: checkpoints, model names and installs, output paths, the measurement commands, train, agent.
The env and ``lcvg rollout``: test_env_faults.py. Heavy work is replaced by a function that fails the
test if it runs: the checks must come first.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.checkpoint import CheckpointError, load_checkpoint, read_metadata
from lcvg_env.cli import app
from lcvg_env.env.resolve import CheckpointNotFoundError, check_model_name, resolve_checkpoint
from lcvg_env.outputs import OutputError, check_output_dir, check_output_file, write_text
from tests.faults.conftest import clean_exit, enospc, must_not_run

runner = CliRunner()


def resave(src: Path, dst: Path, tensors=None, meta=None) -> Path:
    """A copy of ``src`` with its tensors (``tensors(dict)``) or its metadata text (``meta(dict) -> str``)
    edited."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        text = f.metadata()["lcvg"]
    state = load_file(str(src))
    if tensors is not None:
        tensors(state)
    if meta is not None:
        text = meta(json.loads(text))
    save_file(state, str(dst), metadata={"lcvg": text})
    return dst


# ------------------------------------------------------------------------------------------ checkpoints
def _fill(value: float, only_first: bool = False):
    def edit(state: dict) -> None:
        keys = [k for k, v in state.items() if k.startswith("generator.") and v.is_floating_point()]
        for k in keys[:1] if only_first else keys:
            state[k] = torch.full_like(state[k], value)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_fill(float("nan")), r"weight tensors hold NaN or inf.*earlier checkpoint"),
        (_fill(float("inf"), only_first=True), r"1 of \d+ weight tensors hold NaN or inf"),
        (lambda s: s.pop("start_frames"), r"start frames are missing.*uint8 \(N, 32, 32, 3\)"),
        (lambda s: s.update(start_frames=s["start_frames"].float()), r"start frames are float32"),
        (lambda s: s.update(start_frames=s["start_frames"][:0]), r"start frames are uint8 \(0, 32, 32, 3\)"),
        (
            lambda s: s.update({k: v.int() for k, v in s.items() if k.endswith("conv_in.weight")}),
            r"dtype mismatches.*int32",
        ),
        (
            lambda s: s.update(start_frames=torch.zeros(2, 16, 16, 3, dtype=torch.uint8)),
            r"start frames are uint8 \(2, 16, 16, 3\), expected uint8 \(N, 32, 32, 3\)",
        ),
        (lambda s: s.update({"generator.extra.weight": torch.zeros(3)}), r"1 unexpected tensors"),
        (lambda s: s.pop(sorted(k for k in s if k.startswith("generator."))[0]), r"missing 1 tensors"),
    ],
    ids=[
        "nan-weights",
        "inf-weight",
        "no-start-frames",
        "float-start-frames",
        "empty-bank",
        "int-weight",
        "start-frame-size",
        "extra-tensor",
        "missing-tensor",
    ],
)
def test_bad_tensors_are_refused(ckpt, tmp_path, edit, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(resave(ckpt, tmp_path / "bad.safetensors", tensors=edit))


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (lambda m: json.dumps([m]), r"metadata is a JSON array, expected an object"),
        (
            lambda m: json.dumps({**m, "height": "32"}),
            r"'height' is '32' \(a JSON string\), expected a JSON num",
        ),
        (lambda m: json.dumps({**m, "height": 64}), r"height 64 .* agrees with its config"),
        (lambda m: json.dumps({**m, "config": "tiny"}), r"'config' is 'tiny'.*expected a JSON object"),
        (lambda m: json.dumps({**m, "control_mode": ["translation"]}), r"'control_mode' is \['transl"),
        (lambda m: json.dumps({k: v for k, v in m.items() if k != "width"}), r"lacks 'width'"),
        (lambda m: json.dumps({**m, "step": True}), r"'step' is True"),
        (
            lambda m: json.dumps({**m, "config": {**m["config"], "quantizer": {"num_codes": "16"}}}),
            r"stored model config is invalid \(TypeError",
        ),
        (
            lambda m: json.dumps({**m, "format_version": 99}),
            r"format version 99 is not supported",
        ),
        (lambda m: json.dumps({**m, "format": "other"}), r"unknown format 'other'"),
        (lambda m: json.dumps({**m, "control_mode": "shear"}), r"Unknown control mode 'shear'"),
        (lambda m: "{not json", r"metadata is not valid JSON"),
    ],
    ids=[
        "list",
        "height-string",
        "height-mismatch",
        "config-string",
        "mode-list",
        "no-width",
        "step-bool",
        "nested-type",
        "future-version",
        "other-format",
        "unknown-mode",
        "not-json",
    ],
)
def test_bad_metadata_is_refused(ckpt, tmp_path, meta, message):
    bad = resave(ckpt, tmp_path / "meta.safetensors", meta=meta)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)


def test_a_safetensors_file_that_is_no_checkpoint_is_named(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match=r"other\.safetensors: a safetensors file, but not an lcvg"):
        load_checkpoint(tmp_path / "other.safetensors")


def test_truncated_mid_tensor_is_reported(ckpt, tmp_path):
    raw = ckpt.read_bytes()
    header = 8 + int.from_bytes(raw[:8], "little")
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(raw[: header + (len(raw) - header) // 2])  # the header intact, the data cut
    for read in (read_metadata, load_checkpoint):  # safetensors checks that the data covers the header
        with pytest.raises(CheckpointError, match=r"cut\.safetensors: not a readable .*truncated"):
            read(bad)


def test_empty_file_is_reported(tmp_path):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.safetensors: not a readable lcvg checkpoint"):
        load_checkpoint(tmp_path / "empty.safetensors")


def test_folder_is_not_reported_as_missing(ckpt, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(CheckpointError, match=r"is a folder, not a checkpoint file.*holds none"):
        load_checkpoint(run)
    (run / "model.safetensors").write_bytes(ckpt.read_bytes())
    with pytest.raises(CheckpointError, match=r"holds model\.safetensors"):
        load_checkpoint(run)
    with pytest.raises(CheckpointNotFoundError, match=r"is a folder.*pass .*run/model\.safetensors"):
        resolve_checkpoint(run)


def test_a_folder_sharing_a_model_name_does_not_hide_the_model(ckpt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    (tmp_path / "pusher").mkdir()  # e.g. the README's runs/ layout run from its parent
    assert resolve_checkpoint("pusher").name == "pusher.safetensors"  # the packaged model, not the folder
    (tmp_path / "mine").mkdir()
    with pytest.raises(CheckpointNotFoundError, match=r"mine is a folder, not a checkpoint file"):
        resolve_checkpoint("mine")  # no model of that name: the folder is what was meant
    (tmp_path / "pusher" / "model.safetensors").write_bytes(ckpt.read_bytes())  # `lcvg train --out pusher`
    with pytest.raises(CheckpointNotFoundError, match=r"'pusher' is both a model name .* and a run folder"):
        resolve_checkpoint("pusher")  # which one is meant cannot be told: both files are named


def test_broken_link_and_unreadable_file_are_named_as_such(ckpt, tmp_path, monkeypatch):
    link = tmp_path / "link.safetensors"
    link.symlink_to(tmp_path / "gone.safetensors")
    with pytest.raises(CheckpointError, match="is a broken link"):
        load_checkpoint(link)
    original = Path.open

    def denied(self, *args, **kwargs):  # the test runs as root, where chmod does not deny reads
        if self == ckpt:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(CheckpointError, match=r"cannot be read \(Permission denied\).*permissions"):
        load_checkpoint(ckpt)


# ------------------------------------------------------------------------------ model names and installs
@pytest.mark.parametrize("name", ["../../evil", "a/b", "my model", ".hidden", "", "x" * 65, "név", "a.b"])
def test_model_names_are_never_paths(name):
    with pytest.raises(ValueError, match="is not a model name"):
        check_model_name(name)


def test_name_with_spaces_is_neither_file_nor_name(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match="is neither a file nor a model name"):
        resolve_checkpoint("my model")


def test_install_refuses_paths_and_replacing_without_overwrite(ckpt, tmp_path, monkeypatch):
    from lcvg_training.cli import install_checkpoint

    home = tmp_path / "home" / "lcvg"
    monkeypatch.setenv("LCVG_HOME", str(home))
    with pytest.raises(ValueError, match="is not a model name"):
        install_checkpoint(ckpt, "../../evil")
    assert not list(tmp_path.rglob("evil*"))
    first = install_checkpoint(ckpt, "mine")
    before = first.read_bytes()
    other = resave(ckpt, tmp_path / "other.safetensors", meta=lambda m: json.dumps({**m, "step": 99}))
    with pytest.raises(FileExistsError, match=r"already installed.*--overwrite"):
        install_checkpoint(other, "mine")
    assert first.read_bytes() == before
    assert install_checkpoint(other, "mine", overwrite=True) == first
    assert load_checkpoint(first).step == 99
    assert [p.name for p in first.parent.iterdir()] == ["mine.safetensors"]  # no temp file left


# ----------------------------------------------------------------------------------------- output paths
def test_output_checks_create_nothing_and_say_what_is_wrong(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    with pytest.raises(OutputError, match=r"is a directory; pass a file path, e.g\. .*result\.json"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match=r"file\.txt is a file, so no directory can be made there"):
        check_output_file(a_file / "sub" / "x.json")
    with pytest.raises(OutputError, match=r"--out-dir .*file\.txt is a file, not a directory"):
        check_output_dir(a_file)
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_output_file(a_file, "--out", overwrite=False)
    assert check_output_dir(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing made, no probe left


def test_unwritable_folder_is_reported(tmp_path, monkeypatch):
    import lcvg_env.outputs as outputs

    def denied(*args, **kwargs):  # the test runs as root, where chmod does not deny writes
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match=r"cannot write in .*permission denied: pick a folder"):
        check_output_file(tmp_path / "x.json")


def test_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    import lcvg_env.outputs as outputs

    target = tmp_path / "scores.json"
    target.write_text("old")

    def full(*args, **kwargs):
        raise enospc()

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(OutputError, match=r"scores\.json: could not write it \(the disk is full"):
        write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["scores.json"]


# ------------------------------------------------------------- measurement commands: output and options
MEASURES = {
    "evaluate": ("lcvg_env.evaluation.video", "evaluate", ["DATA"]),
    "budget": ("lcvg_env.fidelity_budget", "measure", ["DATA"]),
    "control-gain": ("lcvg_env.control_gain", "measure", ["DATA"]),
    "env-realism": ("lcvg_env.env_realism", "measure", ["DATA"]),
    "reach-check": ("lcvg_env.reach_check", "measure", []),
}


@pytest.mark.parametrize("command", sorted(MEASURES))
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--json", "{tmp}"], "--json {tmp} is a directory"),
        (["--device", "tpu"], "--device 'tpu' is not a device"),
        (["--threads", "-1"], "--threads must be an integer >= 1"),
    ],
    ids=["json-folder", "device", "threads"],
)
def test_measurements_check_everything_before_they_start(
    ckpt, tmp_path, monkeypatch, command, extra, message
):
    import importlib

    module, attr, args = MEASURES[command]
    monkeypatch.setattr(importlib.import_module(module), attr, must_not_run)
    monkeypatch.setattr("lcvg_env.control_gain.make_batch", must_not_run)
    argv = [command, str(ckpt), *(str(tmp_path) for _ in args), *(e.format(tmp=tmp_path) for e in extra)]
    assert message.format(tmp=tmp_path) in clean_exit(runner.invoke(app, argv))


def test_evaluate_out_dir_that_is_a_file(ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_env.evaluation.video.evaluate", must_not_run)
    (tmp_path / "strip").write_text("keep")
    result = runner.invoke(app, ["evaluate", str(ckpt), str(tmp_path), "--out", str(tmp_path / "strip")])
    assert "is a file, not a directory" in clean_exit(result)
    assert (tmp_path / "strip").read_text() == "keep"


def test_demo_checks_its_folder_first(tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_env.env.resolve.resolve_checkpoint", must_not_run)
    (tmp_path / "demo").write_text("keep")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert "is a file, not a directory" in clean_exit(result)


def test_detector_train_checks_its_file_first(tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_env.metrics.detector_train.main", must_not_run)
    result = runner.invoke(app, ["detector", "train", str(tmp_path), "--out", str(tmp_path)])
    assert "is a directory" in clean_exit(result, 2)


# ---------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "tpu"], "--device 'tpu' is not a device"),
        (["--threads", "0"], "--threads must be"),
        (["--install-as", "../../evil"], "--install-as '../../evil' is not a model name"),
        (["--install-as", "taken"], "already installed as"),
        (["--out", "{file}"], "is a file, not a directory"),
        (["--resume", "--out", "{tmp}/none"], "--resume: "),
    ],
    ids=["device", "threads", "install-path", "install-taken", "out-file", "resume-nothing"],
)
def test_train_checks_everything_before_the_first_step(ckpt, tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr("lcvg_training.trainer.Trainer", must_not_run)
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "checkpoints").mkdir(parents=True)
    (tmp_path / "home" / "checkpoints" / "taken.safetensors").write_bytes(b"installed")
    (tmp_path / "file").write_text("keep")
    extra = [e.format(file=tmp_path / "file", tmp=tmp_path) for e in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "run")]
    result = runner.invoke(app, ["train", str(tmp_path), *out, *extra])
    assert message in clean_exit(result)
    assert (tmp_path / "file").read_text() == "keep" and not (tmp_path / "run").exists()
    assert (tmp_path / "home" / "checkpoints" / "taken.safetensors").read_bytes() == b"installed"
    assert not list(tmp_path.rglob("evil*"))


def test_train_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    class FullDisk:
        def __init__(self, *args, **kwargs):
            raise enospc(str(tmp_path / "run" / "state"))

    monkeypatch.setattr("lcvg_training.trainer.Trainer", FullDisk)
    result = runner.invoke(app, ["train", str(tmp_path), "--out", str(tmp_path / "run")])
    text = clean_exit(result)
    assert "run/state: the disk is full: free some space or write elsewhere" in text
    assert "run the same command again (no state saved yet)" in text  # nothing to --resume from


# ----------------------------------------------------------------------------------------------- agents
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--episodes", "0"], "--episodes must be >= 1"),
        (["--episodes", "-3"], "--episodes must be >= 1"),
        (["--n-envs", "0"], "--n-envs must be >= 1"),
        (["--threads", "0"], "--threads must be"),
        (["--json", "{tmp}"], "--json {tmp} is a directory"),
    ],
    ids=["episodes-0", "episodes-negative", "n-envs", "threads", "json-folder"],
)
def test_agent_eval_checks_before_the_envs_are_built(tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr("lcvg_agents.envs.make_vector_env", must_not_run)
    extra = [e.format(tmp=tmp_path) for e in extra]
    result = runner.invoke(app, ["agent", "eval", "random", "LCVG-Pusher-v0", "--no-video", *extra])
    assert message.format(tmp=tmp_path) in clean_exit(result)


def test_agent_eval_of_a_damaged_world_model_is_one_line(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint" * 8)
    argv = ["agent", "eval", "random", "LCVG-Pusher-v0", "--no-video", f"--env-kwargs=checkpoint={garbage}"]
    assert "not a readable lcvg checkpoint" in clean_exit(runner.invoke(app, argv))


def test_agent_train_out_that_is_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr("lcvg_agents.train.train", must_not_run)
    (tmp_path / "run").write_text("keep")
    result = runner.invoke(app, ["agent", "train", "LCVG-Pusher-v0", "--out", str(tmp_path / "run")])
    assert "is a file, not a directory" in clean_exit(result)


def test_agent_train_says_when_its_time_limit_stopped_it(tmp_path, monkeypatch):
    evaluation = SimpleNamespace(to_json=lambda: {"extra": {"timesteps": 512, "train_seconds": 60.0}})
    result = SimpleNamespace(
        run_dir=tmp_path, model_path=tmp_path / "model.json", evaluation=evaluation, seconds=61.0
    )
    monkeypatch.setattr("lcvg_agents.train.train", lambda args: result)
    argv = ["agent", "train", "LCVG-Pusher-v0", "--out", str(tmp_path), "--timesteps", "10000"]
    stopped = runner.invoke(app, [*argv, "--time-limit-min", "1"])
    assert stopped.exit_code == 0, stopped.output
    assert "Stopped by --time-limit-min 1 after 512 of 10000 timesteps" in stopped.output
    assert json.loads(stopped.output[stopped.output.index("{") :])["stopped_by_time_limit"] is True
    assert "Stopped" not in runner.invoke(app, argv).output  # no limit given: nothing to say


def test_catalogue_leaves_no_stray_files(tmp_path):
    """The output checks probe with a temporary file: none may remain in the working folder."""
    assert not [p for p in Path(os.getcwd()).iterdir() if p.name.startswith(".lcvg-write-check-")]
