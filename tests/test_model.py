"""The model handle (issue 18): one way to open a model, one copy of the operations everyone shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.env.resolve import CheckpointNotFoundError
from lcvg_env.model import binary_masks, fit_and_replay, open_model, to_frames, to_model_range
from tests.conftest import RED, SQUARE_SIDE


def test_frames_round_trip_through_the_model_range() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = to_model_range(frames)
    assert x.shape == (3, 3, 5, 7) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(to_frames(x), frames)
    assert to_frames(torch.full((1, 3, 2, 2), 9.0)).max() == 255  # clipped, not wrapped
    with pytest.raises(ValueError, match=r"uint8 frames \(T, H, W, 3\)"):
        to_model_range(frames[0])


def test_open_model_by_path_and_name_says_which_file(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    ckpt = open_model(tiny_checkpoint)
    assert ckpt.path == tiny_checkpoint and ckpt.step == 7
    assert str(tiny_checkpoint) in capsys.readouterr().err
    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "checkpoints").mkdir(parents=True)
    installed = tmp_path / "home" / "checkpoints" / "mine.safetensors"
    installed.write_bytes(tiny_checkpoint.read_bytes())
    assert open_model("mine").path == installed
    assert f"mine -> {installed}" in capsys.readouterr().err
    assert open_model(ckpt) is ckpt  # a loaded model passes through, silently
    assert capsys.readouterr().err == ""
    with pytest.raises(CheckpointNotFoundError, match="nothere"):
        open_model("nothere")


def test_binary_masks_are_the_generators_binarized_mask(tiny_checkpoint) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    frames = ckpt.start_frames  # (4, 32, 32, 3)
    expected = ckpt.generator.binary_mask(to_model_range(frames))[:, 0] > 0.5
    got = binary_masks(ckpt.generator, frames, batch_size=3)  # two batches
    assert got.dtype == torch.bool and torch.equal(got, expected)
    assert torch.equal(ckpt.binary_masks(to_model_range(frames)), expected)  # float input, method form


def test_the_model_object_converts_frames_in_and_out(tiny_checkpoint) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    frames = ckpt.start_frames  # (4, 32, 32, 3) uint8
    x = ckpt.frames_in(frames)
    assert x.shape == (4, 3, 32, 32) and x.device == ckpt.device and -1.0 <= x.min() <= x.max() <= 1.0
    np.testing.assert_array_equal(ckpt.frames_out(x), frames)  # the round trip is exact on uint8
    out = ckpt.frames_out(ckpt.generator.generate(x, ckpt.generator.binary_mask(x)).frame)
    assert out.shape == frames.shape and out.dtype == np.uint8


def _square_video(steps: int = 4, size: int = 32) -> np.ndarray:
    frames = np.zeros((steps, size, size, 3), np.uint8)
    for t in range(steps):
        frames[t, 10 : 10 + SQUARE_SIDE, 4 + 2 * t : 4 + 2 * t + SQUARE_SIDE] = RED
    return frames


def test_fit_and_replay_fits_the_motion_and_replays_it(tiny_checkpoint, red_mask) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    video = _square_video()
    run = fit_and_replay(ckpt.generator, video, "translation")
    assert run.masks.shape == (4, 32, 32) and int(run.masks[0].sum()) == SQUARE_SIDE**2
    assert run.fit.params_px[:, 0].tolist() == pytest.approx([2.0, 2.0, 2.0], abs=0.3)  # 2 px right
    assert run.fit.params_px[:, 1].abs().max() < 0.3
    assert run.generated.shape == (4, 3, 32, 32)
    assert np.array_equal(to_frames(run.generated[:1]), video[:1])  # frame 0 is the start frame
    other = ckpt.fit_and_replay(video, start=ckpt.start_frames[1])
    assert np.array_equal(to_frames(other.generated[:1]), ckpt.start_frames[1:2])
    with pytest.raises(ValueError, match="at least 2 frames"):
        fit_and_replay(ckpt.generator, video[:1], "translation")


def _two_square_video(steps: int = 4, size: int = 32) -> np.ndarray:
    """The top square moves 2 px right per frame, the bottom one 1 px down."""
    frames = np.zeros((steps, size, size, 3), np.uint8)
    for t in range(steps):
        frames[t, 2 : 2 + SQUARE_SIDE, 2 + 2 * t : 2 + 2 * t + SQUARE_SIDE] = RED
        frames[t, 16 + t : 16 + t + SQUARE_SIDE, 20 : 20 + SQUARE_SIDE] = RED
    return frames


@pytest.fixture
def exact_render(monkeypatch):
    """Every generator draws the red foreground exactly where the moved mask is (on black)."""
    from types import SimpleNamespace

    from lcvg_env.models import LayeredGenerator

    red = torch.tensor(RED, dtype=torch.float32)[:, None, None] / 127.5 - 1.0  # (3, 1, 1)

    def render(self, frame, current, moved, parts=None, residual=None):
        frame = torch.where(moved.bool(), red, torch.full_like(red, -1.0))
        return SimpleNamespace(frame=frame, residual=residual, next_mask=None)

    monkeypatch.setattr(LayeredGenerator, "render", render)


def test_fit_players_gives_each_foreground_its_own_control(tiny_checkpoint, red_mask) -> None:
    from lcvg_env.model import fit_players

    ckpt = load_checkpoint(tiny_checkpoint)
    fit = fit_players(ckpt.binary_masks(_two_square_video()), 2, "translation")
    assert fit.params_px.shape == (3, 4) and fit.extra["parts"].shape == (4, 2, 32, 32)
    top, bottom = fit.params_px[:, :2], fit.params_px[:, 2:]  # numbered top to bottom
    np.testing.assert_allclose(top.numpy(), [[2.0, 0.0]] * 3, atol=0.3)
    np.testing.assert_allclose(bottom.numpy(), [[0.0, 1.0]] * 3, atol=0.3)
    assert fit.valid.all() and fit.params_norm.shape == (3, 4)


def test_replay_moves_each_player_by_its_own_control(tiny_checkpoint, red_mask, exact_render) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    video = _two_square_video()
    run = ckpt.fit_and_replay(video, players=2)
    np.testing.assert_array_equal(to_frames(run.generated), video)  # both squares where the video has them
    whole = ckpt.fit_and_replay(video)  # one control for both: the union's motion, neither square's
    assert not np.array_equal(to_frames(whole.generated), video)
    with pytest.raises(ValueError, match=r"players must be in 1\.\.4"):
        ckpt.fit_and_replay(video, players=5)


def test_step_with_parts_checks_one_control_per_foreground(tiny_checkpoint) -> None:
    generator = load_checkpoint(tiny_checkpoint).generator
    frame, parts = torch.zeros(1, 3, 32, 32), torch.zeros(1, 2, 32, 32)
    with pytest.raises(ValueError, match=r"\(1, 4\) for mode 'translation' and 2 foregrounds"):
        generator.step(frame, torch.zeros(1, 2), "translation", parts)
    assert generator.step(frame, torch.zeros(1, 4), "translation", parts).frame.shape == (1, 3, 32, 32)


def test_model_path_names_the_file_an_env_will_load(tiny_checkpoint, capsys) -> None:
    from lcvg_env.model import model_path

    assert model_path("pusher_tiny").name == "pusher_tiny.safetensors"
    assert "lcvg: model pusher_tiny -> " in capsys.readouterr().err
    assert model_path(str(tiny_checkpoint), quiet=True) == tiny_checkpoint
    assert capsys.readouterr().err == ""
