"""Short real runs of both stages on a tiny generated dataset: learning, resume, divergence, checkpoints."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest
import torch

from lcvg_env.checkpoint import load_checkpoint
from lcvg_training.stage2_controls import stage2_masks
from lcvg_training.trainer import Trainer, TrainingDiverged
from tests.training.conftest import tiny_config


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
    from lcvg_training.stage2_controls import stage2_masks

    cfg = tiny_config(stage1_steps=0, stage2_steps=1, stage2_mask_source="warped", control="rotation")
    trainer = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False)
    batch = trainer.batches.next()
    mask = stage2_masks(trainer.generator, batch["frame"], batch["next"], "warped", "rotation")
    assert mask.shape == (4, 1, 32, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}
    binary = stage2_masks(trainer.generator, batch["frame"], batch["next"], "binarized", "rotation")
    assert torch.equal(binary, trainer.generator.binary_mask(batch["next"]))
    assert trainer.train().step == 1


def _assert_resumes_bit_exact(straight: Trainer, squares, preset, tmp_path, stop_at: int) -> None:
    """``straight``'s run (trained through), stopped at ``stop_at`` and resumed, ends on the same weights."""
    cfg = straight.cfg
    resumed = _interrupted_then_resumed(cfg, squares, preset, tmp_path / "resumed", stop_at, kill=False)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _interrupted_then_resumed(cfg, squares, preset, run, stop_at, kill: bool, sig=signal.SIGINT):
    def on_step(trainer: Trainer) -> None:
        if trainer.step == stop_at:
            if kill:  # as if the process died: no save beyond the periodic checkpoints
                raise RuntimeError("killed")
            os.kill(os.getpid(), sig)

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


@pytest.mark.parametrize(
    ("kill", "sig"),
    [(False, signal.SIGINT), (False, signal.SIGTERM), (True, None)],
    ids=["sigint", "sigterm", "killed"],
)
def test_resume_reaches_the_same_weights(squares, tiny_preset, tmp_path, kill, sig):
    cfg = tiny_config(stage1_steps=4, stage2_steps=3, checkpoint_every=2, disc_start=1)
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    straight.train()
    before = signal.getsignal(signal.SIGTERM)
    resumed = _interrupted_then_resumed(cfg, squares, tiny_preset, tmp_path / "resumed", 3, kill, sig)
    assert signal.getsignal(signal.SIGTERM) is before  # the run gives the handlers back
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_a_stop_signal_passed_on_twice_still_saves(squares, tiny_preset, tmp_path):
    """torchrun passes the signal its process group got on to every worker: the repeat is the same stop,
    and the run still finishes its step and saves."""

    def on_step(trainer: Trainer) -> None:
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # the same stop, passed on

    cfg = tiny_config(stage1_steps=3, stage2_steps=2, checkpoint_every=10, disc_start=1)
    result = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False).train(on_step)
    assert result.interrupted and result.step == 2
    assert load_checkpoint(tmp_path / "model.safetensors").step == 2


def test_nan_loss_stops_and_keeps_last_checkpoint(squares, tiny_preset, tmp_path, monkeypatch):
    from lcvg_training.losses import LCVGLoss

    original = LCVGLoss.generator_loss

    def poisoned(self, stage, step, *args, **kwargs):
        loss, logs = original(self, stage, step, *args, **kwargs)
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


def test_history_batches_hold_the_frames_before_each_pair(squares, tiny_preset):
    from lcvg_env.data import VideoDataset
    from lcvg_env.data.dataset import to_tensor
    from lcvg_training.data import PairBatches

    ds = VideoDataset(squares, "train", size=(32, 32))
    batches = PairBatches(ds, 4, seed=0, history=3)
    batch = batches.next()
    assert batch["history"].shape == (4, 3, 3, 32, 32) and batch["history_len"].shape == (4,)
    for b, i in enumerate(batches._indices()[:4]):
        ep, t = ds.locate(i)
        video = ds.episode_frames(ep)
        assert int(batch["history_len"][b]) == min(3, t)
        for j, u in enumerate(range(t - 3, t)):
            assert torch.equal(batch["history"][b, j], to_tensor(video[max(u, 0)]))
    with pytest.raises(ValueError, match="history"):
        PairBatches(ds, 4, seed=0, history=-1)


