"""Eq. 5 solvers on masks of real frames (the bundled model's M on the pusher data), against the
brute-force optimum (issue 15, item 5). The fixture and how it is made: tests/control/make_real_pairs.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.control import fit_controls, fit_loss
from lcvg_env.control.brute import BruteConfig, brute_rotation, brute_solve, brute_translation
from lcvg_env.control.fit import FitConfig, internal_loss
from lcvg_env.control.moments import mask_moments
from lcvg_env.control.shift_search import loss_volume
from lcvg_env.control.subpixel import SearchGrid, best_controls
from lcvg_env.control.warp import pixels_to_normalized, pixels_to_normalized_points
from tests.control.make_real_pairs import FIXTURE, load_fixture, pack

MODES = ("translation", "rotation", "affine")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real() -> dict:
    out = load_fixture()
    out["m0"], out["m1"] = torch.from_numpy(out["m0"]), torch.from_numpy(out["m1"])
    return out


def test_fixture_holds_real_deforming_masks(real) -> None:
    m0, m1 = real["m0"], real["m1"]
    assert m0.shape == m1.shape and m0.shape[0] >= 24 and m0.shape[1:] == (64, 64)
    mass = m0.sum(dim=(1, 2))
    assert (mass > 200).all()  # the arm, not specks
    # no rigid motion maps one mask onto the next: even the brute-force affine optimum leaves a loss
    assert (torch.from_numpy(real["loss/affine"]) > 1e-3).all()
    assert real["meta"]["split"] == "val" and len(real["meta"]["checkpoint_sha256"]) == 64


@pytest.mark.parametrize("mode", MODES)
def test_fast_solver_is_within_5_percent_of_the_brute_force_optimum(real, mode: str) -> None:
    fit = fit_controls(real["m0"], real["m1"], mode)
    ratio = fit.loss.numpy() / real[f"loss/{mode}"]
    assert (ratio <= 1.05).mean() >= 0.95, np.sort(ratio)[-5:]
    assert ratio.max() <= 1.10, ratio.max()


def test_the_modes_nest_and_beat_standing_still(real) -> None:
    """Each richer mode's brute-force optimum is no worse than the simpler one's (it contains it)."""
    ident = ((real["m0"] - real["m1"]) ** 2).mean(dim=(1, 2)).numpy()
    t, r, a = (real[f"loss/{mode}"] for mode in MODES)
    assert (t < ident).all() and (r <= t * (1 + 1e-4)).all() and (a <= r * (1 + 1e-4)).all()


def test_stored_optima_are_the_losses_of_their_parameters(real) -> None:
    for mode in MODES:
        theta = torch.from_numpy(real[f"theta/{mode}"])
        loss = internal_loss(real["m0"], real["m1"], theta, mode)
        torch.testing.assert_close(loss, torch.from_numpy(real[f"loss/{mode}"]), rtol=1e-5, atol=1e-7)


def test_brute_force_finds_the_stored_optima_again(real) -> None:
    """Translation on three pairs; rotation on one, searched over +-30 degrees only (faster)."""
    cfg = BruteConfig()
    for i in range(3):
        shift = brute_translation(real["m0"][i], real["m1"][i], cfg)
        loss = internal_loss(real["m0"][i : i + 1], real["m1"][i : i + 1], shift[None].float(), "translation")
        assert float(loss) == pytest.approx(float(real["loss/translation"][i]), rel=1e-5)
    c0 = mask_moments(real["m0"][:1])[1][0]
    narrow = BruteConfig(max_angle_deg=30.0)
    theta = brute_rotation(
        real["m0"][0], real["m1"][0], c0, torch.from_numpy(real["theta/translation"][0]), narrow
    )
    loss = internal_loss(real["m0"][:1], real["m1"][:1], theta[None].float(), "rotation")
    assert float(loss) <= float(real["loss/rotation"][0]) * (1 + 1e-4)


def test_brute_force_solver_through_fit_controls(real) -> None:
    cfg = FitConfig(brute=BruteConfig(restarts=4, iterations=10, max_angle_deg=15.0))
    fit = fit_controls(real["m0"][:1], real["m1"][:1], "affine", solver="brute", config=cfg)
    assert fit.extra["solver"] == "brute" and fit.valid.all()
    assert float(fit.loss[0]) <= float(real["loss/rotation"][0]) * (1 + 1e-4)  # the rotation is a start
    theta, simpler = brute_solve(real["m0"][:1], real["m1"][:1], "rotation", BruteConfig(max_angle_deg=15.0))
    assert set(simpler) == {"translation"} and theta.shape == (1, 3)


def test_shift_search_losses_are_eq5_exactly(real) -> None:
    """Every loss of the cross-correlation grids is the warp's loss at that control."""
    m0, m1 = real["m0"][:2].double(), real["m1"][:2].double()
    c0 = mask_moments(m0)[1]
    angles = torch.tensor([-0.2, 0.0, 0.1], dtype=torch.float64)
    volume, first = loss_volume(m0, m1, angles, c0, 0.25, reach=6)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        n, a = int(torch.randint(2, (1,), generator=gen)), int(torch.randint(3, (1,), generator=gen))
        iy, ix = (int(torch.randint(volume.shape[d], (1,), generator=gen)) for d in (2, 3))
        control = torch.tensor([[first[1] + ix * 0.25, first[0] + iy * 0.25, angles[a]]], dtype=torch.float32)
        pivot = pixels_to_normalized_points(c0[n : n + 1].float(), (64, 64))
        params = pixels_to_normalized(control, "rotation", (64, 64))
        expected = fit_loss(m0[n : n + 1].float(), m1[n : n + 1].float(), params, "rotation", pivot)
        assert float(volume[n, a, iy, ix]) == pytest.approx(float(expected), abs=1e-6)


