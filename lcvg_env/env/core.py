"""``LCVGEnv``: a learned simulator of raw video, controlled through its foreground mask."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from lcvg_env.checkpoint import Checkpoint
from lcvg_env.env.batch import LCVGBatch, obs_images, obs_row, unbatch
from lcvg_env.env.config import EnvConfig
from lcvg_env.env.properties import ModelEnvProperties

RENDER_FPS = 15


def env_config(config: EnvConfig | None, fields: dict[str, Any], **defaults: Any) -> EnvConfig:
    """The env's :class:`EnvConfig`: ``config`` with ``fields`` replaced, else ``EnvConfig(**fields)``
    (``defaults`` filling the fields not given).

    The envs take the config's fields as keywords (``gymnasium.make(id, max_displacement=3)``) or a whole
    config; an unknown keyword is a ``TypeError`` naming it, never swallowed.
    """
    known = {f.name for f in dataclasses.fields(EnvConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise UnknownEnvKeyword(
            f"Unknown env keyword(s) {unknown} (e.g. in --env-kwargs); the env takes {sorted(known)}, "
            "and `checkpoint`, `render_mode`, `max_episode_steps` (docs/env.md)."
        )
    if config is None:
        return EnvConfig(**{**defaults, **fields})
    return dataclasses.replace(config, **fields) if fields else config


class UnknownEnvKeyword(TypeError, ValueError):
    """A keyword no env takes: a ``TypeError`` as Python's own for an unknown keyword, and a ``ValueError``
    for the commands, which report bad input in one line."""


class LCVGEnv(ModelEnvProperties, gym.Env[np.ndarray, np.ndarray]):
    """Layered Controllable Video Generation (Huang et al., ECCV 2022) as an environment.

    ## Description
    A world model learned from raw video splits the frame into a foreground (what moves: a robot
    arm, a player) and a background. The action moves the foreground's mask; the model renders the
    next frame that matches the moved mask (docs/method.md sections 3 and 8). Each step: binarized mask of the
    current frame -> warp by the action T(theta) (Eq. 5) -> generate the next frame.

    ## Action Space
    ``Box(-1, 1, (dims,), float32)``: ``translation`` (dx, dy), ``rotation`` (dx, dy, phi) or
    ``affine`` (6, an offset from the identity), scaled by ``max_displacement`` pixels and
    ``max_rotation`` radians (table in :mod:`lcvg_env.env.controls`). x is right, y is down.
    ``max_displacement`` defaults to the range of the controls the model was trained on, recorded in
    its checkpoint (:mod:`lcvg_env.control.control_range`), or 4 px.
    Out-of-range values are clipped; NaN, inf or a wrong shape raise ``ValueError``.
    ``actuation="data"``: a (dx, dy) moves the point the foreground is steered to, and the mask follows
    it over the next steps with the response of the training data's arm to its commands, recorded in the
    checkpoint (:mod:`lcvg_env.control.actuation`); the default ``direct`` moves the mask at once.
    :class:`~lcvg_env.env.wrappers.DiscreteControl` gives no-op/up/down/left/right.
    ``players=K`` (K > 1): the mask's K largest connected components are moved separately and the action
    is ``Box(-1, 1, (K * dims,))``, one control per foreground, foreground 0 first (numbered at reset
    by ``player_order``, then followed; docs/env.md, "Several foregrounds").

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``: the generated frame (the checkpoint's size), with the reach
    goal drawn as a small magenta cross. The goal is never fed to the generator.
    ``observation="dict"`` (reach): ``Dict(image=that Box, achieved_goal=Box(-1, 1, (2,)),
    desired_goal=Box(-1, 1, (2,)))``, gymnasium-robotics' goal layout: the foreground centroid and
    the goal as (x, y) fractions of the frame size ((-1, -1) without foreground); ``compute_reward``
    recomputes the reward from them.

    ## Rewards
    ``task="reach"``: -||centroid - goal|| / frame diagonal per step, -1 when the frame has no
    foreground (:mod:`lcvg_env.env.task`). ``task="reach_each"`` (``players`` > 1): every foreground its
    own goal in its half of the frame, -mean_k ||centroid_k - goal_k|| / diagonal. ``task="none"``: 0.
    ``reward_fn(frame, mask, info)`` replaces any of them (the clean frame (H, W, 3) uint8, the mask
    (H, W) bool, the step's info).

    ## Starting State
    A real frame from the checkpoint's bank (drawn with ``np_random``), or
    ``options={"frame": uint8 (H, W, 3)}`` (any non-empty picture; other sizes are resized), or
    ``options={"start_index": i}``; other frames or indices raise ``ValueError`` naming the expected
    size or range. The reach goal is drawn from ``np_random`` after the frame.

    ## Episode End
    Terminated when the reach task succeeds (if ``terminate_on_success``); truncated by the
    registered ``max_episode_steps`` (100 steps).

    ## Info
    ``mask`` (H, W) bool, ``centroid_px`` (2,) (x, y) or NaN without foreground, ``control_px``
    (the applied control in pixels and radians), ``commanded_px`` (the action in those units, before
    the arm's response and the region), ``control_norm`` (in the warp's normalized units),
    and for reach ``goal_px`` (2,), ``distance_px``, ``is_success``. With ``players=K`` > 1 also
    ``player_masks`` (K, H, W) bool, ``player_centroids_px`` (K, 2) (NaN when absent) and
    ``player_present`` (K,) bool; the reach task then scores foreground 0's centroid; ``reach_each`` gives
    ``goal_px`` (K, 2), ``distance_px`` (K,), ``player_success`` (K,) and ``is_success`` (all K).

    ## Arguments
    ``checkpoint`` (path or :class:`~lcvg_env.checkpoint.Checkpoint`; None resolves ``name``, see
    :func:`~lcvg_env.env.resolve.resolve_checkpoint`), ``render_mode`` (``rgb_array``, ``human``)
    and an :class:`~lcvg_env.env.config.EnvConfig` as ``config=`` or its fields as keywords (the
    keywords replace the config's fields; here ``threads`` defaults to 1: the env
    resets and steps on one torch thread, which holds up on a CPU shared with other jobs; the caller's
    setting is restored after each call; ``threads=None`` keeps the caller's).

    >>> import gymnasium, lcvg_env
    >>> env = gymnasium.make("LCVG-Pusher-v0", checkpoint="runs/pusher/model.safetensors")  # doctest: +SKIP

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": RENDER_FPS}  # noqa: RUF012

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpoint | None = None,
        *,
        render_mode: str | None = None,
        config: EnvConfig | None = None,
        **fields: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}."
            )
        self.cfg = env_config(config, fields, threads=1)
        self.core = LCVGBatch(checkpoint, 1, self.cfg)
        self.cfg = self.core.cfg  # with the checkpoint's defaults filled in (max_displacement)
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self.render_mode = render_mode
        if self.cfg.observation == "dict":
            # Only goal envs have compute_reward: SB3's checker and HER take its presence to mean one.
            self.compute_reward = self._compute_reward
        self._obs: np.ndarray | dict[str, np.ndarray] | None = None
        self._info: dict[str, Any] = {}
        self._window: Any = None

    @property
    def frame(self) -> np.ndarray:
        """The current generated frame (H, W, 3) uint8, without the goal marker: the model's state."""
        return self.core.sim.observations()[0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset(np.array([0]), [self.np_random], [options])
        return self._emit()[0], self._info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("Call reset() before step().")
        self.core.step(self.core.controls.check(action)[None])
        obs, reward, terminated = self._emit()
        return obs, reward, terminated, False, self._info

    def _emit(self) -> tuple[np.ndarray, float, bool]:
        info = self.core.infos()
        rewards, terminated = self.core.rewards(info)
        self._info = unbatch(info, 0)
        self._obs = obs_row(self.core.observations(), 0)
        if self.render_mode == "human":
            self.render()
        return self._obs, float(rewards[0]), bool(terminated[0])

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the observation (H, W, 3); ``human``: show it in a pygame window."""
        if self._obs is None:
            gym.logger.warn("Calling render() before reset(): nothing to show yet.")
            return None
        if self.render_mode == "rgb_array":
            return obs_images(self._obs).copy()
        if self.render_mode == "human":
            from lcvg_env.env.render import HumanWindow

            if self._window is None:
                self._window = HumanWindow(self.core.size, self.cfg.render_scale, "lcvg-env", RENDER_FPS)
            self._window.show(obs_images(self._obs))
        return None

    def _compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: dict[str, Any] | None = None
    ) -> np.ndarray:
        """The reach reward for goal fractions (..., 2) (``observation="dict"``), as ``step`` computes it:
        gymnasium-robotics' ``GoalEnv`` method, for hindsight experience replay."""
        return self.core.compute_reward(achieved_goal, desired_goal)

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
