"""Atari Tennis episodes through ale-py: two players who both move, with ground truth from the emulator.

Our player (orange, moved by the joystick) follows a smooth random policy, a correlated random walk of
the joystick's heading over the 8 directions with pauses, FIRE now and then (to serve) and, part of the
time, a run towards the ball's shadow (the game swings the racket by itself, so rallies go on); the
opponent (blue) is the game's own player. Frames are the court (rows 17-187, columns 8-159 of ALE's
210x160 screen, where both players' sprites always are), area-resized to ``size`` x ``size``: ALE's
pixels are about 1.75 times as wide as tall on a TV, so the slight horizontal stretch (1.13) brings the
court closer to how the game looks.

Episodes are stretches of continuous play: a random number of steps is played first (so episodes start at
different scores and ends of the court), and a recording restarts whenever a point ends (the game freezes
both players for about two seconds, then puts them back at the base lines) or the players change ends.

Ground truth per episode, in ``annotations.npz`` (pixels of the saved frames; player index 0 is ours,
the orange player the agent controls; index 1 the opponent):

- ``players_px`` (T, 2, 2) float32: (x, y) sprite centroids of [ours, opponent], from RAM
  (:mod:`lcvg_env.data.atari_tennis_ram`);
- ``ours_mask``, ``opponent_mask`` (T, H, W) bool: the players' pixels (colour segmentation of the
  210x160 frame, side lines left out), a saved pixel being in the mask when the sprite covers at
  least ``MASK_COVERAGE`` of it;
- ``ball_px``, ``shadow_px`` (T, 2) float32: the ball and its shadow on the court, NaN when not drawn;
- ``actions`` (T-1,) int64: ALE action taken between frames t and t+1 (names in ``action_meanings``);
  ``commands`` (T-1, 2) int8: its joystick direction (dx, dy) in {-1, 0, 1} (y down, as on screen);
- ``our_side`` (T,) int8: 0 when our player is on the far (top) half, 1 on the near half;
- ``ram`` (T, 128) uint8: the console RAM after each frame.

Example::

    from lcvg_env.data.atari_tennis import generate_atari_tennis
    generate_atari_tennis("data/atari-tennis", episodes=8, frames=30)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lcvg_env.data import atari_tennis_ram as tr
from lcvg_env.data.ale import make_ale_env
from lcvg_env.data.atari_tennis_view import CourtView
from lcvg_env.data.layout import SPLITS, check_split, episode_dirname, update_dataset_info, write_episode

MIRROR_SHIFT_PX = 7
"""A sprite's centroid moves by up to this many screen pixels when it mirrors (CENTROID_DX's difference)."""
FREEZE_STEPS = 40
"""Steps of 4 ALE frames to wait after a point for the players to be put back (the freeze lasts about
125 ALE frames; a jump ends the wait earlier)."""
MAX_SEARCH_STEPS = 20_000
"""Steps played, after the warm-up, to find an episode's stretch of continuous play before giving up."""


@dataclass
class AtariTennisConfig:
    """How to generate Atari Tennis episodes; every field has a working default."""

    episodes: int = 16
    """Number of episodes to write."""
    frames: int = 30
    """Frames per episode."""
    size: int = 64
    """Square frame size in pixels."""
    seed: int = 0
    """Random seed; the same seed, split and episode index always give the same episode."""
    split: str = "train"
    """Split folder to write: train, val or test."""
    frameskip: int = 4
    """ALE frames per step (Tennis-v5's default); players move 1 ALE pixel per ALE frame."""
    max_warmup: int = 1500
    """Steps played before recording start: uniform in [0, max_warmup)."""
    turn_std: float = 0.6
    """Standard deviation, radians, of the joystick heading's change per step."""
    stop_prob: float = 0.06
    """Per-step probability that a moving player stops (and ``go_prob`` that a still one moves)."""
    go_prob: float = 0.35
    fire_prob: float = 0.1
    """Per-step probability of pressing FIRE with the direction (serves; swings are automatic)."""
    follow_prob: float = 0.3
    """Per-step probability of heading towards the ball's shadow, which keeps rallies going (and takes
    our player to the ball to serve: a serve needs FIRE near the tossed ball)."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2 to make a video, got {self.frames}.")
        if not 16 <= self.size <= 171:
            raise ValueError(f"size must be in [16, 171] pixels (the court is 171 rows), got {self.size}.")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}.")
        if self.frameskip < 1 or self.max_warmup < 1:
            raise ValueError(
                f"frameskip and max_warmup must be >= 1, got {self.frameskip}, {self.max_warmup}."
            )
        for name in ("stop_prob", "go_prob", "fire_prob", "follow_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}.")


def make_env(frameskip: int = 4) -> Any:
    """Tennis-v5 without sticky actions (so recorded actions are the ones applied)."""
    return make_ale_env("ALE/Tennis-v5", "Atari Tennis", frameskip)


def joystick_table(meanings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) int8 joystick direction (dx, dy), y down, and (A,) bool FIRE of each ALE action name."""
    dirs = np.array(
        [[("RIGHT" in m) - ("LEFT" in m), ("DOWN" in m) - ("UP" in m)] for m in meanings], dtype=np.int8
    )
    return dirs, np.array(["FIRE" in m for m in meanings])


