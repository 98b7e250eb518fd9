"""Registration stays light, ids resolve their checkpoints, and a missing one says how to make it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest

import lcvg_env
from lcvg_env.env import resolve
from lcvg_env.env.registration import ENV_IDS
from lcvg_env.env.resolve import MODELS, CheckpointNotFoundError, resolve_checkpoint


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_registers_ids_without_torch() -> None:
    out = _python(
        "import sys, lcvg_env, gymnasium\n"
        "print('torch' in sys.modules, sorted(k for k in gymnasium.registry if k.startswith('LCVG')))"
    )
    assert out.startswith("False"), out
    for spec in ENV_IDS:
        assert spec.id in out
    assert lcvg_env.__version__


def test_module_prefixed_id_works_without_import(tiny_ckpt: Path) -> None:
    out = _python(
        "import gymnasium\n"
        f"env = gymnasium.make('lcvg_env:LCVG-BAIR-v0', checkpoint={str(tiny_ckpt)!r})\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(obs.shape, env.spec.max_episode_steps)"
    )
    assert out.strip() == "(32, 32, 3) 100"


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(resolve, "ASSETS_DIR", tmp_path / "assets")
    return tmp_path


@pytest.mark.parametrize("spec", ENV_IDS, ids=lambda s: s.id)
def test_missing_checkpoint_names_the_command(empty_home: Path, spec) -> None:
    with pytest.raises(CheckpointNotFoundError) as err:
        gymnasium.make(spec.id)
    message = str(err.value)
    assert MODELS[spec.model].create in message
    assert "lcvg train" in message and f"--install-as {spec.model}" in message
    assert str(empty_home / "home" / "checkpoints" / f"{spec.model}.safetensors") in message


def test_pusher_command_is_the_documented_one(empty_home: Path) -> None:
    with pytest.raises(
        CheckpointNotFoundError, match="lcvg data pusher data/pusher && lcvg train data/pusher"
    ):
        resolve_checkpoint("pusher")


def test_resolve_order(empty_home: Path, tiny_ckpt: Path) -> None:
    assert resolve_checkpoint(tiny_ckpt) == tiny_ckpt
    shipped = empty_home / "assets" / "pusher.safetensors"
    shipped.parent.mkdir()
    shipped.write_bytes(tiny_ckpt.read_bytes())
    assert resolve_checkpoint("pusher") == shipped
    installed = empty_home / "home" / "checkpoints" / "pusher.safetensors"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(tiny_ckpt.read_bytes())
    assert resolve_checkpoint("pusher") == installed  # the user's model wins over the shipped one
    env = gymnasium.make("LCVG-Pusher-v0")
    assert env.unwrapped.core.checkpoint_path == installed


def test_missing_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope.safetensors")


def test_bair_and_tennis_messages_say_where_the_videos_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("LCVG_HOME", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match=r"bair_robot_pushing_dataset_v0\.tar") as bair:
        resolve_checkpoint("bair")
    assert "lcvg data pusher" in str(bair.value)
    with pytest.raises(CheckpointNotFoundError, match="PlayableVideoGeneration") as tennis:
        resolve_checkpoint("tennis")
    assert "lcvg data atari-tennis" in str(tennis.value)
