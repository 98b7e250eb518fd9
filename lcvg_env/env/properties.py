"""What an LCVG env is, read-only: the public face of its batch core for agents, export and benchmarks.

:class:`~lcvg_env.env.core.LCVGEnv` and :class:`~lcvg_env.env.vector.LCVGVectorEnv` both keep their state
in an :class:`~lcvg_env.env.batch.LCVGBatch` (``self.core``), an implementation detail; code outside
the env reads these properties instead (``env.unwrapped.controls``, ``venv.size``, ...). The MuJoCo
pusher env (:mod:`lcvg_env.env.mujoco_env`) offers the same names for ``controls`` and ``task``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lcvg_env.env.batch import LCVGBatch
    from lcvg_env.env.controls import ControlMap
    from lcvg_env.env.task import ReachTask


class ModelEnvProperties:
    """Read-only properties over ``self.core`` (an ``LCVGBatch``), shared by the single and vector env."""

    core: LCVGBatch

    @property
    def control_mode(self) -> str:
        """The control parameterization (``translation``, ``rotation``, ``affine``)."""
        return self.core.mode

    @property
    def controls(self) -> ControlMap:
        """Action -> control map (pixels per unit action, the discrete action table, players)."""
        return self.core.controls

    @property
    def task(self) -> ReachTask | None:
        """The reach task (goals, success radius), None for ``task="none"``."""
        return self.core.task

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.core.size

    @property
    def checkpoint_path(self) -> Path | None:
        """The model file the env runs on (None for a checkpoint object made in memory)."""
        return self.core.checkpoint_path

    @property
    def compiled(self) -> bool:
        """Whether the world model's step runs under ``torch.compile`` (``compile=True`` can be declined or
        fall back to eager, with a warning)."""
        return self.core.sim.compiled

    @property
    def step_slices(self) -> int:
        """Slices the next step splits the batch into, one per torch thread (eager CPU; 1 otherwise)."""
        return self.core.sim.workers()
