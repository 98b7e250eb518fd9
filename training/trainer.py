"""The training loop of both stages (docs/method.md sections 3-5), on one CPU or many GPUs.

Read it top to bottom: :class:`Trainer` builds the data stream, the generator (M + E + Z + D) and the
loss module (which owns the PatchGAN C), then :meth:`Trainer.train` runs ``stage1_steps`` iterations of
mask-based generation (soft M(x^t) cuts the layers, M is trained) followed by ``stage2_steps`` of
fine-tuning for control (M frozen, binarized or warped masks cut the layers). Each iteration is two
explicit optimizer steps: the generator's, then (once the GAN is on) the discriminator's.

Reliability: every ``checkpoint_every`` steps, at the end and on Ctrl-C the model goes to
``RUN_DIR/model.safetensors`` and the full resume state to ``RUN_DIR/state/`` (both written atomically);
``resume=True`` continues bit-for-bit from there. A non-finite loss stops the run with
:class:`TrainingDiverged` and leaves the last good checkpoint in place.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from lcvg_env.atomic import atomic_write_json
from lcvg_env.checkpoint import save_checkpoint
from lcvg_env.control.control_range import ENV_DEFAULTS_KEY, control_range_of_split, env_defaults, split_clips
from lcvg_env.control.region import REGION_KEY, region_of_split
from lcvg_env.data import VideoDataset
from lcvg_env.evaluation.masks import check_mask_split, mask_iou_summary, mask_split
from lcvg_env.models import LayeredGenerator, Preset, get_preset

from . import distributed as ddp
from . import state as st
from .config import TrainConfig
from .data import PairBatches, sample_start_frames
from .losses import LCVGLoss
from .monitor import Monitor
from .stage2_controls import CommandedRender, commanded_masks, rollout_inputs, stage2_masks

CONTROL_RANGE_EPISODES = 256
"""Training episodes the finished model's action range is measured on (about a minute on one CPU core)."""


REPEAT_S = 2.0
"""Seconds after a first stop signal within which a repeat is taken for the same stop (see
:meth:`Trainer._install_sigint`)."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    step: int
    """Optimizer steps done (both stages)."""
    logs: dict[str, float]
    """The last step's loss terms."""
    checkpoint: Path | None
    """``RUN_DIR/model.safetensors`` (None on ranks other than 0)."""
    interrupted: bool = False
    mask_iou: dict[str, float] | None = None
    history: list[dict[str, float]] = field(default_factory=list)