class SmoothRandomPlayer:
    """Correlated random walk of the joystick heading, with pauses, FIRE and runs towards the ball.

    The heading bounces off the limits of our player's reach (a joystick axis that did not move the
    player last step is reversed), so the commands keep moving it instead of pushing against the net.
    """

    def __init__(self, rng: np.random.Generator, cfg: AtariTennisConfig, meanings: list[str]) -> None:
        self.rng, self.cfg = rng, cfg
        dirs, fire = joystick_table(meanings)
        self.action_of = {
            (int(d[0]), int(d[1]), bool(f)): a for a, (d, f) in enumerate(zip(dirs, fire, strict=True))
        }
        self.heading = rng.uniform(-np.pi, np.pi)
        self.moving = True
        self.last: tuple[np.ndarray, tuple[int, int]] | None = None  # position and joystick of last step

    def act(self, player_xy: np.ndarray, ball_xy: np.ndarray, side: int) -> int:
        """The next ALE action, given our player's and the ball's shadow's (x, y) screen positions and our
        side (0 far, 1 near): the run towards the ball keeps to our half (no pushing against the net)."""
        rng, cfg = self.rng, self.cfg
        if self.last is not None:
            (x0, y0), (dx0, dy0) = self.last
            if dx0 and abs(player_xy[0] - x0) < 0.5:
                self.heading = np.pi - self.heading
            if dy0 and abs(player_xy[1] - y0) < 0.5:
                self.heading = -self.heading
        if rng.uniform() < cfg.follow_prob:
            on_our_half = (ball_xy[1] > tr.NET_ROW) == bool(side)
            to_ball = np.array([ball_xy[0] - player_xy[0], ball_xy[1] - player_xy[1] if on_our_half else 0.0])
            self.heading, self.moving = float(np.arctan2(to_ball[1], to_ball[0])), True
        else:
            self.heading += rng.normal(0.0, cfg.turn_std)
            self.moving = rng.uniform() >= cfg.stop_prob if self.moving else rng.uniform() < cfg.go_prob
        fire = bool(rng.uniform() < cfg.fire_prob)
        dx, dy = 0, 0
        if self.moving:
            k = round(self.heading / (np.pi / 4))  # nearest of the 8 directions, y down
            dx, dy = round(np.cos(k * np.pi / 4)), round(np.sin(k * np.pi / 4))
        self.last = (np.array(player_xy), (dx, dy))
        return self.action_of[(dx, dy, fire)]


def _state(env: Any, obs: np.ndarray) -> dict[str, np.ndarray]:
    """What one frame records: the screen, RAM and positions (210x160 pixels); masks come later, for the
    frames kept only."""
    ram = env.unwrapped.ale.getRAM().copy()
    ball, shadow = tr.ball_from_ram(ram, obs)
    return {
        "frame": obs,
        "ram": ram,
        "players": tr.players_from_ram(ram),
        "ball": ball,
        "shadow": shadow,
        "side": np.int8(tr.our_side(ram)),
    }


def jumped(prev: dict[str, np.ndarray], cur: dict[str, np.ndarray], step_px: int) -> bool:
    """True when a player moved farther than a step can take it (put back after a point, or the players
    changed ends); the bound allows for the sprite's shift when it mirrors."""
    return bool(np.abs(cur["players"] - prev["players"]).max() > step_px + MIRROR_SHIFT_PX)


