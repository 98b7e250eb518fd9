"""Each loss on hand-made tensors, and the seed's lambda_bg : lambda_fg schedule."""

from __future__ import annotations

import pytest
import torch

from lcvg_training.config import preset_config
from lcvg_training.losses import (
    LCVGLoss,
    adaptive_weight,
    background_loss,
    binarization_loss,
    changed_share,
    follow_loss,
    foreground_size_loss,
    hinge_d_loss,
)


def _moving_block(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """current / next frames (1, 3, H, W): a bright 4x4 block moves 4 px right; 32 pixels change."""
    current = torch.full((1, 3, size, size), -0.5)
    target = current.clone()
    current[..., 4:8, 4:8] = 0.9
    target[..., 4:8, 8:12] = 0.9
    return current, target


def test_changed_share_counts_changed_pixels():
    current, target = _moving_block()
    assert changed_share(current, target, 0.04).item() == pytest.approx(32 / 256)


def test_foreground_prior_zero_when_mask_smaller_than_change_else_positive():
    current, target = _moving_block()
    small = torch.zeros(1, 1, 16, 16)
    small[..., 4:8, 4:12] = 1.0  # exactly the changed area
    assert foreground_size_loss(small, current, target, 0.04).item() == 0.0
    assert foreground_size_loss(small * 0.5, current, target, 0.04).item() == 0.0
    big = torch.ones(1, 1, 16, 16)
    assert foreground_size_loss(big, current, target, 0.04).item() == pytest.approx(1 - 32 / 256)


def test_background_loss_zero_when_background_unchanged():
    current, target = _moving_block()
    cover = torch.zeros(1, 1, 16, 16)
    cover[..., 4:8, 4:12] = 1.0
    assert background_loss(cover, current, target).item() == 0.0
    half = cover.clone()
    half[..., :, 8:12] = 0.0  # the block's new place is left outside the mask
    assert background_loss(half, current, target).item() == pytest.approx(16 * 1.4 / 256)


def test_binarization_loss():
    assert binarization_loss(torch.tensor([0.0, 1.0, 1.0, 0.0])).item() == 0.0
    assert binarization_loss(torch.full((4,), 0.5)).item() == 0.5
    assert binarization_loss(torch.tensor([0.2, 0.9])).item() == pytest.approx(0.15)


def test_hinge_d_loss():
    assert hinge_d_loss(torch.full((2,), 2.0), torch.full((2,), -2.0)).item() == 0.0
    assert hinge_d_loss(torch.zeros(2), torch.zeros(2)).item() == 1.0
    assert hinge_d_loss(torch.full((2,), -1.0), torch.full((2,), 1.0)).item() == 2.0


def test_adaptive_weight_is_ratio_of_gradient_norms():
    w = torch.ones(3, requires_grad=True)
    a, b = torch.tensor([3.0, 0.0, 4.0]), torch.tensor([0.0, 1.0, 0.0])
    weight = adaptive_weight((w * a).sum(), (w * b).sum(), w, disc_weight=0.5)
    assert weight.item() == pytest.approx(0.5 * 5.0 / (1.0 + 1e-4))
    huge = adaptive_weight((w * a).sum(), (w * 0.0).sum() + 0 * w.sum(), w, disc_weight=1.0)
    assert huge.item() == 1e4  # clamped


@pytest.mark.parametrize(
    ("preset", "steps", "ratios"),
    [
        ("bair-256", [0, 999, 1000, 2000, 3000, 3999, 4000, 9999], [80, 80, 40, 20, 10, 10, 5, 5]),
        ("tennis-96x256", [0, 4999, 5000, 9999], [10, 10, 5, 5]),
    ],
)
def test_ratio_schedule(preset, steps, ratios):
    from lcvg_training.config import bg_fg_ratio_at

    cfg = preset_config(preset)
    assert [bg_fg_ratio_at(cfg, s) for s in steps] == ratios


def test_paper_presets_carry_paper_settings():
    bair, tennis = preset_config("bair-256"), preset_config("tennis-96x256")
    assert (bair.lr, bair.betas, bair.batch_size, bair.stage1_steps) == (4.5e-6, (0.5, 0.9), 8, 10_000)
    assert (bair.stage2_bg_weight, tennis.stage2_bg_weight, tennis.batch_size) == (5.0, 0.5, 10)


def test_stage1_weights_follow_schedule_and_gan_switches_on():
    from lcvg_env.models import PatchGANConfig

    cfg = preset_config("bair-256", disc_start=3)
    loss = LCVGLoss(cfg, PatchGANConfig(8, 1))
    current, target = _moving_block()
    mask = torch.full((1, 1, 16, 16), 0.5)
    _, logs0 = loss.mask_terms(1, 0, mask, current, target, target)
    _, logs1 = loss.mask_terms(1, 1000, mask, current, target, target)
    assert (logs0["lambda_bg"], logs1["lambda_bg"]) == (80.0, 40.0)
    assert not loss.gan_active(1, 2) and loss.gan_active(1, 3) and loss.gan_active(2, 0)


def test_mask_horizon_terms_accept_change_covered_by_either_frame_mask():
    """Over the gap h, a pixel that changes must lie in m (the block left it) or M(x^{t+h}) (it arrived)."""
    from lcvg_env.models import PatchGANConfig

    loss = LCVGLoss(preset_config("tiny-64"), PatchGANConfig(8, 1))
    current, later = _moving_block()  # the block at columns 4:8, then at 8:12
    left, reached = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    left[..., 4:8, 4:8] = 1.0
    reached[..., 4:8, 8:12] = 1.0
    _, both = loss.mask_terms(1, 0, left, current, later, later, ahead=(later, reached))
    _, one = loss.mask_terms(1, 0, left, current, later, later, ahead=(later, torch.zeros_like(reached)))
    _, paper = loss.mask_terms(1, 0, left, current, later, later)
    assert both["bg"] == 0.0 and both["fg"] == 0.0 and both["bin"] == 0.0
    assert one["bg"] == pytest.approx(paper["bg"]) and one["bg"] > 0  # arrival uncovered, as the paper
    assert one["bin"] == 0.0


def test_union_size_prior_caps_the_union_that_the_each_prior_lets_spread():
    """'each' bounds each mask by the change; 'union' bounds their union, so extra area anywhere costs."""
    from lcvg_env.models import PatchGANConfig

    current, later = _moving_block()  # 32 changed pixels: the block's columns 4:8 and 8:12
    left, reached = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    left[..., 4:8, 4:8] = 1.0
    left[..., 12:16, 0:4] = 1.0  # 16 pixels that do not move: within the change's size for this mask alone
    reached[..., 4:8, 8:12] = 1.0
    terms = {}
    for prior in ("each", "union"):
        loss = LCVGLoss(preset_config("tiny-64", mask_horizon=1, mask_size_prior=prior), PatchGANConfig(8, 1))
        _, terms[prior] = loss.mask_terms(1, 0, left, current, later, later, ahead=(later, reached))
    assert terms["each"]["fg"] == 0.0 and terms["union"]["bg"] == 0.0
    assert terms["union"]["fg"] == pytest.approx(16 / 256)  # the union is 48 px against 32 changed


def test_stage2_background_term_compares_prediction():
    cfg = preset_config("tennis-96x256")
    from lcvg_env.models import PatchGANConfig

    loss = LCVGLoss(cfg, PatchGANConfig(8, 1))
    current, target = _moving_block()
    mask = torch.zeros(1, 1, 16, 16)
    total, logs = loss.mask_terms(2, 0, mask, current, target, target + 0.1)
    assert logs["bg"] == pytest.approx(0.1) and total.item() == pytest.approx(0.5 * 0.1)


def test_follow_term_is_zero_where_the_drawn_mask_lies_on_the_sent_one_and_weighted_in_stage_2():
    sent = torch.zeros(1, 1, 16, 16)
    sent[..., 4:8, 4:8] = 1.0
    assert follow_loss(sent, sent).item() == 0.0
    lagging = torch.zeros_like(sent)
    lagging[..., 4:8, 2:6] = 1.0  # drawn 2 px short of where it was sent: 16 pixels differ
    assert follow_loss(lagging, sent).item() == pytest.approx(16 / 256)

    from lcvg_env.models import PatchGANConfig

    cfg = preset_config("tennis-96x256")
    cfg.stage2_follow_weight = 4.0
    loss = LCVGLoss(cfg, PatchGANConfig(8, 1))
    current, target = _moving_block()
    plain, logs = loss.mask_terms(2, 0, sent, current, target, target)
    assert "follow" not in logs  # off unless the trainer passes M(x_hat)
    total, logs = loss.mask_terms(2, 0, sent, current, target, target, drawn=lagging)
    assert logs["follow"] == pytest.approx(16 / 256)
    assert total.item() == pytest.approx(plain.item() + 4.0 * 16 / 256)


def test_command_terms_hold_the_moved_foreground_and_the_background_outside_both_places():
    from lcvg_env.models import PatchGANConfig
    from lcvg_training.stage2_controls import CommandedRender

    cfg = preset_config("tennis-96x256")
    cfg.stage2_follow_weight, cfg.stage2_follow_commands = 2.0, 4.0
    loss = LCVGLoss(cfg, PatchGANConfig(8, 1))
    current, moved_frame = _moving_block()  # the block moves 4 px right
    start = torch.zeros(1, 1, 16, 16)
    start[..., 4:8, 4:8] = 1.0
    moved = torch.zeros_like(start)
    moved[..., 4:8, 8:12] = 1.0
    vq = torch.zeros(1)
    faithful = CommandedRender(current, start, moved, moved_frame, vq, moved)
    total, logs = loss.command_terms(faithful)
    assert total.item() == 0.0 and logs == {"cmd_follow": 0.0, "cmd_bg": 0.0}
    # drawn where it was (the foreground not moved), and a background pixel changed outside both places
    stuck = current.clone()
    stuck[..., 12, 12] = 0.5
    total, logs = loss.command_terms(CommandedRender(current, start, moved, stuck, vq, start))
    assert logs["cmd_follow"] == pytest.approx(32 / 256)
    assert logs["cmd_bg"] == pytest.approx(3 * 1.0 / (3 * 256))  # one pixel, 1.0 off, in 3 channels
    assert total.item() == pytest.approx(2.0 * 32 / 256 + 0.5 * logs["cmd_bg"])


def test_config_rejects_bad_values():
    from lcvg_training.config import TrainConfig

    with pytest.raises(ValueError, match="control"):
        TrainConfig(control="shear")
    with pytest.raises(ValueError, match="mask_size_prior"):
        TrainConfig(mask_size_prior="both")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="stage2_follow_weight"):
        TrainConfig(stage2_follow_weight=-1.0)
    with pytest.raises(ValueError, match=r"stage2_follow_commands.*control='translation' and players=1"):
        TrainConfig(stage2_follow_commands=4.0, stage2_follow_weight=1.0, control="rotation")
    with pytest.raises(ValueError, match=r"stage2_follow_commands.*together with stage2_follow_weight > 0"):
        TrainConfig(stage2_follow_commands=4.0)
    assert TrainConfig(stage2_follow_commands=4.0, stage2_follow_weight=1.0).stage2_follow_commands == 4.0
    with pytest.raises(ValueError, match=r"stage2_follow_pivot.*together with stage2_follow_commands > 0"):
        TrainConfig(stage2_follow_pivot=(31.1, 2.5))
    with pytest.raises(ValueError, match=r"stage2_follow_pivot.*two numbers"):
        TrainConfig(stage2_follow_commands=4.0, stage2_follow_weight=1.0, stage2_follow_pivot=(31.1,))
    cfg = TrainConfig(stage2_follow_commands=4.0, stage2_follow_weight=1.0, stage2_follow_pivot=[31.1, 2.5])
    assert list(cfg.stage2_follow_pivot) == [31.1, 2.5]
    with pytest.raises(ValueError, match=r"max_frame_skip.*>= max\(frame_skip, 1\) \(2\)"):
        TrainConfig(frame_skip=2, max_frame_skip=1)
    with pytest.raises(ValueError, match=r"frame_skip.*or 0 \(still pairs\) together with max_frame_skip"):
        TrainConfig(frame_skip=0)
    with pytest.raises(ValueError, match="max_frame_skip"):
        TrainConfig(frame_skip=0, max_frame_skip=0)  # only still pairs: nothing to learn control from
    assert TrainConfig(frame_skip=0, max_frame_skip=2).max_frame_skip == 2


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_term_when_weight_positive(net):
    from lcvg_env.models import PatchGANConfig

    cfg = preset_config("bair-256", lpips_weight=1.0, lpips_net=net)
    try:
        loss = LCVGLoss(cfg, PatchGANConfig(8, 1))
    except ImportError as e:
        assert "lcvg-env[metrics]" in str(e)
        pytest.skip("LPIPS weights not installed")
    torch.manual_seed(0)
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    _, same_logs = loss.reconstruction(target, target)
    other, other_logs = loss.reconstruction(target, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert same_logs["lpips"] == pytest.approx(0.0, abs=1e-6) and other_logs["lpips"] > 0.05
    assert other.item() == pytest.approx(other_logs["l1"] + other_logs["lpips"], rel=1e-5)
    from lcvg_env.metrics.lpips import LPIPS

    assert isinstance(loss.perceptual, LPIPS) and loss.perceptual.cfg.net == net


def test_lpips_net_is_checked():
    with pytest.raises(ValueError, match="lpips_net"):
        preset_config("tiny-64", lpips_net="resnet")
