"""Atari Tennis ground truth: where the emulator keeps both players and the ball, and the players' pixels.

Measured on ale-py 0.12.1 ``ALE/Tennis-v5`` (210x160 frames), with ``benchmarks/atari_tennis_ram.py``,
which correlates every RAM byte with colour-segmented sprites over random play and prints the residuals
(``docs/data.md``, Atari Tennis). The console keeps the players by court *side*, not by colour:

- sprite top row = ``SPRITE_TOP[side] - ram[RAM_Y[side]]`` (exact), ``side`` 0 = far (top) half, 1 = near
  (bottom) half;
- sprite x = ``ram[RAM_X[side]]``; the sprite is mirrored when ``ram[RAM_FLIP[side]]`` is non-zero (the
  player swings the other way), which moves the drawing relative to that x, so the centroid offset
  depends on the mirror flag (``CENTROID_DX``);
- bit 0 of ``ram[RAM_SIDE]`` is set when our player (orange, the one the agent's joystick moves) is on the
  near half: the players change ends during the set, as in real tennis;
- the ball: x = ``ram[RAM_BALL_X] + BALL_DX``, top row = ``BALL_ROW0 - ram[RAM_BALL_Y]`` (its shadow on
  the court: ``BALL_ROW0 - ram[RAM_SHADOW_Y]``).

Player masks come from colour alone (no RAM): each player is drawn in its own colour, the only other
pixels of those colours inside the court rows are the side lines, which are the same in every frame
(:func:`court_lines`, taken from the first frame of a game) and are left out.
"""

from __future__ import annotations

import numpy as np

OURS, OPPONENT = 0, 1
"""Player order in every ``(..., 2, ...)`` array: index 0 is ours (orange), index 1 the game's (blue)."""
PLAYER_COLOURS = np.array([[240, 128, 128], [117, 128, 240]], dtype=np.uint8)
"""RGB of our player (orange) and of the opponent (blue); each colours its own half's side lines too."""
BALL_COLOUR = np.array([236, 236, 236], dtype=np.uint8)
SHADOW_COLOUR = np.array([74, 74, 74], dtype=np.uint8)

RAM_Y, RAM_X, RAM_FLIP = (24, 25), (26, 27), (56, 57)
"""RAM addresses of the (far, near) side's player: vertical position, horizontal position, mirror flag."""
RAM_SIDE = 80
"""Bit 0 set: our player is on the near (bottom) half of the court."""
RAM_BALL_X, RAM_BALL_Y, RAM_SHADOW_Y = 16, 54, 55

SPRITE_TOP = (166, 167)
"""Sprite top row = SPRITE_TOP[side] - ram[RAM_Y[side]] (exact on every frame checked)."""
SPRITE_HEIGHT = 23
CENTROID_DX = (2.69, 9.31)
"""Sprite centroid x - ram[RAM_X] for an unmirrored / mirrored sprite (pixel centres at +0.5)."""
CENTROID_DY = 9.77
"""Sprite centroid y - sprite top row."""
BALL_DX, BALL_ROW0 = -2.0, 190
NET_ROW = 105.5
"""The middle of the net's band (rows 99-112): the far half is above, the near half below."""
COURT_ROWS = (14, 190)
"""Rows that hold the court and the players (above: the score; below: the Activision logo)."""


def our_side(ram: np.ndarray) -> int:
    """Which half our player is on: 0 far (top), 1 near (bottom)."""
    return int(ram[RAM_SIDE]) & 1


def sides(ram: np.ndarray) -> tuple[int, int]:
    """(our side, the opponent's side)."""
    s = our_side(ram)
    return s, 1 - s


def players_from_ram(ram: np.ndarray) -> np.ndarray:
    """(2, 2) float32: (x, y) sprite centroids of [ours, opponent] in the 210x160 frame, from RAM alone."""
    out = np.zeros((2, 2), dtype=np.float32)
    for player, side in enumerate(sides(ram)):
        mirrored = int(ram[RAM_FLIP[side]] != 0)
        top = SPRITE_TOP[side] - int(ram[RAM_Y[side]])
        out[player] = (int(ram[RAM_X[side]]) + CENTROID_DX[mirrored], top + CENTROID_DY)
    return out


