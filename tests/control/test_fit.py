"""Eq. 5 solvers on synthetic masks with known transforms (issue 7, item 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lcvg_env.control import (
    FitConfig,
    affine_normalized_to_pixels,
    affine_pixels_to_normalized,
    fit_controls,
    warp,
)
from lcvg_env.control.moments import mask_moments

SIZE = (64, 64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def render(forward: np.ndarray, centre: np.ndarray, ss: int = 4) -> np.ndarray:
    """Anti-aliased mask (H, W) of an asymmetric shape (a bar and an offset blob) moved by the pixel
    forward map ``forward`` (2, 3), rendered analytically (not with the warp being tested)."""
    h, w = SIZE
    gx, gy = np.meshgrid((np.arange(w * ss) + 0.5) / ss, (np.arange(h * ss) + 0.5) / ss)
    local = np.stack([gx - forward[0, 2], gy - forward[1, 2]], -1) @ np.linalg.inv(forward[:, :2]).T
    x, y = local[..., 0] - centre[0], local[..., 1] - centre[1]
    inside = ((np.abs(x) < 11) & (np.abs(y) < 5)) | (((x - 7) / 5.0) ** 2 + ((y + 7) / 6.0) ** 2 < 1)
    return inside.astype(np.float32).reshape(h, ss, w, ss).mean(axis=(1, 3))


def make_pairs(mode: str, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Pairs (m0, m1) where m1 is m0's shape moved by a known control about m0's centroid."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"m0": [], "m1": [], "shift": [], "phi": [], "scale": [], "forward": []}
    for _ in range(n):
        centre = np.array([32 + rng.uniform(-5, 5), 32 + rng.uniform(-5, 5)])
        m0 = render(np.eye(2, 3), centre)
        c0 = mask_moments(torch.from_numpy(m0)[None])[1][0].double().numpy()
        shift = rng.uniform(-4, 4, 2)
        phi = rng.uniform(-0.25, 0.25) if mode != "translation" else 0.0
        scale = rng.uniform(0.92, 1.08) if mode == "affine" else 1.0
        lin = scale * np.array([[math.cos(phi), math.sin(phi)], [-math.sin(phi), math.cos(phi)]])
        forward = np.concatenate([lin, (c0 - lin @ c0 + shift)[:, None]], axis=1)
        for key, value in zip(out, (m0, render(forward, centre), shift, phi, scale, forward), strict=True):
            out[key].append(value)
    return {k: np.stack(v) for k, v in out.items()}


def check_recovered(fit, pairs: dict[str, np.ndarray], mode: str) -> None:
    """Within 0.5 px, 0.02 rad and 2 % scale of the truth (the issue's tolerances)."""
    if mode == "affine":
        px = affine_normalized_to_pixels(fit.params.double(), SIZE).numpy()  # (N, 2, 3) pixel maps
        c0 = mask_moments(torch.from_numpy(pairs["m0"]))[1].double().numpy()
        moved = np.einsum("nij,nj->ni", px[:, :, :2], c0) + px[:, :, 2]
        truth = np.einsum("nij,nj->ni", pairs["forward"][:, :, :2], c0) + pairs["forward"][:, :, 2]
        assert np.abs(moved - truth).max() < 0.5
        scale = np.sqrt(np.linalg.det(px[:, :, :2]))
        assert np.abs(scale / pairs["scale"] - 1).max() < 0.02
        angle = np.arctan2(px[:, 0, 1] - px[:, 1, 0], px[:, 0, 0] + px[:, 1, 1])
        assert np.abs(angle - pairs["phi"]).max() < 0.02
        return
    params = fit.params.numpy()
    assert np.abs(params[:, :2] - pairs["shift"]).max() < 0.5
    if mode == "rotation":
        assert np.abs(params[:, 2] - pairs["phi"]).max() < 0.02


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_fast_solver_recovers_known_transforms(mode: str) -> None:
    pairs = make_pairs(mode, 8, seed=1)
    fit = fit_controls(pairs["m0"], pairs["m1"], mode)
    assert fit.valid.all() and torch.isfinite(fit.loss).all()
    check_recovered(fit, pairs, mode)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_reference_solver_recovers_known_transforms_and_fast_is_no_worse(mode: str) -> None:
    pairs = make_pairs(mode, 3, seed=2)
    ref = fit_controls(pairs["m0"], pairs["m1"], mode, solver="reference")
    check_recovered(ref, pairs, mode)
    fast = fit_controls(pairs["m0"], pairs["m1"], mode)
    assert fast.loss.mean() <= 1.02 * ref.loss.mean()


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_batched_fast_solve_equals_per_pair_solves(mode: str) -> None:
    pairs = make_pairs(mode, 4, seed=3)
    batched = fit_controls(pairs["m0"], pairs["m1"], mode)
    for i in range(4):
        single = fit_controls(pairs["m0"][i : i + 1], pairs["m1"][i : i + 1], mode)
        # float32 sums over a batch round differently from one pair's: up to 3e-5 (1e-3 px) on some CPUs
        torch.testing.assert_close(single.params_norm[0], batched.params_norm[i], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(single.loss[0], batched.loss[i], atol=1e-7, rtol=1e-4)


def test_batched_reference_solve_equals_per_pair_solves() -> None:
    pairs = make_pairs("rotation", 3, seed=4)
    cfg = FitConfig(reference_iterations=40)
    batched = fit_controls(pairs["m0"], pairs["m1"], "rotation", solver="reference", config=cfg)
    for i in range(3):
        single = fit_controls(
            pairs["m0"][i : i + 1], pairs["m1"][i : i + 1], "rotation", solver="reference", config=cfg
        )
        # float32 sums over a batch round differently from one pair's: up to 3e-5 (1e-3 px) on some CPUs
        torch.testing.assert_close(single.params_norm[0], batched.params_norm[i], atol=1e-4, rtol=1e-4)


def test_reported_loss_is_eq5_with_the_fitted_params() -> None:
    pairs = make_pairs("rotation", 3, seed=5)
    fit = fit_controls(pairs["m0"], pairs["m1"], "rotation")
    m0, m1 = torch.from_numpy(pairs["m0"]), torch.from_numpy(pairs["m1"])
    warped = warp(m0[:, None], fit.params_norm, "rotation", pivot=fit.pivot)[:, 0]
    torch.testing.assert_close(((warped - m1) ** 2).mean(dim=(1, 2)), fit.loss)
    assert (fit.loss < ((m0 - m1) ** 2).mean(dim=(1, 2))).all()  # better than standing still


def test_translation_params_are_pixels_and_rotation_pivots_at_the_centroid() -> None:
    pairs = make_pairs("rotation", 2, seed=6)
    fit = fit_controls(pairs["m0"], pairs["m1"], "rotation")
    centroid = mask_moments(torch.from_numpy(pairs["m0"]))[1]
    torch.testing.assert_close(fit.pivot, centroid / 32.0 - 1.0)  # normalized, 64 px frame
    torch.testing.assert_close(fit.params_px, fit.params)
    torch.testing.assert_close(fit.params_norm[:, :2] * 32.0, fit.params[:, :2])


def test_empty_masks_give_the_identity_and_no_nan() -> None:
    pairs = make_pairs("affine", 3, seed=7)
    m0, m1 = pairs["m0"].copy(), pairs["m1"].copy()
    m0[1] = 0.0
    m1[2] = 0.0
    for mode in ("translation", "rotation", "affine"):
        fit = fit_controls(m0, m1, mode)
        assert fit.valid.tolist() == [True, False, False]
        assert torch.isfinite(fit.params_norm).all() and torch.isfinite(fit.loss).all()
        eye = (
            torch.tensor([1.0, 0, 0, 0, 1.0, 0])
            if mode == "affine"
            else torch.zeros(fit.params_norm.shape[1])
        )
        torch.testing.assert_close(fit.params_norm[1], eye)
        torch.testing.assert_close(fit.loss[2], torch.tensor(float((m0[2] ** 2).mean())))


def test_affine_pixel_maps_round_trip_and_move_points_like_the_warp() -> None:
    matrix_px = torch.tensor([[[1.05, 0.1, 3.0], [-0.08, 0.97, -2.0]]])
    size = (48, 64)
    back = affine_normalized_to_pixels(affine_pixels_to_normalized(matrix_px, size), size)
    torch.testing.assert_close(back, matrix_px)
    mask = torch.zeros(1, 1, *size)
    mask[0, 0, 20, 30] = 1.0  # pixel centre (30.5, 20.5)
    moved = warp(mask, affine_pixels_to_normalized(matrix_px, size).reshape(1, 6), "affine")
    target = matrix_px[0, :, :2] @ torch.tensor([30.5, 20.5]) + matrix_px[0, :, 2]
    centroid = mask_moments(moved[:, 0])[1][0]
    torch.testing.assert_close(centroid, target, atol=0.05, rtol=0)


def test_bad_inputs_raise_helpful_errors() -> None:
    m = np.zeros((2, 16, 16), dtype=np.float32)
    with pytest.raises(ValueError, match="same shape"):
        fit_controls(m, m[:1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_controls(m + 2, m)
    with pytest.raises(ValueError, match="solver"):
        fit_controls(m, m, solver="magic")
    with pytest.raises(ValueError, match="end with 0"):
        FitConfig(fast_sigmas=(2.0, 1.0), fast_iterations=(3, 3))


@pytest.mark.parametrize("mode", ["translation", "rotation", "affine"])
def test_fit_gives_the_same_controls_inside_a_bf16_autocast(mode):
    """A caller under CPU bf16 autocast (the trainer's stage 2) gets the fp32 fit: the affine solves have
    no bf16 kernels, and bf16 matmuls would change the answer."""
    pairs = make_pairs(mode, 3, seed=7)
    plain = fit_controls(pairs["m0"], pairs["m1"], mode)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = fit_controls(pairs["m0"], pairs["m1"], mode)
    torch.testing.assert_close(inside.params_norm, plain.params_norm)
