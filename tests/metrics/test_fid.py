from __future__ import annotations

import numpy as np
import pytest
import torch

from lcvg_env.metrics.fid import FeatureStats, InceptionFeatures, fid, frechet_distance
from tests.metrics.conftest import require_weights


def _stats(mu, sigma) -> FeatureStats:
    return FeatureStats(mu=np.asarray(mu, float), sigma=np.asarray(sigma, float), count=10)


def test_diagonal_gaussians_have_the_closed_form():
    a, b = _stats([0, 1], np.diag([4.0, 1.0])), _stats([3, 1], np.diag([1.0, 9.0]))
    # ||mu_a - mu_b||^2 + sum (sqrt(s_a) - sqrt(s_b))^2
    assert frechet_distance(a, b) == pytest.approx(9 + (2 - 1) ** 2 + (1 - 3) ** 2)


def test_general_covariances_match_the_eigenvalues_of_the_product():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((30, 5)) @ rng.standard_normal((5, 5))
    a, b = FeatureStats.of(x), FeatureStats.of(y)
    # tr sqrt(S_a S_b) = sum sqrt(eig(S_a S_b)); S_a S_b is similar to a PSD matrix: real eigenvalues >= 0
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(a.sigma @ b.sigma).real, 0, None)).sum()
    expected = ((a.mu - b.mu) ** 2).sum() + np.trace(a.sigma) + np.trace(b.sigma) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)


def test_rank_deficient_sets_are_finite_and_zero_against_themselves():
    feats = np.random.default_rng(1).standard_normal((4, 64))  # 4 samples, 64 dims
    assert abs(fid(feats, feats)) < 1e-8
    assert np.isfinite(fid(feats, feats + 1.0)) and fid(feats, feats + 1.0) == pytest.approx(64, rel=1e-6)


def test_one_sample_is_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats.of(np.zeros((1, 8)))


def test_inception_features():
    require_weights("inception")
    net = InceptionFeatures(batch_size=2)
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 32, 32) * 2 - 1
    feats = net(frames)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()  # post-ReLU pool
    assert torch.allclose(
        net(frames[:1]), feats[:1], atol=1e-4
    )  # batching does not change a frame's features
    assert not torch.allclose(feats[0], feats[1])
