"""The LCVG environment: single (``LCVGEnv``), natively batched (``LCVGVectorEnv``), SB3 adapter.

Attributes load lazily (PEP 562) so that ``import lcvg_env`` (registration) never imports torch.
"""

from __future__ import annotations

from lcvg_env.lazy import lazy_exports

_EXPORTS = {
    "LCVGEnv": "lcvg_env.env.core",
    "LCVGVectorEnv": "lcvg_env.env.vector",
    "SB3VecEnv": "lcvg_env.env.sb3",
    "DiscreteControl": "lcvg_env.env.wrappers",
    "EnvConfig": "lcvg_env.env.config",
    "ENV_IDS": "lcvg_env.env.registration",
    "register_envs": "lcvg_env.env.registration",
    "resolve_checkpoint": "lcvg_env.env.resolve",
    "installed_checkpoint_path": "lcvg_env.env.resolve",
    "CheckpointNotFoundError": "lcvg_env.env.resolve",
    "DISCRETE_ACTIONS": "lcvg_env.env.controls",
    "write_video": "lcvg_env.env.render",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
