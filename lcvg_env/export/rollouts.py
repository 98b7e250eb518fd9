"""New videos with exact action labels: episodes generated in the environment (data augmentation).

Each episode starts from a start frame of the checkpoint's bank (chosen by the episode's seed), and
is driven for T steps by a sampled policy through :class:`~lcvg_env.env.LCVGVectorEnv` with
``task="none"``, many episodes per forward pass. Actions are the env's, in [-1, 1]^dims; the
applied controls in pixels (``control_px``), normalized units (``control_norm``), the masks and the
mask centroids go along as infos (docs/method.md section 7: "generated frames come with their action
annotations").

Episode i uses seed ``seed + i`` for its start frame and its actions, so an interrupted export
resumes with the episodes it would have produced.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from lcvg_env.export.runner import ExportSummary, file_digest, finish, run_episodes
from lcvg_env.export.store import EpisodeRecord, EpisodeStore

POLICIES = ("random", "uniform", "constant", "zero")
INFO_KEYS = ("mask", "centroid_px", "control_px", "control_norm")
ARM_INFO_KEYS = ("commanded_px",)
"""Exported as well when the env's actuation or region is not the default: the commands as given (after the
region), beside ``control_px``, the moves the mask made (the arm's response to them)."""


@dataclass
class PolicyConfig:
    """How actions are sampled (all in the env's [-1, 1] action units)."""

    name: str = "random"
    """``random``: a smooth random walk (AR(1): a' = rho a + sqrt(1 - rho^2) sigma eps, clipped);
    ``uniform``: i.i.d. uniform in [-1, 1]; ``constant``: one uniform action held all episode;
    ``zero``: the no-op (the model's idea of a still scene)."""
    smoothness: float = 0.9
    """rho of the random walk, in [0, 1): 0 gives i.i.d. Gaussian steps."""
    scale: float = 0.6
    """sigma of the random walk (stationary spread of the actions before clipping)."""

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"Unknown policy {self.name!r}; choose one of {POLICIES}.")
        if not 0.0 <= self.smoothness < 1.0 or self.scale <= 0:
            raise ValueError(f"Need 0 <= smoothness < 1 and scale > 0, got {self.smoothness}, {self.scale}.")


def sample_actions(policy: PolicyConfig, rng: np.random.Generator, steps: int, dims: int) -> np.ndarray:
    """A sequence of actions (steps, dims) float32 in [-1, 1] for one episode."""
    if policy.name == "zero":
        return np.zeros((steps, dims), dtype=np.float32)
    if policy.name == "uniform":
        return rng.uniform(-1, 1, (steps, dims)).astype(np.float32)
    if policy.name == "constant":
        return np.repeat(rng.uniform(-1, 1, (1, dims)), steps, axis=0).astype(np.float32)
    rho, noise = policy.smoothness, rng.normal(size=(steps, dims)) * policy.scale
    actions = noise.copy()
    for t in range(1, steps):
        actions[t] = rho * actions[t - 1] + np.sqrt(1 - rho**2) * noise[t]
    return np.clip(actions, -1.0, 1.0).astype(np.float32)


def rollout_batch(
    env, seeds: Sequence[int], steps: int, policy: PolicyConfig, info_keys: Sequence[str] = INFO_KEYS
) -> list[EpisodeRecord]:
    """Run ``len(seeds)`` episodes of ``steps`` steps in the vector env ``env`` (one per sub-env), keeping
    the ``info_keys`` of every step's info."""
    n, dims = env.num_envs, env.single_action_space.shape[0]
    rows = len(seeds)
    padded = list(seeds) + [int(seeds[-1])] * (n - rows)  # spare sub-envs repeat the last seed
    actions = np.stack(
        [sample_actions(policy, np.random.default_rng([s, 1]), steps, dims) for s in padded], 1
    )
    obs, info = env.reset(seed=padded)
    frames, infos = [obs], {k: [info[k]] for k in info_keys}
    for t in range(steps):
        obs, _, _, _, info = env.step(actions[t])
        frames.append(obs)
        for k in info_keys:
            infos[k].append(info[k])
    stacked = np.stack(frames, 1)  # (n, T+1, H, W, 3)
    info_arrays = {k: np.stack(v, 1) for k, v in infos.items()}  # each (n, T+1, ...)
    return [
        EpisodeRecord(
            stacked[i],
            actions[:, i],
            {k: v[i].astype(bool if k == "mask" else np.float32) for k, v in info_arrays.items()},
            meta={"seed": int(seeds[i])},
        )
        for i in range(rows)
    ]


