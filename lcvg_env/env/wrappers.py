"""Wrappers: discrete controls for DQN-style agents and keyboard play."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from lcvg_env.env.controls import DISCRETE_ACTIONS, ControlMap


class DiscreteControl(gym.ActionWrapper[np.ndarray, np.int64, np.ndarray]):
    """``Discrete(5)`` actions: 0 no-op, 1 up, 2 down, 3 left, 4 right (full-speed translation).

    Works with every control mode: the rotation/linear parts stay at the identity. With ``players`` K > 1:
    ``MultiDiscrete([5] * K)``, one such action per foreground.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._controls: ControlMap = env.unwrapped.controls
        n, players = len(DISCRETE_ACTIONS), self._controls.players
        self.action_space = (
            gym.spaces.Discrete(n) if players == 1 else gym.spaces.MultiDiscrete([n] * players)
        )
        self.action_names = [name for name, _, _ in DISCRETE_ACTIONS]

    def action(self, action: int | np.integer | np.ndarray) -> np.ndarray:
        players = self._controls.players
        if players > 1:
            indices = np.asarray(action)
            if indices.shape != (players,) or not np.issubdtype(indices.dtype, np.integer):
                raise ValueError(f"DiscreteControl expects {players} integers in 0..4, got {action!r}.")
            return sum(self._controls.discrete(int(a), k) for k, a in enumerate(indices))
        if not isinstance(action, (int, np.integer)) and not (
            isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer)
        ):
            raise ValueError(f"DiscreteControl expects an integer action in 0..4, got {action!r}.")
        return self._controls.discrete(int(action))
