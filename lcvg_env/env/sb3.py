"""An SB3 ``VecEnv`` over :class:`~lcvg_env.env.vector.LCVGVectorEnv` (SB3 takes no gymnasium vector env).

Stable-Baselines3 expects same-step autoreset with the last observation in
``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]``; the LCVG vector env
autoresets on the same step, so the adapter only reshapes infos. The whole batch still runs in
one forward pass of the world model.

Example::

    from stable_baselines3 import PPO
    from lcvg_env.env import LCVGVectorEnv, SB3VecEnv

    venv = SB3VecEnv(LCVGVectorEnv(8, checkpoint="model.safetensors", max_episode_steps=100))
    PPO("CnnPolicy", venv).learn(10_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from lcvg_env.env.vector import LCVGVectorEnv


class SB3VecEnv(VecEnv):
    """Stable-Baselines3 view of an :class:`LCVGVectorEnv`."""

    def __init__(self, vector_env: LCVGVectorEnv) -> None:
        if not isinstance(vector_env, LCVGVectorEnv):
            raise TypeError(f"SB3VecEnv wraps an LCVGVectorEnv, got {type(vector_env).__name__}.")
        self.venv = vector_env
        self._actions: np.ndarray | None = None
        super().__init__(
            vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space
        )

    def reset(self) -> VecEnvObs:
        options = [o or {} for o in self._options]
        seeds = list(self._seeds)
        if all(o == options[0] for o in options):
            obs, info = self.venv.reset(seed=seeds, options=options[0] or None)
            infos = self._split(info)
        else:  # different options per env: reset them one at a time
            infos = []
            for i in range(self.num_envs):
                mask = np.arange(self.num_envs) == i
                obs, info = self.venv.reset(seed=seeds, options={**options[i], "reset_mask": mask})
                infos.append(self._split(info)[i])
        self.reset_infos = infos
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async() must be called before step_wait().")
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        infos = self._split(info)
        final_infos = self._split(info["final_info"]) if "final_info" in info else None
        for i in np.flatnonzero(terminated | truncated):
            infos[i] = dict(final_infos[i]) if final_infos is not None else infos[i]
            infos[i]["terminal_observation"] = info["final_obs"][i]
            self.reset_infos[i] = self.venv.sub_info(info, i)
        for i in range(self.num_envs):
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), terminated | truncated, infos

    def _split(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.venv.sub_info(info, i) for i in range(self.num_envs)]

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.venv.render()
        return list(frames) if frames is not None else [None] * self.num_envs

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        method = getattr(self.venv, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