def export_rollouts(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    episodes: int = 16,
    steps: int = 30,
    policy: PolicyConfig | None = None,
    seed: int = 0,
    num_envs: int = 8,
    max_displacement: float | None = None,
    max_rotation: float | None = None,
    actuation: str = "direct",
    region: str = "none",
    dtype: str = "bfloat16",
    output_format: str = "minari",
    dataset_id: str | None = None,
    overwrite: bool = False,
    preview: bool = False,
    progress: bool = True,
    device: str = "cpu",
    threads: int | None = None,
    compile: bool = False,
) -> ExportSummary:
    """Generate ``episodes`` episodes of ``steps`` actions in the environment and export them.

    ``checkpoint``: a model name or file (:func:`lcvg_env.model.open_model`). ``max_displacement``,
    ``max_rotation``, ``dtype``: the env's (:class:`~lcvg_env.env.config.EnvConfig`; None: its default).
    ``actuation``, ``region``: the env's (docs/env.md); ``actuation="data"`` with ``region="data"`` is the
    setting whose agents transfer best to the real pusher (docs/sim_to_real.md). Either one not at its
    default adds ``commanded_px`` to the exported infos (the commands; ``control_px`` are the moves made).

    ``threads``: torch CPU threads for the whole export (None: keep the current setting).
    ``compile``: run the env with ``compile=True`` (torch.compile; faster for large exports after a
    one-off compilation; frames may differ from eager ones by a level, so it is part of the
    fingerprint a resumed export must match).
    """
    from lcvg_env.env import LCVGVectorEnv
    from lcvg_env.env.config import EnvConfig
    from lcvg_env.export.minari_io import check_dataset_id, default_dataset_id
    from lcvg_env.model import open_model
    from lcvg_env.outputs import check_output_dir
    from lcvg_env.runtime import check_threads, torch_threads

    policy = policy or PolicyConfig()
    check_threads(threads)
    if episodes < 1 or steps < 1 or num_envs < 1:
        raise ValueError(
            f"--episodes, --steps and --n-envs must be >= 1 (episodes, steps, num_envs), got {episodes}, "
            f"{steps}, {num_envs}."
        )
    check_output_dir(out, "--out")  # a folder that cannot be written fails now, not after the model loads
    check_dataset_id(dataset_id, output_format)
    # The env checks the checkpoint and the options before OUT is opened: a bad option writes nothing.
    ckpt = open_model(checkpoint, device=device)
    ranges = {"max_displacement": max_displacement, "max_rotation": max_rotation}
    env = LCVGVectorEnv(
        min(num_envs, episodes), ckpt, task="none", dtype=dtype, device=device, compile=compile,
        actuation=actuation, region=region, **{k: v for k, v in ranges.items() if v is not None},
    )  # fmt: skip
    defaults = {f.name: f.default for f in fields(EnvConfig)}
    arm = {k: v for k, v in (("actuation", actuation), ("region", region)) if v != defaults[k]}
    checkpoint = ckpt.path
    dataset_id = dataset_id or default_dataset_id(Path(checkpoint).stem, "rollouts")
    fingerprint = {
        "kind": "rollouts",
        "checkpoint_sha256": file_digest(checkpoint),
        "steps": steps,
        "policy": policy.__dict__,
        "seed": seed,
        "max_displacement": max_displacement,
        "max_rotation": env.cfg.max_rotation,
        "dtype": dtype,
        "compile": compile,
        "format": output_format,
        "dataset_id": dataset_id if output_format == "minari" else None,
        **arm,  # only when not the default: exports made before these options existed still resume
    }
    store = EpisodeStore.open(out, fingerprint, output_format, overwrite=overwrite)
    store.set_info(
        actions="env actions in [-1, 1]; infos/control_px are the applied controls",
        mode=env.control_mode,
        max_displacement=env.cfg.max_displacement,
        **arm,
    )
    info_keys = (*INFO_KEYS, *ARM_INFO_KEYS) if arm else INFO_KEYS

    def produce(chunk: Sequence[int]) -> list[EpisodeRecord]:
        return rollout_batch(env, [seed + i for i in chunk], steps, policy, info_keys)

    with torch_threads(threads):
        written = run_episodes(
            store, range(episodes), produce, chunk_size=env.num_envs, preview=preview, progress=progress,
            description="rollouts",
        )  # fmt: skip
    return finish(
        store,
        written,
        dataset_id=dataset_id,
        observation_space=env.single_observation_space,
        action_space=env.single_action_space,
        description=f"{episodes} episodes x {steps} steps of {Path(checkpoint).name}, policy {policy.name}.",
    )