def rollout(env: Any, cfg: AtariTennisConfig, seed: int) -> list[dict[str, np.ndarray]]:
    """One episode: ``cfg.frames`` states of continuous play (module docstring), each with the action
    taken after it (``action``, the last state has none)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    player = SmoothRandomPlayer(rng, cfg, env.unwrapped.get_action_meanings())
    cur = _state(env, obs)
    warmup, recorded, frozen = int(rng.integers(cfg.max_warmup)), [], 0
    for step in range(warmup + MAX_SEARCH_STEPS):
        action = player.act(cur["players"][tr.OURS], tr.ball_target(cur["ram"]), int(cur["side"]))
        obs, reward, terminated, truncated, _ = env.step(action)
        prev, cur = cur, _state(env, obs)
        if terminated or truncated:  # the set is over: a new game
            obs, _ = env.reset()
            cur, recorded = _state(env, obs), []
            continue
        if reward != 0:  # a point ended: the game freezes both players, then puts them back
            frozen, recorded = FREEZE_STEPS * 4 // cfg.frameskip, []
        if jumped(prev, cur, cfg.frameskip) or cur["side"] != prev["side"]:
            frozen, recorded = 0, []
            continue
        if frozen > 0 or step < warmup:
            frozen -= 1
            continue
        if not recorded:
            recorded.append(prev)
        recorded[-1]["action"] = np.int64(action)
        recorded.append(cur)
        if len(recorded) == cfg.frames:
            return recorded
    raise RuntimeError(
        f"No {cfg.frames} frames of continuous play within {MAX_SEARCH_STEPS} steps; use fewer --frames."
    )


def episode_arrays(
    states: list[dict[str, np.ndarray]], view: CourtView, meanings: list[str], lines: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames (T, S, S, 3) uint8 and annotations (module docstring) of one rollout, at the view's size;
    ``lines`` are the court's side lines (:func:`~lcvg_env.data.atari_tennis_ram.court_lines`)."""
    dirs, _ = joystick_table(meanings)
    actions = np.array([s["action"] for s in states[:-1]], dtype=np.int64)
    screen_masks = np.stack([tr.player_masks(s["frame"], lines) for s in states])  # (T, 2, 210, 160)
    masks = view.masks(screen_masks)  # (T, 2, S, S)
    ann = {
        "players_px": view.points(np.stack([s["players"] for s in states])),
        "ours_mask": masks[:, tr.OURS],
        "opponent_mask": masks[:, tr.OPPONENT],
        "ball_px": view.points(np.stack([s["ball"] for s in states])),
        "shadow_px": view.points(np.stack([s["shadow"] for s in states])),
        "actions": actions,
        "action_meanings": np.array(meanings),
        "commands": dirs[actions],
        "our_side": np.array([s["side"] for s in states], dtype=np.int8),
        "ram": np.stack([s["ram"] for s in states]),
    }
    return np.stack([view.frame(s["frame"]) for s in states]), ann


def episode_seed(seed: int, split: str, index: int) -> int:
    """Independent seed per (seed, split, episode): episodes do not depend on how many came before."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split), index]).generate_state(1)[0])


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def generate_atari_tennis(
    out_dir: str | Path,
    episodes: int = 16,
    frames: int = 30,
    size: int = 64,
    seed: int = 0,
    split: str = "train",
    **options: Any,
) -> dict[str, Any]:
    """Write Atari Tennis episodes to ``out_dir/split/`` and return a summary.

    ``options`` are the other :class:`AtariTennisConfig` fields. The summary holds the arguments,
    ``step_px`` (median per-step displacement of each player, saved pixels, over the steps where it
    moved), ``moving_share`` (share of steps each player moves), ``ball_seen_share`` and ``fps``.
    """
    cfg = AtariTennisConfig(
        episodes=episodes, frames=frames, size=size, seed=seed, split=check_split(split), **options
    )
    split_dir = Path(out_dir) / cfg.split
    split_dir.mkdir(parents=True, exist_ok=True)
    view = CourtView(cfg.size)
    env = make_env(cfg.frameskip)
    meanings = env.unwrapped.get_action_meanings()
    obs, _ = env.reset(seed=cfg.seed)
    lines = tr.court_lines(obs, env.unwrapped.ale.getRAM())  # the same in every game
    steps, ball_seen = [], []
    start = time.perf_counter()
    try:
        for i in range(cfg.episodes):
            states = rollout(env, cfg, episode_seed(cfg.seed, cfg.split, i))
            ep_frames, ann = episode_arrays(states, view, meanings, lines)
            write_episode(split_dir, episode_dirname(i), ep_frames, ann)
            steps.append(np.linalg.norm(np.diff(ann["players_px"], axis=0), axis=-1))  # (T-1, 2)
            ball_seen.append(float(np.isfinite(ann["ball_px"][:, 0]).mean()))
    finally:
        env.close()
    seconds = time.perf_counter() - start
    step = np.concatenate(steps)  # (N, 2)
    moving = step > 0.05
    summary = {
        "generator": "atari-tennis",
        **asdict(cfg),
        "out_dir": str(out_dir),
        "step_px": [_median(step[moving[:, p], p]) for p in (tr.OURS, tr.OPPONENT)],
        "moving_share": [float(moving[:, p].mean()) for p in (tr.OURS, tr.OPPONENT)],
        "ball_seen_share": float(np.mean(ball_seen)),
        "seconds": seconds,
        "fps": cfg.episodes * cfg.frames / seconds,
    }
    update_dataset_info(out_dir, cfg.split, summary)
    return summary
