from __future__ import annotations

import numpy as np
import pytest
import torch

from lcvg_env.metrics import kid as kid_module
from lcvg_env.metrics.kid import KIDConfig, kid, mmd2_unbiased, polynomial_kernel


def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic kernel, written out term by term (Binkowski et al. 2018)."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_a_naive_reference_on_small_inputs():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((9, 5)) + 0.3
    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert got == pytest.approx(naive_mmd2(x, y), rel=1e-10)
    # one subset holding every sample of equal-size sets is exactly the estimator on the full sets
    res = kid(x[:7], y[:7], KIDConfig(num_subsets=1, subset_size=50))
    assert res.mean == pytest.approx(naive_mmd2(x[:7], y[:7]), rel=1e-10)
    assert res.subset_size == 7 and res.std == 0.0 and res.counts == (7, 7)


def test_subsets_average_the_naive_estimator():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 4)), rng.standard_normal((10, 4))
    cfg = KIDConfig(num_subsets=5, subset_size=6, seed=3)
    draws = np.random.default_rng(3)
    expected = []
    for _ in range(5):
        ix, iy = draws.choice(12, 6, replace=False), draws.choice(10, 6, replace=False)
        expected.append(naive_mmd2(x[ix], y[iy]))
    res = kid(x, y, cfg)
    assert res.mean == pytest.approx(np.mean(expected), rel=1e-10)
    assert res.std == pytest.approx(np.std(expected), rel=1e-8)


def test_same_distribution_is_near_zero_and_a_shift_is_clearly_positive():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((400, 32)), rng.standard_normal((400, 32))
    cfg = KIDConfig(num_subsets=20, subset_size=200)
    same = kid(a, b, cfg)
    assert abs(same.mean) < 3 * same.std + 1e-3
    shifted = kid(a, b + 0.5, cfg)
    assert shifted.mean > 10 * shifted.std and shifted.mean > 50 * abs(same.mean)


def test_unbiased_at_small_sizes():
    # over many draws of 5 + 5 samples from one distribution the estimator averages ~0, while the
    # biased V-statistic (diagonal included) is clearly positive
    rng = np.random.default_rng(4)
    unbiased, biased = [], []
    for _ in range(2000):
        x, y = rng.standard_normal((2, 5, 8))
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        unbiased.append(mmd2_unbiased(kxx, kyy, kxy))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    stderr = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * stderr
    assert np.mean(biased) > 10 * np.std(biased) / np.sqrt(len(biased))


def test_blockwise_and_full_kernel_paths_agree(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = rng.random((30, 16)), rng.random((25, 16)) * 1.2
    cfg = KIDConfig(num_subsets=4, subset_size=10)
    full = kid(x, y, cfg)
    monkeypatch.setattr(kid_module, "GRAM_LIMIT", 0)
    blockwise = kid(torch.as_tensor(x), torch.as_tensor(y), cfg)
    assert blockwise.mean == pytest.approx(full.mean, rel=1e-10)
    assert blockwise.std == pytest.approx(full.std, rel=1e-8)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="N >= 2"):
        kid(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="dimensions differ"):
        kid(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        kid(np.full((3, 4), np.nan), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="subset_size"):
        KIDConfig(subset_size=1)
    with pytest.raises(ValueError, match="num_subsets"):
        KIDConfig(num_subsets=0)
