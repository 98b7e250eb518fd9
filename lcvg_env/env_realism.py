"""Env realism: do the frames a user gets from the environment look like the real video?

The environment is run as a user runs it: the natively batched :class:`~lcvg_env.env.vector.LCVGVectorEnv`
reset from the checkpoint's own bank of start frames, driven by uniform random actions
(``action_space.sample()``) for ``steps`` steps. The frames after each step are scored (the start
frames, which are real, are not). They are the env's clean frames: the env is built with
``task="none"``, whose observation is the generated frame itself; the reach task would only add the
goal marker (drawn on the observation, never fed to the model) and end episodes early on success,
while the dynamics are the same.

They are compared with as many real frames drawn at random from a dataset's test split, by KID
(:mod:`lcvg_env.metrics.kid`, unbiased) and FID (:mod:`lcvg_env.metrics.fid`) on the Inception pool
features. Both depend on the sample size (FID strongly), so the same distances between two disjoint
real sets of the same size (the reference row) say what "as real as real video" reads at that size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lcvg_env.metrics.kid import KIDConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    Features = Callable[[np.ndarray], torch.Tensor]


@dataclass
class EnvRealismConfig:
    """Settings of one env-realism measurement."""

    rollouts: int = 40
    """Env rollouts (sub-envs of one vector env)."""
    steps: int = 30
    """Random-policy steps per rollout; rollouts x steps frames are scored (1,200 by default)."""
    split: str = "test"
    """Split of the real datasets."""
    seed: int = 0
    """Seeds the env resets, the random actions and the draw of real frames."""
    kid: KIDConfig = field(default_factory=KIDConfig)
    device: str = "cpu"
    dtype: str = "bfloat16"
    """The env's generator dtype (as a user runs it)."""
    batch_size: int = 16
    """Frames per Inception forward pass."""
    region: str = "none"
    """The env's ``EnvConfig.region``: ``none`` or ``data`` (docs/env.md)."""
    actuation: str = "direct"
    """The env's ``EnvConfig.actuation``: ``direct`` or ``data`` (docs/env.md)."""

    def __post_init__(self) -> None:
        if self.rollouts < 1 or self.steps < 1:
            raise ValueError(f"rollouts and steps must be >= 1, got {self.rollouts}, {self.steps}.")
        if self.rollouts * self.steps < 2:
            raise ValueError("FID and KID need at least 2 frames: raise --rollouts or --steps.")

    @property
    def frames(self) -> int:
        return self.rollouts * self.steps


