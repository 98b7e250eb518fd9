"""Short real runs of both stages on a tiny generated dataset: learning, resume, divergence, checkpoints."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import load_checkpoint
from tests.training.conftest import tiny_config
from training.stage2_controls import stage2_masks
from training.trainer import Trainer, TrainingDiverged


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        **{f"g.{k}": v for k, v in trainer.generator.state_dict().items()},
        **{f"d.{k}": v for k, v in trainer.loss.discriminator.state_dict().items()},
    }


def _mean(history, key, sl):
    return float(np.mean([h[key] for h in history[sl]]))


@pytest.mark.parametrize("stage", [1, 2])
def test_each_stage_lowers_the_loss(squares, tiny_preset, tmp_path, stage):
    steps = dict(stage1_steps=40, stage2_steps=0) if stage == 1 else dict(stage1_steps=0, stage2_steps=40)
    cfg = tiny_config(**steps, lr=3e-3, disc_start=1000, stage2_disc_start=1000, batch_size=8)
    result = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False).train()
    assert result.step == 40
    assert _mean(result.history, "l1", slice(-5, None)) < 0.8 * _mean(result.history, "l1", slice(0, 5))
    assert _mean(result.history, "loss", slice(-5, None)) < _mean(result.history, "loss", slice(0, 5))


def test_stage2_warped_masks_run_and_are_binary(squares, tiny_preset, tmp_path):
    from training.stage2_controls import stage2_masks

    cfg = tiny_config(stage1_steps=0, stage2_steps=1, stage2_mask_source="warped", control="rotation")
    trainer = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False)
    batch = trainer.batches.next()
    mask = stage2_masks(trainer.generator, batch["frame"], batch["next"], "warped", "rotation")
    assert mask.shape == (4, 1, 32, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}
    binary = stage2_masks(trainer.generator, batch["frame"], batch["next"], "binarized", "rotation")
    assert torch.equal(binary, trainer.generator.binary_mask(batch["next"]))
    assert trainer.train().step == 1


def _interrupted_then_resumed(cfg, squares, preset, run, stop_at, kill: bool):
    def on_step(trainer: Trainer) -> None:
        if trainer.step == stop_at:
            if kill:  # as if the process died: no save beyond the periodic checkpoints
                raise RuntimeError("killed")
            os.kill(os.getpid(), signal.SIGINT)

    first = Trainer(cfg, squares, run, preset=preset, progress=False)
    if kill:
        with pytest.raises(RuntimeError, match="killed"):
            first.train(on_step)
    else:
        assert first.train(on_step).interrupted
    resumed = Trainer(cfg, squares, run, preset=preset, resume=True, progress=False)
    assert resumed.step < cfg.total_steps
    resumed.train()
    return resumed


@pytest.mark.parametrize("kill", [False, True], ids=["sigint", "killed"])
def test_resume_reaches_the_same_weights(squares, tiny_preset, tmp_path, kill):
    cfg = tiny_config(stage1_steps=4, stage2_steps=3, checkpoint_every=2, disc_start=1)
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    straight.train()
    resumed = _interrupted_then_resumed(cfg, squares, tiny_preset, tmp_path / "resumed", 3, kill)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_nan_loss_stops_and_keeps_last_checkpoint(squares, tiny_preset, tmp_path, monkeypatch):
    from training.losses import LCVGLoss

    original = LCVGLoss.generator_loss

    def poisoned(self, stage, step, *args):
        loss, logs = original(self, stage, step, *args)
        return (loss * float("nan"), logs) if step == 2 else (loss, logs)

    monkeypatch.setattr(LCVGLoss, "generator_loss", poisoned)
    trainer = Trainer(tiny_config(checkpoint_every=2), squares, tmp_path, preset=tiny_preset, progress=False)
    with pytest.raises(TrainingDiverged, match=r"step 3 .*last good checkpoint is step 2"):
        trainer.train()
    assert load_checkpoint(tmp_path / "model.safetensors").step == 2


def test_final_checkpoint_loads_with_training_frames(squares, tiny_preset, tmp_path):
    cfg = tiny_config(stage1_steps=2, stage2_steps=1, control="rotation")
    result = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False).train()
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.step == 3 and ckpt.control_mode == "rotation" and ckpt.preset == "test-32"
    assert ckpt.start_frames.shape == (5, 32, 32, 3)
    red = (ckpt.start_frames[..., 0] == 230) & (ckpt.start_frames[..., 1] == 60)
    assert red.any(axis=(1, 2)).all()  # real frames of the data set: each shows the square
    assert ckpt.extra["stage2_steps"] == 1 and "l1" in ckpt.extra["last_losses"]
    assert result.mask_iou is not None and 0.0 <= result.mask_iou["iou"] <= 1.0
    assert (tmp_path / "tb").is_dir() and (tmp_path / "log.jsonl").stat().st_size > 0


def test_existing_run_needs_resume(squares, tiny_preset, tmp_path):
    Trainer(
        tiny_config(stage1_steps=1, stage2_steps=0), squares, tmp_path, preset=tiny_preset, progress=True
    ).train()  # with the rich progress bar
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(tiny_config(), squares, tmp_path, preset=tiny_preset, progress=False)


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_warped_stage2_masks_work_inside_bf16_autocast(tiny_generator, mode):
    """The trainer runs stage 2 under CPU bf16 autocast; the Eq. 5 fit (LU solves for affine) must not."""
    torch.manual_seed(0)
    frame, target = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mask = stage2_masks(tiny_generator, frame, target, "warped", mode)
    assert mask.shape == (2, 1, 32, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}
