"""The world model as a batched simulator: B current frames stepped in one forward pass.

One step follows docs/method.md section 8 (the generation row of section 3)::

    m^t        = 1[M(x^t) > 0.5]                 binarized foreground mask (cached from the last step)
    m'         = T(theta)(m^t)                   the mask moved by the control (Eq. 5)
    x^{t+1}    = D( q(E(x^t m')) + q(E(x^t (1 - m'))) )   (composited with x^t outside m^t | m' when the
                                                  checkpoint sets ``composite_margin``)
    m^{t+1}    = 1[M(x^{t+1}) > 0.5]             for the info, the reward and the next step

The state is the uint8 frame (what the agent observes), so the env is Markov in its observation
and values stay in range on long rollouts. The generator is deterministic given the frame.

With ``players`` K > 1 the mask is split into K foregrounds followed from step to step
(:mod:`lcvg_env.control.components`) and m' is the union of each foreground's mask moved by its own
control, with the rest of m^t (specks, components beyond the K largest) left in place. K = 1 is the
single warp above, untouched.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch._inductor.config
from torch import nn

from lcvg_env.checkpoint import Checkpoint
from lcvg_env.control.components import ForegroundTracker
from lcvg_env.control.warp import mask_centroid
from lcvg_env.model import to_uint8, to_unit_range
from lcvg_env.models import LayeredGenerator

_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}

ROWS_PER_WORKER = 16
"""An eager CPU batch of at least this many rows per torch thread is stepped in slices side by side
(measured on 2 cores with tiny-64: 16 envs gain nothing from two slices of 8, 32 envs gain 15 %)."""


def compiled_networks(generator: LayeredGenerator) -> list[tuple[nn.Module, str, Callable[..., Any]]]:
    """The generator's networks as (owner, method name, the method compiled as one static graph): M's
    forward and ``generate`` (the two layers through E, the quantizer and D). Within a step each is
    called at one batch size, B frames. (Compiling E and D apart was 1.5-2.5 ms a step slower for the
    bundled ``pusher``: more graphs to enter and their 1x1 convolutions left eager.)"""
    methods = ((generator.mask_net, "forward"), (generator, "generate"))
    return [(owner, name, torch.compile(getattr(owner, name), dynamic=False)) for owner, name in methods]


class LayeredSimulator:
    """B frames, their binarized masks and the generator that advances them; with ``players`` > 1 also
    the foregrounds of each mask (``tracker``), each moved by its own control."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        num_envs: int,
        mode: str,
        dtype: str = "bfloat16",
        compile: bool = False,
        players: int = 1,
        player_order: str = "x",
        player_colours: tuple[tuple[int, int, int], ...] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
        # Contiguous memory format on purpose: channels_last + bf16 GroupNorm is pathologically slow on CPU.
        self.generator = checkpoint.generator.to(_DTYPES[dtype]).eval()
        self.device = next(self.generator.parameters()).device
        self.mode = mode
        self.num_envs = num_envs
        self.size = (checkpoint.config.height, checkpoint.config.width)
        h, w = self.size
        with torch.inference_mode():
            self.frames = torch.zeros(num_envs, 3, h, w, dtype=torch.uint8, device=self.device)
            self.masks = torch.zeros(num_envs, 1, h, w, device=self.device)
        self.centroids = np.full((num_envs, 2), np.nan, dtype=np.float32)
        with torch.inference_mode():  # the moves' remainders (B, K * 2) px (GeneratorConfig.subpixel)
            self.residual = torch.zeros(num_envs, 2 * players, device=self.device)
        self.players = players
        self.tracker = (
            ForegroundTracker(num_envs, players, self.size, player_order, colours=player_colours)
            if players > 1
            else None
        )
        # The full-batch step has fixed shapes, so one static graph serves the whole run; resets
        # (``load``, any subset of rows) stay eager and never trigger a recompilation. With the lag
        # correction the step holds an Eq. 5 fit (a data-dependent search that breaks any graph into
        # pieces), so only the networks are compiled and the code between them stays eager.
        self.compiled = compile
        corrects = self.generator.cfg.correction_passes > 0
        self._networks = compiled_networks(self.generator) if compile and corrects else []
        whole = compile and not corrects
        self._advance = torch.compile(self._advance_eager, dynamic=False) if whole else self._advance_eager
        self._pool: ThreadPoolExecutor | None = None
        self._pool_key = (0, 0)  # (process id, workers) the pool was made for

    @torch.inference_mode()
    def load(self, rows: np.ndarray, frames: np.ndarray) -> None:
        """Set the frames of ``rows`` to uint8 ``frames`` (k, H, W, 3) and compute their masks (one pass)."""
        batch = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        batch = batch.permute(0, 3, 1, 2).contiguous()  # (k, 3, H, W)
        index = torch.as_tensor(rows, device=self.device)
        self.frames[index] = batch
        self.masks[index] = self._binary_mask(batch)
        self.residual[index] = 0.0
        self.centroids[rows] = mask_centroid(self.masks[index]).cpu().numpy()
        if self.tracker is not None:
            self.tracker.reset(rows, self.masks[index, 0], frames)

    @torch.inference_mode()
    def step(self, controls_norm: np.ndarray) -> None:
        """Advance every frame by its control (B, K * dims) in normalized units (foreground k's control
        in columns k * dims to (k + 1) * dims), in one forward pass."""
        control = torch.from_numpy(controls_norm).to(self.device)
        parts = None
        if self.tracker is not None:
            parts = torch.from_numpy(self.tracker.masks).to(self.device, torch.float32)  # (B, K, H, W)
            self.tracker.advance(controls_norm.reshape(self.num_envs, self.players, -1), self.mode)
        workers = self.workers()
        if workers > 1:
            frames, masks, centroids, residual = self._advance_sliced(control, parts, workers)
        else:
            frames, masks, centroids, residual = self._advance_whole(control, parts)
        self.frames, self.masks, self.residual = frames, masks, residual
        self.centroids = centroids.cpu().numpy()
        if self.tracker is not None:
            self.tracker.update(masks[:, 0])

    def workers(self) -> int:
        """Slices of the batch stepped side by side in threads: one per torch thread, eager CPU only.

        The tiny models' convolutions are too small for torch's intra-op threads to keep every core busy;
        slices of the batch, each on one thread, do better (tiny-64 on 2 cores, interleaved in one run:
        32 envs 15 %, 64 envs 19 % more frames/s). Each row's arithmetic does not depend on the batch
        around it, so the frames equal the unsliced step's (tested). ``torch.set_num_threads(1)`` turns
        slicing off.
        """
        if self.compiled or self.device.type != "cpu":
            return 1
        return max(1, min(torch.get_num_threads(), self.num_envs // ROWS_PER_WORKER))

    def close(self) -> None:
        """Stop the slicing threads (the simulator still works: they are made again when needed)."""
        if self._pool is not None and self._pool_key[0] == os.getpid():
            self._pool.shutdown(wait=True)
        self._pool = None

    def _advance_whole(
        self, control: torch.Tensor, parts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        try:
            with self._compiled_step():
                return self._advance(self.frames, self.masks, control, parts, self.residual)
        except Exception as e:  # inductor needs a working C++ toolchain; fall back rather than stop
            if not self.compiled:
                raise
            warnings.warn(
                f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                "the env runs uncompiled. Install a C++ compiler (e.g. apt install g++) "
                "or pass compile=False.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._advance, self.compiled, self._networks = self._advance_eager, False, []
            return self._advance(self.frames, self.masks, control, parts, self.residual)

    @contextlib.contextmanager
    def _compiled_step(self) -> Iterator[None]:
        """Within: the compiled networks' methods in place of the eager ones (``compile=True`` with
        the lag correction; resets outside it run eager), and inductor's freezing on, which folds the
        weights into the graphs (the env never trains them): 1.5x faster convolutions on a CPU."""
        if not self.compiled:
            yield
            return
        for owner, name, method in self._networks:
            setattr(owner, name, method)  # an instance attribute: shadows the class's method
        try:
            with torch._inductor.config.patch(freezing=True):
                yield
        finally:
            for owner, name, _ in self._networks:
                delattr(owner, name)

    def _advance_sliced(
        self, control: torch.Tensor, parts: torch.Tensor | None, workers: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        key = (os.getpid(), workers)
        if self._pool_key != key:
            self.close()  # the thread count changed, or a forked child drops its parent's pool
        if self._pool is None:
            self._pool, self._pool_key = ThreadPoolExecutor(workers, "lcvg-sim"), key
        bounds = np.linspace(0, self.num_envs, workers + 1).astype(int)  # contiguous slices of the batch

        def advance(i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            torch.set_num_threads(1)  # this worker thread's own setting; the caller's is restored below
            sl = slice(bounds[i], bounds[i + 1])
            with torch.inference_mode():  # grad mode is per thread
                part = None if parts is None else parts[sl]
                return self._advance_eager(
                    self.frames[sl], self.masks[sl], control[sl], part, self.residual[sl]
                )

        threads = torch.get_num_threads()
        try:
            parts = list(self._pool.map(advance, range(workers)))
        finally:
            torch.set_num_threads(threads)
        frames, masks, centroids, residual = (torch.cat(p) for p in zip(*parts, strict=True))
        return frames, masks, centroids, residual

    def _advance_eager(
        self,
        frames: torch.Tensor,
        masks: torch.Tensor,
        control: torch.Tensor,
        parts: torch.Tensor | None,
        residual: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(uint8 frames, binary masks, controls, foreground masks or None, the moves' remainders (B, K * 2)
        px) -> the next frames, their masks, centroids (B, 2) and remainders (``GeneratorConfig.subpixel``;
        unchanged zeros without it)."""
        out = self.generator.step(to_unit_range(frames), control, self.mode, parts, masks, residual)
        frames = to_uint8(out.frame)
        masks = self._binary_mask(frames) if out.next_mask is None else out.next_mask  # the same, once
        return frames, masks, mask_centroid(masks), residual if out.residual is None else out.residual

    def _binary_mask(self, frames: torch.Tensor) -> torch.Tensor:
        return self.generator.binary_mask(to_unit_range(frames))  # (B, 1, H, W) in {0, 1}

    def observations(self) -> np.ndarray:
        """Current frames as uint8 (B, H, W, 3), a fresh array."""
        return self.frames.permute(0, 2, 3, 1).cpu().numpy().copy()

    def mask_arrays(self) -> np.ndarray:
        """Current binarized masks as bool (B, H, W)."""
        return self.masks[:, 0].bool().cpu().numpy()
