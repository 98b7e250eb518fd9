"""The environment's configuration: every keyword of :class:`~lcvg_env.env.core.LCVGEnv` but the
checkpoint and the render mode, validated once and shared by the single and the vector env."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lcvg_env.control.components import MAX_PLAYERS, ORDERS
from lcvg_env.control.warp import CONTROL_DIMS
from lcvg_env.runtime import check_threads, resolve_device

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint

TASKS = ("reach", "reach_each", "none")
ACTUATIONS = ("direct", "data")
REGIONS = ("none", "data")
OBSERVATIONS = ("pixels", "dict")
DTYPES = ("bfloat16", "float32", "float16")

RewardFn = Callable[[np.ndarray, np.ndarray, dict[str, Any]], float]
"""``reward_fn(frame (H, W, 3) uint8, mask (H, W) bool, info) -> float``."""


@dataclass
class EnvConfig:
    """How the environment is built and scored; the defaults make the ``reach`` task."""

    name: str = "pusher"
    """Model name resolved when no checkpoint is given (``pusher``, ``bair``, ``tennis``, ``breakout``)."""
    control: str | None = None
    """``translation`` (2 dims), ``rotation`` (3) or ``affine`` (6); None: the checkpoint's mode."""
    task: str = "reach"
    """``reach``: bring the foreground centroid to a goal point; ``reach_each`` (``players`` > 1): every
    foreground to its own goal, in the half of the frame it starts in (:mod:`lcvg_env.env.task`);
    ``none``: reward 0 (data generation)."""
    max_displacement: float | None = None
    """Pixels the mask moves per step at action +-1 (translation components). None: the checkpoint's
    data-derived default (the 99th percentile of the per-axis controls it was trained on,
    :mod:`lcvg_env.control.control_range`; ``lcvg checkpoint info`` prints it), 4 px for checkpoints
    that record none."""
    max_rotation: float = 0.2
    """Radians turned per step at action +-1 (rotation); for ``affine``, the largest offset of each
    entry of the linear part from the identity."""
    success_radius: float | None = None
    """Reach succeeds within this many pixels of the goal; None: 4 px per 64 px of frame size."""
    terminate_on_success: bool = True
    """End the episode (``terminated=True``) when the reach task succeeds."""
    goal_margin: float = 0.15
    """Goals are drawn at least this fraction of the frame size away from the border."""
    device: str = "cpu"
    """Torch device of the generator."""
    dtype: str = "bfloat16"
    """Generator weights' dtype: ``bfloat16`` (fastest on CPU), ``float32`` or ``float16``."""
    compile: bool = False
    """Compile the step (warp, generate, mask) with ``torch.compile`` (inductor, weights frozen into the
    graphs): 1.5-1.8x more frames per second on a CPU, after a one-off compilation of 20-60 s on the
    first step (cached on disk for later runs). With the lag correction (the bundled ``pusher``) only M
    and the generator are compiled; the Eq. 5 fit between them stays eager. Worth it for long runs
    (agent training, dataset export), not for a demo. Needs a C++ compiler on CPU; when compilation
    fails the env warns and runs uncompiled."""
    reward_fn: RewardFn | None = None
    """Replaces the task's reward: ``reward_fn(frame, mask, info) -> float`` (the goal stays in ``info``)."""
    render_scale: int | None = None
    """Window scale of ``render_mode="human"``; None: the largest integer scale up to 512 px."""
    observation: str = "pixels"
    """``pixels``: the frame (goal drawn on it). ``dict`` (reach only): gymnasium-robotics' goal layout
    ``{"image", "achieved_goal", "desired_goal"}`` with the foreground centroid and the goal as (x, y)
    fractions of the frame size in [0, 1] ((-1, -1) when the frame has no foreground), for
    ``MultiInputPolicy`` and hindsight relabelling (``compute_reward``)."""
    threads: int | None = None
    """torch CPU threads of the env's own compute (resets and steps), set around each call and the
    caller's setting restored after it (:func:`lcvg_env.runtime.torch_threads`); None: the caller's
    setting. :class:`~lcvg_env.env.core.LCVGEnv` defaults to 1: a batch-1 step gains little from more
    threads, and on a CPU shared with other jobs torch's spinning threads slow it many times
    (docs/faults.md). A vector env steps a large batch in slices, one per thread: it keeps the caller's
    setting unless told otherwise."""
    players: int = 1
    """Foregrounds moved separately, K in 1..4: the mask is split into its K largest connected components,
    followed from step to step (:mod:`lcvg_env.control.components`), and the action holds one control per
    foreground, ``Box(-1, 1, (K * dims,))``, foreground 0 first (docs/env.md, "Several foregrounds").
    1: the whole mask is the one foreground (the paper's step)."""
    player_order: str = "x"
    """How the foregrounds are numbered at reset (by centroid): ``x`` left to right, ``y`` top to bottom."""
    player_colours: tuple[tuple[int, int, int], ...] | None = None
    """One RGB per foreground: at reset foreground k is the component whose mean colour in the start frame
    is nearest to ``player_colours[k]`` (in place of ``player_order``): players drawn in their own colours
    keep their numbers wherever they start (``LCVG-AtariTennis-v0``: 0 our orange player, 1 the blue one)."""
    region: str = "none"
    """``data``: keep the foreground where the training video's went. The checkpoint's recorded region
    (:mod:`lcvg_env.control.region`; ``lcvg train`` records it, ``lcvg checkpoint bundle --region auto``
    adds it) shortens a move that would take the mask's centroid further from that region than it is
    (``info["control_px"]`` is the move made); ``translation`` and ``rotation`` controls. With ``players``
    > 1 (translation, ``actuation="direct"``) each player's move is shortened from its own centroid by a
    region recorded per player (``lcvg checkpoint bundle --region auto --players K``). ``none``: moves
    are never shortened (the paper's env)."""
    actuation: str = "direct"
    """``direct``: the mask moves by the whole command in the step (the paper's control). ``data``: the
    command moves the point the foreground is steered to, and the mask follows it with the response of the
    training data's arm to its commands, recorded in the checkpoint (:mod:`lcvg_env.control.actuation`;
    ``lcvg checkpoint bundle --actuator auto`` adds it): each step moves by the last L commands weighted by
    the response's taps, so a command arrives over L steps, as the real arm's does (``info["control_px"]``
    is the move made, ``info["commanded_px"]`` the command)."""

    def __post_init__(self) -> None:
        if self.control is not None and self.control not in CONTROL_DIMS:
            raise ValueError(f"control must be one of {sorted(CONTROL_DIMS)} or None, got {self.control!r}.")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}.")
        for key in ("max_displacement", "max_rotation"):
            value = getattr(self, key)
            if key == "max_displacement" and value is None:
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number >= 0, got {value!r}.")
        if self.success_radius is not None and not self.success_radius > 0:
            raise ValueError(f"success_radius must be > 0 or None, got {self.success_radius!r}.")
        if not 0.0 <= self.goal_margin < 0.5:
            raise ValueError(f"goal_margin must be in [0, 0.5), got {self.goal_margin!r}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}.")
        if self.reward_fn is not None and not callable(self.reward_fn):
            raise ValueError(
                f"reward_fn must be callable (frame, mask, info) -> float, got {self.reward_fn!r}."
            )
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}.")
        if self.observation == "dict" and self.task not in ("reach", "reach_each"):
            raise ValueError(
                "observation='dict' carries the reach goal: use it with task='reach' or 'reach_each', "
                "or use observation='pixels'."
            )
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}.")
        if self.render_scale is not None and self.render_scale < 1:
            raise ValueError(f"render_scale must be >= 1 or None, got {self.render_scale!r}.")
        check_threads(self.threads, "threads")
        if (
            isinstance(self.players, bool)
            or not isinstance(self.players, int)
            or not 1 <= self.players <= MAX_PLAYERS
        ):
            raise ValueError(f"players must be an int in 1..{MAX_PLAYERS}, got {self.players!r}.")
        if self.region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {self.region!r}.")
        if self.actuation not in ACTUATIONS:
            raise ValueError(f"actuation must be one of {ACTUATIONS}, got {self.actuation!r}.")
        if self.player_order not in ORDERS:
            raise ValueError(f"player_order must be one of {ORDERS}, got {self.player_order!r}.")
        if self.player_colours is not None:
            colours = np.asarray(self.player_colours)
            if colours.shape != (self.players, 3) or not ((colours >= 0) & (colours <= 255)).all():
                raise ValueError(
                    f"player_colours must be {self.players} RGB triples in 0..255 (one per player), "
                    f"got {self.player_colours!r}."
                )
            self.player_colours = tuple(tuple(int(c) for c in rgb) for rgb in colours)
        if self.task == "reach_each" and (self.players < 2 or self.goal_margin >= 0.25):
            raise ValueError(
                "task='reach_each' gives each of several foregrounds its own goal, in its half of the frame: "
                f"it needs players >= 2 and goal_margin < 0.25, got players={self.players}, "
                f"goal_margin={self.goal_margin}; for one foreground use task='reach'."
            )
        self.device = resolve_device(self.device, "device")


def load_env_checkpoint(
    checkpoint: str | os.PathLike | Checkpoint | None, name: str, device: str
) -> Checkpoint:
    """A loaded checkpoint the env owns: from a path, a :class:`Checkpoint` (copied), or resolved by name."""
    import copy

    from lcvg_env.checkpoint import Checkpoint, load_checkpoint
    from lcvg_env.env.resolve import resolve_checkpoint

    if isinstance(checkpoint, Checkpoint):
        # The env casts the weights (bf16) and moves them: never touch the caller's model.
        ckpt = copy.copy(checkpoint)
        ckpt.generator = copy.deepcopy(checkpoint.generator).to(device).eval()
        return ckpt
    return load_checkpoint(resolve_checkpoint(name if checkpoint is None else checkpoint), device=device)
