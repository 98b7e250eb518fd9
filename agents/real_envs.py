"""The real pusher as an evaluation env, and the learned simulator started where the real one starts.

``LCVG-PusherMuJoCo-v0`` (:mod:`lcvg_env.env.mujoco_env`) is the MuJoCo scene behind ``LCVG-Pusher-v0``'s
data, with the same spaces: a policy trained in the learned simulator is evaluated there unchanged
(the transfer table of ``docs/sim_to_real.md``).

- :func:`make_mujoco_vector_env`: N MuJoCo envs in a gymnasium ``SyncVectorEnv`` with ``SAME_STEP``
  autoreset (the learned vector env's mode, which :mod:`lcvg_env.evaluation.policy` reads). Synchronous, not
  ``AsyncVectorEnv``: a step is a few milliseconds of physics and rendering on the CPU, so worker
  processes would only add their start-up (each importing torch and MuJoCo and loading M for the
  learned criterion) and pickling; and MuJoCo's EGL context does not survive a fork, so an async env in
  a process that has rendered needs ``forkserver`` workers anyway. In one process, the episodes are
  the same whatever ``num_envs`` is.
- :func:`mujoco_env_kwargs`: an agent's training env keywords (``--env-kwargs``, the agent's JSON)
  as the MuJoCo env's: the shared ones kept, the learned env's run settings dropped, the rest refused.
- :class:`RealStarts`: the learned vector env, each episode reset from the MuJoCo env's start state of
  the same seed (its rendered frame, ``options={"frame": ...}``, and its goal), so that both envs are
  evaluated from the same start states (``lcvg agent eval ... LCVG-Pusher-v0 --real-starts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

MUJOCO_ID = "LCVG-PusherMuJoCo-v0"

_RUN_ONLY = ("threads", "compile", "max_rotation", "actuation", "region")
"""Learned-env keywords about how the world model runs (or rotation controls), dropped for MuJoCo; the
arm's response (``actuation``) and the data's region (``region``) are the learned env's stand-ins for what
the real arm does by itself (its servos' lag, its workspace)."""
_TASK_ONLY = {"task": ("reach",), "control": (None, "translation")}
"""Learned-env keywords the MuJoCo env has only with these values (the reach task, translations)."""


def is_mujoco(env_id: str) -> bool:
    """True for the real pusher's id."""
    return env_id == MUJOCO_ID


def mujoco_env_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``LCVG-Pusher-v0`` keywords as ``LCVG-PusherMuJoCo-v0``'s; ``size`` is the checkpoint's frame size
    when a checkpoint is given (the MuJoCo env renders at it; the bundled ``pusher`` is 64 px)."""
    from lcvg_env.env.mujoco_sim_bridge import MuJoCoEnvConfig

    known = {*MuJoCoEnvConfig.__dataclass_fields__, "checkpoint", "max_episode_steps"}
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in known:
            out[key] = value
        elif key in _TASK_ONLY and value in _TASK_ONLY[key]:
            continue
        elif key not in _RUN_ONLY:
            raise ValueError(
                f"{MUJOCO_ID} has no counterpart of the env keyword {key}={value!r}: it runs the reach task "
                f"with translation actions and takes {sorted(known)}. Drop --env-kwargs {key}."
            )
    if "checkpoint" in out and "size" not in out:
        from lcvg_env.env.mujoco_env import learned_env_model

        _, (h, w), _ = learned_env_model(out["checkpoint"], str(out.get("name", "pusher")))
        if h != w:
            raise ValueError(f"The MuJoCo env renders square frames; {out['checkpoint']} makes {h}x{w}.")
        out["size"] = h
    return out


def make_mujoco_vector_env(num_envs: int, env_kwargs: dict[str, Any] | None = None) -> gym.vector.VectorEnv:
    """``num_envs`` MuJoCo pusher envs (``SyncVectorEnv``, ``SAME_STEP`` autoreset), keywords translated
    by :func:`mujoco_env_kwargs`."""
    import lcvg_env  # noqa: F401  (registers the ids)

    kwargs = mujoco_env_kwargs(env_kwargs or {})
    return gym.make_vec(
        MUJOCO_ID,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **kwargs,
    )


def real_starts_env(venv: Any) -> gym.Env:
    """The MuJoCo env whose start states :class:`RealStarts` gives the learned vector env ``venv``: the
    model's frame size, the learned env's goal margin (the goals of ``LCVG-PusherMuJoCo-v0`` made with
    the same keywords), no learned criterion."""
    from lcvg_env.env.mujoco_env import PusherMuJoCoEnv

    h, w = venv.size
    if h != w:
        raise ValueError(f"The MuJoCo env renders square frames; this model makes {h}x{w} frames.")
    cfg = venv.cfg
    return PusherMuJoCoEnv(
        size=h,
        max_displacement=cfg.max_displacement,
        success_radius=cfg.success_radius,
        goal_margin=cfg.goal_margin,
        learned_criterion=False,
    )


class RealStarts(gym.vector.VectorWrapper):
    """A learned vector env (:class:`~lcvg_env.env.vector.LCVGVectorEnv`, reach task) whose ``reset`` starts
    sub-env i from the MuJoCo env's start state of seed i: its rendered frame (the learned env's
    ``options={"frame": ...}``) and its goal. Steps are the learned env's own; a sub-env that ends
    autoresets from the model's bank of start frames, as usual (the evaluation ignores those)."""

    def __init__(self, env: Any) -> None:
        from lcvg_env.evaluation.env_view import lcvg_vector_env

        self.lcvg = lcvg_vector_env(env)
        if self.lcvg.task is None:
            raise ValueError("RealStarts needs the learned env's reach task (task='reach').")
        super().__init__(env)
        self.real = real_starts_env(self.lcvg)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if options:
            raise ValueError(f"RealStarts.reset takes a seed only, got options {sorted(options)}.")
        n = self.num_envs
        if isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(n)]  # sub-env i gets seed + i, as the learned env's
        else:
            seeds = list(seed) if seed is not None else [None] * n
        if len(seeds) != n:
            raise ValueError(f"Expected {n} seeds, got {len(seeds)}.")
        goals = np.zeros((n, 2), np.float32)
        for i, s in enumerate(seeds):
            _, info = self.real.reset(seed=s)
            goals[i] = info["goal_px"]
            row = np.arange(n) == i
            row_seeds = [s if r else None for r in row]
            options = {"reset_mask": row, "frame": self.real.frame, "goal": goals[i]}
            obs, info = self.lcvg.reset(seed=row_seeds, options=options)
        return obs, {**info, **{f"_{k}": np.ones(n, bool) for k in info if not k.startswith("_")}}

    def close(self, **kwargs: Any) -> None:
        self.real.close()
        super().close(**kwargs)
