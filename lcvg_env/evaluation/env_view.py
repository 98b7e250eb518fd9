"""What evaluation and the reference controllers read of a vector env, learned or real.

A policy is evaluated in the learned simulator (:class:`~lcvg_env.env.vector.LCVGVectorEnv`, possibly
under wrappers or a stable-baselines3 stack) or in the real pusher (a ``SyncVectorEnv`` of
:class:`~lcvg_env.env.mujoco_env.PusherMuJoCoEnv`); :func:`env_view` reads either through the envs'
public properties (``controls``, ``task``), never their internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from lcvg_env.env.vector import LCVGVectorEnv

if TYPE_CHECKING:
    from lcvg_env.env.controls import ControlMap
    from lcvg_env.env.task import ReachTask


@dataclass
class EnvView:
    """What evaluation and the reference controllers read of a vector env, learned or real."""

    controls: ControlMap
    """Action -> pixels map of the sub-envs (the discrete action table too)."""
    task: ReachTask | None
    """The reach task (goals, success radius), None without one."""
    max_displacement: float
    """Pixels per step at action +-1."""
    point: str
    """The ``info`` key of the point the task scores: ``centroid_px`` (the learned env's mask centroid)
    or ``tip_px`` (the real env's true tip)."""
    frames: Callable[[], np.ndarray]
    """The sub-envs' current frames (N, H, W, 3) uint8 without the goal marker."""


def env_view(venv: Any) -> EnvView:
    """The :class:`EnvView` of an LCVG vector env (or a wrapper of one) or of a ``SyncVectorEnv`` of
    MuJoCo envs (``lcvg_agents.real_envs.make_mujoco_vector_env``)."""
    envs = _sync_envs(venv)
    if envs is not None:
        real = envs[0].unwrapped
        frames = lambda: np.stack([env.unwrapped.frame for env in envs])  # noqa: E731  (N, H, W, 3)
        return EnvView(real.controls, real.task, float(real.max_displacement), "tip_px", frames)
    lcvg = lcvg_vector_env(venv)
    md = float(lcvg.cfg.max_displacement)
    return EnvView(lcvg.controls, lcvg.task, md, "centroid_px", lambda: lcvg.frames)


def _sync_envs(venv: Any) -> list[gym.Env] | None:
    """The sub-envs of a ``SyncVectorEnv`` under ``venv`` (through vector wrappers), else None."""
    while venv is not None and not isinstance(venv, LCVGVectorEnv):
        if isinstance(venv, gym.vector.SyncVectorEnv):
            return list(venv.envs)
        venv = getattr(venv, "env", None)
    return None


def lcvg_vector_env(venv: Any) -> LCVGVectorEnv:
    """The :class:`LCVGVectorEnv` under a gymnasium vector env or an SB3 stack."""
    while not isinstance(venv, LCVGVectorEnv):
        inner = getattr(venv, "venv", None) or getattr(venv, "env", None)
        if inner is None:
            raise TypeError(f"{type(venv).__name__} does not wrap an LCVGVectorEnv.")
        venv = inner
    return venv


def discrete_to_box(actions: np.ndarray, controls: ControlMap) -> np.ndarray:
    """Discrete action indices (B,) -> the env's continuous actions (B, dims), ``DiscreteControl``'s table."""
    indices = np.asarray(actions).reshape(-1)
    return np.stack([controls.discrete(int(a)) for a in indices]).astype(np.float32)