def test_subpixel_cells_are_exact_for_translation(real) -> None:
    """The fast solver's global stage predicts the warp's loss at the sub-pixel shifts it picks."""
    m0, m1 = real["m0"], real["m1"]
    loss, shift, _ = best_controls(m0, m1, None, mask_moments(m0)[1], count=2, fine=0.05)
    for k in range(2):
        params = pixels_to_normalized(shift[:, k], "translation", (64, 64))
        torch.testing.assert_close(loss[:, k], fit_loss(m0, m1, params, "translation"), atol=1e-6, rtol=1e-5)
    best = shift[:, 0]
    assert (best.abs() < 8).all() and not torch.equal(best, best.round())  # real, sub-pixel moves


@pytest.mark.parametrize("mode", MODES)
def test_reference_solver_is_never_worse_than_standing_still(real, mode: str) -> None:
    """The paper's recipe (Adam, lr 0.1) returns its best iterate, the identity included; its reported
    loss is Eq. 5 at its parameters."""
    m0, m1 = real["m0"][:8], real["m1"][:8]
    cfg = FitConfig(reference_iterations=1000 if mode == "translation" else 300)
    fit = fit_controls(m0, m1, mode, solver="reference", config=cfg)
    ident = ((m0 - m1) ** 2).mean(dim=(1, 2))
    assert (fit.loss <= ident + 1e-7).all()
    assert (fit.loss < ident).sum() >= 6  # it does move, where moving helps
    torch.testing.assert_close(fit.loss, fit_loss(m0, m1, fit.params_norm, mode, fit.pivot))
    # never off to a far corner of the frame (the last iterate was, issue 15)
    assert fit.params_px[:, :2].abs().max() < 8


def test_reference_solver_keeps_the_identity_when_every_step_is_worse() -> None:
    """One pixel on a frame with nothing next: every move keeps the loss, the identity stays."""
    m0 = torch.zeros(2, 16, 16)
    m0[:, 8, 8] = 1.0
    m1 = m0.clone()  # already aligned: any Adam step can only make it worse
    fit = fit_controls(m0, m1, "translation", solver="reference", config=FitConfig(reference_iterations=50))
    assert torch.equal(fit.params_norm, torch.zeros_like(fit.params_norm))
    assert fit.loss.max() < 1e-12  # the warp at the identity, up to rounding


@pytest.mark.skipif(not Path("/work/data/pusher/val").is_dir(), reason="needs the generated pusher data")
def test_fixture_masks_are_what_the_script_makes(real) -> None:
    from lcvg_env.control.brute import real_mask_pairs

    meta = real["meta"]
    # The fixture's masks are the small model's M (it was the bundled `pusher` then; now `pusher_tiny`).
    pairs = real_mask_pairs(
        meta["data"], meta["split"], meta["pairs"], meta["seed"], checkpoint="pusher_tiny"
    )
    with np.load(FIXTURE) as data:
        assert np.array_equal(pack(pairs["masks_t"]), data["masks_t"])
        assert np.array_equal(pack(pairs["masks_next"]), data["masks_next"])
    assert math.isclose(float(pairs["t"].mean()), float(real["t"].mean()))


def test_a_translation_reach_finds_the_same_optima_and_searches_no_further(real) -> None:
    """The lag correction's fit (``lag_fit_config``: shifts within a reach, no Levenberg-Marquardt polish)
    gives the full fit's translations to its 0.05 px grid when they lie within the reach, and a
    reach shorter than a pair's move keeps the result within it."""
    from lcvg_env.models.generator import lag_fit_config

    m0, m1 = real["m0"], real["m1"]
    full = fit_controls(m0, m1, "translation")
    near = fit_controls(m0, m1, "translation", config=lag_fit_config((64, 64)))
    assert (full.params.abs() < 16).all()  # every real move lies within the lag fit's reach
    assert (near.params - full.params).abs().max() <= 0.05
    assert (near.loss <= full.loss * 1.01 + 1e-7).all()
    # a pair moved 10 px further than its real move: a reach of 3 px stops at the edge of its search
    moved = torch.roll(m1[:4], shifts=10, dims=2)
    short = FitConfig(fast_sigmas=(0.0,), fast_iterations=(0,), search=SearchGrid(translation_reach=3))
    far = fit_controls(m0[:4], moved, "translation")
    kept = fit_controls(m0[:4], moved, "translation", config=short)
    assert (far.params[:, 0] > 6).all() and (kept.params.abs() <= 4.0).all()


def test_a_translation_reach_below_one_pixel_is_refused() -> None:
    with pytest.raises(ValueError, match="translation_reach"):
        SearchGrid(translation_reach=0)
