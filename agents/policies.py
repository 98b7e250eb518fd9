"""Reference controllers and the adapter that lets a trained SB3 model be evaluated the same way.

Every policy maps a batch of observations and the batched ``info`` of a Gymnasium vector env to a
batch of actions: ``policy(obs (B, ...), info {key: (B, ...)}) -> actions (B, ...)``.

- :class:`RandomPolicy`: uniform samples of the action space, the floor of the reference rows.
- :class:`ScriptedReacher`: moves the foreground centroid straight to the goal, reading both from
  ``info`` (``centroid_px``, ``goal_px``): the ceiling an agent that sees only pixels should approach.
  ``point="tip_px"`` steers the true tip instead, in the MuJoCo env (:mod:`lcvg_env.env.mujoco_env`).
- :class:`DetectorReacher`: moves the tip that the independent tip detector finds in the frame straight
  to the goal: it steers by pixels alone, the same way in the learned simulator and in MuJoCo.
- :class:`SB3Policy`: ``model.predict`` of a stable-baselines3 model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from lcvg_env.control.warp import CONTROL_DIMS
from lcvg_env.env.controls import DISCRETE_ACTIONS, ControlMap

# Which action entries are the translation (x, y) for each control mode (see lcvg_env.env.controls):
# translation (dx, dy); rotation (dx, dy, phi); affine row-major [a0 a1 a2 / a3 a4 a5], a2 and a5.
TRANSLATION_INDEX = {"translation": (0, 1), "rotation": (0, 1), "affine": (2, 5)}

# Discrete actions of the env's DiscreteControl wrapper: index -> unit move (x, y); 0 is the no-op.
DISCRETE_MOVES = np.array([(x, y) for _, x, y in DISCRETE_ACTIONS], dtype=np.float32)  # (5, 2)


class RandomPolicy:
    """Uniform random actions from the single-env ``action_space``, seeded."""

    def __init__(self, action_space: gym.Space, seed: int = 0) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def __call__(self, obs: Any, info: dict[str, np.ndarray]) -> np.ndarray:
        batch = len(next(iter(obs.values())) if isinstance(obs, dict) else obs)
        return np.stack([np.asarray(self.action_space.sample()) for _ in range(batch)])


class ScriptedReacher:
    """Move the foreground centroid straight to the goal: action = (goal - centroid) / max_displacement.

    Continuous actions: the translation entries get the displacement in the env's action units,
    clipped to [-1, 1]; rotation and linear entries stay at the identity (0). Discrete actions
    (``Discrete(5)``): the move whose direction best reduces the distance, the no-op once within
    half a step. With no foreground (NaN centroid) it does nothing. ``point`` names the info key of
    the point steered: ``centroid_px`` (the learned env's mask centroid) or ``tip_px`` (the MuJoCo
    env's true tip).
    """

    def __init__(self, action_space: gym.Space, max_displacement: float, point: str = "centroid_px") -> None:
        if not max_displacement > 0:
            raise ValueError(f"ScriptedReacher needs max_displacement > 0, got {max_displacement!r}.")
        self.action_space = action_space
        self.max_displacement = float(max_displacement)
        self.point = point  # the info key of the point steered to the goal
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if not self.discrete:
            dims = int(np.prod(action_space.shape))
            modes = [m for m, d in CONTROL_DIMS.items() if d == dims]
            if not isinstance(action_space, gym.spaces.Box) or not modes:
                raise ValueError(
                    f"ScriptedReacher drives Box actions of {sorted(CONTROL_DIMS.values())} dims "
                    f"or Discrete(5), "
                    f"got {action_space}."
                )
            self.index = TRANSLATION_INDEX[modes[0]]

    def __call__(self, obs: Any, info: dict[str, np.ndarray]) -> np.ndarray:
        if "goal_px" not in info or self.point not in info:
            raise ValueError(
                f"ScriptedReacher needs info[{self.point!r}] and info['goal_px'] (the reach task); got keys "
                f"{sorted(info)}. Create the env with task='reach'."
            )
        goal, centroid = np.asarray(info["goal_px"], np.float32), np.asarray(info[self.point], np.float32)
        delta = goal - centroid  # (B, 2) pixels
        delta = np.nan_to_num(delta, nan=0.0) / self.max_displacement  # displacement in action units
        if self.discrete:
            return self._discrete(delta)
        actions = np.zeros((len(delta), *self.action_space.shape), dtype=np.float32)
        actions[:, self.index[0]], actions[:, self.index[1]] = delta[:, 0], delta[:, 1]
        return np.clip(actions, self.action_space.low, self.action_space.high)

    def _discrete(self, delta: np.ndarray) -> np.ndarray:
        scores = delta @ DISCRETE_MOVES.T  # (B, 5): progress of each move towards the goal
        best = scores.argmax(axis=1)
        return np.where(np.linalg.norm(delta, axis=1) < 0.5, 0, best).astype(np.int64)


class DetectorReacher:
    """Move the detected tip straight to the goal: the controller of ``lcvg reach-check``
    (:func:`lcvg_env.reach_check.reach_actions`), a = clip((goal - tip) / max_displacement, -1, 1) along
    the env's unit +x and +y actions, the no-op where the tip is not found.

    The tip is what the independent tip detector (:mod:`lcvg_env.metrics.detector`, trained on real
    frames) finds in ``frames()``, the envs' current frames without the goal marker; the goal is
    ``info["goal_px"]`` (the cross drawn on the observation). Nothing else of the env's state is read, so
    the same controller runs in the learned simulator and in MuJoCo
    (:func:`lcvg_env.evaluation.env_view.env_view` gives ``frames``).
    """

    def __init__(
        self,
        detector: Any,
        frames: Callable[[], np.ndarray],
        controls: ControlMap,
        max_displacement: float,
    ) -> None:
        if not max_displacement > 0:
            raise ValueError(f"DetectorReacher needs max_displacement > 0, got {max_displacement!r}.")
        self.detector = detector
        self.frames = frames
        self.max_displacement = float(max_displacement)
        self.right, self.down = controls.discrete(4), controls.discrete(2)  # unit +x / +y actions

    def __call__(self, obs: Any, info: dict[str, np.ndarray]) -> np.ndarray:
        from lcvg_env.reach_check import detect_tips, reach_actions

        if "goal_px" not in info:
            raise ValueError(
                "DetectorReacher needs info['goal_px'] (the reach task): create the env with task='reach'."
            )
        tips = detect_tips(self.detector, self.frames())  # (B, 2), NaN where not found
        goals = np.asarray(info["goal_px"], np.float32)
        return reach_actions(tips, goals, self.max_displacement, self.right, self.down)


class SB3Policy:
    """A stable-baselines3 model as a batched policy (``model.predict``, deterministic by default)."""

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic

    def __call__(self, obs: Any, info: dict[str, np.ndarray]) -> np.ndarray:
        actions, _ = self.model.predict(obs, deterministic=self.deterministic)
        return actions
