"""Several foregrounds: connected components, identities across steps, merges and vanishings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lcvg_env.control.components import (
    ForegroundTracker,
    label_components,
    largest_components,
    match,
    move_points,
)
from lcvg_env.control.warp import mask_centroid, warp

SIZE = (48, 64)


def blobs(*squares: tuple[float, float, int], size: tuple[int, int] = SIZE) -> torch.Tensor:
    """One mask (1, H, W) bool with a square of side ``s`` centred at (x, y) per (x, y, s)."""
    mask = torch.zeros(1, *size, dtype=torch.bool)
    for x, y, s in squares:
        x0, y0 = round(x - s / 2), round(y - s / 2)
        mask[0, max(y0, 0) : y0 + s, max(x0, 0) : x0 + s] = True
    return mask


def same_partition(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> bool:
    """Two labellings of ``mask`` split it into the same components."""
    pairs = set(zip(a[mask].tolist(), b[mask].tolist(), strict=True))
    return len(pairs) == len(np.unique(a[mask])) == len(np.unique(b[mask]))


def test_components_are_8_connected_and_unique() -> None:
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 1, 1] = mask[0, 2, 2] = True  # a diagonal: one component
    mask[0, 5:7, 5:7] = True  # a square
    mask[0, 0, 7] = True  # a lone pixel
    labels = label_components(mask)[0]
    assert labels[0, 0] == labels[1, 1] == labels[2, 2]
    assert len({labels[0, 0].item(), labels[5, 5].item(), labels[0, 7].item()}) == 3
    assert (labels[~mask[0]] == 0).all() and (labels[mask[0]] > 0).all()


def test_components_match_scipy_on_random_and_winding_masks() -> None:
    from scipy import ndimage  # a test dependency (the dev extra), not the library's

    rng = np.random.default_rng(0)
    masks = rng.random((6, 24, 40)) < np.array([0.2, 0.4, 0.5, 0.55, 0.6, 0.7])[:, None, None]
    snake = np.zeros((24, 40), dtype=bool)
    snake[::4] = True
    for r in range(0, 20, 4):
        snake[r : r + 4, 39 if r % 8 == 0 else 0] = True  # a corridor that winds through every row
    masks = np.concatenate([masks, snake[None]])
    labels = label_components(torch.from_numpy(masks)).numpy()
    for mask, label in zip(masks, labels, strict=True):
        reference, _ = ndimage.label(mask, structure=np.ones((3, 3)))
        assert same_partition(reference, label, mask)
    assert len(np.unique(labels[-1][snake])) == 1


def test_largest_components_keep_k_and_drop_specks() -> None:
    mask = blobs((10, 10, 6), (40, 10, 5), (20, 35, 4), (55, 40, 1))  # areas 36, 25, 16 and a 1 px speck
    comp, centroids = largest_components(mask, 2, min_area=4)
    assert comp.shape == (1, 2, *SIZE)
    assert comp[0].sum(axis=(1, 2)).tolist() == [36, 25]
    np.testing.assert_allclose(centroids[0], [[10, 10], [40.5, 10.5]])
    comp, centroids = largest_components(mask, 4, min_area=4)
    assert comp[0].sum(axis=(1, 2)).tolist() == [36, 25, 16, 0]  # the speck is dropped
    assert np.isnan(centroids[0, 3]).all()


def test_match_finds_the_least_cost_and_breaks_ties_in_order() -> None:
    cost = np.array([[1.0, 0.0, 5.0], [0.0, 9.0, 9.0]])
    assert match(cost) == [(0, 1), (1, 0)]
    assert match(cost.T) == [(0, 1), (1, 0)]
    assert match(np.zeros((2, 3))) == [(0, 0), (1, 1)]


@pytest.mark.parametrize(
    ("mode", "control"),
    [
        ("translation", [0.25, -0.125]),
        ("rotation", [0.2, 0.1, 0.6]),
        ("affine", [1.1, 0.1, 0.2, 0.0, 0.9, -0.1]),
    ],
)
def test_move_points_sends_a_centroid_where_the_warp_sends_its_mask(mode: str, control: list[float]) -> None:
    mask = blobs((20, 18, 8)).float()[:, None]  # (1, 1, H, W)
    centroid = mask_centroid(mask)
    pivot = (centroid * torch.tensor([2 / SIZE[1], 2 / SIZE[0]]) - 1.0) if mode == "rotation" else None
    moved = warp(mask, torch.tensor([control]), mode, pivot=pivot)
    expected = mask_centroid(moved).numpy()
    got = move_points(centroid.numpy(), np.array([control]), mode, SIZE)
    np.testing.assert_allclose(got, expected, atol=0.3)


def tracker_with(*squares: tuple[float, float, int], players: int = 2, order: str = "x") -> ForegroundTracker:
    tracker = ForegroundTracker(1, players, SIZE, order=order)
    tracker.reset(np.array([0]), blobs(*squares))
    return tracker


def step(
    tracker: ForegroundTracker, shifts_px: list[tuple[float, float]], *squares: tuple[float, float, int]
) -> None:
    """One env step: the foregrounds are sent by translations (px), then the new mask is observed."""
    h, w = SIZE
    control = np.array(shifts_px, dtype=np.float64) * [2.0 / w, 2.0 / h]  # px -> normalized
    tracker.advance(control[None], "translation")
    tracker.update(blobs(*squares))


def test_reset_numbers_foregrounds_left_to_right_or_top_to_bottom() -> None:
    squares = ((50, 10, 6), (10, 30, 8))  # the larger one is left and low
    by_x = tracker_with(*squares, order="x")
    np.testing.assert_allclose(by_x.centroids[0], [[10, 30], [50, 10]])
    by_y = tracker_with(*squares, order="y")
    np.testing.assert_allclose(by_y.centroids[0], [[50, 10], [10, 30]])
    assert by_y.present.all() and (by_y.masks[0].sum(axis=(1, 2)) == [36, 64]).all()


def test_identities_follow_moving_components_whatever_their_size() -> None:
    tracker = tracker_with((10, 24, 6), (50, 24, 6))
    for t in range(1, 8):  # foreground 1 grows past foreground 0 while both move
        step(tracker, [(2, 0), (-2, 1)], (10 + 2 * t, 24, 6), (50 - 2 * t, 24 + t, 6 + t))
        np.testing.assert_allclose(tracker.centroids[0, 0], [10 + 2 * t, 24])
        assert abs(tracker.centroids[0, 1, 0] - (50 - 2 * t)) <= 1
    assert tracker.present.all()


def test_components_crossing_paths_keep_their_identities() -> None:
    tracker = tracker_with((8, 20, 4), (56, 27, 4))  # one row apart: never touching
    for t in range(1, 16):
        step(tracker, [(3, 0), (-3, 0)], (8 + 3 * t, 20, 4), (56 - 3 * t, 27, 4))
        assert tracker.present.all()
        assert tracker.centroids[0, 0, 1] == 20 and tracker.centroids[0, 1, 1] == 27
    assert tracker.centroids[0, 0, 0] > tracker.centroids[0, 1, 0]  # they have passed each other


def test_merged_foregrounds_share_the_component_split_by_estimate_and_separate_again() -> None:
    tracker = tracker_with((20, 24, 6), (34, 24, 6))
    step(tracker, [(3, 0), (-3, 0)], (23, 24, 6), (31, 24, 6))  # touching: one component
    union = blobs((23, 24, 6), (31, 24, 6))[0].numpy()
    masks = tracker.masks[0]
    assert tracker.present.all()
    assert not (masks[0] & masks[1]).any() and ((masks[0] | masks[1]) == union).all()
    assert tracker.centroids[0, 0, 0] < 27 < tracker.centroids[0, 1, 0]
    step(tracker, [(-4, 0), (4, 0)], (19, 24, 6), (35, 24, 6))  # apart again
    np.testing.assert_allclose(tracker.centroids[0], [[19, 24], [35, 24]])


def test_foregrounds_passing_through_each_other_keep_their_identities() -> None:
    tracker = tracker_with((14, 24, 6), (50, 24, 6))
    for t in range(1, 13):  # overlapping from t = 5 to t = 7
        step(tracker, [(3, 0), (-3, 0)], (14 + 3 * t, 24, 6), (50 - 3 * t, 24, 6))
        assert tracker.present.all()
        if t == 6:  # right on top of each other: both hold the whole square
            assert (tracker.masks[0, 0] == tracker.masks[0, 1]).all() and tracker.masks[0, 0].sum() == 36
    np.testing.assert_allclose(tracker.centroids[0], [[50, 24], [14, 24]])


def test_a_vanished_foreground_is_absent_then_revived_near_where_it_was() -> None:
    tracker = tracker_with((10, 10, 6), (50, 38, 6), (30, 24, 6), players=3)
    step(tracker, [(0, 0)] * 3, (10, 10, 6), (30, 24, 6))  # foreground 2 (right, low) vanishes
    assert tracker.present[0].tolist() == [True, True, False]
    assert np.isnan(tracker.centroids[0, 2]).all() and not tracker.masks[0, 2].any()
    np.testing.assert_allclose(tracker.estimates[0, 2], [50, 38])  # kept where it was last sent
    step(tracker, [(0, 0), (0, 0), (9, 9)], (10, 10, 6), (30, 24, 6))  # its control moves nothing
    assert tracker.present[0].tolist() == [True, True, False]
    np.testing.assert_allclose(tracker.estimates[0, 2], [50, 38])
    step(tracker, [(0, 0)] * 3, (10, 10, 6), (30, 24, 6), (48, 36, 6))  # reappears nearby
    np.testing.assert_allclose(tracker.centroids[0], [[10, 10], [30, 24], [48, 36]])


def test_a_foreground_without_component_far_from_all_vanishes_not_merges() -> None:
    tracker = tracker_with((10, 24, 6), (54, 24, 6))
    step(tracker, [(0, 0), (0, 0)], (10, 24, 6))
    assert tracker.present[0].tolist() == [True, False]
    assert tracker.masks[0, 0].sum() == 36


def test_tracker_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"players must be in 1\.\.4"):
        ForegroundTracker(1, 5, SIZE)
    with pytest.raises(ValueError, match="player_order"):
        ForegroundTracker(1, 2, SIZE, order="z")