class _Generation(nn.Module):
    """The generator's forward for DDP: stage 1 computes the soft mask inside (so M is trained)."""

    def __init__(self, generator: LayeredGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self, frame: torch.Tensor, mask: torch.Tensor | None = None, ahead: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """(x_hat, L_VQ, m, M(ahead) or None); ``ahead`` is stage 1's x^{t+h} (``mask_horizon``)."""
        mask = self.generator.mask(frame) if mask is None else mask
        out = self.generator.generate(frame, mask)
        ahead_mask = None if ahead is None else self.generator.mask(ahead)
        return out.frame, out.vq_loss, mask, ahead_mask


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' picks bf16 autocast on CPU (fastest in benchmarks/bench_train.py) and fp32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" else "fp32"


INIT_NETWORKS = ("height", "width", "mask", "autoencoder", "quantizer")
"""The generator config fields an ``--init`` model must share with the run's preset."""


def check_init(source: str, preset: Preset) -> Path:
    """The checkpoint file ``--init SOURCE`` names, checked from its header alone (no weights: cheap, so
    before any data is read): it resolves, it is a readable lcvg checkpoint and its networks
    (:data:`INIT_NETWORKS`) are ``preset``'s. Anything else is a one-line ``ValueError`` naming --init."""
    from lcvg_env.checkpoint import CheckpointError, read_metadata, stored_config
    from lcvg_env.env.resolve import CheckpointNotFoundError, resolve_checkpoint

    try:
        path = resolve_checkpoint(source)
        meta = read_metadata(path)
        theirs = stored_config(path, meta)
    except (CheckpointNotFoundError, CheckpointError) as e:
        raise ValueError(_init_error(source, e)) from e
    ours = preset.generator
    differ = [f for f in INIT_NETWORKS if getattr(ours, f) != getattr(theirs, f)]
    if differ:
        trained = meta.get("preset")
        fix = (
            f"it was trained with preset {trained!r}: pass --preset {trained}"
            if trained
            else "it records no preset: pass the --preset it was trained with"
        )
        raise ValueError(
            f"--init {source}: its networks differ from preset {preset.name!r}'s ({', '.join(differ)}); "
            f"{fix} (or start from random weights without --init)."
        )
    return path


def _init_error(source: str, error: Exception) -> str:
    """One line: why ``--init SOURCE`` cannot be used, and what the option takes."""
    why = " ".join(str(error).split()).rstrip(".")  # resolve's messages may span lines
    return (
        f"--init {source}: {why}. --init takes a .safetensors file or an installed or bundled model's name "
        "(`lcvg checkpoint info NAME` checks one)."
    )


class Trainer:
    """One training run: ``Trainer(cfg, data_dir, run_dir).train()``."""

    def __init__(
        self,
        cfg: TrainConfig,
        data_dir: str | Path,
        run_dir: str | Path,
        *,
        preset: Preset | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> None:
        self.cfg, self.data_dir, self.run_dir = cfg, Path(data_dir), Path(run_dir)
        self.preset = preset or get_preset(cfg.preset)
        if cfg.init and not resume:  # before the data is read: a wrong --init is said first
            check_init(cfg.init, self.preset)
        self.env = ddp.DistEnv.from_env()
        self.device = ddp.pick_device(cfg.device, self.env)
        ddp.init(self.env, self.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.progress = progress
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        np.random.seed(cfg.seed)
        gcfg = self.preset.generator
        self.dataset = VideoDataset(
            data_dir, "train", size=(gcfg.height, gcfg.width), frame_skip=max(cfg.frame_skip, 1)
        )
        check_mask_split(self.data_dir)  # every split the run reads is checked before its first step
        self.batches = PairBatches(
            self.dataset,
            cfg.batch_size,
            cfg.seed,
            self.env.rank,
            self.env.world,
            history=cfg.rollout_steps,
            ahead=cfg.mask_horizon,
            max_skip=cfg.max_frame_skip,  # min_skip: per stage, in _build_stage
        )
        self.generator = LayeredGenerator(gcfg).to(self.device)
        self.loss = LCVGLoss(cfg, self.preset.discriminator).to(self.device)
        if self.precision == "bf16-channels-last":
            self.generator.to(memory_format=torch.channels_last)
            self.loss.to(memory_format=torch.channels_last)
        self.step, self.built_stage, self.logs = 0, 0, {}
        self.mask_iou: dict[str, float] | None = None
        self._stop = self._stop_requested = False
        if resume:
            self._restore()
        elif self.env.is_main and st.has_state(self.run_dir):
            raise FileExistsError(
                f"{self.run_dir} already holds a run. Continue it with --resume, or pick another --out."
            )
        elif cfg.init:
            self._initialize(cfg.init)
        self._build_stage(self.stage)
        self.start_frames = sample_start_frames(self.dataset, cfg.num_start_frames, cfg.seed)

    def _initialize(self, source: str) -> None:
        """The generator's weights from the model ``source`` (``cfg.init``, checked by :func:`check_init`);
        fp16 bundles are widened to the run's fp32."""
        from lcvg_env.checkpoint import CheckpointError
        from lcvg_env.env.resolve import CheckpointNotFoundError
        from lcvg_env.model import open_model

        try:
            ckpt = open_model(source, device="cpu")
        except (CheckpointNotFoundError, CheckpointError) as e:  # e.g. weights truncated behind a good header
            raise ValueError(_init_error(source, e)) from e
        self.generator.load_state_dict(ckpt.generator.state_dict())  # copy_ casts fp16 to the run's fp32

    # ------------------------------------------------------------------ stages
    @property
    def stage(self) -> int:
        return 1 if self.step < self.cfg.stage1_steps else 2

    @property
    def stage_step(self) -> int:
        return self.step if self.stage == 1 else self.step - self.cfg.stage1_steps

    def _build_stage(self, stage: int) -> None:
        """Fresh Adam optimizers and warm-up schedules for ``stage``; stage 2 freezes M first."""
        if stage == self.built_stage:
            return
        self.generator.mask_net.requires_grad_(stage == 1)
        self.generator.mask_net.train(stage == 1)
        self.batches.ahead = self.cfg.mask_horizon if stage == 1 else 0  # x^{t+h} feeds stage 1's terms only
        if self.cfg.max_frame_skip is not None:  # still pairs (gap 0) feed stage 2 only: L_fg needs a change
            self.batches.min_skip = self.cfg.frame_skip if stage == 2 else max(self.cfg.frame_skip, 1)
        gen_params = [p for p in self.generator.parameters() if p.requires_grad]
        disc_params = list(self.loss.discriminator.parameters())
        adam = dict(lr=self.cfg.lr, betas=self.cfg.betas)
        self.opt_g, self.opt_d = torch.optim.Adam(gen_params, **adam), torch.optim.Adam(disc_params, **adam)
        warm = max(self.cfg.warmup_steps, 1)
        self.sched_g, self.sched_d = (
            torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
            for opt in (self.opt_g, self.opt_d)
        )
        self.gen_forward: nn.Module = _Generation(self.generator)
        self.disc: nn.Module = self.loss.discriminator
        if self.env.enabled:  # re-wrapped per stage: DDP must know which parameters get gradients
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.gen_forward = DDP(self.gen_forward, device_ids=ids)
            self.disc = DDP(self.loss.discriminator, device_ids=ids)
        self.built_stage = stage

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.precision == "bf16-channels-last" else torch.contiguous_format

    def _prepare(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        fmt = self._memory_format()
        frame = batch["frame"].to(self.device).contiguous(memory_format=fmt)
        return frame, batch["next"].to(self.device).contiguous(memory_format=fmt)

    # ------------------------------------------------------------------ one iteration
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Generator step, then discriminator step; returns logs and the tensors for image grids."""
        stage, s = self.stage, self.stage_step
        frame, target = self._prepare(batch)
        with self._autocast():
            mask, inputs, rolled = None, frame, None
            if stage == 2:
                if self.cfg.rollout_steps > 0:
                    inputs, rolled = rollout_inputs(
                        self.generator,
                        batch["history"].to(self.device),
                        batch["history_len"],
                        frame,
                        self.cfg.control,
                        self.cfg.fit_solver,
                    )
                    inputs = inputs.to(frame.dtype).contiguous(memory_format=self._memory_format())
                mask = stage2_masks(
                    self.generator,
                    frame,
                    target,
                    self.cfg.stage2_mask_source,
                    self.cfg.control,
                    self.cfg.fit_solver,
                    input_frame=inputs if rolled is not None else None,
                )
            ahead = None
            if "ahead" in batch:  # stage 1 with a mask horizon (_build_stage)
                ahead = batch["ahead"].to(self.device).contiguous(memory_format=self._memory_format())
            pred, vq_loss, mask, ahead_mask = self.gen_forward(inputs, mask, ahead)
            drawn = commanded = None
            if stage == 2 and self.cfg.stage2_follow_weight > 0:  # L_follow: M (frozen) reads x_hat
                drawn = self.generator.mask(pred)
            if stage == 2 and self.cfg.stage2_follow_commands > 0:
                # the same input, its mask moved as the env's actions move it
                start_mask, moved = commanded_masks(
                    self.generator, inputs, self.cfg.stage2_follow_commands, self.cfg.stage2_follow_pivot
                )
                pred_c, vq_c, _, _ = self.gen_forward(inputs, moved, None)
                commanded = CommandedRender(
                    inputs, start_mask, moved, pred_c, vq_c, self.generator.mask(pred_c)
                )
            loss, logs = self.loss.generator_loss(
                stage,
                s,
                frame,
                target,
                pred,
                vq_loss,
                mask,
                self.generator.decoder.last_layer,
                ahead=None if ahead is None else (ahead, ahead_mask),
                drawn=drawn,
                commanded=commanded,
            )
        self._check_finite(loss, logs, "generator")
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.sched_g.step()
        if self.loss.gan_active(stage, s):
            with self._autocast():
                fake = pred if commanded is None else torch.cat([pred, commanded.pred])
                d_loss, d_logs = self.loss.discriminator_loss(self.disc, target, fake)
            self._check_finite(d_loss, d_logs, "discriminator")
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            self.sched_d.step()
            logs.update(d_logs)
        if rolled is not None:
            logs["rollout_k"] = float(rolled.float().mean())
        if "skip" in batch:  # mixed gaps (max_frame_skip): the batch's mean gap, 0 for a batch of still pairs
            logs["gap"] = float(batch["skip"].float().mean())
        return {"logs": logs, "frame": inputs, "mask": mask, "pred": pred, "target": target, "stage": stage}

    def _check_finite(self, loss: torch.Tensor, logs: dict[str, float], what: str) -> None:
        bad, stop = ddp.all_flags(
            [float(not torch.isfinite(loss).item()), float(self._stop_requested)], self.env, self.device
        )
        self._stop = self._stop or stop > 0  # every rank stops after the same step when one got Ctrl-C
        if bad > 0:
            last = st.load_state(self.run_dir / "state")[1]["step"] if st.has_state(self.run_dir) else None
            raise TrainingDiverged(
                f"The {what} loss is not finite at step {self.step + 1} (stage {self.stage}): {logs}. "
                + (
                    f"The last good checkpoint is step {last} in {self.run_dir} (model.safetensors, state/); "
                    "continue from it with --resume after lowering --lr "
                    if last is not None
                    else "No checkpoint was written yet; restart with a lower --lr "
                )
                + f"(now {self.cfg.lr}), or check the data for broken frames."
            )

    # ------------------------------------------------------------------ the loop
    def train(self, on_step: Callable[[Trainer], None] | None = None) -> TrainResult:
        """Run until ``stage1_steps + stage2_steps`` (or Ctrl-C, which saves first)."""
        cfg, main = self.cfg, self.env.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / "config.json", cfg.to_dict())
        monitor = Monitor(self.run_dir, cfg.total_steps, self.step, enabled=main, progress=self.progress)
        history: list[dict[str, float]] = []
        previous = self._install_sigint()
        try:
            while self.step < cfg.total_steps and not self._should_stop():
                self._build_stage(self.stage)
                out = self.train_step(self.batches.next())
                self.step, self.logs = self.step + 1, out["logs"]
                history.append(self.logs)
                self._after_step(monitor, out)
                if on_step is not None:
                    on_step(self)
            interrupted = self.step < cfg.total_steps
            checkpoint = self.save()
            if interrupted:
                monitor.print(
                    f"Interrupted: saved step {self.step} to {self.run_dir}; continue with --resume."
                )
        finally:
            for sig, handler in (previous or {}).items():
                if handler is not None:  # None: a handler set outside Python, which cannot be put back
                    signal.signal(sig, handler)
            monitor.close()
        ddp.barrier(self.env)
        return TrainResult(self.step, self.logs, checkpoint, interrupted, self.mask_iou, history)

    def _should_stop(self) -> bool:
        # With DDP only the flag agreed by all ranks counts (else ranks would wait for each other).
        return self._stop or (not self.env.enabled and self._stop_requested)

    def _after_step(self, monitor: Monitor, out: dict[str, Any]) -> None:
        cfg = self.cfg
        monitor.step(self.step, out["stage"], out["logs"], cfg.log_every)
        if monitor.enabled and (self.step % cfg.image_every == 0 or self.step == 1):
            fg, bg = self.generator.layers(out["frame"], out["mask"])
            monitor.images(
                self.step,
                {
                    "frame": out["frame"],
                    "mask": out["mask"],
                    "fg": fg,
                    "bg": bg,
                    "pred": out["pred"],
                    "target": out["target"],
                },
            )
        if self.step == cfg.stage1_steps and cfg.stage1_steps > 0:
            self._evaluate_mask(monitor)
        if self.step % cfg.checkpoint_every == 0 and self.step < cfg.total_steps:
            self.save()

    def _evaluate_mask(self, monitor: Monitor) -> None:
        if not self.env.is_main:
            return
        split = mask_split(self.data_dir)
        self.mask_iou = mask_iou_summary(self.generator, self.data_dir, split=split)
        if self.mask_iou is not None:
            monitor.scalars(self.step, {f"mask/{k}": v for k, v in self.mask_iou.items()})
            monitor.print(
                f"Stage 1 done: mask IoU with the ground truth ({split}) "
                + json.dumps({k: round(v, 4) for k, v in self.mask_iou.items()})
            )
        else:  # said, not silent: real video has no true masks; broken val episodes were warned of
            monitor.print(
                f"Stage 1 done: no mask check (no readable {split!r} episode of {self.data_dir} has "
                "ground-truth masks)."
            )

    def _install_sigint(self) -> dict[int, Any] | None:
        """Ctrl-C (SIGINT) and SIGTERM (``kill``, a job scheduler's stop) finish the step, save the model
        and the resume state, and end the run. A Ctrl-C repeated after :data:`REPEAT_S` seconds ends it at
        once; repeats sooner are the same stop passed on (torchrun forwards the signal its process group
        got to every worker) and are ignored. Returns the previous handlers (None off the main thread,
        where signals behave as usual)."""
        first: list[float] = []

        def handler(signum: int, frame: Any) -> None:
            if not first:
                first.append(time.monotonic())
                self._stop_requested = True  # finish this step, save, exit
            elif signum == signal.SIGINT and time.monotonic() - first[0] > REPEAT_S:
                raise KeyboardInterrupt  # asked twice: stop now, without saving

        try:
            return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread
            return None

    # ------------------------------------------------------------------ checkpoints
    def save(self) -> Path | None:
        """Model (``model.safetensors``) and resume state (``state/``), rank 0 only, both atomic."""
        if not self.env.is_main:
            return None
        extra = {
            "data_dir": str(self.data_dir),
            "stage1_steps": self.cfg.stage1_steps,
            "stage2_steps": self.cfg.stage2_steps,
            "stage": self.stage if self.step else 1,
            "last_losses": self.logs,
            "mask_iou": self.mask_iou,
            "train_config": self.cfg.to_dict(),
        }
        if self.step >= self.cfg.total_steps and self.cfg.stage2_steps > 0:
            extra.update(self._data_defaults())
        path = save_checkpoint(
            self.run_dir / "model.safetensors",
            self.generator,
            control_mode=self.cfg.control,
            start_frames=self.start_frames,
            preset=self.preset.name,
            step=self.step,
            extra=extra,
        )
        st.save_state(self.run_dir / "state", self.step, *self._state())
        return path

    def _data_defaults(self) -> dict[str, Any]:
        """What the finished model's training data gives the environment, measured with the final M on
        the training split: the action range (the fitted controls' per-axis 99th percentile,
        ``extra["env_defaults"]``) and the motion region (where M's centroid went, or with several players
        each player's, ``extra["motion_region"]``, :mod:`lcvg_env.control.region`). Either is left out,
        with a message, when the split does not give it (the env then uses its fallback)."""
        from lcvg_env.checkpoint import Checkpoint

        was_training = self.generator.training
        self.generator.eval()
        out: dict[str, Any] = {}
        ckpt = Checkpoint(
            self.generator, self.generator.cfg, self.cfg.control, self.start_frames, step=self.step
        )
        try:
            # the training clips, decoded once for both measurements
            clips = split_clips(ckpt, self.data_dir, "train", CONTROL_RANGE_EPISODES)
            measured = control_range_of_split(
                ckpt, self.data_dir, "train", players=self.cfg.players, clips=clips
            )
            print(f"Action range of the trained controls: {measured.to_json()}")
            out[ENV_DEFAULTS_KEY] = env_defaults(measured)
            region = region_of_split(ckpt, self.data_dir, "train", clips=clips, players=self.cfg.players)
            print(f"Motion region: {int(region.visited.sum())} cells of {region.cell} px, {region.source}")
            out[REGION_KEY] = region.to_json()
        except (ValueError, FileNotFoundError) as exc:
            print(f"No action range or motion region recorded in the checkpoint: {exc}")
        finally:
            self.generator.train(was_training)
        return out

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {
            **st.module_tensors(self.generator, "generator"),
            **st.module_tensors(self.loss.discriminator, "discriminator"),
        }
        g_t, g_meta = st.flatten_optimizer(self.opt_g, "opt_g")
        d_t, d_meta = st.flatten_optimizer(self.opt_d, "opt_d")
        r_t, r_meta = st.rng_state()
        tensors.update({**g_t, **d_t, **r_t})
        meta = {
            "step": self.step,
            "stage": self.stage,
            "built_stage": self.built_stage,
            "config": self.cfg.to_dict(),
            "opt_g": g_meta,
            "opt_d": d_meta,
            "rng": r_meta,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "batches": self.batches.state(),
            "logs": self.logs,
            "mask_iou": self.mask_iou,
        }
        return tensors, json.loads(json.dumps(meta, default=str))

    def _restore(self) -> None:
        tensors, meta = st.load_state(self.run_dir / "state")
        st.load_module(self.generator, tensors, "generator")
        st.load_module(self.loss.discriminator, tensors, "discriminator")
        self.step, self.logs, self.mask_iou = int(meta["step"]), meta["logs"], meta.get("mask_iou")
        self._build_stage(int(meta["built_stage"]))
        self.opt_g.load_state_dict(st.unflatten_optimizer(tensors, meta["opt_g"], "opt_g"))
        self.opt_d.load_state_dict(st.unflatten_optimizer(tensors, meta["opt_d"], "opt_d"))
        self.sched_g.load_state_dict(meta["sched_g"])
        self.sched_d.load_state_dict(meta["sched_d"])
        self.batches.load_state(meta["batches"])
        st.set_rng_state(tensors, meta["rng"])
