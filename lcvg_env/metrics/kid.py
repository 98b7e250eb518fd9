"""KID (Binkowski et al., 2018): the unbiased squared MMD between Inception features, cubic kernel.

    k(x, y)  = (x . y / d + 1)^3                                   (d = feature dimension, 2048)
    MMD_u^2  = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
               - 2/(mn) sum_{i,j} k(x_i, y_j)                      (Gretton et al. 2012, Eq. 3)

Unlike FID the estimator is unbiased at any sample size (the kernel's diagonal is left out of the
within-set sums), so small sets are comparable with large ones; it can be slightly negative when the
two sets come from one distribution. As in the paper (and clean-fid, torch-fidelity), it is averaged
over random subsets (default 100 of size min(1000, n)); the mean and the standard deviation over
subsets are reported. Features are the FID Inception pool features
(:class:`~lcvg_env.metrics.fid.InceptionFeatures`, or ``MetricSuite.inception_features``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

GRAM_LIMIT = 25_000_000
"""Kernel entries (m * n) up to which the full kernel matrices are computed once and every subset reads
its block from them (fast); larger sets compute each subset's kernels on their own (bounded memory)."""


@dataclass
class KIDConfig:
    """Subsets KID is averaged over."""

    num_subsets: int = 100
    """Random subsets drawn from each set (the paper's and clean-fid's default)."""
    subset_size: int = 1000
    """Samples per subset; capped by the smaller set, so small sets use all their samples."""
    seed: int = 0
    """Seed of the subset draws (the score is deterministic given the features)."""

    def __post_init__(self) -> None:
        if self.num_subsets < 1:
            raise ValueError(f"num_subsets must be >= 1, got {self.num_subsets}.")
        if self.subset_size < 2:
            raise ValueError(f"subset_size must be >= 2 (the estimator needs pairs), got {self.subset_size}.")


@dataclass
class KIDResult:
    """KID of two feature sets: the mean and spread over subsets, and what it was computed on."""

    mean: float
    std: float
    """Standard deviation of the subset estimates (not a standard error)."""
    subset_size: int
    num_subsets: int
    counts: tuple[int, int]
    """Samples in the two sets."""

    def to_json(self) -> dict[str, float | int | list[int]]:
        return {
            "mean": self.mean,
            "std": self.std,
            "subset_size": self.subset_size,
            "num_subsets": self.num_subsets,
            "counts": list(self.counts),
        }


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The cubic kernel (x . y / d + 1)^3 between rows of x (m, d) and y (n, d): (m, n)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from the kernel matrices k(X, X) (m, m), k(Y, Y) (n, n) and k(X, Y) (m, n)."""
    m, n = kxy.shape
    if m < 2 or n < 2:
        raise ValueError(f"The unbiased MMD needs at least 2 samples per set, got {m} and {n}.")
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def _as_features(features: Any, name: str) -> np.ndarray:
    # torch tensors are read through their numpy view: this module does not import torch (CLI start-up)
    arr = np.asarray(features.detach().cpu().numpy() if hasattr(features, "detach") else features)
    if arr.ndim != 2 or len(arr) < 2:
        raise ValueError(f"{name} features must be (N, D) with N >= 2, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} features contain NaN or inf.")
    return arr.astype(np.float64)


def kid(real: Any, generated: Any, cfg: KIDConfig | None = None) -> KIDResult:
    """KID between feature sets (m, D) and (n, D) (numpy arrays or torch tensors): MMD_u^2 averaged over
    ``cfg.num_subsets`` random subsets."""
    cfg = cfg or KIDConfig()
    x, y = _as_features(real, "real"), _as_features(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Feature dimensions differ: {x.shape[1]} vs {y.shape[1]}.")
    size = min(cfg.subset_size, len(x), len(y))
    rng = np.random.default_rng(cfg.seed)
    full = len(x) * len(y) <= GRAM_LIMIT
    if full:
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    scores = np.empty(cfg.num_subsets)
    for s in range(cfg.num_subsets):
        ix = rng.choice(len(x), size, replace=False)
        iy = rng.choice(len(y), size, replace=False)
        if full:
            blocks = kxx[np.ix_(ix, ix)], kyy[np.ix_(iy, iy)], kxy[np.ix_(ix, iy)]
        else:
            xs, ys = x[ix], y[iy]
            blocks = polynomial_kernel(xs, xs), polynomial_kernel(ys, ys), polynomial_kernel(xs, ys)
        scores[s] = mmd2_unbiased(*blocks)
    return KIDResult(
        mean=float(scores.mean()),
        std=float(scores.std()),
        subset_size=size,
        num_subsets=cfg.num_subsets,
        counts=(len(x), len(y)),
    )
