"""Wrappers: discrete controls for DQN-style agents and keyboard play."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from lcvg_env.env.controls import DISCRETE_ACTIONS, ControlMap


class DiscreteControl(gym.ActionWrapper[np.ndarray, np.int64, np.ndarray]):
    """``Discrete(5)`` actions: 0 no-op, 1 up, 2 down, 3 left, 4 right (full-speed translation).

    Works with every control mode: the rotation/linear parts stay at the identity.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        core = env.unwrapped.core
        self._controls: ControlMap = core.controls
        self.action_space = gym.spaces.Discrete(len(DISCRETE_ACTIONS))
        self.action_names = [name for name, _, _ in DISCRETE_ACTIONS]

    def action(self, action: int | np.integer) -> np.ndarray:
        if not isinstance(action, (int, np.integer)) and not (
            isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer)
        ):
            raise ValueError(f"DiscreteControl expects an integer action in 0..4, got {action!r}.")
        return self._controls.discrete(int(action))
