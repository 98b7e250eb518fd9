"""Evaluation of any policy (random, scripted, a trained SB3 model) by one loop over the batched env:
the learned simulator's :class:`~lcvg_env.env.vector.LCVGVectorEnv`, or the real pusher's vector env
(``lcvg_agents.real_envs``), both with ``SAME_STEP`` autoreset. ``lcvg agent eval`` and the agents'
training both report through it.

Episodes run in lock-step batches of the vector env's N sub-envs: batch k resets with seed
``seed + k * N`` (sub-env i gets ``seed + k * N + i``), then steps until every sub-env has ended
once; a sub-env's later steps (it autoresets) are ignored. So every episode is seeded, each policy
sees the same start frames and goals, and the result does not depend on how fast episodes end.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lcvg_env.env.batch import Observation, obs_images, obs_row
from lcvg_env.evaluation.env_view import discrete_to_box, env_view

EVAL_SEED = 1_000
"""First seed of the evaluation episodes, away from the training envs' seeds (0 .. n_envs - 1)."""


class Policy(Protocol):
    """A batched controller."""

    def __call__(self, obs: Any, info: dict[str, np.ndarray]) -> np.ndarray: ...


Z90 = 1.6448536269514722
"""The standard normal's 95th percentile: the half-width, in standard errors, of a two-sided 90 % interval."""


def wilson_interval(successes: int, trials: int, z: float = Z90) -> list[float]:
    """Wilson's score interval [lo, hi] of a success rate (Wilson 1927): unlike the normal approximation
    it stays inside [0, 1] and is not empty at 0 or ``trials`` successes. ``z`` = 1.645: 90 %."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"Need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}.")
    p, n = successes / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


@dataclass
class PolicyResult:
    """Returns and success of ``episodes`` episodes; ``to_json`` gives the report's fields."""

    policy: str
    env_id: str
    episodes: int
    returns: list[float]
    lengths: list[int]
    successes: list[bool] | None
    """None when the env has no ``reach`` task."""
    final_distances: list[float] | None
    """Pixels from the scored point (the learned env's mask centroid, the real env's true tip) to the goal
    at each episode's last step (reach only)."""
    seconds: float
    video: str | None = None
    video_error: str | None = None
    """Why the video was not written (ffmpeg stopped, a full disk); the figures above stand."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))

    @property
    def success_interval(self) -> list[float] | None:
        """The 90 % Wilson interval [lo, hi] of the success rate over these episodes (None without a
        reach task): how far it could move with another set of episodes of the same kind."""
        if not self.successes:
            return None
        return wilson_interval(int(np.sum(self.successes)), len(self.successes))

    def to_json(self) -> dict[str, Any]:
        """``mean_return``, ``std_return``, ``success_rate`` (and its 90 % interval), ``episodes`` first,
        then the details."""
        head = dict(
            mean_return=self.mean_return,
            std_return=self.std_return,
            success_rate=self.success_rate,
            success_ci90=self.success_interval,
            episodes=self.episodes,
            mean_length=float(np.mean(self.lengths)),
        )
        if self.final_distances is not None:
            head["mean_final_distance_px"] = float(np.mean(self.final_distances))
        return {**head, **asdict(self)}


@dataclass
class _Batch:
    """Per-sub-env accumulators of one lock-step batch."""

    returns: np.ndarray
    lengths: np.ndarray
    ended: np.ndarray
    success: np.ndarray
    distance: np.ndarray
    frames: list[list[np.ndarray]]


def evaluate_policy(
    policy: Policy,
    venv: Any,
    episodes: int,
    *,
    seed: int = 0,
    name: str = "policy",
    env_id: str = "",
    discrete: bool = False,
    video_path: str | os.PathLike | None = None,
    video_episodes: int = 2,
    max_steps: int = 10_000,
) -> PolicyResult:
    """Run ``episodes`` seeded episodes of ``policy`` in the gymnasium vector env ``venv``.

    ``discrete``: the policy outputs ``Discrete(5)`` indices (DQN), mapped to the env's actions.
    ``video_path``: write the first ``video_episodes`` episodes (one per sub-env of the first batch)
    to an mp4. ``max_steps`` bounds an episode for envs without truncation.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}.")
    start = time.perf_counter()
    n = venv.num_envs
    batches = [
        _run_batch(policy, venv, seed + k * n, discrete, max_steps, record=k == 0 and video_path is not None)
        for k in range(math.ceil(episodes / n))
    ]
    take = lambda key: np.concatenate([getattr(b, key) for b in batches])[:episodes]  # noqa: E731
    reach = env_view(venv).task is not None
    result = PolicyResult(
        policy=name,
        env_id=env_id,
        episodes=episodes,
        returns=take("returns").tolist(),
        lengths=take("lengths").astype(int).tolist(),
        successes=take("success").astype(bool).tolist() if reach else None,
        final_distances=take("distance").tolist() if reach else None,
        seconds=round(time.perf_counter() - start, 2),
    )
    if video_path is not None and video_episodes > 0:
        try:  # the figures are computed: a video that cannot be written does not take them with it
            result.video = str(_write_episodes(batches[0].frames[:video_episodes], video_path, venv))
        except (ValueError, OSError) as e:  # write_video's OutputError (a ValueError), the disk
            result.video_error = str(e)
    return result


def _run_batch(policy: Policy, venv: Any, seed: int, discrete: bool, max_steps: int, record: bool) -> _Batch:
    """One lock-step batch: every sub-env plays one episode; returns its accumulators."""
    n = venv.num_envs
    controls = env_view(venv).controls
    obs, info = venv.reset(seed=seed)
    acc = _Batch(
        np.zeros(n),
        np.zeros(n),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.full(n, np.nan),
        [[frame] for frame in obs_images(obs)] if record else [],
    )
    for _ in range(max_steps):
        actions = policy(obs, info)
        obs, rewards, terminated, truncated, info = venv.step(
            discrete_to_box(actions, controls) if discrete else actions
        )
        active = ~acc.ended
        acc.returns[active] += rewards[active]
        acc.lengths[active] += 1
        finished = (terminated | truncated) & active
        _record(acc, obs, info, active, finished, record)
        acc.ended |= finished
        if acc.ended.all():
            return acc
    raise RuntimeError(
        f"Episodes did not end within max_steps={max_steps}; create the env with max_episode_steps."
    )


def _record(
    acc: _Batch, obs: Observation, info: dict, active: np.ndarray, finished: np.ndarray, record: bool
) -> None:
    """Store success and distance of the sub-envs that just ended (SAME_STEP autoreset: ``final_info``),
    and the frames of the active ones."""
    final = info.get("final_info", {})
    for i in np.flatnonzero(finished):
        if "is_success" in final:
            acc.success[i] = bool(final["is_success"][i])
            acc.distance[i] = float(final["distance_px"][i])
    if record:
        for i in np.flatnonzero(active):
            last = obs_row(info["final_obs"] if finished[i] else obs, i)
            acc.frames[i].append(obs_images(last))


def _write_episodes(episodes: list[list[np.ndarray]], path: str | os.PathLike, venv: Any) -> Path:
    """Episodes back to back, separated by a few black frames, scaled up to about 256 px."""
    from lcvg_env.env.render import auto_scale, write_video

    gap = [np.zeros_like(episodes[0][0])] * 4
    frames = [f for ep in episodes for f in [*ep, *gap]]
    fps = venv.metadata.get("render_fps", 15)
    return write_video(frames, path, fps=fps, scale=auto_scale(frames[0].shape[:2], target=256))
