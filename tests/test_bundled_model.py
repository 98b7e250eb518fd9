"""The Pusher world model shipped inside the package (what `lcvg demo` and LCVG-Pusher-v0 run)."""

from __future__ import annotations

import gymnasium
import numpy as np

import lcvg_env  # noqa: F401  (registers the ids)
from lcvg_env.checkpoint import load_checkpoint, read_metadata
from lcvg_env.env.resolve import ASSETS_DIR, resolve_checkpoint

BUNDLED = ASSETS_DIR / "pusher.safetensors"


def test_bundled_pusher_model_is_small_and_self_describing():
    assert BUNDLED.is_file(), "the package must ship lcvg_env/assets/pusher.safetensors"
    assert BUNDLED.stat().st_size < 5 * 2**20
    meta = read_metadata(BUNDLED)
    assert meta["preset"] == "tiny-64" and meta["control_mode"] == "translation"
    assert (meta["height"], meta["width"]) == (64, 64)
    assert meta["step"] > 0
    ckpt = load_checkpoint(BUNDLED)
    assert len(ckpt.start_frames) >= 16
    assert ckpt.start_frames.reshape(len(ckpt.start_frames), -1).max(axis=1).min() > 0  # no black frame


def test_pusher_env_uses_the_bundled_model_when_nothing_else_is_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    assert resolve_checkpoint("pusher") == BUNDLED
    env = gymnasium.make("LCVG-Pusher-v0", task="none")
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["mask"].any(), "the trained mask network finds the arm in a real start frame"
    for _ in range(5):
        obs, *_ = env.step(np.array([1.0, 0.0], np.float32))
    assert np.isfinite(obs).all() and obs.std() > 5  # a picture, not a flat frame
    env.close()