def test_mixed_gap_batches_pair_each_frame_with_one_k_steps_later_drawn_again_on_resume(squares):
    from lcvg_env.data import VideoDataset
    from lcvg_env.data.dataset import to_tensor
    from lcvg_training.data import PairBatches

    ds = VideoDataset(squares, "train", size=(32, 32))
    batches = PairBatches(ds, 8, seed=0, history=2, max_skip=3)
    seen = set()
    for _ in range(4):
        position = batches.state()
        batch = batches.next()
        order = batches._indices()[position["batch"] * 8 : position["batch"] * 8 + 8]
        for b, i in enumerate(order):
            ep, t = ds.locate(i)
            video, k = ds.episode_frames(ep), int(batch["skip"][b])
            assert 1 <= k <= min(3, len(video) - 1 - t)  # capped where the episode ends
            assert torch.equal(batch["frame"][b], to_tensor(video[t]))
            assert torch.equal(batch["next"][b], to_tensor(video[t + k]))
            assert torch.equal(batch["history"][b, 1], to_tensor(video[max(t - k, 0)]))
            assert int(batch["history_len"][b]) == min(2, t // k)
            seen.add(k)
        again = PairBatches(ds, 8, seed=0, history=2, max_skip=3)
        again.load_state(position)
        assert torch.equal(again.next()["skip"], batch["skip"])  # a resumed run draws the same gaps
    assert seen == {1, 2, 3}
    fixed = PairBatches(ds, 8, seed=0).next()
    assert "skip" not in fixed
    with pytest.raises(ValueError, match="max_skip"):
        PairBatches(VideoDataset(squares, "train", size=(32, 32), frame_skip=2), 4, seed=0, max_skip=1)
    with pytest.raises(ValueError, match="min_skip needs max_skip"):
        PairBatches(ds, 4, seed=0, min_skip=0)


def test_still_pairs_are_their_own_target_in_stage_2_only(squares, tiny_preset, tmp_path):
    cfg = tiny_config(
        stage1_steps=3, stage2_steps=3, frame_skip=0, max_frame_skip=1, batch_size=8, rollout_steps=2
    )
    trainer = Trainer(cfg, squares, tmp_path, preset=tiny_preset, progress=False)
    stage1 = [trainer.batches.next() for _ in range(3)]
    assert all(bool((b["skip"] == 1).all()) for b in stage1)  # L_fg needs a change between the frames
    trainer._build_stage(2)
    skips = []
    for _ in range(4):
        batch = trainer.batches.next()
        still = batch["skip"] == 0
        assert torch.equal(batch["next"][still], batch["frame"][still])
        assert not bool((batch["history_len"][still] > 0).any())
        skips += batch["skip"].tolist()
    assert set(skips) == {0, 1}
    result = Trainer(cfg, squares, tmp_path / "run", preset=tiny_preset, progress=False).train()
    assert result.step == 6 and all(np.isfinite(h["loss"]) for h in result.history)
    gaps = [h["gap"] for h in result.history]  # the batch's mean gap is logged: 1 in stage 1, 0..1 after
    assert gaps[:3] == [1.0, 1.0, 1.0] and all(0.0 <= g <= 1.0 for g in gaps[3:])


def test_a_mixed_gap_run_resumes_bit_exact(squares, tiny_preset, tmp_path):
    cfg = tiny_config(stage1_steps=2, stage2_steps=2, max_frame_skip=2, rollout_steps=1, checkpoint_every=2)
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    straight.train()
    _assert_resumes_bit_exact(straight, squares, tiny_preset, tmp_path, 2)


def test_ahead_batches_hold_the_frame_h_steps_later_clamped_to_the_episode(squares, tiny_preset):
    from lcvg_env.data import VideoDataset
    from lcvg_env.data.dataset import to_tensor
    from lcvg_training.data import PairBatches

    ds = VideoDataset(squares, "train", size=(32, 32))
    batches = PairBatches(ds, 8, seed=0, ahead=3)
    batch = batches.next()
    assert batch["ahead"].shape == (8, 3, 32, 32) and "history" not in batch
    for b, i in enumerate(batches._indices()[:8]):
        ep, t = ds.locate(i)
        video = ds.episode_frames(ep)
        assert torch.equal(batch["ahead"][b], to_tensor(video[min(t + 3, len(video) - 1)]))
    last_pair = ds._starts[1] - 1  # the first episode's last pair: t + 3 lies past its end
    ep, t = ds.locate(last_pair)
    video = ds.episode_frames(ep)
    assert t + 3 > len(video) - 1 and torch.equal(batches._ahead([last_pair])[0], to_tensor(video[-1]))
    assert "ahead" not in PairBatches(ds, 4, seed=0).next()
    with pytest.raises(ValueError, match="ahead"):
        PairBatches(ds, 4, seed=0, ahead=-1)


def test_stage1_with_a_mask_horizon_trains_m_on_both_frames_and_resumes(squares, tiny_preset, tmp_path):
    cfg = tiny_config(stage1_steps=4, stage2_steps=2, mask_horizon=2, checkpoint_every=2)
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    result = straight.train()
    assert result.step == 6 and all(np.isfinite(h["bg"]) for h in result.history)
    assert "ahead" not in straight.batches.next()  # stage 2 does not read x^{t+h}
    _assert_resumes_bit_exact(straight, squares, tiny_preset, tmp_path, 2)


def test_rollout_inputs_follow_the_evaluation_protocol(tiny_generator):
    """k = 0 keeps the real frame; k = 1 is one generator step from x^{t-1} with the fitted control."""
    from lcvg_training.stage2_controls import fit_controls_norm, rollout_inputs

    gen = tiny_generator.eval()
    torch.manual_seed(0)
    history = torch.rand(6, 2, 3, 32, 32) * 2 - 1
    frame = torch.rand(6, 3, 32, 32) * 2 - 1
    lengths = torch.tensor([0, 0, 1, 1, 2, 2])
    inputs, k = rollout_inputs(gen, history, lengths, frame, "translation")
    assert bool((k <= lengths).all())
    for b in range(6):
        if k[b] == 0:
            assert torch.equal(inputs[b], frame[b])
        if k[b] == 1:
            m0 = gen.binary_mask(history[b : b + 1, 1])
            m1 = gen.binary_mask(frame[b : b + 1])
            control = fit_controls_norm(m0, m1, "translation", "fast")
            expected = gen.step(history[b : b + 1, 1], control, "translation").frame.clamp(-1, 1)
            assert torch.allclose(inputs[b : b + 1], expected, atol=1e-5)
    # over many draws, every k in 0..history_len occurs
    ks = torch.stack([rollout_inputs(gen, history, lengths, frame, "translation")[1] for _ in range(20)])
    assert set(ks[:, 4].tolist()) == {0, 1, 2}


def test_stage2_rollout_training_runs_and_resumes(squares, tiny_preset, tmp_path):
    cfg = tiny_config(
        stage1_steps=2, stage2_steps=4, rollout_steps=2, stage2_mask_source="warped", checkpoint_every=2
    )
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    result = straight.train()
    assert result.step == 6 and all("rollout_k" in h for h in result.history[2:])
    _assert_resumes_bit_exact(straight, squares, tiny_preset, tmp_path, 4)


def test_follow_term_trains_the_generator_through_a_frozen_m_and_resumes_bit_exact(
    squares, tiny_preset, tmp_path
):
    from lcvg_training.losses import follow_loss

    cfg = tiny_config(
        stage1_steps=2,
        stage2_steps=4,
        stage2_follow_weight=5.0,
        stage2_mask_source="warped",
        checkpoint_every=2,
    )
    snapshots = {}

    def keep_m(trainer: Trainer) -> None:
        snapshots[trainer.step] = {k: v.clone() for k, v in trainer.generator.mask_net.state_dict().items()}

    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    result = straight.train(keep_m)
    assert result.step == 6
    assert all("follow" not in h for h in result.history[:2])  # stage 1: no L_follow
    assert all(np.isfinite(h["follow"]) and h["follow"] > 0 for h in result.history[2:])
    assert all(torch.equal(snapshots[2][k], snapshots[6][k]) for k in snapshots[2])  # M frozen in stage 2

    # the term's gradient reaches the generator (D, E) through M, and M's weights get none
    gen = straight.generator
    batch = straight.batches.next()
    mask = stage2_masks(gen, batch["frame"], batch["next"], "warped", "translation")
    pred = gen.generate(batch["frame"], mask).frame
    gen.zero_grad(set_to_none=True)
    follow_loss(gen.mask(pred), mask).backward()
    assert gen.decoder.last_layer.grad is not None and gen.decoder.last_layer.grad.abs().sum() > 0
    assert all(p.grad is None for p in gen.mask_net.parameters())

    _assert_resumes_bit_exact(straight, squares, tiny_preset, tmp_path, 4)


def test_commanded_masks_move_each_mask_by_whole_pixels_within_the_reach(tiny_generator, monkeypatch):
    from lcvg_training.stage2_controls import commanded_masks

    block = torch.zeros(64, 1, 32, 32)
    block[:, :, 12:20, 10:18] = 1.0
    monkeypatch.setattr(tiny_generator, "binary_mask", lambda frame: block[: len(frame)])
    torch.manual_seed(0)
    mask, moved = commanded_masks(tiny_generator, torch.zeros(64, 3, 32, 32), 3.7)
    assert torch.equal(mask, block) and set(moved.unique().tolist()) == {0.0, 1.0}
    rows, cols = moved[:, 0].amax(dim=2), moved[:, 0].amax(dim=1)  # (B, H), (B, W): occupied rows / columns
    dy = rows.float().argmax(dim=1) - 12  # first occupied row, against the block's
    dx = cols.float().argmax(dim=1) - 10
    assert bool((moved.sum(dim=(1, 2, 3)) == 64).all())  # moved whole: a translation of whole pixels
    assert dx.abs().max() <= 3 and dy.abs().max() <= 3  # floor(3.7)
    assert set(dx.tolist()) == set(range(-3, 4)) and set(dy.tolist()) == set(range(-3, 4))  # no-op included
    _, still = commanded_masks(tiny_generator, torch.zeros(4, 3, 32, 32), 0.5)
    assert torch.equal(still, block[:4])


def test_commanded_masks_about_a_pivot_bend_the_far_end_by_the_drawn_command(tiny_generator, monkeypatch):
    from lcvg_env.control.pivot import far_end
    from lcvg_training.stage2_controls import commanded_masks

    bar = torch.zeros(16, 1, 32, 32)
    bar[:, :, 14:18, 4:28] = 1.0  # an arm from the pivot (4, 16) to x = 28
    bar[-1] = 0.0
    bar[-1, :, 14:18, 2:6] = 1.0  # a mask at the pivot: translated, not bent
    monkeypatch.setattr(tiny_generator, "binary_mask", lambda frame: bar[: len(frame)])
    torch.manual_seed(1)
    mask, moved = commanded_masks(tiny_generator, torch.zeros(16, 3, 32, 32), 3.0, pivot=(4.0, 16.0))
    torch.manual_seed(1)
    drawn = torch.randint(-3, 4, (16, 2)).float()  # the same draws
    assert torch.equal(mask, bar) and set(moved.unique().tolist()) <= {0.0, 1.0}
    pivot = torch.tensor([4.0, 16.0])
    for i in range(15):
        assert torch.equal(moved[i, 0, :, 4], bar[i, 0, :, 4])  # the pivot's end stays
        end_move = far_end(moved[i, 0], pivot) - far_end(bar[i, 0], pivot)
        assert torch.allclose(end_move, drawn[i], atol=1.0)
    rows = torch.nonzero(moved[-1, 0].amax(dim=1))[:, 0]
    assert int(rows[0]) - 14 == int(drawn[-1, 1])  # the short mask: a translation by the command


def test_commanded_follow_training_renders_random_commands_and_resumes_bit_exact(
    squares, tiny_preset, tmp_path
):
    cfg = tiny_config(
        stage1_steps=2,
        stage2_steps=4,
        stage2_follow_weight=2.0,
        stage2_follow_commands=3.0,
        disc_start=0,
        stage2_disc_start=1,
        checkpoint_every=2,
    )
    straight = Trainer(cfg, squares, tmp_path / "straight", preset=tiny_preset, progress=False)
    result = straight.train()
    assert result.step == 6
    assert all("cmd_follow" not in h for h in result.history[:2])
    assert all(h["cmd_follow"] > 0 and np.isfinite(h["cmd_bg"]) for h in result.history[2:])
    _assert_resumes_bit_exact(straight, squares, tiny_preset, tmp_path, 4)


def test_finished_training_records_the_action_range_and_the_motion_region(
    squares, tiny_preset, tmp_path, red_mask
):
    from lcvg_env.control.control_range import ENV_DEFAULTS_KEY
    from lcvg_env.control.region import REGION_KEY, MotionRegion

    trainer = Trainer(
        tiny_config(stage1_steps=1, stage2_steps=1), squares, tmp_path, preset=tiny_preset, progress=False
    )
    recorded = trainer._data_defaults()  # M finds the red square (red_mask): a range and a region to measure
    assert recorded[ENV_DEFAULTS_KEY]["max_displacement"] > 0
    region = MotionRegion.from_json(recorded[REGION_KEY])
    assert region.size == (32, 32) and region.visited.any() and region.players == 1
    trainer.cfg = dataclasses.replace(trainer.cfg, players=2)  # each player's centroid, for the env's split
    assert MotionRegion.from_json(trainer._data_defaults()[REGION_KEY]).players == 2


def test_init_starts_from_a_models_weights_and_checks_its_networks(squares, tiny_preset, tmp_path):
    from lcvg_env.checkpoint import save_checkpoint
    from lcvg_env.models import LayeredGenerator

    torch.manual_seed(5)
    source = LayeredGenerator(dataclasses.replace(tiny_preset.generator, correction_passes=1)).eval()
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    path = save_checkpoint(
        tmp_path / "source.safetensors", source, control_mode="translation", start_frames=frames, half=True
    )
    cfg = tiny_config(init=str(path), stage1_steps=0, stage2_steps=1)
    trainer = Trainer(cfg, squares, tmp_path / "run", preset=tiny_preset, progress=False)
    assert trainer.stage == 2  # fine-tuning from stage 2, M frozen as it came
    for name, value in source.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value  # stored in fp16
        torch.testing.assert_close(trainer.generator.state_dict()[name], expected, msg=name)
    assert trainer.generator.cfg.correction_passes == 0  # generation-time options are not trained with
    trainer.train()
    with pytest.raises(FileExistsError, match="already holds a run"):  # --init never starts over a run
        Trainer(cfg, squares, tmp_path / "run", preset=tiny_preset, progress=False)
    other = LayeredGenerator(dataclasses.replace(tiny_preset.generator, height=64, width=64))
    frames64 = np.zeros((2, 64, 64, 3), np.uint8)
    wrong = save_checkpoint(
        tmp_path / "other.safetensors", other, control_mode="translation", start_frames=frames64
    )
    with pytest.raises(ValueError, match=r"networks differ from preset 'test-32'.*height, width"):
        Trainer(tiny_config(init=str(wrong)), squares, tmp_path / "run2", preset=tiny_preset, progress=False)
