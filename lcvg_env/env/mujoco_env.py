"""``PusherMuJoCoEnv``: the real system behind ``LCVG-Pusher-v0``, the MuJoCo pushing scene of its data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lcvg_env.env.controls import ControlMap
from lcvg_env.env.mujoco_sim_bridge import MuJoCoEnvConfig, RealPusher
from lcvg_env.env.task import ReachTask

if TYPE_CHECKING:
    from lcvg_env.checkpoint import Checkpoint

RENDER_FPS = 20
"""The data's frame rate: one step is one frame interval (5 physics steps of 0.01 s)."""

GOAL_DRAWS = 1000
"""Goal draws before giving up on finding one the tip can reach."""


def learned_env_model(
    checkpoint: str | os.PathLike | Checkpoint | None, name: str
) -> tuple[Path | Checkpoint, tuple[int, int], float]:
    """The world model ``LCVG-Pusher-v0`` would run for these arguments, from its metadata alone (no
    weights): the checkpoint (a path, or the object given), its frame size (H, W) and the env's default
    ``max_displacement`` for it (:func:`~lcvg_env.control.control_range.default_max_displacement`)."""
    from lcvg_env.checkpoint import Checkpoint, read_metadata
    from lcvg_env.control.control_range import default_max_displacement
    from lcvg_env.env.resolve import resolve_checkpoint

    if isinstance(checkpoint, Checkpoint):
        size = (checkpoint.config.height, checkpoint.config.width)
        return checkpoint, size, default_max_displacement(checkpoint.extra)
    path = resolve_checkpoint(name if checkpoint is None else checkpoint)
    meta = read_metadata(path)
    return path, (int(meta["height"]), int(meta["width"])), default_max_displacement(meta.get("extra"))


class LearnedCriterion:
    """What ``LCVG-Pusher-v0`` scores on a frame: the centroid of the world model's binarized mask
    1[M(x) > 0.5] (docs/method.md section 3), here on the real frame."""

    def __init__(self, checkpoint: Path | Checkpoint, device: str, dtype: str) -> None:
        import torch

        from lcvg_env.env.config import load_env_checkpoint

        ckpt = load_env_checkpoint(checkpoint, "pusher", device)
        self.generator = ckpt.generator.to(getattr(torch, dtype)).eval()  # the dtype the learned env runs
        self.device = next(self.generator.parameters()).device
        self.torch = torch

    def centroid(self, frame: np.ndarray) -> np.ndarray:
        """M's mask centroid (2,) float32 (x, y) pixels on ``frame`` (H, W, 3) uint8; NaN if empty."""
        from lcvg_env.control.warp import mask_centroid
        from lcvg_env.model import to_model_range

        with self.torch.inference_mode():
            x = to_model_range(frame[None]).to(self.device)  # (1, 3, H, W) in [-1, 1]
            return mask_centroid(self.generator.binary_mask(x)).float().cpu().numpy()[0]


