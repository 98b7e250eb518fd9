"""benchmarks/mask_anatomy.py's reference masks made from the truth (the figures of docs/env.md)."""

from __future__ import annotations

import numpy as np

from tests.conftest import load_script


def test_truth_moved_by_one_pixel_keeps_its_shape_and_drops_what_leaves_the_frame() -> None:
    bench = load_script("benchmarks/mask_anatomy.py")
    mask = np.zeros((5, 6), bool)
    mask[1:3, 0:2] = True  # a 2x2 square touching the left border
    right, left, down, up = bench.moved_by_one(mask)
    assert right.sum() == 4 and right[1:3, 1:3].all()
    assert left.sum() == 2 and left[1:3, 0].all() and not left[:, -1].any()  # no wrap to the far side
    assert down[2:4, 0:2].all() and up[0:2, 0:2].all()


def test_a_two_by_two_square_moved_one_pixel_scores_a_third() -> None:
    bench = load_script("benchmarks/mask_anatomy.py")
    mask = np.zeros((8, 8), bool)
    mask[3:5, 3:5] = True
    tally = bench.Tally()
    for moved in bench.moved_by_one(mask):
        tally.add("moved", moved, mask, weight=0.25)
    row = tally.rows(float(mask.sum()))[0]
    assert row == "| moved | 0.333 | 0.500 | 0.500 |"  # 2 shared of 6 in the union, 2 of 4 on each side


def test_a_mask_holds_the_players_only_when_it_holds_a_quarter_of_each() -> None:
    bench = load_script("benchmarks/mask_anatomy.py")
    players = np.zeros((2, 8, 8), bool)
    players[0, 0:2, 0:4] = True  # 8 px
    players[1, 6:8, 4:8] = True  # 8 px
    mask = np.zeros((8, 8), bool)
    mask[0:2, 0:4] = True  # all of the first player
    assert not bench.holds_every_player(mask, players)  # the second is left out
    mask[6, 4:6] = True  # 2 of the second's 8 px: a quarter
    assert bench.holds_every_player(mask, players)
    mask[6, 5] = False
    assert not bench.holds_every_player(mask, players)
