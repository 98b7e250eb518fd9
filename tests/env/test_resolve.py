"""lcvg_env/env/resolve.py: the names a missing-model message offers are the ones that resolve here."""

from __future__ import annotations

from pathlib import Path

import pytest

from lcvg_env.env import resolve
from lcvg_env.env.resolve import CheckpointNotFoundError, available_models, resolve_checkpoint


def test_available_models_are_the_installed_and_bundled_ones(tmp_path: Path, monkeypatch) -> None:
    home, assets = tmp_path / "home", tmp_path / "assets"
    (home / "checkpoints").mkdir(parents=True)
    assets.mkdir()
    for path in (home / "checkpoints" / "mine.safetensors", assets / "pusher.safetensors"):
        path.write_bytes(b"x")
    (assets / "pusher_tip_detector.safetensors").write_bytes(b"x")  # a metric asset, not a world model
    monkeypatch.setenv("LCVG_HOME", str(home))
    monkeypatch.setattr(resolve, "ASSETS_DIR", assets)
    assert available_models() == ["mine", "pusher"]
    with pytest.raises(CheckpointNotFoundError) as err:
        resolve_checkpoint("nosuchmodel")
    message = str(err.value)
    assert "Models on this machine: mine, pusher;" in message
    assert (
        "bair" not in message and "checkpoint=PATH" not in message
    )  # names that do not resolve, Python spelling
    assert "pass the path of a .safetensors file" in message
    assert resolve_checkpoint("mine") == home / "checkpoints" / "mine.safetensors"