class PusherMuJoCoEnv(gym.Env[np.ndarray | dict[str, np.ndarray], np.ndarray]):
    """The MuJoCo pushing scene behind the built-in data, with ``LCVG-Pusher-v0``'s spaces and reach task.

    ## Description
    The real counterpart of the learned simulator: the same arm, table, objects and camera that rendered
    the training data (:mod:`lcvg_env.data.pusher`), stepped by MuJoCo. A policy trained in
    ``LCVG-Pusher-v0`` runs here unchanged; the gap in success is the sim-to-real gap of the world model.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``, as ``LCVG-Pusher-v0``'s: (dx, dy) times ``max_displacement`` pixels
    moves the end-effector target (where the tip is steered) in the image. The camera's calibration maps
    it onto the plane of the tip's height; the target stays in the arm's workspace, and the data's IK and
    joint servos track it for one frame interval (:mod:`lcvg_env.env.mujoco_sim_bridge`). x is right,
    y is down. Out-of-range values are clipped; NaN, inf or a wrong shape raise ``ValueError``.

    ## Observation Space
    ``Box(0, 255, (64, 64, 3), uint8)``: the rendered frame with the goal as a magenta cross, drawn as
    ``LCVG-Pusher-v0`` draws it. ``observation="dict"``: ``image``, ``achieved_goal`` (the true tip) and
    ``desired_goal`` (the goal) as (x, y) fractions of the frame size; ``compute_reward`` as LCVGEnv's.

    ## Rewards
    -||tip - goal|| / frame diagonal per step (:mod:`lcvg_env.env.task`), from the TRUE tip position (the
    data's ``tip_px``: the middle of the gripper's back bar, projected), not from any model.

    ## Starting State
    Objects, colours and table tint drawn as the data generator draws them, the arm at rest at a random
    point of its workspace; then the goal, uniform in the frame ``goal_margin`` away from the border
    (``LCVG-Pusher-v0``'s draw) and redrawn until the tip can reach it. All from ``np_random``.
    ``options={"goal": (x, y)}`` sets the goal in pixels instead.

    ## Episode End
    Terminated when the tip is within ``success_radius`` of the goal (if ``terminate_on_success``);
    truncated after 100 steps by the registered ``max_episode_steps``.

    ## Info
    ``tip_px`` (2,) the true tip, ``target_px`` (2,) the end-effector target, ``goal_px`` (2,),
    ``distance_px`` (tip to goal), ``is_success``, ``objects_px`` (K, 2) object centres; with
    ``learned_criterion``: ``centroid_px`` (2,) M's mask centroid on the real frame (NaN if empty),
    ``learned_distance_px`` and ``learned_success``, the learned env's criterion for the same frame.

    ## Arguments
    ``checkpoint`` (the world model of the learned criterion; None resolves ``name``), ``render_mode``
    (``rgb_array``, ``human``) and the fields of :class:`~lcvg_env.env.mujoco_sim_bridge.MuJoCoEnvConfig`.

    >>> import gymnasium, lcvg_env
    >>> env = gymnasium.make("LCVG-PusherMuJoCo-v0", learned_criterion=False)  # doctest: +SKIP

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": RENDER_FPS}  # noqa: RUF012

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpoint | None = None,
        *,
        render_mode: str | None = None,
        **config: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}."
            )
        known = set(MuJoCoEnvConfig.__dataclass_fields__)
        if set(config) - known:
            raise TypeError(
                f"Unknown arguments {sorted(set(config) - known)}; the env takes {sorted(known)}."
            )
        self.cfg = cfg = MuJoCoEnvConfig(**config)
        size = (cfg.size, cfg.size)
        self.max_displacement = cfg.max_displacement
        self._model: Path | Checkpoint | None = None
        if cfg.learned_criterion or cfg.max_displacement is None:
            self._model, model_size, default_displacement = learned_env_model(checkpoint, cfg.name)
            if self.max_displacement is None:
                self.max_displacement = default_displacement  # LCVG-Pusher-v0's for the same model
            if cfg.learned_criterion and model_size != size:
                raise ValueError(
                    f"The learned criterion's model makes {model_size[0]}x{model_size[1]} frames, the env "
                    f"{cfg.size}x{cfg.size}: pass size={model_size[0]} (square models) or "
                    "learned_criterion=False."
                )
        self.task = ReachTask(size, cfg.success_radius, cfg.goal_margin)
        self.controls = ControlMap("translation", size, self.max_displacement, 0.0)
        self.action_space = self.controls.space
        image = spaces.Box(0, 255, shape=(*size, 3), dtype=np.uint8)
        self.observation_space = image
        if cfg.observation == "dict":
            point = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
            self.observation_space = spaces.Dict(
                {"image": image, "achieved_goal": point, "desired_goal": point}
            )
            self.compute_reward = self._compute_reward  # goal envs only, as LCVGEnv
        self.render_mode = render_mode
        # MuJoCo (its GL context) and M load on the first reset: gymnasium's AsyncVectorEnv makes one env in
        # the parent process only to read its spaces, and a GL context made before a fork hangs the workers.
        self.real: RealPusher | None = None
        self.criterion: LearnedCriterion | None = None
        self.goal = np.zeros(2, dtype=np.float32)
        self._frame = np.zeros((*size, 3), dtype=np.uint8)
        self._obs: np.ndarray | dict[str, np.ndarray] | None = None
        self._window: Any = None

    @property
    def frame(self) -> np.ndarray:
        """The current rendered frame (H, W, 3) uint8, without the goal marker."""
        return self._frame.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray | dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if set(options) - {"goal"}:
            raise ValueError(f"Unknown reset options {sorted(set(options) - {'goal'})}; supported: ['goal'].")
        if self.real is None:
            self.real = RealPusher(self.cfg)
        if self.criterion is None and self._model is not None and self.cfg.learned_criterion:
            self.criterion = LearnedCriterion(self._model, self.cfg.device, self.cfg.dtype)
        self.real.reset(self.np_random)
        self.goal = self._check_goal(options["goal"]) if "goal" in options else self._draw_goal()
        obs, _, _, info = self._emit()
        return obs, info

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray | dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("Call reset() before step().")
        self.real.move(self.controls.to_pixels(self.controls.check(action)[None])[0])
        obs, reward, terminated, info = self._emit()
        return obs, reward, terminated, False, info

    def _draw_goal(self) -> np.ndarray:
        for _ in range(GOAL_DRAWS):
            goal = self.task.sample_goal(self.np_random)
            if self.real.reachable(goal):
                return goal
        raise RuntimeError(
            f"No reachable goal in {GOAL_DRAWS} draws: lower goal_margin (now {self.cfg.goal_margin})."
        )

    def _check_goal(self, goal: Any) -> np.ndarray:
        arr = np.asarray(goal, dtype=np.float32)
        if arr.shape != (2,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"options['goal'] must be finite (x, y) pixels, got {goal!r}.")
        return arr

    def _emit(self) -> tuple[np.ndarray | dict[str, np.ndarray], float, bool, dict[str, Any]]:
        """Render, score and observe the current state: observation, reward, terminated, info."""
        self._frame = self.real.frame()
        tip = self.real.tip_px()
        distance = self.task.distance(tip[None], self.goal[None])  # (1,)
        success = bool(self.task.success(distance)[0])
        info: dict[str, Any] = {
            "tip_px": tip,
            "target_px": self.real.target_px.astype(np.float32),
            "goal_px": self.goal.copy(),
            "distance_px": float(distance[0]),
            "is_success": success,
            "objects_px": self.real.objects_px(),
        }
        if self.criterion is not None:
            centroid = self.criterion.centroid(self._frame)
            learned = self.task.distance(centroid[None], self.goal[None])
            info.update(
                centroid_px=centroid,
                learned_distance_px=float(learned[0]),
                learned_success=bool(self.task.success(learned)[0]),
            )
        image = self.task.draw(self._frame[None].copy(), self.goal[None])[0]
        self._obs = image
        if self.cfg.observation == "dict":
            self._obs = {
                "image": image,
                "achieved_goal": self._fraction(tip),
                "desired_goal": self._fraction(self.goal),
            }
        if self.render_mode == "human":
            self.render()
        terminated = success and self.cfg.terminate_on_success
        return self._obs, float(self.task.reward(distance)[0]), terminated, info

    def _fraction(self, point_px: np.ndarray) -> np.ndarray:
        return (np.asarray(point_px, dtype=np.float32) / np.float32(self.cfg.size)).astype(np.float32)

    def _compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: dict[str, Any] | None = None
    ) -> np.ndarray:
        """The reach reward for goal fractions (..., 2), as ``step`` computes it (hindsight relabelling)."""
        scale = np.float32(self.cfg.size)
        achieved, desired = (np.asarray(g, dtype=np.float32) * scale for g in (achieved_goal, desired_goal))
        return self.task.reward(self.task.distance(achieved, desired))

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the observed frame (H, W, 3); ``human``: show it in a pygame window."""
        if self._obs is None:
            gym.logger.warn("Calling render() before reset(): nothing to show yet.")
            return None
        image = self._obs["image"] if isinstance(self._obs, dict) else self._obs
        if self.render_mode == "rgb_array":
            return image.copy()
        if self.render_mode == "human":
            from lcvg_env.env.render import HumanWindow

            if self._window is None:
                size = (self.cfg.size, self.cfg.size)
                self._window = HumanWindow(size, self.cfg.render_scale, "lcvg-env MuJoCo", RENDER_FPS)
            self._window.show(image)
        return None

    def close(self) -> None:
        """Release the renderer's GL context (and the window)."""
        if self.real is not None:
            self.real.close()
            self.real = None
        self._obs = None  # step() now asks for a reset(), which makes a new renderer
        if self._window is not None:
            self._window.close()
            self._window = None
