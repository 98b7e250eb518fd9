from __future__ import annotations

import numpy as np
import pytest
import torch

from lcvg_env.metrics.fvd import I3D, MIN_FRAMES, I3DFeatures, _max_pool_same, _same_pad
from tests.metrics.conftest import require_weights
from tests.metrics.data.make_jax_reference import expand_clips


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [(224, 7, 2, (2, 3)), (16, 7, 2, (2, 3)), (112, 3, 2, (0, 1)), (8, 2, 2, (0, 0)), (5, 3, 1, (1, 1))],
)
def test_same_padding_follows_tensorflow(size, kernel, stride, pads):
    x = torch.zeros(1, 1, 1, 1, size)
    out = _same_pad(x, (1, 1, kernel), (1, 1, stride), 1.0)
    assert out.shape[-1] == size + sum(pads)
    assert out[..., : pads[0]].eq(1).all() and out[..., size + pads[0] :].eq(1).all()


def test_max_pool_ignores_padding():
    x = -torch.ones(1, 1, 1, 1, 4)
    out = _max_pool_same(x, (1, 1, 3), (1, 1, 2))
    assert out.shape[-1] == 2 and out.eq(-1).all()  # zero padding would have produced 0


def test_short_clips_are_rejected():
    with pytest.raises(ValueError, match=f"T >= {MIN_FRAMES}"):
        I3D()(torch.zeros(1, 3, MIN_FRAMES - 1, 224, 224))


@pytest.mark.slow
def test_matches_the_original_jax_model(jax_reference):
    require_weights("i3d")
    clips = torch.from_numpy(expand_clips(jax_reference["clip_seed"]))  # (2, 16, 224, 224, 3)
    logits = I3DFeatures(batch_size=2)(clips.permute(0, 1, 4, 2, 3))  # (N, T, 3, H, W)
    np.testing.assert_allclose(logits.numpy(), jax_reference["i3d_logits"], atol=2e-3, rtol=1e-4)
