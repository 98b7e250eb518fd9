"""The layered generator: mask network M, shared encoder E, codebook Z and decoder D, wired as in
docs/method.md section 3::

    m = M(x^t)                                   (soft in stage 1, binarized and warped for control)
    fg = x^t * m,   bg = x^t * (1 - m)           the two layers
    x_hat^{t+1} = D( q(E(fg)) + q(E(bg)) )       one shared encoder, quantized latents summed

At generation time the control acts through the silhouette: the binarized mask of x^t is moved by
T(theta) (Eq. 5) and the hole it cuts into the layers tells D where the foreground must be next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from lcvg_env.control.warp import CONTROL_DIMS, mask_centroid, pixels_to_normalized_points, warp
from lcvg_env.models.mask_net import MaskNetConfig, MaskNetwork
from lcvg_env.models.quantizer import QuantizerConfig, VectorQuantizer
from lcvg_env.models.vqgan import AutoencoderConfig, Decoder, Encoder

if TYPE_CHECKING:
    from lcvg_env.control.fit import FitConfig

MASK_THRESHOLD = 0.5
"""The binarization threshold of M's soft mask, m = 1[M(x) > 0.5] (docs/method.md section 3): the one
place it is set (:meth:`LayeredGenerator.binary_mask`, :func:`lcvg_env.model.binary_masks`)."""

CORRECTION_TIMINGS = ("within", "next")
"""``GeneratorConfig.correction_timing``: re-render the step, or carry the lag into the next step."""

LAG_REACH_PX = 4
"""How far (px per 64 px of frame) from where a foreground was sent the lag correction looks for it in
M(x_hat), when there are several (:meth:`LayeredGenerator.render`)."""

LAG_SEARCH_PX = 16
"""The shifts (+- px per 64 px of frame) the lag correction's fit of Eq. 5 searches: four times the
default action range, far more than a step's lag (:func:`lag_fit_config`; the labels' fit of every shift
of the frame, polished, took 56 ms a step for the env's batch of 64 on 2 threads, this one 16 ms, and the
lags agree to 0.02 px: ``benchmarks/bench_step_parts.py``)."""


@dataclass
class GeneratorConfig:
    """Everything needed to rebuild a :class:`LayeredGenerator`."""

    height: int = 256
    """Frame height H in pixels."""
    width: int = 256
    """Frame width W in pixels."""
    mask: MaskNetConfig = field(default_factory=MaskNetConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    composite_margin: int | None = None
    """Generation-time composite against drift (docs/fidelity.md): None renders the whole next frame with
    D, as in the paper; k >= 0 keeps x^t's own pixels outside the union of the current and the moved
    binarized masks, dilated by k pixels, and D's pixels inside it (:meth:`LayeredGenerator.render`).
    Checkpoints written before this field existed load with None."""
    correction_passes: int = 0
    """Lag correction at generation time (docs/fidelity.md): after rendering, the translation that maps
    M's binarized mask of the rendered frame onto the commanded mask is fitted (Eq. 5) and the frame is
    rendered again from x^t with the commanded mask moved on by that lag, ``correction_passes`` times.
    Each pass costs one more generation and one mask pass. 0 (default, and for old checkpoints): the
    paper's single pass."""
    subpixel: bool = False
    """Sub-pixel mask moves for the translation control (docs/fidelity.md): a binarized mask can only move
    by whole pixels, so each move (the command's and each correction's) is rounded to whole pixels and the
    remainder is carried to the next step (``GeneratorOutput.residual``, passed back by the caller), so
    that over several steps the mask goes as far as commanded. False (default, and for old checkpoints):
    the move is the warp's own threshold, and the remainder is dropped."""
    correction_strength: float = 1.0
    """The share of the fitted lag each correction pass moves the mask on by (0, 1]. 1 (default, and for
    old checkpoints) moves it the whole way. The fitted lag is M's view of the shortfall; moving the mask
    on by all of it overshoots at half commands on the bundled pusher, which ships 0.6 (chosen on its
    training starts; docs/fidelity.md, "Lag correction strength")."""
    correction_timing: str = "within"
    """When the lag correction acts (:data:`CORRECTION_TIMINGS`). ``"within"`` (default, and for old
    checkpoints): the step renders again with the mask moved on, ``correction_passes`` times (two or more
    generations a step). ``"next"``: the step renders once, fits the lag of what it rendered and adds
    ``correction_strength`` times it to the sub-pixel remainder, so the next step's move makes it up (one
    generation and one mask pass a step; needs ``subpixel``, the translation control and one pass)."""

    def __post_init__(self) -> None:
        if isinstance(self.mask, dict):
            self.mask = MaskNetConfig(**self.mask)
        if isinstance(self.autoencoder, dict):
            self.autoencoder = AutoencoderConfig(**self.autoencoder)
        if isinstance(self.quantizer, dict):
            self.quantizer = QuantizerConfig(**self.quantizer)
        if (
            isinstance(self.correction_passes, bool)
            or not isinstance(self.correction_passes, int)
            or self.correction_passes < 0
        ):
            raise ValueError(f"correction_passes must be an integer >= 0, got {self.correction_passes!r}.")
        if not isinstance(self.subpixel, bool):
            raise ValueError(f"subpixel must be true or false, got {self.subpixel!r}.")
        strength = self.correction_strength
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0.0 < strength <= 1.0:
            raise ValueError(f"correction_strength must be a number in (0, 1], got {strength!r}.")
        self.correction_strength = float(strength)
        if self.correction_timing not in CORRECTION_TIMINGS:
            raise ValueError(
                f"correction_timing must be one of {CORRECTION_TIMINGS}, got {self.correction_timing!r}."
            )
        if self.correction_timing == "next" and (not self.subpixel or self.correction_passes != 1):
            raise ValueError(
                "correction_timing 'next' carries the lag in the sub-pixel remainder: it needs subpixel on "
                f"and correction_passes 1, got subpixel {self.subpixel}, correction_passes "
                f"{self.correction_passes}."
            )
        margin = self.composite_margin
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int) or margin < 0):
            raise ValueError(f"composite_margin must be None or an integer >= 0 (pixels), got {margin!r}.")
        f = self.autoencoder.downsample_factor
        if self.height % f or self.width % f:
            raise ValueError(
                f"Frame size {self.height}x{self.width} must be divisible by the encoder's downsampling "
                f"factor {f}; pick a size that is a multiple of {f}."
            )
        m = self.mask.patch_size * 2**self.mask.num_downsample
        if self.height % m or self.width % m:
            raise ValueError(
                f"Frame size {self.height}x{self.width} must be divisible by {m} (mask network)."
            )

    @property
    def latent_size(self) -> tuple[int, int]:
        f = self.autoencoder.downsample_factor
        return self.height // f, self.width // f


