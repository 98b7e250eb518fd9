"""The logic shared by the single env and the natively batched vector env: B environments, one model.

:class:`LCVGBatch` owns the simulator (one forward pass for all B), the action -> control map, the
reward task and the per-env state (goal, last control). The single env is ``LCVGBatch`` with B = 1,
so the vector env gives the same results as N single envs seeded alike.

With ``players`` K > 1 the info adds each foreground's mask, centroid and presence, and the reach task
scores foreground 0; ``reach_each`` gives every foreground its own goal (docs/env.md, "Several
foregrounds").
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from gymnasium import spaces

from lcvg_env.checkpoint import Checkpoint
from lcvg_env.control.actuation import Actuator, recorded_actuator
from lcvg_env.control.control_range import default_max_displacement
from lcvg_env.control.region import MotionRegion, recorded_region
from lcvg_env.env.config import EnvConfig, load_env_checkpoint
from lcvg_env.env.controls import ControlMap
from lcvg_env.env.sim import LayeredSimulator
from lcvg_env.env.task import PlayersReachTask, ReachTask
from lcvg_env.runtime import torch_threads

RESET_OPTIONS = ("frame", "start_index", "goal")

Observation = np.ndarray | dict[str, np.ndarray]
"""Batched observations: frames (B, H, W, 3), or a dict of (B, ...) arrays for ``observation="dict"``."""


def prepare_frame(frame: Any, size: tuple[int, int]) -> np.ndarray:
    """A user's start frame as uint8 (H, W, 3) at the model's ``size`` (resized when needed)."""
    h, w = size
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3 or 0 in arr.shape:
        raise ValueError(
            f"options['frame'] must be a non-empty uint8 (H, W, 3) RGB picture, got {arr.dtype} "
            f"{arr.shape}; this model's frames are ({h}, {w}, 3) (other sizes are resized to it). "
            "Convert it, e.g. np.asarray(PIL.Image.open(path).convert('RGB'))."
        )
    if arr.shape[:2] != (h, w):
        from PIL import Image

        arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.LANCZOS))
    return np.ascontiguousarray(arr)


REGION_OFF = (
    "pass region='none' (gymnasium.make(ID, region='none'); on the command line, run an id without a region, "
    "e.g. `lcvg rollout LCVG-Pusher-v0 -c MODEL`)"
)
"""How to run without the data's region, in Python and on the command line (``lcvg rollout``/``play``
have no ``--region``)."""


class LCVGBatch:
    """B LCVG environments stepped together (see the module docstring)."""

    def __init__(
        self, checkpoint: str | os.PathLike | Checkpoint | None, num_envs: int, cfg: EnvConfig
    ) -> None:
        ckpt = load_env_checkpoint(checkpoint, cfg.name, cfg.device)
        if cfg.max_displacement is None:  # the checkpoint's data-derived action range
            cfg = dataclasses.replace(cfg, max_displacement=default_max_displacement(ckpt.extra))
        self.cfg = cfg
        self.num_envs = num_envs
        self.checkpoint_path = ckpt.path
        self.mode = cfg.control or ckpt.control_mode
        self.start_frames = ckpt.start_frames  # (N, H, W, 3) uint8
        self.sim = LayeredSimulator(
            ckpt,
            num_envs,
            self.mode,
            cfg.dtype,
            cfg.compile,
            cfg.players,
            cfg.player_order,
            cfg.player_colours,
        )
        self.size = self.sim.size
        self.controls = ControlMap(self.mode, self.size, cfg.max_displacement, cfg.max_rotation, cfg.players)
        self.actuator = self._actuator(ckpt.extra)
        self.region = self._region(ckpt.extra)
        self._region_distances = None if self.region is None else self.region.distance_map()  # (H, W) px
        self._columns = self.controls.translation_columns  # (K, 2)
        # the last L commands (dx, dy) px per env and foreground, newest first: (B, L, K, 2)
        length = 0 if self.actuator is None else self.actuator.length
        self.command_history = np.zeros((num_envs, length, cfg.players, 2), dtype=np.float64)
        self.targets = np.full((num_envs, 2), np.nan)  # start centroid + commands (actuation and region)
        self.task = make_task(cfg, self.size)
        goal_shape = (cfg.players, 2) if cfg.task == "reach_each" else (2,)  # one goal per foreground, or one
        self.goals = np.zeros((num_envs, *goal_shape), dtype=np.float32)
        self.control_px = self.controls.identity(num_envs)
        self.commanded_px = self.controls.identity(num_envs)
        image_space = spaces.Box(0, 255, shape=(*self.size, 3), dtype=np.uint8)
        self.observation_space: spaces.Space = image_space
        if cfg.observation == "dict":
            point = spaces.Box(-1.0, 1.0, shape=(self.goals[0].size,), dtype=np.float32)  # (2,) or (2 K,)
            self.observation_space = spaces.Dict(
                {"image": image_space, "achieved_goal": point, "desired_goal": point}
            )
        self.action_space = self.controls.space

    def start_frame(self, rng: np.random.Generator, options: dict[str, Any] | None) -> np.ndarray:
        """The frame to reset from: ``options["frame"]``, ``options["start_index"]`` or a bank frame."""
        options = options or {}
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(
                f"Unknown reset options {unknown}; supported: {list(RESET_OPTIONS)} (the vector env also "
                "takes 'frames', one start frame per sub-env, and 'reset_mask')."
            )
        if "frame" in options and "start_index" in options:
            raise ValueError("Pass either options['frame'] or options['start_index'], not both.")
        if "frame" in options:
            return prepare_frame(options["frame"], self.size)
        n = len(self.start_frames)
        if "start_index" in options:
            index = options["start_index"]
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
                raise ValueError(
                    f"options['start_index'] must be an int in [0, {n}) (or [-{n}, 0): from the end), got "
                    f"{index!r}."
                )
            return self.start_frames[index]
        return self.start_frames[rng.integers(n)]

    def reset(self, rows: np.ndarray, rngs: list[np.random.Generator], options: list[dict | None]) -> None:
        """Reset ``rows`` (each with its own generator and options) in one mask pass; each generator draws
        the start frame, then the goal(s), which ``reach_each`` places by where the foregrounds start."""
        frames = [self.start_frame(rng, opts) for rng, opts in zip(rngs, options, strict=True)]
        with torch_threads(self.cfg.threads):
            self.sim.load(rows, np.stack(frames))
        if self.task is not None:
            starts = self.scored_centroids()[rows]
            for row, rng, start, opts in zip(rows, rngs, starts, options, strict=True):
                goal = self.task.sample_goal(rng, start)  # drawn either way: the same draws follow
                self.goals[row] = goal if (opts or {}).get("goal") is None else self.given_goal(opts["goal"])
        self.control_px[rows] = self.controls.identity(len(rows))
        self.commanded_px[rows] = self.controls.identity(len(rows))
        self.command_history[rows] = 0.0  # the arm starts at rest on its target
        self.targets[rows] = self.sim.centroids[rows]  # where it is steered to (players=1 with a region)

    def given_goal(self, goal: Any) -> np.ndarray:
        """``options["goal"]``: the goal in pixels, (x, y) (or (K, 2) for ``reach_each``), checked."""
        arr = np.asarray(goal, dtype=np.float64)
        h, w = self.size
        if arr.shape != self.goals.shape[1:] or not np.isfinite(arr).all():
            raise ValueError(
                f"options['goal'] must be finite pixels of shape {self.goals.shape[1:]} (x, y per goal), "
                f"got {goal!r}."
            )
        if (arr < 0).any() or (arr[..., 0] > w).any() or (arr[..., 1] > h).any():
            raise ValueError(f"options['goal'] {arr.tolist()} is outside the {w}x{h} frame.")
        return arr.astype(np.float32)

    def _region(self, extra: dict[str, Any]) -> MotionRegion | None:
        """The recorded region when ``cfg.region`` is ``data`` (``EnvConfig.region``): the checkpoint's motion
        region, or with ``actuation="data"`` its actuator's region of steered points when it records one."""
        if self.cfg.region == "none":
            return None
        players = self.cfg.players
        if self.mode not in ("translation", "rotation") or (
            players > 1 and (self.mode != "translation" or self.actuator is not None)
        ):
            raise ValueError(
                "region='data' keeps each foreground's centroid in place: it needs translation or rotation "
                "controls, and with players > 1 translation and actuation='direct'; got "
                f"players={players}, {self.mode!r} and actuation={self.cfg.actuation!r}."
            )
        # with actuation="data" the region bounds the steered point: the actuator's region of steered points
        steered = None if self.actuator is None else self.actuator.region
        region = recorded_region(extra) if steered is None else steered
        each = f" --players {players}" if players > 1 else ""
        record = f"`lcvg checkpoint bundle MODEL --out OUT --region auto{each} --data DATA_DIR`"
        if region is None:
            raise ValueError(
                "region='data' needs the region of the model's training data, which this checkpoint does not "
                f"record: add it with {record} (finished `lcvg train` runs record it) or {REGION_OFF}."
            )
        if region.size != self.size:
            raise ValueError(
                f"The checkpoint's motion region is for {region.size} frames, its model makes {self.size}; "
                f"record it again ({record}) or {REGION_OFF}."
            )
        if region.players != players:
            what = "whole masks" if region.players == 1 else f"the {region.players} largest components of M"
            raise ValueError(
                f"The checkpoint's motion region was measured on the centroids of {what}, and this env moves "
                f"{players} foreground(s): record it again for players={players} ({record}) or {REGION_OFF}."
            )
        return region

    def _actuator(self, extra: dict[str, Any]) -> Actuator | None:
        """The checkpoint's recorded actuator response when ``cfg.actuation`` is ``data``."""
        if self.cfg.actuation == "direct":
            return None
        actuator = recorded_actuator(extra)
        if actuator is None:
            raise ValueError(
                "actuation='data' needs the response of the training data's arm to its commands, which this "
                "checkpoint does not record: add it with `lcvg checkpoint bundle MODEL --out OUT --actuator "
                "auto --data DATA_DIR` (data whose episodes record their commands, as `lcvg data pusher` "
                "writes) or pass actuation='direct'."
            )
        return actuator

    def step(self, actions: np.ndarray) -> None:
        """Step all B envs with checked, clipped actions (B, dims), on ``cfg.threads`` torch threads.

        ``EnvConfig.actuation="data"``: the commands arrive over steps with the data's arm response; with
        ``region="data"`` as well, the region bounds the point the arm is steered to (its start centroid
        plus the commands so far), as the real arm's workspace bounds its target. Else the region
        shortens the moves themselves (``EnvConfig.region``), with several players each player's move
        from its own centroid (the tracker's)."""
        self.commanded_px = self.controls.to_pixels(actions)
        if self.actuator is not None and self.region is not None:
            self.commanded_px[:, :2] = self.region.limit(
                self.targets, self.commanded_px[:, :2], self._region_distances
            )
            self.targets = self.targets + self.commanded_px[:, :2]
        self.control_px = self.commanded_px.copy()
        if self.actuator is not None:
            history = np.roll(self.command_history, 1, axis=1)  # (B, L, K, 2), newest first
            history[:, 0] = self.commanded_px[:, self._columns]
            self.command_history = history
            self.control_px[:, self._columns] = self.actuator.respond(history)
        elif self.region is not None and self.sim.tracker is not None:  # each player from its own centroid
            for k, cols in enumerate(self._columns):
                self.control_px[:, cols] = self.region.limit(
                    self.sim.tracker.centroids[:, k], self.control_px[:, cols], self._region_distances
                )
        elif self.region is not None:  # translation columns 0, 1 (translation and rotation controls)
            moves = self.region.limit(self.sim.centroids, self.control_px[:, :2], self._region_distances)
            self.control_px[:, :2] = moves
        with torch_threads(self.cfg.threads):
            self.sim.step(self.controls.to_normalized(self.control_px))

    def scored_centroids(self) -> np.ndarray:
        """The centroids the task scores: (B, 2) the mask's, or foreground 0's when ``players`` > 1;
        (B, K, 2) every foreground's for ``reach_each``."""
        tracker = self.sim.tracker
        if tracker is None:
            return self.sim.centroids
        return tracker.centroids if self.cfg.task == "reach_each" else tracker.centroids[:, 0]

    def infos(self) -> dict[str, np.ndarray]:
        """Per-env information, batched: every value has B rows."""
        info: dict[str, np.ndarray] = {
            "mask": self.sim.mask_arrays(),
            "centroid_px": self.sim.centroids.astype(np.float32),
            "control_px": self.control_px.astype(np.float32),
            "commanded_px": self.commanded_px.astype(np.float32),
            "control_norm": self.controls.to_normalized(self.control_px).astype(np.float32),
        }
        tracker = self.sim.tracker
        if tracker is not None:
            info.update(
                player_masks=tracker.masks.copy(),  # (B, K, H, W) bool
                player_centroids_px=tracker.centroids.copy(),  # (B, K, 2), NaN when absent
                player_present=tracker.present.copy(),  # (B, K) bool
            )
        if self.task is not None:
            distance = self.task.distance(self.scored_centroids(), self.goals)
            info.update(
                goal_px=self.goals.copy(), distance_px=distance, is_success=self.task.success(distance)
            )
            if self.goals.ndim == 3:  # reach_each: (B, K) which foregrounds are at their goals
                info["player_success"] = distance <= self.task.success_radius
        return info

    def rewards(self, info: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (B,) float32 and terminations (B,) bool for the current frames."""
        terminated = np.zeros(self.num_envs, dtype=bool)
        if self.task is not None and self.cfg.terminate_on_success:
            terminated = info["is_success"].copy()
        if self.cfg.reward_fn is not None:
            frames = self.sim.observations()
            rewards = [
                self.cfg.reward_fn(frames[i], info["mask"][i], unbatch(info, i)) for i in range(self.num_envs)
            ]
            return np.asarray(rewards, dtype=np.float32), terminated
        if self.task is None:
            return np.zeros(self.num_envs, dtype=np.float32), terminated
        return self.task.reward(info["distance_px"]), terminated

    def observations(self) -> Observation:
        """Observations: (B, H, W, 3) uint8 frames with the goal drawn (never fed to the model), or for
        ``observation="dict"`` those frames with the centroids and goals as fractions of the frame size."""
        obs = self.sim.observations()
        if self.task is None:
            return obs
        obs = self.task.draw(obs, self.goals)
        if self.cfg.observation == "pixels":
            return obs
        return {
            "image": obs,
            "achieved_goal": self.to_fraction(self.scored_centroids()).reshape(self.num_envs, -1),
            "desired_goal": self.to_fraction(self.goals).reshape(self.num_envs, -1),
        }

    def to_fraction(self, points_px: np.ndarray) -> np.ndarray:
        """(..., 2) pixel points (x, y) -> fractions of the frame size; NaN (no foreground) -> -1."""
        h, w = self.size
        out = np.asarray(points_px, dtype=np.float32) / np.array([w, h], dtype=np.float32)
        return np.where(np.isnan(out), -1.0, out).astype(np.float32)

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray) -> np.ndarray:
        """The reach reward for goal fractions (..., 2), as the env gives it (hindsight relabelling)."""
        if self.task is None:
            raise ValueError("compute_reward needs task='reach'.")
        h, w = self.size
        scale = np.array([w, h], dtype=np.float32)
        achieved = np.asarray(achieved_goal, dtype=np.float32)
        desired = np.asarray(desired_goal, dtype=np.float32)
        if self.goals.ndim == 3:  # reach_each: (..., 2 K) -> (..., K, 2)
            achieved, desired = (v.reshape(*v.shape[:-1], -1, 2) for v in (achieved, desired))
        centroids = np.where((achieved < 0).any(axis=-1, keepdims=True), np.nan, achieved * scale)
        distance = self.task.distance(centroids, desired * scale)
        return self.task.reward(distance)


def make_task(cfg: EnvConfig, size: tuple[int, int]) -> ReachTask | None:
    """The reward task of ``cfg.task`` (None for ``none``)."""
    if cfg.task == "reach":
        return ReachTask(size, cfg.success_radius, cfg.goal_margin)
    if cfg.task == "reach_each":
        return PlayersReachTask(size, cfg.success_radius, cfg.goal_margin, cfg.players)
    return None


def obs_row(obs: Observation, i: int) -> np.ndarray | dict[str, np.ndarray]:
    """Row ``i`` of batched observations (an array or a dict of arrays)."""
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def obs_images(obs: Observation) -> np.ndarray:
    """The frames of batched (or single) observations."""
    return obs["image"] if isinstance(obs, dict) else obs


def unbatch(info: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Row ``i`` of a batched info; 0-d values become Python scalars."""
    return {k: (v[i].item() if v[i].ndim == 0 else v[i]) for k, v in info.items()}
