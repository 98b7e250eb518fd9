"""Actions -> controls: the agent's action in [-1, 1]^dims becomes the control T(theta) of Eq. 5.

================  ====  ===========================================================================
control           dims  action a -> control in pixels (and radians)
================  ====  ===========================================================================
``translation``   2     (dx, dy) = a * max_displacement
``rotation``      3     (dx, dy, phi) = (a0, a1) * max_displacement, a2 * max_rotation
``affine``        6     [A | t] = [I + s * a_lin | a_t * max_displacement], s = max_rotation (row-major
                        a0 a1 a2 / a3 a4 a5; a2 and a5 are the translation)
================  ====  ===========================================================================

x is to the right and y down (``lcvg_env.control.warp``), so "up" is dy < 0. Values outside
[-1, 1] are clipped; NaN, inf or a wrong shape raise ``ValueError``.

With ``players`` K > 1 the action holds one such control per foreground, foreground 0 first:
``(K * dims,)`` = [a of foreground 0 | a of foreground 1 | ...].
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from lcvg_env.control.warp import CONTROL_DIMS, check_mode

DISCRETE_ACTIONS: tuple[tuple[str, float, float], ...] = (
    ("no-op", 0.0, 0.0),
    ("up", 0.0, -1.0),
    ("down", 0.0, 1.0),
    ("left", -1.0, 0.0),
    ("right", 1.0, 0.0),
)
"""The discrete action set: (name, x, y) of the translation part of the action."""

_TRANSLATION_INDEX = {"translation": (0, 1), "rotation": (0, 1), "affine": (2, 5)}


class ControlMap:
    """Validates agent actions and converts them to controls in pixels and in normalized units."""

    def __init__(
        self, mode: str, size: tuple[int, int], max_displacement: float, max_rotation: float, players: int = 1
    ) -> None:
        self.mode = check_mode(mode)
        self.dims = CONTROL_DIMS[mode]  # numbers of one foreground's control
        self.players = players
        self.action_dims = players * self.dims  # numbers of an action: one control per foreground
        self.size = size
        h, w = size
        ix, iy = _TRANSLATION_INDEX[mode]
        self._px_scale = np.full(self.dims, max_rotation, dtype=np.float32)  # linear parts / angle
        self._px_scale[[ix, iy]] = max_displacement
        self._offset = np.zeros(self.dims, dtype=np.float32)
        if mode == "affine":
            self._offset[[0, 4]] = 1.0  # an affine action is an offset from the identity
        # pixels -> normalized units of affine_grid (align_corners=False): d_n = 2 d / size
        self._norm_scale = np.ones(self.dims, dtype=np.float32)
        self._norm_scale[[ix, iy]] = (2.0 / w, 2.0 / h)
        # one control per foreground, foreground 0 first: (K * dims,)
        self._px_scale, self._offset, self._norm_scale = (
            np.tile(v, players) for v in (self._px_scale, self._offset, self._norm_scale)
        )
        self.space = spaces.Box(-1.0, 1.0, shape=(self.action_dims,), dtype=np.float32)

    def check(self, action: object, batch: int | None = None) -> np.ndarray:
        """Actions as float32 (batch, K * dims) ((K * dims,) when ``batch`` is None), clipped to [-1, 1]."""
        expected = (self.action_dims,) if batch is None else (batch, self.action_dims)
        try:
            arr = np.asarray(action, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"Action {action!r} is not numeric: expected a float array of shape {expected}."
            ) from e
        if arr.shape != expected:
            players = (
                f" and {self.players} players ({self.dims} each, player 0 first)" if self.players > 1 else ""
            )
            raise ValueError(
                f"Action has shape {arr.shape}, expected {expected} for control {self.mode!r}{players} "
                "(values in [-1, 1])."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"Action contains NaN or inf: {action!r}. Actions must be finite, in [-1, 1].")
        return np.clip(arr, -1.0, 1.0)

    def to_pixels(self, actions: np.ndarray) -> np.ndarray:
        """Clipped actions (B, K * dims) -> controls in pixels and radians (B, K * dims)."""
        return self._offset + actions * self._px_scale

    def to_actions(self, controls_px: np.ndarray) -> np.ndarray:
        """Controls in pixels and radians (B, K * dims) -> the actions that give them, clipped to [-1, 1]
        (a control beyond the action range gives the largest action towards it)."""
        return np.clip((controls_px - self._offset) / self._px_scale, -1.0, 1.0).astype(np.float32)

    def to_normalized(self, controls_px: np.ndarray) -> np.ndarray:
        """Controls in pixels (B, K * dims) -> normalized units, the parameters of ``warp`` (B, K * dims)."""
        return controls_px * self._norm_scale

    @property
    def translation_columns(self) -> np.ndarray:
        """Columns of the (dx, dy) parts of an action, (K, 2): foreground k's in row k."""
        ix, iy = _TRANSLATION_INDEX[self.mode]
        return np.array([[k * self.dims + ix, k * self.dims + iy] for k in range(self.players)])

    def identity(self, batch: int) -> np.ndarray:
        """The no-op control in pixels (B, K * dims)."""
        return np.tile(self._offset, (batch, 1))

    def discrete(self, index: int, player: int = 0) -> np.ndarray:
        """The continuous action (K * dims,) of discrete action ``index`` (see :data:`DISCRETE_ACTIONS`) for
        foreground ``player``, the others' controls at the no-op."""
        if not 0 <= int(index) < len(DISCRETE_ACTIONS):
            raise ValueError(f"Discrete action must be in 0..{len(DISCRETE_ACTIONS) - 1}, got {index!r}.")
        if not 0 <= player < self.players:
            raise ValueError(f"player must be in 0..{self.players - 1}, got {player!r}.")
        _, x, y = DISCRETE_ACTIONS[int(index)]
        action = np.zeros(self.action_dims, dtype=np.float32)
        ix, iy = (player * self.dims + i for i in _TRANSLATION_INDEX[self.mode])
        action[ix], action[iy] = x, y
        return action