def env_frames(
    checkpoint: str | Path, cfg: EnvRealismConfig, env_kwargs: dict[str, Any] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The env's frames after each random step, uint8 (rollouts * steps, H, W, 3), and the frame size;
    ``env_kwargs``: further :class:`~lcvg_env.env.config.EnvConfig` fields (e.g. an env id's ``players``)."""
    from lcvg_env.env.vector import LCVGVectorEnv

    env = LCVGVectorEnv(
        cfg.rollouts,
        checkpoint,
        task="none",
        device=cfg.device,
        dtype=cfg.dtype,
        region=cfg.region,
        actuation=cfg.actuation,
        **(env_kwargs or {}),
    )
    try:
        env.action_space.seed(cfg.seed)
        env.reset(seed=cfg.seed)  # sub-env i: seed + i picks its start frame from the checkpoint's bank
        frames = []
        for _ in range(cfg.steps):
            obs, *_ = env.step(env.action_space.sample())
            frames.append(obs)  # (rollouts, H, W, 3): task="none" draws nothing on the frame
        return np.concatenate(frames), env.size
    finally:
        env.close()


def real_frames(
    data_dir: str | Path, split: str, count: int, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """``count`` frames (count, H, W, 3) drawn without replacement from all frames of ``split``'s sound
    episodes (every frame is decoded first; a broken episode is left out with a warning)."""
    from lcvg_env.data.validate import validate_split

    episodes = validate_split(data_dir, split).episodes
    lengths = np.array([ep.num_frames for ep in episodes])
    if lengths.sum() < count:
        raise ValueError(
            f"The {split!r} split of {data_dir} has {lengths.sum()} frames, fewer than the {count} to "
            "compare: pass fewer --rollouts or --steps."
        )
    picks = np.sort(rng.choice(lengths.sum(), count, replace=False))  # global frame indices
    owner = np.searchsorted(np.cumsum(lengths), picks, side="right")  # episode of each pick
    offsets = picks - np.r_[0, np.cumsum(lengths)[:-1]][owner]
    out = [episodes[e].frames(size=size)[offsets[owner == e]] for e in np.unique(owner)]
    return np.concatenate(out)


@dataclass
class RealismRow:
    """KID and FID between two frame sets."""

    name: str
    set_a: str
    set_b: str
    frames_a: int
    frames_b: int
    kid_mean: float
    kid_std: float
    kid_subset_size: int
    kid_subsets: int
    fid: float


@dataclass
class RealismResult:
    rows: list[RealismRow]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [asdict(r) for r in self.rows]}


def inception_features(cfg: EnvRealismConfig) -> Features:
    """A function: uint8 frames (N, H, W, 3) -> (N, 2048) FID Inception features (loaded once)."""
    from lcvg_env.metrics.suite import NETWORK_METRICS, MetricSuite
    from lcvg_env.model import to_model_range

    skip = [m for m in NETWORK_METRICS if m != "fid"]
    suite = MetricSuite.build(skip=skip, device=cfg.device, batch_size=cfg.batch_size)
    if "fid" not in suite.networks:
        raise ValueError(f"The Inception weights are unavailable: {suite.reasons.get('fid')}.")

    def features(frames: np.ndarray) -> torch.Tensor:
        return suite.inception_features(to_model_range(frames))

    return features


def compare(
    name: str, a: tuple[str, torch.Tensor], b: tuple[str, torch.Tensor], cfg: KIDConfig
) -> RealismRow:
    """KID and FID between the features of two named sets."""
    from lcvg_env.metrics.fid import fid
    from lcvg_env.metrics.kid import kid

    k = kid(a[1], b[1], cfg)
    return RealismRow(
        name=name,
        set_a=a[0],
        set_b=b[0],
        frames_a=len(a[1]),
        frames_b=len(b[1]),
        kid_mean=k.mean,
        kid_std=k.std,
        kid_subset_size=k.subset_size,
        kid_subsets=k.num_subsets,
        fid=fid(a[1], b[1]),
    )


def measure(
    checkpoint: str | Path, real_dir: str | Path, reference_dir: str | Path | None, cfg: EnvRealismConfig
) -> RealismResult:
    """The env's frames against real frames of ``real_dir``, and ``reference_dir`` against them too."""
    from lcvg_env.checkpoint import read_metadata
    from lcvg_env.env.resolve import resolve_checkpoint

    header = read_metadata(resolve_checkpoint(checkpoint))
    size = (header["height"], header["width"])
    rng = np.random.default_rng(cfg.seed)
    # the real sets are read (and checked) before the env's rollouts: bad data fails in seconds
    real = [(f"{real_dir} {cfg.split}", real_frames(real_dir, cfg.split, cfg.frames, size, rng))]
    if reference_dir is not None:
        real.append(
            (f"{reference_dir} {cfg.split}", real_frames(reference_dir, cfg.split, cfg.frames, size, rng))
        )
    generated, _ = env_frames(checkpoint, cfg)
    sets = [real[0], (f"env ({cfg.rollouts} random rollouts x {cfg.steps} steps)", generated), *real[1:]]
    features = inception_features(cfg)
    named = [(name, features(frames)) for name, frames in sets]  # (real, env[, reference])
    rows = [compare("env vs real", named[0], named[1], cfg.kid)]
    if reference_dir is not None:
        rows.append(compare("real vs real", named[0], named[2], cfg.kid))
    meta = {"checkpoint": str(checkpoint), "frame_size": list(size), "config": asdict(cfg)}
    return RealismResult(rows=rows, meta=meta)


COLUMNS = (
    ("comparison", "left"),
    ("set A", "left"),
    ("frames A", "right"),
    ("set B", "left"),
    ("frames B", "right"),
    ("KID (mean ± std)", "right"),
    ("KID subsets", "right"),
    ("FID", "right"),
)
"""The table's columns and their alignment."""


def render_table(result: RealismResult) -> Any:
    """A rich Table: one line per comparison with both sample sizes."""
    from rich.markup import escape
    from rich.table import Table

    cfg = result.meta["config"]
    table = Table(title=escape(f"lcvg env-realism: {result.meta['checkpoint']} (seed {cfg['seed']})"))
    for col, justify in COLUMNS:
        table.add_column(col, justify=justify)
    for r in result.rows:
        table.add_row(
            r.name,
            escape(r.set_a),
            str(r.frames_a),
            escape(r.set_b),
            str(r.frames_b),
            f"{r.kid_mean:.4f} ± {r.kid_std:.4f}",
            f"{r.kid_subsets} x {r.kid_subset_size}",
            f"{r.fid:.2f}",
        )
    return table