@dataclass
class GeneratorOutput:
    """What one generation pass returns."""

    frame: torch.Tensor
    """The predicted next frame x_hat^{t+1}, (B, 3, H, W), roughly in [-1, 1]."""
    vq_loss: torch.Tensor
    """Per-sample VQ loss summed over both layers, (B,)."""
    mask: torch.Tensor
    """The mask m that cut the layers, (B, 1, H, W)."""
    indices: torch.Tensor
    """Code indices of the foreground and background layers, (B, 2, h, w)."""
    residual: torch.Tensor | None = None
    """With ``cfg.subpixel`` and the translation control: the part of the moves not yet made (B, K * 2) px,
    to pass to the next :meth:`LayeredGenerator.step`; None otherwise."""
    next_mask: torch.Tensor | None = None
    """With the lag carried into the next step (``correction_timing="next"``): the binarized M of ``frame``
    as stored in uint8 (B, 1, H, W), which that correction measured; the env's mask of the next step, so
    that M runs once a step. None otherwise."""


class LayeredGenerator(nn.Module):
    """M + E + Z + D: next-frame generation from a foreground/background split of the frame."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ae, q = cfg.autoencoder, cfg.quantizer
        self.mask_net = MaskNetwork(cfg.mask)
        self.encoder = Encoder(ae, resolution=cfg.width)
        self.quant_conv = nn.Conv2d(ae.z_channels, q.code_dim, 1)
        self.quantizer = VectorQuantizer(q)
        self.post_quant_conv = nn.Conv2d(q.code_dim, ae.z_channels, 1)
        self.decoder = Decoder(ae, resolution=cfg.width)

    def _check_frame(self, frame: torch.Tensor) -> None:
        if (
            frame.ndim != 4
            or frame.shape[1] != 3
            or tuple(frame.shape[-2:]) != (self.cfg.height, self.cfg.width)
        ):
            raise ValueError(
                f"Expected frames of shape (B, 3, {self.cfg.height}, {self.cfg.width}) in [-1, 1], got "
                f"{tuple(frame.shape)}; resize frames to the model's size first."
            )

    def mask(self, frame: torch.Tensor) -> torch.Tensor:
        """Soft foreground mask m = M(x), (B, 1, H, W) in [0, 1]."""
        self._check_frame(frame)
        return self.mask_net(frame.to(self.quant_conv.weight.dtype)).float()

    def binary_mask(self, frame: torch.Tensor, threshold: float = MASK_THRESHOLD) -> torch.Tensor:
        """Binarized mask 1[M(x) > threshold], (B, 1, H, W), as used for control (stage 2, env)."""
        return (self.mask(frame) > threshold).float()

    @staticmethod
    def layers(frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two layers: foreground x * m and background x * (1 - m)."""
        mask = mask.to(frame.dtype)
        return frame * mask, frame * (1.0 - mask)

    def encode(self, layer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q(E(layer)): quantized latents (B, n_z, h, w), per-sample VQ loss (B,), indices (B, h, w)."""
        return self.quantizer(self.quant_conv(self.encoder(layer.to(self.quant_conv.weight.dtype))))

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        """D applied to (summed) quantized latents (B, n_z, h, w) -> frame (B, 3, H, W)."""
        quant = quant.to(self.post_quant_conv.weight.dtype)
        return self.decoder(self.post_quant_conv(quant)).float()

    def generate(self, frame: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        """Next frame given the current frame (B, 3, H, W) and a mask (B, 1, H, W) (soft or binary)."""
        self._check_frame(frame)
        b = frame.shape[0]
        fg, bg = self.layers(frame, mask)
        # Both layers go through the shared encoder in one batch: (2B, 3, H, W)
        quant, vq_loss, indices = self.encode(torch.cat([fg, bg], dim=0))
        quant = quant[:b] + quant[b:]  # sum of the quantized layers, (B, n_z, h, w)
        return GeneratorOutput(
            frame=self.decode(quant),
            vq_loss=vq_loss[:b] + vq_loss[b:],
            mask=mask,
            indices=torch.stack([indices[:b], indices[b:]], dim=1),  # (B, 2, h, w)
        )

    forward = generate

    def warp_mask(
        self, mask: torch.Tensor, control: torch.Tensor, mode: str, pivot_at_centroid: bool = True
    ) -> torch.Tensor:
        """Move a mask (B, 1, H, W) by controls (B, dims) in normalized units, keeping it binary.

        Rotation turns about the mask's own centroid when ``pivot_at_centroid`` (the natural action
        for an agent); an empty mask uses the frame centre.
        """
        pivot = None
        if mode == "rotation" and pivot_at_centroid:
            size = (self.cfg.height, self.cfg.width)
            pivot = pixels_to_normalized_points(mask_centroid(mask), size).nan_to_num(0.0)
        return (warp(mask.float(), control.float(), mode, pivot=pivot) > 0.5).float()

    def move_mask(
        self, mask: torch.Tensor, control: torch.Tensor, mode: str, parts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mask (B, 1, H, W) moved by its controls (B, dims); with foreground masks ``parts``
        (B, K, H, W), each foreground moved by its own control (B, K * dims: foreground k's in columns
        k * dims to (k + 1) * dims) and the rest of ``mask`` in place. Returns the moved mask (B, 1, H, W)
        in {0, 1} and the moved foregrounds (B, K, H, W) (None without ``parts``), which :meth:`render`'s
        lag correction takes."""
        if parts is None:
            return self.warp_mask(mask, control, mode), None
        b, k, h, w = parts.shape
        moved = self.warp_mask(parts.reshape(b * k, 1, h, w).float(), control.reshape(b * k, -1), mode)
        moved = moved.reshape(b, k, h, w)
        rest = mask.float() * (1.0 - parts.float().amax(dim=1, keepdim=True))  # pixels no foreground holds
        return torch.maximum(moved.amax(dim=1, keepdim=True), rest), moved

    def whole_pixels(
        self, shift: torch.Tensor, residual: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Translations (B, K * 2) in normalized units plus the carried ``residual`` (B, K * 2) px (None:
        zero) -> the whole-pixel part (normalized units, what the mask moves by now) and the new residual
        (px, what is left for the next move): ``cfg.subpixel``'s sigma-delta rounding of each move."""
        scale = self._px_per_unit(shift.shape[1] // 2, shift.device)  # normalized -> px, (K * 2,)
        wanted = shift.float() * scale + (0.0 if residual is None else residual.to(shift.device).float())
        whole = torch.round(wanted)  # (B, K * 2) px
        return whole / scale, wanted - whole

    def render(
        self,
        frame: torch.Tensor,
        current: torch.Tensor,
        moved: torch.Tensor,
        parts: torch.Tensor | None = None,
        residual: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """One controlled step: generate from ``frame`` (B, 3, H, W) cut by the ``moved`` mask, correct the
        lag ``cfg.correction_passes`` times, then apply the configured composite (``cfg.composite_margin``)
        with the ``current`` mask (masks (B, 1, H, W) in {0, 1}).

        Lag correction: the generator under-follows a moved mask (it draws the foreground part of the way;
        docs/fidelity.md). Each pass fits the translation ``lag`` with T(lag) M(x_hat) ~ ``moved`` (Eq. 5)
        and generates again from ``frame`` with the mask moved on by ``cfg.correction_strength * lag``, so
        that M of the result lands where it was sent. A pass that moves no row's mask (every correction
        rounds to nothing) does not generate: it would draw the frames it has. With
        ``cfg.correction_timing == "next"`` the step generates once, fits the lag of the composited frame
        and adds ``cfg.correction_strength * lag`` (px) to the returned ``residual``, for the next step's
        move to make up.

        With several foregrounds, ``parts`` (B, K, H, W) are their moved masks (``moved`` is their union and
        the pixels no foreground holds): each pass fits each foreground's lag on its own, between the part
        of M(x_hat) near where it was sent (within :data:`LAG_REACH_PX` per 64 px) and its moved mask, and
        moves it on by that; one translation of the whole mask would lay one foreground onto another.

        ``residual`` (B, K * 2) px: with ``cfg.subpixel``, the remainder of the moves so far; each
        correction is rounded to whole pixels with it (:meth:`whole_pixels`) and the output carries the new
        remainder (``GeneratorOutput.residual``).

        Composite with a margin k: ``u * D(...) + (1 - u) * frame``, u = dilate_k(current | moved | the
        corrected mask): the scene outside the foreground's old and new place is the input's, exactly, so
        that the background and the objects cannot drift over a rollout; stage 1's L_bg asks the same.
        """
        out = self.generate(frame, moved)
        union = torch.maximum(current.float(), moved.float())  # (B, 1, H, W) in {0, 1}
        sent, sent_parts = moved, parts
        passes = self.cfg.correction_passes if self.cfg.correction_timing == "within" else 0
        lag = None  # the lag of ``out``, measured again only once ``out`` is drawn again
        for _ in range(passes):
            if lag is None:
                achieved = self.binary_mask(out.frame.clamp(-1.0, 1.0))  # (B, 1, H, W)
                lag = self._lag(achieved, sent, sent_parts)  # (B, K * 2) normalized units
            move = lag
            if residual is not None:
                move, residual = self.whole_pixels(lag, residual)
            corrected, parts = self.move_mask(moved, move, "translation", parts)
            if torch.equal(corrected, moved):  # no mask moved (each correction under a pixel): same frames
                continue
            moved, lag = corrected, None
            out = self.generate(frame, moved)
            union = torch.maximum(union, moved.float())
        margin = self.cfg.composite_margin
        if margin is not None:
            if margin > 0:
                union = nn.functional.max_pool2d(union, 2 * margin + 1, stride=1, padding=margin)
            out.frame = union * out.frame + (1.0 - union) * frame.float()
        if self.cfg.correction_timing == "next" and residual is not None:  # the config holds one pass
            from lcvg_env.model import to_uint8, to_unit_range

            # M of the frame the next step sees: the output as the env stores it (uint8)
            out.next_mask = achieved = self.binary_mask(to_unit_range(to_uint8(out.frame)))
            residual = residual + self._lag(achieved, sent, sent_parts) * self._px_per_unit(
                residual.shape[1] // 2, residual.device
            )
        out.residual = residual
        return out

    def _lag(
        self, achieved: torch.Tensor, sent: torch.Tensor, sent_parts: torch.Tensor | None
    ) -> torch.Tensor:
        """``cfg.correction_strength`` times the translation (B, K * 2), normalized units, that carries
        achieved (B, 1, H, W) = M(x_hat) binarized onto the mask that was sent (B, 1, H, W) (Eq. 5); with
        the foregrounds' sent masks ``sent_parts`` (B, K, H, W), one per foreground, each fitted between
        its sent mask and the part of M(x_hat) near it (within :data:`LAG_REACH_PX` per 64 px)."""
        from lcvg_env.control.fit import fit_controls

        config = lag_fit_config(achieved.shape[-2:])
        if sent_parts is None:
            fit = fit_controls(achieved[:, 0].cpu(), sent[:, 0].float().cpu(), "translation", config=config)
            lag = fit.params_norm
        else:
            b, k, h, w = sent_parts.shape
            reach = max(1, round(LAG_REACH_PX * max(h, w) / 64))
            near = nn.functional.max_pool2d(sent_parts.float(), 2 * reach + 1, stride=1, padding=reach)
            own = (achieved * near).reshape(b * k, h, w)  # M(x_hat) near where each foreground was sent
            target = sent_parts.reshape(b * k, h, w).float()
            fit = fit_controls(own.float().cpu(), target.cpu(), "translation", config=config)
            lag = fit.params_norm.reshape(b, k * 2)
        return lag.to(sent.device) * self.cfg.correction_strength

    def _px_per_unit(self, k: int, device: torch.device) -> torch.Tensor:
        """Pixels per normalized unit of K translations (K * 2,): (W / 2, H / 2) repeated."""
        return torch.tensor([self.cfg.width / 2.0, self.cfg.height / 2.0], device=device).repeat(k)

    @torch.no_grad()
    def step(
        self,
        frame: torch.Tensor,
        control: torch.Tensor,
        mode: str,
        parts: torch.Tensor | None = None,
        current: torch.Tensor | None = None,
        residual: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """Next frame given a frame (B, 3, H, W) and a control (B, dims) in normalized units.

        Binarize M(x^t), warp it by T(theta), generate (docs/method.md section 3, last table row), correct
        and composite as configured (:meth:`render`). With several foregrounds, ``parts`` (B, K, H, W) are
        their masks in M(x^t) (:class:`~lcvg_env.control.components.ForegroundTracker`) and ``control`` is
        (B, K * dims), one control per foreground (:meth:`move_mask`), as the env steps them. ``current``:
        the binarized M(x^t) (B, 1, H, W), when the caller has computed it already (it is computed here
        otherwise). ``residual`` (B, K * 2) px: with ``cfg.subpixel`` and the translation control, the
        remainder of the previous steps' moves (None: zero); the output's ``residual`` is the next one.
        """
        k = 1 if parts is None else parts.shape[1]
        if parts is not None and (parts.ndim != 4 or parts.shape[0] != frame.shape[0]):
            raise ValueError(
                f"Expected parts of shape (B, K, H, W) with B = {frame.shape[0]}, got {tuple(parts.shape)}."
            )
        if control.ndim != 2 or control.shape != (frame.shape[0], k * CONTROL_DIMS[mode]):
            raise ValueError(
                f"Expected controls of shape ({frame.shape[0]}, {k * CONTROL_DIMS[mode]}) for mode {mode!r}"
                f"{'' if k == 1 else f' and {k} foregrounds'}, got {tuple(control.shape)}."
            )
        current = self.binary_mask(frame) if current is None else current
        control, residual = self.subpixel_control(control, mode, residual)
        moved, moved_parts = self.move_mask(current, control, mode, parts)
        return self.render(frame, current, moved, moved_parts, residual)

    def subpixel_control(
        self, control: torch.Tensor, mode: str, residual: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """With ``cfg.subpixel`` and the translation control: the command's whole-pixel part and the
        remainder (:meth:`whole_pixels`, ``residual`` None counts as zero); otherwise ``(control, None)``."""
        if not self.cfg.subpixel or mode != "translation":
            return control, None
        if residual is None:
            residual = torch.zeros(control.shape, device=control.device)
        return self.whole_pixels(control, residual)


def lag_fit_config(size: tuple[int, int]) -> FitConfig:
    """How the lag correction solves Eq. 5 (translation) for masks of ``size`` (H, W): the fast solver's
    exact search over every shift within :data:`LAG_SEARCH_PX` per 64 px, to its 0.05 px grid, without
    the Levenberg-Marquardt polish (the correction is scaled and rounded to whole pixels; the polish
    moves a lag by less than the grid and costs as much as the search)."""
    from lcvg_env.control.fit import FitConfig
    from lcvg_env.control.subpixel import SearchGrid

    reach = max(1, round(LAG_SEARCH_PX * max(size) / 64))
    return FitConfig(fast_sigmas=(0.0,), fast_iterations=(0,), search=SearchGrid(translation_reach=reach))


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())