def sprite_rows(ram: np.ndarray) -> np.ndarray:
    """(2, 2) int: [first, last] rows of [ours, opponent]'s sprite, from RAM."""
    out = np.zeros((2, 2), dtype=np.int64)
    for player, side in enumerate(sides(ram)):
        top = SPRITE_TOP[side] - int(ram[RAM_Y[side]])
        out[player] = (top, top + SPRITE_HEIGHT - 1)
    return out


def colour_mask(frame: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of exactly ``colour`` inside the court rows."""
    mask = (frame == colour).all(-1)
    mask[: COURT_ROWS[0]] = False
    mask[COURT_ROWS[1] :] = False
    return mask


def court_lines(frame: np.ndarray, ram: np.ndarray) -> np.ndarray:
    """(H, W) bool: the side lines (pixels of either player's colour that are not a player) of ``frame``.

    Taken from the first frame of a game, where the players stand on their base lines: every
    player-coloured pixel of the court rows outside both sprites' boxes is a line. The lines do not move;
    only their colours swap when the players change ends.
    """
    lines = colour_mask(frame, PLAYER_COLOURS[0]) | colour_mask(frame, PLAYER_COLOURS[1])
    for side in (0, 1):
        top = SPRITE_TOP[side] - int(ram[RAM_Y[side]])
        left = int(ram[RAM_X[side]]) - 4  # the sprite spans x-2 .. x+13, mirrored or not
        lines[top : top + SPRITE_HEIGHT, max(left, 0) : left + 20] = False
    return lines


def player_masks(frame: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """(2, H, W) bool: [ours, opponent]'s pixels in ``frame``, by colour, side lines left out."""
    return np.stack([colour_mask(frame, colour) & ~lines for colour in PLAYER_COLOURS])


def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """(N, 2) float32 (x, y) centroids of (N, H, W) masks, pixel centres at +0.5; NaN for empty masks."""
    out = np.full((len(masks), 2), np.nan, dtype=np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            out[i] = (xs.mean() + 0.5, ys.mean() + 0.5)
    return out


def drawn_near(frame: np.ndarray, colour: np.ndarray, x: float, y: float, radius: int = 3) -> bool:
    """True if a pixel of ``colour`` lies within ``radius`` pixels of (x, y) (the drawing can lag RAM by a
    row or a column)."""
    xi, yi = int(np.floor(x)), int(np.floor(y))
    h, w = frame.shape[:2]
    if not (0 <= xi < w and 0 <= yi < h):
        return False
    patch = frame[max(yi - radius, 0) : yi + radius + 1, max(xi - radius, 0) : xi + radius + 1]
    return bool((patch == colour).all(-1).any())


def ball_from_ram(ram: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ball and shadow (x, y) centres (each (2,) float32) from RAM; NaN where that colour is not drawn
    near there (a ball hidden by the net or a player, a shadow while the server tosses the ball)."""
    x = int(ram[RAM_BALL_X]) + BALL_DX + 1.0  # the ball is a 2x2 block: its centre
    # The ball is drawn at its RAM row or one row above (about half the frames each): centre between.
    ball = np.array([x, BALL_ROW0 - int(ram[RAM_BALL_Y]) + 0.5], dtype=np.float32)
    shadow = np.array([x, BALL_ROW0 - int(ram[RAM_SHADOW_Y]) + 1.0], dtype=np.float32)
    nan = np.full(2, np.nan, dtype=np.float32)
    return (
        ball if drawn_near(frame, BALL_COLOUR, *ball) else nan,
        shadow if drawn_near(frame, SHADOW_COLOUR, *shadow) else nan,
    )


def ball_target(ram: np.ndarray) -> np.ndarray:
    """(2,) float32: where the ball's shadow is (RAM only, drawn or not): the spot to run to."""
    x = int(ram[RAM_BALL_X]) + BALL_DX + 1.0
    return np.array([x, BALL_ROW0 - int(ram[RAM_SHADOW_Y]) + 1.0], dtype=np.float32)
