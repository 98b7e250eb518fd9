"""Building the environments agents train and are evaluated in.

Every agent trains on the natively batched :class:`~lcvg_env.env.vector.LCVGVectorEnv` (N envs, one
forward pass of the world model per step), made from a registered id with ``gymnasium.make_vec`` so
the id's model and episode length apply. Evaluation also runs in the real pusher,
``LCVG-PusherMuJoCo-v0`` (:mod:`agents.real_envs`); ``lcvg_env.evaluation.env_view`` reads either. For
stable-baselines3 the stack is::

    LCVGVectorEnv -> SB3VecEnv (the env's adapter) [-> DiscreteVecControl for DQN]
                  -> VecMonitor (episode returns, is_success) -> VecTransposeImage (HWC -> CHW)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecMonitor, VecTransposeImage
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from lcvg_env.env.controls import DISCRETE_ACTIONS, ControlMap
from lcvg_env.evaluation.env_view import discrete_to_box, env_view, lcvg_vector_env


def env_ids() -> list[str]:
    """The registered LCVG environment ids: the learned simulators and the real pusher (MuJoCo)."""
    import lcvg_env  # noqa: F401  (registers the ids)
    from lcvg_env.env.registration import ENV_IDS, MUJOCO_ENV_ID

    return [spec.id for spec in (*ENV_IDS, MUJOCO_ENV_ID)]


def make_vector_env(env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None) -> Any:
    """``num_envs`` envs of ``env_id`` with ``env_kwargs``: an :class:`LCVGVectorEnv`, or for the real
    pusher a ``SyncVectorEnv`` of MuJoCo envs (:func:`agents.real_envs.make_mujoco_vector_env`)."""
    import lcvg_env  # noqa: F401  (registers the ids)

    from .real_envs import is_mujoco, make_mujoco_vector_env

    if env_id not in gym.registry or env_id not in env_ids():
        raise ValueError(f"Unknown environment id {env_id!r}; registered LCVG ids: {', '.join(env_ids())}.")
    if is_mujoco(env_id):
        return make_mujoco_vector_env(num_envs, env_kwargs)
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **(env_kwargs or {})
    )


def check_trainable(env_id: str) -> None:
    """Raise ``ValueError`` for the real pusher (MuJoCo): agents are trained in the learned simulator and
    evaluated there with ``lcvg agent eval`` (docs/sim_to_real.md), so it has no SB3 training stack."""
    from .real_envs import is_mujoco

    if is_mujoco(env_id):
        raise ValueError(
            f"{env_id} is the real pusher, where agents are evaluated, not trained: train in the learned "
            f"simulator (lcvg agent train LCVG-Pusher-v0 ...), then evaluate the run in MuJoCo with "
            f"`lcvg agent eval RUN_DIR {env_id}`."
        )


def make_sb3_env(
    env_id: str,
    num_envs: int,
    env_kwargs: dict[str, Any] | None = None,
    *,
    discrete: bool = False,
    seed: int = 0,
) -> VecEnv:
    """The SB3 stack of the module docstring, seeded (sub-env i resets with ``seed + i`` first). Learned
    simulators only: the real pusher is refused (:func:`check_trainable`)."""
    from lcvg_env.env import SB3VecEnv

    check_trainable(env_id)
    venv: VecEnv = SB3VecEnv(make_vector_env(env_id, num_envs, env_kwargs))
    if discrete:
        venv = DiscreteVecControl(venv)
    venv = VecMonitor(venv, info_keywords=("is_success",) if _has_reach_task(venv) else ())
    if _has_hwc_image(venv.observation_space):
        venv = VecTransposeImage(venv)  # training and evaluation stacks alike (SB3 would wrap only the first)
    venv.seed(seed)
    return venv


def _has_hwc_image(space: gym.Space) -> bool:
    """True if ``space`` is, or (a dict observation) holds, a channel-last image."""
    if isinstance(space, gym.spaces.Dict):
        return any(_has_hwc_image(sub) for sub in space.spaces.values())
    return is_image_space(space) and not is_image_space_channels_first(space)


def _has_reach_task(venv: VecEnv) -> bool:
    return env_view(venv).task is not None


class DiscreteVecControl(VecEnvWrapper):
    """``Discrete(5)`` actions for a whole SB3 vector env: the batched twin of the env's
    :class:`~lcvg_env.env.wrappers.DiscreteControl` (no-op, up, down, left, right at full speed),
    with the same action table (:data:`lcvg_env.env.controls.DISCRETE_ACTIONS`)."""

    def __init__(self, venv: VecEnv) -> None:
        self.controls: ControlMap = lcvg_vector_env(venv).controls
        super().__init__(venv, action_space=gym.spaces.Discrete(len(DISCRETE_ACTIONS)))

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(discrete_to_box(actions, self.controls))

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()

    def reset(self) -> Any:
        return self.venv.reset()
