"""The Pusher world models shipped inside the package: ``pusher`` (what `lcvg demo` and LCVG-Pusher-v0
run, quality first) and ``pusher_tiny`` (LCVG-PusherTiny-v0, the small fast one)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import lcvg_env  # noqa: F401  (registers the ids)
from lcvg_env.checkpoint import load_checkpoint, read_metadata
from lcvg_env.control.actuation import ACTUATOR_KEY, Actuator
from lcvg_env.control.control_range import ENV_DEFAULTS_KEY, default_max_displacement
from lcvg_env.env.resolve import ASSETS_DIR, resolve_checkpoint

BUNDLED = ASSETS_DIR / "pusher.safetensors"
TINY = ASSETS_DIR / "pusher_tiny.safetensors"


@pytest.mark.parametrize(("path", "preset"), [(BUNDLED, "base-64"), (TINY, "tiny-64")])
def test_bundled_pusher_models_are_small_and_self_describing(path, preset):
    assert path.is_file(), f"the package must ship {path.relative_to(ASSETS_DIR.parent)}"
    assert path.stat().st_size < 8 * 2**20
    meta = read_metadata(path)
    assert meta["preset"] == preset and meta["control_mode"] == "translation"
    assert (meta["height"], meta["width"]) == (64, 64)
    assert meta["step"] > 0
    ckpt = load_checkpoint(path)
    assert len(ckpt.start_frames) >= 16
    assert ckpt.start_frames.reshape(len(ckpt.start_frames), -1).max(axis=1).min() > 0  # no black frame


def test_the_default_pusher_carries_its_generation_options_and_action_range():
    meta = read_metadata(BUNDLED)
    assert meta["config"]["composite_margin"] == 0 and meta["config"]["correction_passes"] == 1
    # the correction's strength chosen on the training split's starts, with sub-pixel moves (docs/fidelity.md)
    assert meta["config"]["correction_strength"] == 0.6 and meta["config"]["subpixel"] is True
    measured = meta["extra"][ENV_DEFAULTS_KEY]["control_range"]
    assert measured["pairs"] > 1000  # measured on the training split, not typed in
    assert 1.0 < measured["max_displacement"] < 4.0
    # chosen by the control gain over the measured range (docs/fidelity.md): 4 px per axis at +-1
    assert default_max_displacement(meta["extra"]) == 4.0
    # the data's arm response for actuation="data", fitted on the training split (docs/sim_to_real.md)
    response = Actuator.from_json(meta["extra"][ACTUATOR_KEY])
    assert response.length == 6 and "train, 240 episodes" in response.source and min(response.r2) > 0.8


@pytest.mark.parametrize(("env_id", "path"), [("LCVG-Pusher-v0", BUNDLED), ("LCVG-PusherTiny-v0", TINY)])
def test_pusher_envs_use_the_bundled_models_when_nothing_else_is_installed(
    tmp_path, monkeypatch, env_id, path
):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    env = gymnasium.make(env_id, task="none")
    assert env.unwrapped.core.checkpoint_path == path
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["mask"].any(), "the trained mask network finds the arm in a real start frame"
    for _ in range(5):
        obs, *_ = env.step(np.array([1.0, 0.0], np.float32))
    assert np.isfinite(obs).all() and obs.std() > 5  # a picture, not a flat frame
    env.close()


def test_names_resolve_to_the_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    assert resolve_checkpoint("pusher") == BUNDLED and resolve_checkpoint("pusher_tiny") == TINY
