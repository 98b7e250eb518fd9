"""Training configuration: one typed dataclass, and per-preset defaults keyed by the model preset names.

The paper presets (``bair-256``, ``tennis-96x256``) carry the paper's settings (docs/method.md section 4):
Adam at lr 4.5e-6 with betas (0.5, 0.9), batch 8 (BAIR) / 10 (Tennis), 10,000 stage-1 iterations,
the seed's lambda_bg : lambda_fg schedule (BAIR 80:1 halved every 1,000 iterations down to 5:1; Tennis
10:1 halved once after 5,000) and stage-2 lambda_bg = 5 (BAIR) / 0.5 (Tennis). ``tiny-64`` holds the
settings measured to train the CPU model on the built-in pusher data in about an hour on 2 cores
(see ``docs/training.md``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from lcvg_env.runtime import DEVICE_CHOICES, DEVICE_RE

PRECISIONS = ("fp32", "bf16", "bf16-channels-last")
MASK_SOURCES = ("binarized", "warped")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data path and the output folder."""

    preset: str = "tiny-64"
    """Model preset name (``lcvg presets``); also picks the defaults of :func:`preset_config`."""
    stage1_steps: int = 10_000
    """Iterations of stage 1, mask-based generation (docs/method.md section 4)."""
    stage2_steps: int = 10_000
    """Iterations of stage 2, fine-tuning for control with M frozen."""
    batch_size: int = 8
    """Pairs per optimizer step and per process (DDP: the global batch is this x world size)."""
    lr: float = 4.5e-6
    """Adam learning rate of generator and discriminator (the paper's seed value)."""
    betas: tuple[float, float] = (0.5, 0.9)
    """Adam betas of the released code."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up at the start of each stage (0: constant, as the paper)."""
    frame_skip: int = 1
    """Distance k in frames between x^t and the target x^{t+k}."""
    max_frame_skip: int | None = None
    """Mixed gaps: with a value, each pair's k is drawn uniformly in ``frame_skip..max_frame_skip`` (per
    pair and batch, from the seed and the batch's position, so a resumed run draws the same), capped where
    the episode ends sooner. The stage-2 controls are fitted on the pair, so longer gaps teach longer
    moves; the env's commands span the one-step moves and more (docs/fidelity.md, "Mixed gaps and still
    pairs"). With it, ``frame_skip`` may be 0: still pairs (x^t its own target, the fitted control near
    zero) teach stage 2 that a mask left in place keeps the arm in place; stage 1 draws from 1 up. None:
    every pair is ``frame_skip`` apart."""
    control: str = "translation"
    """Control parameterization stored in the checkpoint: translation, rotation or affine."""
    players: int = 1
    """Foregrounds the env moves separately (its ``players``): the action range recorded at the end is
    measured per foreground (:func:`lcvg_env.control.control_range.measure_control_range`)."""
    seed: int = 0
    """Seed of weights, data order and every random number generator."""
    device: str = "auto"
    """'auto' (cuda:LOCAL_RANK when available, else cpu), 'cpu', 'cuda', 'cuda:N'."""
    threads: int | None = None
    """torch intra-op threads (None: torch's default). On a CPU shared with other jobs 1 is often fastest."""
    init: str | None = None
    """A model (name or ``.safetensors`` file, :func:`lcvg_env.model.open_model`) whose weights start the
    run instead of random ones: fine-tuning. Its networks must be the preset's; its generation-time
    options (composite, correction) are not trained with and are not kept. With ``stage1_steps`` 0 the run
    starts in stage 2 (M frozen as it came)."""
    precision: str = "auto"
    """'fp32', 'bf16' (autocast), 'bf16-channels-last', or 'auto' (the fastest: bf16 on CPU, see bench)."""
    l1_weight: float = 1.0
    """Weight of the L1 reconstruction term."""
    lpips_weight: float = 0.0
    """Weight of LPIPS (the released configs use 0); > 0 needs the LPIPS weights installed."""
    lpips_net: str = "vgg"
    """Backbone of the LPIPS term: 'vgg' (taming's perceptual loss) or 'alex' (about 20x cheaper on CPU)."""
    vq_weight: float = 1.0
    """Weight of the VQ loss (codebook + beta commitment, both layers)."""
    disc_weight: float = 0.8
    """Factor of the adaptive GAN weight (taming's disc_weight)."""
    disc_start: int = 10_001
    """Stage-1 step from which the GAN terms are on (generator and discriminator)."""
    stage2_disc_start: int = 0
    """Stage-2 step from which the GAN terms are on."""
    fg_weight: float = 1.0
    """lambda_fg of the foreground size prior L_fg; lambda_bg = ratio(step) * lambda_fg in stage 1."""
    bg_fg_ratio: float = 80.0
    """Initial lambda_bg : lambda_fg ratio of the seed schedule."""
    ratio_halve_every: int = 1000
    """The ratio is halved every this many stage-1 iterations..."""
    min_bg_fg_ratio: float = 5.0
    """...until it reaches this value."""
    bin_weight: float = 1.0
    """lambda_bin of the binarization term L_bin = mean(min(m, 1 - m))."""
    change_threshold: float = 0.04
    """|gray(x^t) - gray(x^{t+1})| above this (in [-1, 1] units) counts as changed (for L_fg)."""
    stage2_bg_weight: float = 5.0
    """Stage-2 lambda_bg of L1((1-m) x, (1-m) x_hat)."""
    stage2_fg_weight: float = 0.0
    """Stage-2 lambda_fg of L1(m x, m x_hat) (the released code adds it; the paper does not)."""
    stage2_follow_weight: float = 0.0
    """Stage-2 weight of L_follow = mean |M(x_hat) - m| (docs/method.md section 9.9; not in the paper): M,
    frozen, reads the rendered frame, and its soft mask must lie where the mask m that cut the layers
    sent the foreground. The generation-time lag correction fits the same mismatch after the fact and
    renders again; this term trains the generator to close it in one generation. 0: off (the paper)."""
    stage2_follow_commands: float = 0.0
    """With R > 0 (pixels), each stage-2 pair is also rendered with its input's mask moved by a random
    command: a translation of whole pixels drawn uniformly in [-R, R] per axis (torch's RNG, so a resumed
    run draws the same), as the environment's actions move it. No real frame shows that move, so the
    render is held by what can be said without one: L_follow (weight ``stage2_follow_weight``) puts its
    foreground on the moved mask, the background outside the old and new masks stays the input's
    (L1, ``stage2_bg_weight``), and the GAN terms ask it to look real (docs/method.md section 9.9). Set R to
    the env's action range (``max_displacement``). 0: off. Translation control only."""
    stage2_follow_pivot: tuple[float, float] | None = None
    """With a point (x, y) px, the random commands of ``stage2_follow_commands`` bend the mask about it
    (the cantilever of ``lcvg_env.control.pivot.bend_masks``: the pivot stays, the mask's far end moves by
    the command) instead of translating it; ``python benchmarks/pivot_control.py`` estimates the point and
    measures this family. None: translations (the env's action)."""
    stage2_mask_source: str = "binarized"
    """Stage-2 masks: 'binarized' M(x^{t+1}) > 0.5 (the released code) or 'warped' (M(x^t) warped by
    the control fitted to the next mask, Eq. 5)."""
    rollout_steps: int = 0
    """Stage 2 against drift: the input x^t of each pair is replaced by the generator's own rollout of
    k steps (k uniform in 0..rollout_steps per pair, no gradient) from the real frame x^{t-k}, driven by
    the controls fitted between consecutive real masks (the evaluation protocol, docs/method.md section 6);
    the target stays the real x^{t+1}. 0: the paper's teacher forcing (every input is a real frame)."""
    mask_horizon: int = 0
    """Stage 1's mask terms over a longer gap: with h > 0, L_bg, L_fg and L_bin compare x^t with the frame
    h steps ahead, x^{t+h} (the episode's last frame where it ends sooner), and every pixel that changes
    between them must lie in M(x^t) or in M(x^{t+h}) (L_bg on the union; docs/method.md section 9.6). Over
    one step the inside of a uniformly coloured part does not change, so the paper's terms (0, against the
    target) leave it out of the mask; over h steps more of the foreground moves off its own pixels."""
    mask_size_prior: str = "each"
    """With ``mask_horizon`` h > 0, what L_fg bounds by the share of changed pixels: 'each' (M(x^t) and
    M(x^{t+h}) separately, averaged) or 'union' (max(M(x^t), M(x^{t+h})), the region L_bg needs). L_bg asks
    the union to cover the change; 'union' also caps the union's area at it, so that neither mask can
    spread past its own foreground (a small sprite's mask otherwise stays a blob up to the change's size)."""
    fit_solver: str = "fast"
    """Solver of the Eq. 5 fit for ``stage2_mask_source='warped'``: 'fast' or 'reference' (the paper's)."""
    checkpoint_every: int = 500
    """Write the model and the resume state every this many steps (and at the end)."""
    log_every: int = 10
    """TensorBoard scalars every this many steps."""
    image_every: int = 250
    """TensorBoard image grids every this many steps."""
    num_start_frames: int = 32
    """Real frames from the training data stored in the checkpoint for the environment to reset from."""

    def __post_init__(self) -> None:
        # Imported here, not at the top: the warp imports torch, and the ``lcvg`` command line imports this
        # module to build its help (which must not wait for torch).
        from lcvg_env.control.warp import CONTROL_DIMS

        _check_types(self)
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        _check(DEVICE_RE.match(str(self.device).lower()) is not None, "device", self.device, DEVICE_CHOICES)
        _check(self.control in CONTROL_DIMS, "control", self.control, f"one of {sorted(CONTROL_DIMS)}")
        _check(isinstance(self.players, int) and 1 <= self.players <= 4, "players", self.players, "1 to 4")
        _check(self.precision in (*PRECISIONS, "auto"), "precision", self.precision, f"auto or {PRECISIONS}")
        _check(
            self.stage2_mask_source in MASK_SOURCES,
            "stage2_mask_source",
            self.stage2_mask_source,
            f"one of {MASK_SOURCES}",
        )
        _check(self.lpips_net in ("vgg", "alex"), "lpips_net", self.lpips_net, "'vgg' or 'alex'")
        _check(
            self.fit_solver in ("fast", "reference"), "fit_solver", self.fit_solver, "'fast' or 'reference'"
        )
        if self.stage2_follow_commands > 0:
            _check(
                self.control == "translation" and self.players == 1 and self.stage2_follow_weight > 0,
                "stage2_follow_commands",
                self.stage2_follow_commands,
                "0, or a reach in pixels together with stage2_follow_weight > 0 (--set "
                "stage2_follow_weight=10: the moved mask is held by L_follow), "
                "control='translation' and players=1",
            )
        if self.stage2_follow_pivot is not None:
            pivot = self.stage2_follow_pivot
            _check(
                isinstance(pivot, (list, tuple))
                and len(pivot) == 2
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in pivot)
                and self.stage2_follow_commands > 0,
                "stage2_follow_pivot",
                pivot,
                "None, or two numbers (x, y) px together with stage2_follow_commands > 0",
            )
        _check(
            self.mask_size_prior in ("each", "union"),
            "mask_size_prior",
            self.mask_size_prior,
            "'each' or 'union'",
        )
        for name in (
            "stage1_steps",
            "stage2_steps",
            "warmup_steps",
            "disc_start",
            "stage2_disc_start",
            "rollout_steps",
            "mask_horizon",
        ):
            _check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        for name in (
            "batch_size",
            "ratio_halve_every",
            "checkpoint_every",
            "log_every",
            "image_every",
            "num_start_frames",
        ):
            _check(getattr(self, name) >= 1, name, getattr(self, name), ">= 1")
        mixed = self.max_frame_skip is not None
        _check(
            self.frame_skip >= (0 if mixed else 1),
            "frame_skip",
            self.frame_skip,
            ">= 1, or 0 (still pairs) together with max_frame_skip",
        )
        _check(
            not mixed or self.max_frame_skip >= max(self.frame_skip, 1),
            "max_frame_skip",
            self.max_frame_skip,
            f"None or >= max(frame_skip, 1) ({max(self.frame_skip, 1)})",
        )
        _check(self.lr > 0, "lr", self.lr, "> 0")
        _check(self.threads is None or self.threads >= 1, "threads", self.threads, "None or >= 1")
        _check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "betas",
            self.betas,
            "two values in [0, 1)",
        )
        for name in (
            "l1_weight",
            "lpips_weight",
            "vq_weight",
            "disc_weight",
            "fg_weight",
            "bin_weight",
            "stage2_bg_weight",
            "stage2_fg_weight",
            "stage2_follow_weight",
            "stage2_follow_commands",
            "change_threshold",
        ):
            _check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        _check(
            self.bg_fg_ratio >= self.min_bg_fg_ratio > 0,
            "bg_fg_ratio",
            self.bg_fg_ratio,
            f">= min_bg_fg_ratio ({self.min_bg_fg_ratio}) > 0",
        )

    @property
    def total_steps(self) -> int:
        return self.stage1_steps + self.stage2_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_types(cfg: TrainConfig) -> None:
    """Each field holds a value of its declared type (an int for ``warmup_steps``, a finite number for
    ``lr``, two numbers for ``betas``): ``--set lr=abc`` fails here, in one line, not as a ``TypeError``
    inside the first training step."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value, hint = getattr(cfg, f.name), hints[f.name]
        kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if value is None and type(None) in kinds:
            continue
        if float in kinds:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            _check(ok, f.name, value, "a finite number")
        elif int in kinds:
            if isinstance(value, float) and value.is_integer():  # 1e4 from --set, or an older config.json
                setattr(cfg, f.name, value := int(value))
            _check(isinstance(value, int) and not isinstance(value, bool), f.name, value, "an integer")
        elif bool in kinds:
            _check(isinstance(value, bool), f.name, value, "true or false")
        elif str in kinds:
            _check(isinstance(value, str), f.name, value, "a string")
        elif typing.get_origin(hint) is tuple:
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
            _check(ok, f.name, value, "a list of finite numbers, e.g. [0.5, 0.9]")


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"TrainConfig.{name} = {value!r} is invalid: expected {expected}.")


def bg_fg_ratio_at(cfg: TrainConfig, step: int) -> float:
    """The seed's lambda_bg : lambda_fg at stage-1 ``step``: halved every ``ratio_halve_every``
    iterations from ``bg_fg_ratio`` down to ``min_bg_fg_ratio`` (BAIR 80 -> 5, Tennis 10 -> 5)."""
    return max(cfg.min_bg_fg_ratio, cfg.bg_fg_ratio * 0.5 ** (step // cfg.ratio_halve_every))


_PAPER = dict(lr=4.5e-6, betas=(0.5, 0.9), stage1_steps=10_000, disc_start=10_001, precision="fp32")

# tiny-64, measured on the built-in pusher data (docs/training.md): the paper's 4.5e-6 is far too small
# for a model this size (300-step runs: mask IoU 0.41 at lr 3e-4, 0.33 at 1e-3). It trains at about
# 13 it/s in stage 1 and 7 it/s in stage 2 at batch 8 in bf16 on one core, so it runs the paper's 10,000
# stage-1 iterations with BAIR's ratio schedule unchanged (80:1 halved every 1,000 to 5:1); the GAN is on
# in stage 2 only, as in the paper (disc_start past stage 1). Stage 2 trains on warped masks, the masks
# the environment and the evaluation protocol feed it. This is the bundled model's recipe. With rollouts
# (--rollout-steps 3) and an AlexNet LPIPS term (--lpips-weight 1 --lpips-net alex) a full run moved the
# foreground more faithfully (control error 6.87 -> 5.05 px) at a cost in FID/FVD; with a deeper M as well
# it lost control (docs/training.md). The defaults change when a model trained with them is bundled.
_TINY_64: dict[str, Any] = dict(
    lr=3e-4,
    betas=(0.5, 0.9),
    batch_size=8,
    stage1_steps=10_000,
    stage2_steps=5000,
    warmup_steps=50,
    disc_start=10_001,
    stage2_disc_start=0,
    disc_weight=0.8,
    bg_fg_ratio=80.0,
    ratio_halve_every=1000,
    min_bg_fg_ratio=5.0,
    fg_weight=1.0,
    bin_weight=0.5,
    stage2_bg_weight=5.0,
    stage2_mask_source="warped",
    checkpoint_every=500,
    image_every=250,
    precision="auto",
)

# tiny-64's recipe at a larger size, trained longer, with the two stage-2 terms that made the tiny model
# follow its controls more faithfully (own rollouts of up to 3 steps, AlexNet LPIPS).
_BASE_64: dict[str, Any] = dict(
    _TINY_64,
    stage2_steps=10_000,
    rollout_steps=3,
    lpips_weight=1.0,
    lpips_net="alex",
    checkpoint_every=250,
)


PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "bair-256": dict(
        _PAPER,
        batch_size=8,
        stage2_steps=10_000,
        bg_fg_ratio=80.0,
        ratio_halve_every=1000,
        min_bg_fg_ratio=5.0,
        stage2_bg_weight=5.0,
    ),
    "tennis-96x256": dict(
        _PAPER,
        batch_size=10,
        stage2_steps=10_000,
        bg_fg_ratio=10.0,
        ratio_halve_every=5000,
        min_bg_fg_ratio=5.0,
        stage2_bg_weight=0.5,
    ),
    "tiny-64": _TINY_64,
    # base-64: the candidate of docs/fidelity.md; large-64: the same recipe at the third size, so that the
    # error budget compares sizes, not recipes.
    "base-64": _BASE_64,
    "large-64": _BASE_64,
    # atari-tennis-64: tiny-64's networks and optimizer with a background weight kept high. The paper's Tennis
    # schedule (10:1, halved after 5,000) collapsed the mask here: the players are about 0.6% of the frame
    # each, so the size prior and L_bin outweighed L_bg on the few moving pixels and mean(m) fell from 0.46 to
    # 0.0002 within 560 iterations (run of 2026-12-01, log.jsonl `mask_mean`). 80:1, halved every 2,500
    # iterations down to 20:1, keeps L_bg the strongest term on the moving pixels.
    "atari-tennis-64": dict(
        _TINY_64,
        bg_fg_ratio=80.0,
        ratio_halve_every=2500,
        min_bg_fg_ratio=20.0,
        players=2,
        # Stage 1's mask terms over a 3-frame gap with the size prior on the union of both frames' masks. The
        # paper's terms make M(x^t) also cover where each player goes next: blobs about 2.3 times the players'
        # area (IoU 0.365 with the true players). The union prior lets each mask keep to its own frame's
        # players; over one step it also drops players who stand still (M misses one in 21 % of the test
        # frames), over three the players have moved in nearly every pair, and M keeps both in all of them
        # (IoU 0.680; docs/env.md, "A tighter mask").
        mask_horizon=3,
        mask_size_prior="union",
        # Stage 2 on the true next masks: "warped" moves the whole mask by one fitted translation, which for
        # two players who move differently lays one onto the other; a generator trained on those (3,000
        # steps, run of 2026-12-01) erased both players at the first env step.
        stage2_mask_source="binarized",
        # The players' pixels weighted 21x in stage 2 (lambda_fg L1(m x, m x_hat), the released code's term):
        # with the plain L1 the autoencoder drew the court and left the players out (they are about 1 % of
        # the pixels; 12,000 iterations); 3,000 iterations with this weight brought them back.
        stage2_fg_weight=20.0,
    ),
}


def preset_config(preset: str, **overrides: Any) -> TrainConfig:
    """The training defaults of model preset ``preset`` with ``overrides`` (None values are ignored)."""
    if preset not in PRESET_DEFAULTS:
        raise ValueError(f"No training defaults for preset {preset!r}; known: {', '.join(PRESET_DEFAULTS)}.")
    values = {**PRESET_DEFAULTS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(preset=preset, **values)
