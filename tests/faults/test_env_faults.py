"""Fault catalogue, the environment (issue 19; docs/faults.md): bad reset frames, actions, options,
threads and devices given to the env, and ``lcvg rollout``'s bad arguments: each test checks the message
and that nothing runs before the check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.runtime import resolve_device, set_threads, torch_threads
from tests.faults.conftest import clean_exit, must_not_run

runner = CliRunner()


# -------------------------------------------------------------------------------------------------- env
@pytest.fixture
def env(ckpt):
    from lcvg_env.env import LCVGEnv

    return LCVGEnv(ckpt)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"frame": np.zeros((0, 0, 3), np.uint8)},
            r"non-empty uint8 .* uint8 \(0, 0, 3\).*\(32, 32, 3\)",
        ),
        ({"frame": np.zeros((32, 0, 3), np.uint8)}, r"\(32, 0, 3\)"),
        ({"frame": np.zeros((32, 32), np.uint8)}, r"got uint8 \(32, 32\).*convert\('RGB'\)"),
        ({"frame": np.zeros((32, 32, 4), np.uint8)}, r"\(32, 32, 4\)"),
        ({"frame": np.zeros((32, 32, 3), np.float32)}, r"got float32"),
        ({"start_index": True}, r"start_index'\] must be an int"),
        ({"start_index": 6}, r"must be an int in \[0, 6\) \(or \[-6, 0\): from the end\)"),
        ({"start_index": -7}, r"must be an int in \[0, 6\)"),
        ({"frames": np.zeros((32, 32, 3), np.uint8)}, r"Unknown reset options \['frames'\]"),
    ],
    ids=["0x0", "zero-width", "gray", "rgba", "float", "bool-index", "index-range", "index-below", "typo"],
)
def test_bad_reset_options_are_refused(env, options, message):
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.zeros(3, np.float32), r"shape \(3,\), expected \(2,\)"),
        (np.array([np.nan, 0.0]), "NaN or inf"),
        (np.array([np.inf, 0.0]), "NaN or inf"),
        ("left", "not numeric"),
    ],
    ids=["shape", "nan", "inf", "string"],
)
def test_bad_actions_are_refused(env, action, message):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.array([[0.0, 0.0], [np.nan, 0.0]], np.float32), "NaN or inf"),
        (np.zeros((3, 2), np.float32), r"shape \(3, 2\), expected \(2, 2\)"),
        (np.zeros(2, np.float32), r"shape \(2,\), expected \(2, 2\)"),
    ],
    ids=["nan", "batch-of-3", "one-action"],
)
def test_vector_env_refuses_bad_actions(ckpt, action, message):
    from lcvg_env.env import LCVGVectorEnv

    venv = LCVGVectorEnv(2, ckpt)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        venv.step(action)


@pytest.mark.parametrize("steps", ["100", 0, 2.5, True])
def test_a_step_limit_that_is_no_positive_int_is_refused(ckpt, steps):
    from lcvg_env.env import LCVGVectorEnv

    with pytest.raises(ValueError, match=r"max_episode_steps must be an int >= 1 or None"):
        LCVGVectorEnv(2, ckpt, max_episode_steps=steps)  # e.g. --env-kwargs max_episode_steps=abc


def test_env_steps_on_one_thread_and_gives_the_caller_back_its_own(env):
    seen = []
    step = env.core.sim.step
    env.core.sim.step = lambda controls: (seen.append(torch.get_num_threads()), step(controls))
    torch.set_num_threads(2)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    assert seen == [1] and torch.get_num_threads() == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, r"threads must be an integer >= 1"),
        ({"threads": -2}, r"got -2"),
        ({"device": "tpu"}, r"device 'tpu' is not a device"),
    ],
)
def test_bad_env_settings_fail_before_the_model_loads(kwargs, message, monkeypatch):
    from lcvg_env.env import LCVGEnv, config

    monkeypatch.setattr(config, "load_env_checkpoint", must_not_run)
    with pytest.raises(ValueError, match=message):
        LCVGEnv(**kwargs)


def test_devices_are_checked_in_one_place():
    for text in ("tpu", "cuda:x", "gpu", ""):
        with pytest.raises(ValueError, match="use cpu, cuda, cuda:N, mps or auto"):
            resolve_device(text)
    assert resolve_device("CPU") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available on this machine"):
            resolve_device("cuda:1")
    with pytest.raises(ValueError, match="--threads must be an integer >= 1"):
        set_threads(0)
    with torch_threads(None):
        assert torch.get_num_threads() == 1  # None leaves the caller's setting


# ------------------------------------------------------------------------------------------------ rollout
def test_rollout_errors_are_one_line(ckpt, tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint" * 8)
    out = tmp_path / "r.mp4"
    cases = [
        (["LCVG-Pusher-v0", "-c", str(garbage)], "not a readable lcvg checkpoint", 1),
        (["LCVG-Nope-v0", "-c", str(ckpt)], "The lcvg ids: LCVG-Pusher-v0", 1),
        (["LCVG-Pusher-v0", "-c", str(ckpt), "--policy", "constant:1,nan"], "must be finite numbers", 2),
        (["LCVG-Pusher-v0", "-c", str(ckpt), "--policy", "constant:2,0"], "finite numbers in [-1, 1]", 2),
        (["LCVG-Pusher-v0", "-c", str(ckpt), "--threads", "0"], "--threads must be an integer >= 1", 1),
        (["LCVG-Pusher-v0", "-c", str(ckpt), "--fps", "0"], "--fps must be a number > 0", 1),
    ]
    for args, message, code in cases:
        text = clean_exit(runner.invoke(app, ["rollout", *args, "--steps", "2", "-o", str(out)]), code)
        assert message in text and len(text) < 400
        assert not out.exists()


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (".", "is a directory; pass a file path"),
        ("ckpt/x.mp4", "is a file, so no directory can be made there"),
        ("video.avi", "give a video file ending in .mp4"),
    ],
    ids=["folder", "under-a-file", "suffix"],
)
def test_rollout_checks_its_output_before_the_env_is_built(ckpt, tmp_path, monkeypatch, out, message):
    import lcvg_env.env.cli as env_cli

    monkeypatch.setattr(env_cli, "make_env", must_not_run)
    path = str(ckpt) + out[4:] if out.startswith("ckpt") else str(tmp_path / out)
    result = runner.invoke(app, ["rollout", "LCVG-Pusher-v0", "-c", str(ckpt), "-o", path])
    assert message in clean_exit(result)


def test_play_checks_record_before_the_window_opens(ckpt, tmp_path, monkeypatch):
    import lcvg_env.env.cli as env_cli

    monkeypatch.setattr(env_cli, "make_env", must_not_run)
    result = runner.invoke(app, ["play", "LCVG-Pusher-v0", "-c", str(ckpt), "--record", str(tmp_path)])
    assert "--record" in clean_exit(result) and "is a directory" in result.output
