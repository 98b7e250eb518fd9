"""ale-py games for the Atari data generators (:mod:`lcvg_env.data.breakout`,
:mod:`lcvg_env.data.atari_tennis`)."""

from __future__ import annotations

from typing import Any


def make_ale_env(game_id: str, name: str, frameskip: int = 4) -> Any:
    """The gymnasium env ``game_id`` (e.g. ``ALE/Tennis-v5``) rendering rgb arrays, without sticky actions
    (so recorded actions are the ones applied); ``name`` is what the missing-ale-py error calls the game."""
    try:
        import ale_py
        import gymnasium as gym
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'{name} needs ale-py: pip install "lcvg-env[data]" (or pip install ale-py).'
        ) from exc
    gym.register_envs(ale_py)
    return gym.make(game_id, render_mode="rgb_array", frameskip=frameskip, repeat_action_probability=0.0)
