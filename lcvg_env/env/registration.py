"""Registration of the LCVG environment ids with Gymnasium (imported by ``import lcvg_env``).

Gymnasium 1.x has no plugin entry points, so ``import lcvg_env`` (or an id written as
``"lcvg_env:LCVG-Pusher-v0"``) registers them. Entry points are strings, so registering imports
neither torch nor the model: they load on ``gymnasium.make``.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTRY_POINT = "lcvg_env.env.core:LCVGEnv"
VECTOR_ENTRY_POINT = "lcvg_env.env.vector:LCVGVectorEnv"


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
    EnvId("LCVG-BAIR-v0", "bair", 100),
    EnvId("LCVG-Tennis-v0", "tennis", 100),
    EnvId("LCVG-Breakout-v0", "breakout", 200),
)


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS` (idempotent)."""
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
