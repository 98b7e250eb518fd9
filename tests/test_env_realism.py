"""Env realism: the env's random-policy frames, the draw of real frames, and ``lcvg env-realism`` end to
end on a tiny random checkpoint and tiny written datasets (the FID Inception weights are needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env import env_realism as realism
from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.cli import app
from lcvg_env.data import write_episode
from lcvg_env.env_realism import EnvRealismConfig, env_frames, real_frames
from lcvg_env.metrics.kid import KIDConfig
from tests.env.conftest import make_checkpoint, square_frames
from tests.metrics.conftest import require_weights

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny32.safetensors", SIZE)


def write_real(root: Path, episodes: int, frames: int, offset: int = 0) -> Path:
    """A dataset whose test split holds ``episodes`` episodes of distinct square frames."""
    for e in range(episodes):
        clip = square_frames(frames + offset + e * frames, SIZE)[offset + e * frames :]
        write_episode(root / "test", f"{e:05d}", clip)
    return root


def test_env_frames_are_the_steps_of_seeded_random_rollouts(ckpt):
    cfg = EnvRealismConfig(rollouts=3, steps=2, seed=1)
    frames, size = env_frames(ckpt, cfg)
    assert frames.shape == (6, SIZE, SIZE, 3) and frames.dtype == np.uint8 and size == (SIZE, SIZE)
    again, _ = env_frames(ckpt, cfg)
    other, _ = env_frames(ckpt, EnvRealismConfig(rollouts=3, steps=2, seed=2))
    assert np.array_equal(frames, again) and not np.array_equal(frames, other)
    bank = load_checkpoint(ckpt).start_frames  # the real start frames are not scored
    assert not any(np.array_equal(f, b) for f in frames for b in bank)


def test_real_frames_are_drawn_without_replacement(tmp_path):
    root = write_real(tmp_path / "real", episodes=3, frames=4)
    frames = real_frames(root, "test", 12, (SIZE, SIZE), np.random.default_rng(0))
    assert frames.shape == (12, SIZE, SIZE, 3)
    assert len({f.tobytes() for f in frames}) == 12  # every frame of the split, once
    some = real_frames(root, "test", 5, (16, 16), np.random.default_rng(0))
    assert some.shape == (5, 16, 16, 3)
    with pytest.raises(ValueError, match="fewer than the 13"):
        real_frames(root, "test", 13, (SIZE, SIZE), np.random.default_rng(0))


def test_config_rejects_empty_runs():
    with pytest.raises(ValueError, match="rollouts and steps"):
        EnvRealismConfig(rollouts=0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        EnvRealismConfig(rollouts=1, steps=1)


def colour_features(cfg: EnvRealismConfig):
    """Cheap stand-in features (N, 6): per-channel mean and std of each frame."""

    def features(frames: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(frames).float().flatten(1, 2)  # (N, H*W, 3)
        return torch.cat([x.mean(1), x.std(1)], dim=1)

    return features


def test_rows_compare_equal_sized_sets(ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(realism, "inception_features", colour_features)
    real = write_real(tmp_path / "real", episodes=2, frames=4)
    other = write_real(tmp_path / "other", episodes=2, frames=4, offset=20)
    cfg = EnvRealismConfig(rollouts=2, steps=3, kid=KIDConfig(num_subsets=4))
    result = realism.measure(ckpt, real, other, cfg)
    assert [r.name for r in result.rows] == ["env vs real", "real vs real"]
    for r in result.rows:
        assert r.frames_a == r.frames_b == 6 and r.kid_subset_size == 6 and r.kid_subsets == 4
        assert np.isfinite(r.fid) and r.fid > 0 and np.isfinite(r.kid_mean)
    assert result.rows[1].set_b.startswith(str(other))
    alone = realism.measure(ckpt, real, None, cfg)  # the env row does not depend on the reference
    assert len(alone.rows) == 1 and alone.rows[0].fid == pytest.approx(result.rows[0].fid)


@pytest.mark.slow
def test_command_prints_both_rows_and_writes_json(ckpt, tmp_path):
    require_weights("inception")
    real = write_real(tmp_path / "real", episodes=2, frames=3)
    out = tmp_path / "realism.json"
    args = ["env-realism", str(ckpt), str(real), "--reference", str(real), "--rollouts", "2"]
    args += ["--steps", "3", "--kid-subsets", "4", "--json", str(out), "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "env vs real" in result.output and "real vs real" in result.output
    rows = json.loads(out.read_text())["rows"]
    assert [(r["frames_a"], r["frames_b"], r["kid_subset_size"]) for r in rows] == [(6, 6, 6)] * 2
    # all 6 frames of the split are drawn for both real sets: FID 0 against itself, not the env's
    assert rows[0]["fid"] > 1.0 and abs(rows[1]["fid"]) < 1e-3 * rows[0]["fid"]
    assert rows[0]["kid_mean"] > rows[1]["kid_mean"]


def test_command_errors_speak_to_the_user(ckpt, tmp_path):
    result = CliRunner().invoke(app, ["env-realism", str(ckpt), str(tmp_path / "nowhere"), "--steps", "3"])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = CliRunner().invoke(app, ["env-realism", str(ckpt), str(tmp_path), "--rollouts", "0"])
    assert result.exit_code == 1 and "rollouts and steps must be >= 1" in result.output
