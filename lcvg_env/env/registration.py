"""Registration of the LCVG environment ids with Gymnasium (imported by ``import lcvg_env``).

Gymnasium 1.x has no plugin entry points, so ``import lcvg_env`` (or an id written as
``"lcvg_env:LCVG-Pusher-v0"``) registers them. Entry points are strings, so registering imports
neither torch nor the model: they load on ``gymnasium.make``.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTRY_POINT = "lcvg_env.env.core:LCVGEnv"
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

    def __post_init__(self) -> None:
        if self.max_episode_steps < 1:
            raise ValueError(f"{self.id}: max_episode_steps must be >= 1, got {self.max_episode_steps}.")


ENV_IDS: tuple[EnvId, ...] = (
    EnvId("LCVG-Pusher-v0", "pusher", 100),
    EnvId("LCVG-PusherTiny-v0", "pusher_tiny", 100),
    EnvId("LCVG-BAIR-v0", "bair", 100),
    EnvId("LCVG-Tennis-v0", "tennis", 100),
    EnvId("LCVG-Breakout-v0", "breakout", 200),
)

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
            kwargs={"name": spec.model},
        )
    if MUJOCO_ENV_ID.id not in registry:
        register(
            id=MUJOCO_ENV_ID.id,
            entry_point=MUJOCO_ENTRY_POINT,
            max_episode_steps=MUJOCO_ENV_ID.max_episode_steps,
            kwargs={"name": MUJOCO_ENV_ID.model},
        )
