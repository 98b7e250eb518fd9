"""lcvg-env: Layered Controllable Video Generation (ECCV 2022) as a Gymnasium environment.

``import lcvg_env`` registers the environment ids (``LCVG-Pusher-v0``, ``LCVG-BAIR-v0``,
``LCVG-Tennis-v0``, ``LCVG-AtariTennis-v0``) and stays light: gymnasium is not imported for it (the ids
are registered when it is, :func:`~lcvg_env.env.registration.register_on_gymnasium_import`) and torch
loads on ``gymnasium.make``.

Example::

    import gymnasium
    import lcvg_env

    env = gymnasium.make("LCVG-Pusher-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=0)
"""

from __future__ import annotations

from lcvg_env.env.registration import register_envs, register_on_gymnasium_import

__version__ = "0.1.0"

register_on_gymnasium_import()

__all__ = ["__version__", "register_envs"]
