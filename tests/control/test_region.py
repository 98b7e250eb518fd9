"""The motion region (lcvg_env/control/region.py): cells the data's foreground visited, and the rule that
shortens a move so that it does not leave them further behind."""

from __future__ import annotations

import numpy as np
import pytest

from lcvg_env.control.region import MotionRegion, default_cell, recorded_region


def square_region() -> MotionRegion:
    """32x32 frame, cells of 4 px, cells (rows 2-5, cols 2-5) visited: the square x, y in [8, 24) px."""
    pts = [(x + 2.0, y + 2.0) for x in range(8, 24, 4) for y in range(8, 24, 4)]
    return MotionRegion.from_centroids(np.array([*pts, (np.nan, np.nan)]), (32, 32), cell=4)


def test_cells_are_the_visited_ones_and_the_distance_is_to_the_nearest() -> None:
    region = square_region()
    assert region.visited.shape == (8, 8) and region.visited.sum() == 16
    assert region.visited[2:6, 2:6].all()
    dist = region.distance_map()
    assert dist.shape == (32, 32) and dist[16, 16] == 0.0 and dist[8, 8] == 0.0
    assert dist[16, 28] == pytest.approx(4.5)  # pixel centre x = 28.5, the region ends at x = 24
    assert default_cell((64, 64)) == 4 and default_cell((128, 96)) == 8


def test_a_move_is_kept_inside_and_never_leaves_the_region_further_behind() -> None:
    region = square_region()
    centroids = np.array([[16.0, 16.0], [16.0, 16.0], [20.0, 16.0], [28.0, 16.0], [28.0, 16.0], [np.nan, 0]])
    shifts = np.array([[4.0, 0.0], [16.0, 0.0], [0.0, 4.0], [4.0, 0.0], [-4.0, 0.0], [50.0, 0.0]])
    made = region.limit(centroids, shifts)
    assert made[0].tolist() == [4.0, 0.0]  # stays inside: whole
    assert made[1].tolist() == [6.0, 0.0]  # to x = 32 would leave: shortened to x = 22, whole pixels
    assert made[2].tolist() == [0.0, 4.0]  # along the region: whole
    assert made[3].tolist() == [0.0, 0.0]  # outside and going further: stopped
    assert made[4].tolist() == [-4.0, 0.0]  # outside and coming back: whole
    assert made[5].tolist() == [50.0, 0.0]  # no foreground: nothing to keep anywhere
    fractional = region.limit(np.array([[23.0, 16.0]]), np.array([[2.0, 0.0]]))
    assert fractional.tolist() == [[0.0, 0.0]]  # 0.5 px would not leave, but the mask moves by whole pixels
    moved = centroids[:5] + made[:5]
    dist = region.distance_map()
    assert all(
        dist[int(y), min(int(x), 31)] <= dist[int(cy), int(cx)]
        for (x, y), (cx, cy) in zip(moved, centroids[:5], strict=True)
    )


def test_json_round_trip_and_clear_errors() -> None:
    region = square_region()
    again = MotionRegion.from_json(region.to_json())
    assert again.size == (32, 32) and again.cell == 4 and np.array_equal(again.visited, region.visited)
    assert np.array_equal(recorded_region({"motion_region": region.to_json()}).visited, region.visited)
    assert recorded_region({}) is None and recorded_region(None) is None
    with pytest.raises(ValueError, match=r"not a motion region.*--region auto"):
        MotionRegion.from_json({"size": [32, 32], "cell": 4, "visited": ["101"]})
    with pytest.raises(ValueError, match="not a motion region"):
        MotionRegion.from_json([1, 2])
    with pytest.raises(ValueError, match="every mask was empty"):
        MotionRegion.from_centroids(np.full((3, 2), np.nan), (32, 32))
    with pytest.raises(ValueError, match="at least one visited cell"):
        MotionRegion((32, 32), 4, np.zeros((8, 8), bool))


def test_a_region_of_players_keeps_their_count_and_holds_every_players_centroid() -> None:
    centroids = np.array([[[5.0, 5.0], [25.0, 29.0]], [[6.0, 9.0], [np.nan, np.nan]]])  # (T, K, 2)
    region = MotionRegion.from_centroids(centroids, (32, 32), cell=4, players=2)
    assert region.players == 2 and region.visited.sum() == 3
    assert region.contains(centroids[0]).all() and not region.contains(np.array([15.0, 15.0]))
    again = MotionRegion.from_json(region.to_json())
    assert again.players == 2 and np.array_equal(again.visited, region.visited)
    old = region.to_json()
    del old["players"]  # recorded before regions had players: whole masks
    assert MotionRegion.from_json(old).players == 1
    with pytest.raises(ValueError, match="players must be an int >= 1"):
        MotionRegion.from_centroids(centroids, (32, 32), players=0)


def test_contains_is_true_in_visited_cells_only() -> None:
    region = MotionRegion.from_centroids(np.array([[5.0, 5.0], [13.0, 5.0]]), (16, 16), cell=4)
    points = np.array([[[4.5, 6.0], [14.9, 7.9]], [[9.0, 5.0], [np.nan, 5.0]]])  # (2, 2, 2)
    assert region.contains(points).tolist() == [[True, True], [False, False]]
    assert region.contains(np.array([17.0, 6.0])).item()  # off the frame: its nearest border cell
    measured = np.array([[1.0, 1.0], [30.0, 9.0]])
    assert MotionRegion.from_centroids(measured, (32, 32), cell=4).contains(measured).all()
