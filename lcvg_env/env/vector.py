"""``LCVGVectorEnv``: N environments stepped in one forward pass of the world model.

Autoreset is ``SAME_STEP``: when a sub-env ends, its last observation and info go to
``info["final_obs"]`` / ``info["final_info"]`` and the returned observation is already the first
one of its next episode. Sub-env i seeded with ``seed + i`` behaves exactly like a single
:class:`~lcvg_env.env.core.LCVGEnv` reset with that seed (the same logic, B rows instead of 1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lcvg_env.checkpoint import Checkpoint
from lcvg_env.env.batch import LCVGBatch, Observation, obs_images, obs_row, unbatch
from lcvg_env.env.config import EnvConfig
from lcvg_env.env.core import RENDER_FPS, env_config
from lcvg_env.env.properties import ModelEnvProperties


class LCVGVectorEnv(ModelEnvProperties, VectorEnv):
    """A natively batched LCVG env; keywords as :class:`~lcvg_env.env.core.LCVGEnv` plus the below.

    Args:
        num_envs: number of sub-environments N, stepped in one batch.
        max_episode_steps: truncate episodes after this many steps (None: never).
        threads: torch CPU threads of the steps (``EnvConfig.threads``); None here by default: the
            caller's setting, over which a batch of 32 or more envs is stepped in slices. On a CPU shared
            with other jobs pass ``threads=1``.
    """

    metadata = {  # noqa: RUF012
        "render_modes": ["rgb_array"],
        "render_fps": RENDER_FPS,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        checkpoint: str | os.PathLike | Checkpoint | None = None,
        *,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        config: EnvConfig | None = None,
        **fields: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"The vector env renders 'rgb_array' only, got render_mode={render_mode!r}.")
        steps = max_episode_steps
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"max_episode_steps must be an int >= 1 or None, got {steps!r}.")
        self.cfg = env_config(config, fields)
        self.core = LCVGBatch(checkpoint, num_envs, self.cfg)
        self.cfg = self.core.cfg  # with the checkpoint's defaults filled in (max_displacement)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        if self.cfg.observation == "dict":
            self.compute_reward = self._compute_reward  # goal envs only (as the single env)
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = [seeding.np_random()[0] for _ in range(num_envs)]
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._obs: Observation | None = None

    @property
    def np_random(self) -> np.random.Generator:  # type: ignore[override]
        """The generator of sub-env 0 (each sub-env has its own, see ``sub_rngs``)."""
        return self._rngs[0]

    @property
    def sub_rngs(self) -> list[np.random.Generator]:
        return self._rngs

    @property
    def frames(self) -> np.ndarray:
        """The current generated frames (N, H, W, 3) uint8, without the goal marker: the model's state
        (as :attr:`LCVGEnv.frame <lcvg_env.env.core.LCVGEnv.frame>` for one env)."""
        return self.core.sim.observations()

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Reset all sub-envs, or those in ``options["reset_mask"]`` (N,) bool.

        ``seed``: an int (sub-env i gets ``seed + i``) or one seed per sub-env. ``options["frames"]``
        (N, H, W, 3) uint8: sub-env i starts from ``frames[i]`` (rows not reset are not read). Other options
        (``frame``, ``start_index``, ``goal``) apply to every reset sub-env.
        """
        options = dict(options or {})
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=bool)), dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},).")
        frames = options.pop("frames", None)
        if frames is not None:
            frames = np.asarray(frames)
            if frames.ndim != 4 or len(frames) != self.num_envs or "frame" in options:
                raise ValueError(
                    "options['frames'] must hold one start frame per sub-env, shape "
                    f"({self.num_envs}, H, W, 3), without options['frame']; got shape {frames.shape}."
                )
        seeds = self._seeds(seed)
        rows = np.flatnonzero(mask)
        for i in rows:
            if seeds[i] is not None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        per_row = [options if frames is None else {**options, "frame": frames[i]} for i in rows]
        self.core.reset(rows, [self._rngs[i] for i in rows], per_row)
        self._steps[rows] = 0
        self._obs = self.core.observations()
        return self._obs, self._with_masks(self.core.infos())

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"Expected {self.num_envs} seeds, got {len(seeds)}.")
        return seeds

    def step(
        self, actions: np.ndarray
    ) -> tuple[Observation, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("Call reset() before step().")
        self.core.step(self.core.controls.check(actions, batch=self.num_envs))
        self._steps += 1
        info = self.core.infos()
        rewards, terminated = self.core.rewards(info)
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = (self._steps >= self.max_episode_steps) & ~terminated
        obs = self.core.observations()
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            info = self._autoreset(done, obs, info)
            obs = self.core.observations()
        self._obs = obs
        return obs, rewards, terminated, truncated, self._with_masks(info)

    def _autoreset(self, done: np.ndarray, obs: Observation, info: dict[str, Any]) -> dict[str, Any]:
        """SAME_STEP autoreset of ``done`` rows; returns the info with ``final_obs``/``final_info``."""
        ended = np.zeros(self.num_envs, dtype=bool)
        ended[done] = True
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in done:
            final_obs[i] = obs_row(obs, i)
        final_info = {
            k: np.where(ended.reshape(-1, *[1] * (v.ndim - 1)), v, np.zeros_like(v)) for k, v in info.items()
        }
        self.core.reset(done, [self._rngs[i] for i in done], [None] * len(done))
        self._steps[done] = 0
        new_info = self.core.infos()  # reset rows: their first info, as a single env's reset() returns
        for k, v in info.items():
            new_info[k][~ended] = v[~ended]  # the other rows keep their step info
        new_info.update(final_obs=final_obs, _final_obs=ended, _final_info=ended.copy())
        new_info["final_info"] = self._with_masks(final_info, ended)
        return new_info

    def _with_masks(self, info: dict[str, Any], present: np.ndarray | None = None) -> dict[str, Any]:
        """Gymnasium's vector info format: each key ``k`` with a bool mask ``_k`` of the envs that have it."""
        present = np.ones(self.num_envs, dtype=bool) if present is None else present
        out = dict(info)
        for k in info:
            if not k.startswith("_") and f"_{k}" not in info:
                out[f"_{k}"] = present.copy()
        return out

    def _compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any = None
    ) -> np.ndarray:
        """The reach reward for goal fractions (..., 2) (``observation="dict"``), as ``step`` computes it."""
        return self.core.compute_reward(achieved_goal, desired_goal)

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the world model's batch-slicing threads (``VectorEnv.close`` calls this)."""
        self.core.sim.close()

    def render(self) -> tuple[np.ndarray, ...] | None:
        """``rgb_array``: one (H, W, 3) frame per sub-env."""
        if self.render_mode != "rgb_array" or self._obs is None:
            return None
        return tuple(obs_images(self._obs).copy())

    def sub_info(self, info: dict[str, Any], i: int) -> dict[str, Any]:
        """The info of sub-env ``i`` as a single env would return it (without the ``_k`` masks)."""
        return unbatch({k: v for k, v in info.items() if not k.startswith("_") and k not in _FINAL_KEYS}, i)


_FINAL_KEYS = ("final_obs", "final_info")
