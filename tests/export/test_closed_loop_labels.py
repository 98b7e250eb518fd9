"""Closed-loop labels (``lcvg export labels --closed-loop``): actions fitted from the env's own frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.env import LCVGEnv
from lcvg_env.export.labels import closed_loop_agreement, export_labels, label_episode, track_episode
from lcvg_env.export.store import ExportError, load_episode
from lcvg_env.models import LayeredGenerator
from lcvg_env.models.generator import GeneratorOutput
from tests.export.test_export import moving_square, video_dir  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_replaying_closed_loop_actions_gives_the_envs_frames_again(tiny_checkpoint: Path) -> None:
    frames, masks = moving_square(5)
    record = track_episode(LCVGEnv(tiny_checkpoint, task="none"), frames, masks)
    infos = record.infos
    assert record.actions.shape == (5, 2) and infos["sim_frame"].shape == (6, 32, 32, 3)
    for key in ("mask", "control_px", "control_norm", "fit_loss", "fit_valid", "sim_mask", "sim_mask_iou"):
        assert len(infos[key]) == 6  # one row per observation, as label_episode's
    np.testing.assert_array_equal(record.observations, frames)  # the video's frames, the env's actions
    np.testing.assert_array_equal(infos["control_px"][0], [0.0, 0.0])
    env = LCVGEnv(tiny_checkpoint, task="none")
    obs, _ = env.reset(options={"frame": frames[0]})
    replayed = [obs]
    for control in record.actions:
        obs, *_ = env.step(env.unwrapped.controls.to_actions(control[None])[0])
        replayed.append(obs)
    np.testing.assert_array_equal(np.stack(replayed), infos["sim_frame"])


def test_closed_loop_labels_follow_the_video_where_open_loop_ones_lag(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator that draws the foreground 1 px short of where its mask was sent (an under-following
    model): the open-loop labels (the square's own 2 px steps) fall behind, the closed-loop ones ask for
    more and keep the env's square on the video's."""

    def generate(self, frame: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        short = torch.roll(mask.float(), -1, dims=-1)  # the foreground drawn 1 px left of the sent mask
        out = (short > 0.5).float().expand_as(frame) * 2.0 - 1.0  # white on black, in [-1, 1]
        b, _, h, w = frame.shape
        zeros = torch.zeros(b, 2, h // 4, w // 4, dtype=torch.long)
        return GeneratorOutput(frame=out, vq_loss=torch.zeros(b), mask=mask, indices=zeros)

    monkeypatch.setattr(LayeredGenerator, "generate", generate)
    monkeypatch.setattr(LayeredGenerator, "binary_mask", lambda self, x, *a: (x.mean(1, True) > 0.9).float())
    _, masks = moving_square(5, velocity=(2, 0))
    frames = np.repeat(masks[..., None], 3, axis=-1).astype(np.uint8) * 255  # white on black: M is exact
    record = track_episode(LCVGEnv(tiny_checkpoint, task="none", max_displacement=4.0), frames, masks)
    assert record.infos["sim_mask_iou"][1:].min() > 0.7  # 1 px short of an 8 px square, every step
    assert (record.actions[1:, 0] > 2.5).all()  # each step asks for the lag back as well as the 2 px
    env = LCVGEnv(tiny_checkpoint, task="none", max_displacement=4.0)
    env.reset(options={"frame": frames[0]})
    for control in label_episode(frames, masks, "translation").actions:  # open loop: 2 px a step
        _, _, _, _, info = env.step(env.unwrapped.controls.to_actions(control[None])[0])
    last = masks[-1]
    assert (info["mask"] & last).sum() / (info["mask"] | last).sum() < 0.35  # 5 px behind after 5 steps


def test_cli_closed_loop_export_keeps_the_envs_frames_and_is_its_own_dataset(
    tiny_checkpoint: Path,
    video_dir: Path,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    from lcvg_env.cli import app

    out = tmp_path / "closed"
    args = ["export", "labels", str(tiny_checkpoint), str(video_dir), "--out", str(out), "--format", "npz"]
    result = CliRunner().invoke(app, [*args, "--closed-loop", "--no-progress", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert (
        "closed loop: the env's mask vs the video's, IoU" in result.output and "(4 episodes)" in result.output
    )
    episode = load_episode(out / "episodes" / "episode_00000.npz")
    assert episode["infos"]["sim_frame"].shape == (6, 32, 32, 3) and episode["actions"].shape == (5, 2)
    np.testing.assert_array_equal(episode["infos"]["sim_frame"][0], episode["observations"][0])
    with pytest.raises(ExportError, match="different export"):  # open-loop labels are another dataset
        export_labels(tiny_checkpoint, video_dir, out, output_format="npz", progress=False)
    agreement = closed_loop_agreement(out)
    assert agreement["episodes"] == 4 and 0.0 <= agreement["iou_last"] <= 1.0
    export_labels(tiny_checkpoint, video_dir, tmp_path / "open", output_format="npz", progress=False)
    assert closed_loop_agreement(tmp_path / "open") is None  # open-loop labels keep no env to compare
