"""Registration of the LCVG environment ids with Gymnasium (imported by ``import lcvg_env``).

Gymnasium 1.x has no plugin entry points, so ``import lcvg_env`` (or an id written as
``"lcvg_env:LCVG-Pusher-v0"``) registers them. Entry points are strings, so registering imports
neither torch nor the model: they load on ``gymnasium.make``.

``import lcvg_env`` does not import gymnasium itself (150 ms of the 0.4 s ``lcvg --help`` took):
:func:`register_on_gymnasium_import` registers at once when gymnasium is loaded, else right after
gymnasium's own import finishes, whoever imports it. Either way the ids exist before any
``gymnasium.make`` can run.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any

ENTRY_POINT = "lcvg_env.env.core:LCVGEnv"
ATARI_TENNIS_COLOURS = ((240, 128, 128), (117, 128, 240))
"""Player 0 ours (orange), player 1 the opponent (blue): ``lcvg_env.data.atari_tennis_ram.PLAYER_COLOURS``,
restated so registering imports no numpy; the players change ends during a set, so colour, not position,
tells them apart at reset (``EnvConfig.player_colours``)."""
VECTOR_ENTRY_POINT = "lcvg_env.env.vector:LCVGVectorEnv"
MUJOCO_ENTRY_POINT = "lcvg_env.env.mujoco_env:PusherMuJoCoEnv"


@dataclass(frozen=True)
class EnvId:
    """One registered id: the model name it resolves and its episode length."""

    id: str
    """Gymnasium id."""
    model: str
    """Checkpoint name resolved by :func:`lcvg_env.env.resolve.resolve_checkpoint`."""
    max_episode_steps: int
    """Episode length (truncation by gymnasium's TimeLimit, or by the vector env itself)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """:class:`~lcvg_env.env.config.EnvConfig` fields the id sets (``gymnasium.make`` keywords override
    them)."""

    def __post_init__(self) -> None:
        if self.max_episode_steps < 1:
            raise ValueError(f"{self.id}: max_episode_steps must be >= 1, got {self.max_episode_steps}.")


ENV_IDS: tuple[EnvId, ...] = (
    EnvId("LCVG-Pusher-v0", "pusher", 100),
    EnvId("LCVG-PusherTiny-v0", "pusher_tiny", 100),
    EnvId("LCVG-BAIR-v0", "bair", 100),
    EnvId("LCVG-Tennis-v0", "tennis", 100),
    EnvId(
        "LCVG-AtariTennis-v0",
        "atari_tennis",
        100,
        # region "data": the game keeps its players on the court; the model draws them only where the
        # video showed them (docs/env.md, "Sub-pixel moves and the court")
        {"players": 2, "player_colours": ATARI_TENNIS_COLOURS, "task": "reach_each", "region": "data"},
    ),
)
"""The ids. ``LCVG-Breakout-v0`` was withdrawn (no bundled Breakout model; docs/env.md says how to build
one and run it with ``checkpoint=``)."""

MUJOCO_ENV_ID = EnvId("LCVG-PusherMuJoCo-v0", "pusher", 100)
"""The real system behind ``LCVG-Pusher-v0`` (MuJoCo, :mod:`lcvg_env.env.mujoco_env`); its model is the one
whose mask gives the learned criterion in ``info``."""


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS` and :data:`MUJOCO_ENV_ID` (idempotent)."""
    from gymnasium.envs.registration import register, registry

    for spec in ENV_IDS:
        if spec.id in registry:
            continue
        register(
            id=spec.id,
            entry_point=ENTRY_POINT,
            vector_entry_point=VECTOR_ENTRY_POINT,
            max_episode_steps=spec.max_episode_steps,
            kwargs={"name": spec.model, **spec.kwargs},
        )
    if MUJOCO_ENV_ID.id not in registry:
        register(
            id=MUJOCO_ENV_ID.id,
            entry_point=MUJOCO_ENTRY_POINT,
            max_episode_steps=MUJOCO_ENV_ID.max_episode_steps,
            kwargs={"name": MUJOCO_ENV_ID.model},
        )


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps gymnasium's loader so :func:`register_envs` runs after its import."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one use; the real finders locate gymnasium
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module: Any) -> None:
                exec_module(module)
                register_envs()

            spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def register_on_gymnasium_import() -> None:
    """Register the ids now if gymnasium is loaded, else as soon as it is (module docstring)."""
    if "gymnasium" in sys.modules:
        register_envs()
    elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterGymnasium())
