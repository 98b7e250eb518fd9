"""Two-player control gain: does each player follow its own command, and only its own?

From real held-out start frames (frame 0 of each test episode) the environment runs with ``players=2``,
player 0 our orange player and player 1 the blue opponent (numbered by colour at reset,
``EnvConfig.player_colours``), and is driven for ``steps`` steps by a constant pair of commands: each
player's is one of 9, the 8 directions of :data:`lcvg_env.control_gain.DIRECTIONS` or *stay*, at a
fraction f of the action range (c = f * ``max_displacement`` px per step along the direction): all 81
pairs, at every fraction. Ground truth for the motion is the emulator's look: the players are located
in the generated frames by their colours (:mod:`lcvg_env.metrics.players`), not by the model's mask M.
For player k (commanded u_k, the other player u_j, r_k its realized displacement after ``steps``)::

    gain_k  = (r_k . u_k)  / (steps c)     u_k moves: 1 = the player goes as far as commanded
    cross_k = |r_k x u_k|  / (steps c)     u_k moves: 0 = no motion across its command
    leak_k  = (r_k . u_j)  / (steps c)     u_k stays, u_j moves: 0 = it ignores the other's command
    drift_k = |r_k| px                     both stay

Summaries per player and fraction: the gain *alone* (the other stays) and *with the other moving* (every
one of its 8 directions), each as the median over all rollouts and the range of the per-direction
medians (over start frames and the other's commands); the largest per-direction cross-axis median; the
leak's median and its largest per-direction |median|; the drift; the share of rollouts where the
locator lost the player. The same gains from the env's own player centroids (M's components,
``info["player_centroids_px"]``) are given beside them as the model's view.

**Commands the game allows.** The game keeps each player on its half, and a point starts with both on
their base lines, so from most start frames one vertical direction leads off the court: the real game
would not follow that command either. With a reachable area (:func:`~lcvg_env.metrics.players.reachable_area`:
within ``reach_tolerance_px`` of where the players of the ``reach_split`` split ever are, by the
emulator's RAM) the same summaries are also given over the rollouts whose commanded end point (the
player's located start + steps * c * u) lies inside it (``players_feasible``), with the share kept.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lcvg_env.control_gain import DIRECTIONS, direction_vectors, load_start_frames
from lcvg_env.metrics.players import PLAYER_NAMES, PlayerLocator, locator_errors, reachable_area

if TYPE_CHECKING:
    from lcvg_env.env.batch import LCVGBatch

COMMAND_NAMES = ("stay", *(name for name, _ in DIRECTIONS))
"""The 9 commands of one player: index 0 stays, 1..8 the directions."""


@dataclass
class TwoPlayerGainConfig:
    """Settings of one two-player control-gain measurement."""

    starts: int = 48
    """Real start frames: frame 0 of the first ``starts`` episodes of the split."""
    fractions: tuple[float, ...] = (0.5, 1.0)
    """Command sizes as fractions of the action range (1 = ``max_displacement`` px per step)."""
    steps: int = 5
    """Steps of each constant command pair; the displacement is read after the last."""
    split: str = "test"
    batch_size: int = 96
    """Environments stepped together in one forward pass."""
    device: str = "cpu"
    dtype: str = "bfloat16"
    reach_split: str | None = "train"
    """Split whose true player positions make the reachable area (None: no feasible-command summaries)."""
    reach_tolerance_px: float = 2.0
    """How far (px) from a true position a commanded end point may be and still count as reachable."""
    region: str = "data"
    """The env's ``region`` (``EnvConfig.region``): ``data`` (as ``LCVG-AtariTennis-v0`` runs) keeps each
    player where the training video's players were (the checkpoint's per-player motion region); ``none``
    never shortens a move."""

    def __post_init__(self) -> None:
        self.fractions = tuple(self.fractions)
        if self.starts < 1 or self.batch_size < 1 or self.steps < 1:
            raise ValueError(
                "starts, batch_size and steps must be >= 1, got "
                f"{self.starts}, {self.batch_size}, {self.steps}."
            )
        if not self.fractions or not all(0.0 < f <= 1.0 for f in self.fractions):
            raise ValueError(f"fractions must be in (0, 1] (of the action range), got {self.fractions}.")


def command_vectors() -> np.ndarray:
    """(9, 2) unit commands (x, y), y down, in :data:`COMMAND_NAMES` order (stay = 0)."""
    return np.concatenate([np.zeros((1, 2)), direction_vectors()])


def pair_actions(batch: LCVGBatch, fraction: float) -> np.ndarray:
    """Actions (9, 9, 2 * dims): row i, column j commands player 0 ``i`` and player 1 ``j``, ``fraction``
    of the range, in the translation components of each player's control (any control mode)."""
    u = command_vectors() * fraction  # (9, 2)
    basis = []
    for player in (0, 1):
        right, down = (batch.controls.discrete(a, player) for a in (4, 2))  # unit +x, +y actions
        basis.append(u[:, :1] * right + u[:, 1:] * down)  # (9, 2 * dims)
    return (basis[0][:, None] + basis[1][None, :]).astype(np.float32)


def drive(
    batch: LCVGBatch, locator: PlayerLocator, starts: np.ndarray, actions: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rollouts from ``starts`` (R, H, W, 3) under constant ``actions`` (R, 2 * dims): located players
    and the env's player centroids, both (R, 2, K, 2) [start, after ``steps``], NaN where not found."""
    rows, b = len(starts), batch.num_envs
    located = np.full((rows, 2, 2, 2), np.nan)
    env_view = np.full_like(located, np.nan)
    rngs = [np.random.default_rng(0)] * b  # unused: the start frame is given, task="none" has no goal
    for lo in range(0, rows, b):
        n = min(b, rows - lo)
        index = np.r_[lo : lo + n, np.full(b - n, lo)]  # the last chunk is padded with repeats
        batch.reset(np.arange(b), rngs, [{"frame": f} for f in starts[index]])
        act = batch.controls.check(actions[index], batch=b)
        for t in (0, 1):
            if t:
                for _ in range(steps):
                    batch.step(act)
            located[lo : lo + n, t] = locator.locate(batch.sim.observations()[:n])[0]
            env_view[lo : lo + n, t] = batch.infos()["player_centroids_px"][:n]
    return located, env_view


def score(positions: np.ndarray, commanded_px: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    """Gain, cross-axis error and leak (S, 9, 9, F, 2) and drift (S, F, 2) px from ``positions``
    (S, 9, 9, F, 2 [start, end], 2 players, 2) of the 81 command pairs (player 0's command on axis 1,
    player 1's on axis 2) at ``commanded_px`` (F,) px per step; NaN where undefined (module docstring)."""
    u = command_vectors()  # (9, 2)
    r = positions[:, :, :, :, 1] - positions[:, :, :, :, 0]  # (S, 9, 9, F, K, 2)
    scale = commanded_px[None, None, None, :] * steps  # (1, 1, 1, F) px
    own = [u[:, None, None, :], u[None, :, None, :]]  # player 0's command varies on axis 1, player 1's on 2
    moves = np.arange(9) > 0
    out = {key: np.full(r.shape[:-1], np.nan) for key in ("gain", "cross", "leak")}
    for k in (0, 1):
        mine, other = own[k][None], own[1 - k][None]  # (1, 9|1, 1|9, 1, 2)
        rk = r[..., k, :]
        mine_moves = (moves[:, None] if k == 0 else moves[None, :])[None, :, :, None]  # (1, 9, 9, 1)
        other_moves = (moves[None, :] if k == 0 else moves[:, None])[None, :, :, None]
        along = (rk * mine).sum(-1) / scale
        across = np.abs(rk[..., 0] * mine[..., 1] - rk[..., 1] * mine[..., 0]) / scale
        out["gain"][..., k] = np.where(mine_moves, along, np.nan)
        out["cross"][..., k] = np.where(mine_moves, across, np.nan)
        out["leak"][..., k] = np.where(~mine_moves & other_moves, (rk * other).sum(-1) / scale, np.nan)
    out["drift_px"] = np.linalg.norm(r[:, 0, 0], axis=-1)  # (S, F, K)
    return out


def _nan_stat(fn: Any, values: np.ndarray, axis: Any = None) -> Any:
    with warnings.catch_warnings():  # an all-NaN slice (player lost everywhere) gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(values, axis=axis)


def _num(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def _per_direction(
    values: np.ndarray, k: int, other_moving: bool, stat: Any = np.nanmedian
) -> tuple[np.ndarray, np.ndarray]:
    """All values (n,) and per-direction ``stat`` (8,) (medians by default) of player k's figure (S, 9, 9)
    for its own 8 directions, the other player staying (``other_moving`` False) or moving in any of its 8."""
    v = values if k == 0 else np.swapaxes(values, 1, 2)  # (S, own, other)
    v = v[:, 1:, 1:] if other_moving else v[:, 1:, :1]  # (S, 8, 8 | 1)
    return v.reshape(-1), _nan_stat(stat, np.moveaxis(v, 1, 0).reshape(8, -1), axis=1)


def _gain_summary(
    gain: np.ndarray, cross: np.ndarray, k: int, other_moving: bool, keep: np.ndarray | None = None
) -> dict[str, Any]:
    """Summary of player k's gain and cross-axis error (S, 9, 9); with ``keep`` (S, 9, 9) bool, over the
    kept rollouts only (a dropped one is neither scored nor lost)."""
    names = COMMAND_NAMES[1:]
    if keep is not None:  # a dropped rollout is neither scored nor counted as lost
        gain, cross = np.where(keep, gain, np.nan), np.where(keep, cross, np.nan)
    flat, per_dir = _per_direction(gain, k, other_moving)
    _, cross_dir = _per_direction(cross, k, other_moving)
    kept = (
        np.ones(flat.shape, bool)
        if keep is None
        else _per_direction(keep.astype(float), k, other_moving)[0] > 0
    )
    ok = np.isfinite(per_dir).any()
    extra = {} if keep is None else {"kept": round(float(kept.mean()), 4)}
    return {
        "median_gain": _num(_nan_stat(np.nanmedian, flat)),
        "min_gain": _num(np.nanmin(per_dir)) if ok else None,
        "min_gain_direction": names[int(np.nanargmin(per_dir))] if ok else None,
        "max_gain": _num(np.nanmax(per_dir)) if ok else None,
        "max_gain_direction": names[int(np.nanargmax(per_dir))] if ok else None,
        "max_cross": _num(np.nanmax(cross_dir)) if np.isfinite(cross_dir).any() else None,
        "lost": round(float(np.isnan(flat[kept]).mean()), 4) if kept.any() else None,
        "per_direction_gain": {n: _num(g) for n, g in zip(names, per_dir, strict=True)},
        "per_direction_lost": {
            n: _num(v) for n, v in zip(names, _lost_per_direction(gain, k, other_moving, keep), strict=True)
        },
        **extra,
    }


def _lost_per_direction(gain: np.ndarray, k: int, other_moving: bool, keep: np.ndarray | None) -> np.ndarray:
    """(8,) the share of player k's rollouts per own direction where it was not located (NaN gain), over
    the kept ones when ``keep`` is given (NaN where none is kept)."""
    lost = np.isnan(gain).astype(float)
    if keep is not None:
        lost = np.where(keep, lost, np.nan)  # a dropped rollout is neither scored nor lost
    return _per_direction(lost, k, other_moving, np.nanmean)[1]


def summarize(
    scores: dict[str, np.ndarray],
    env_scores: dict[str, np.ndarray],
    fractions: tuple,
    keep: np.ndarray | None = None,
) -> list:
    """One entry per player and fraction (module docstring), with the env's own view's gains beside; with
    ``keep`` (S, 9, 9, F, K) bool, the gains over the kept rollouts only."""
    out = []
    for k, name in enumerate(PLAYER_NAMES):
        for f, frac in enumerate(fractions):
            pick = {key: v[:, :, :, f, k] for key, v in scores.items() if key != "drift_px"}
            env_pick = {key: v[:, :, :, f, k] for key, v in env_scores.items() if key != "drift_px"}
            kept = None if keep is None else keep[:, :, :, f, k]
            leak = pick["leak"] if k == 0 else np.swapaxes(pick["leak"], 1, 2)  # (S, own, other)
            leak_dir = _nan_stat(np.nanmedian, np.moveaxis(leak[:, 0, 1:], 1, 0), axis=1)  # (8,)
            entry = {"player": k, "name": name, "fraction": frac}
            for other_moving, key in ((False, "alone"), (True, "other_moving")):
                entry[key] = _gain_summary(pick["gain"], pick["cross"], k, other_moving, kept)
                entry[f"env_view_{key}"] = _gain_summary(
                    env_pick["gain"], env_pick["cross"], k, other_moving, kept
                )
            entry["leak_median"] = _num(_nan_stat(np.nanmedian, leak[:, 0, 1:]))
            entry["leak_max_abs"] = _num(np.nanmax(np.abs(leak_dir))) if np.isfinite(leak_dir).any() else None
            entry["drift_px"] = _num(_nan_stat(np.nanmedian, scores["drift_px"][:, f, k]))
            out.append(entry)
    return out


def reachable_commands(
    start_xy: np.ndarray, area: np.ndarray, commanded_px: np.ndarray, steps: int
) -> np.ndarray:
    """(S, 9, 9, F, K) bool: whether player k's own command ends inside ``area`` (H, W) bool, from its
    located start ``start_xy`` (S, K, 2) (x, y) after ``steps`` steps of ``commanded_px`` (F,) px; player
    0's command on axis 1, player 1's on axis 2 (as :func:`score`). A player not found at the start: False."""
    h, w = area.shape
    u = command_vectors()  # (9, 2)
    end = start_xy[:, None, None] + u[None, :, None, None] * (steps * commanded_px)[None, None, :, None, None]
    end = np.round(np.nan_to_num(end, nan=-1.0)).astype(int)  # (S, 9, F, K, 2)
    inside = (end[..., 0] >= 0) & (end[..., 0] < w) & (end[..., 1] >= 0) & (end[..., 1] < h)
    ok = inside & area[end[..., 1].clip(0, h - 1), end[..., 0].clip(0, w - 1)]  # (S, 9, F, K)
    ok &= np.isfinite(start_xy).all(-1)[:, None, None, :]
    return np.stack([ok[:, :, None, :, 0].repeat(9, 2), ok[:, None, :, :, 1].repeat(9, 1)], axis=-1)


def measure_two_players(
    batch: LCVGBatch,
    locator: PlayerLocator,
    starts: np.ndarray,
    cfg: TwoPlayerGainConfig,
    area: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every command pair from every start frame (S, H, W, 3) at every fraction; figures as JSON data.
    With ``area`` (H, W) bool, where the game lets players be, also the summaries over the commands that
    end inside it (``players_feasible``)."""
    s = len(starts)
    actions = np.stack([pair_actions(batch, f) for f in cfg.fractions], axis=2)  # (9, 9, F, A)
    shape = (s, *actions.shape[:3])  # (S, 9, 9, F)
    row_starts = np.broadcast_to(starts[:, None, None, None], (*shape, *starts.shape[1:]))
    row_actions = np.broadcast_to(actions[None], (*shape, actions.shape[-1]))
    located, env_view = drive(
        batch,
        locator,
        row_starts.reshape(-1, *starts.shape[1:]),  # rows ordered (start, command 0, command 1, fraction)
        row_actions.reshape(-1, actions.shape[-1]),
        cfg.steps,
    )
    commanded = np.asarray(cfg.fractions) * batch.cfg.max_displacement
    scores = score(located.reshape(*shape, 2, 2, 2), commanded, cfg.steps)
    env_scores = score(env_view.reshape(*shape, 2, 2, 2), commanded, cfg.steps)
    start_xy = located.reshape(*shape, 2, 2, 2)[:, 0, 0, 0, 0]  # (S, K, 2) on the real start frames
    start_found = np.isfinite(start_xy[..., 0])  # (S, K)
    result = {
        "meta": {
            "config": asdict(cfg),
            "max_displacement": float(batch.cfg.max_displacement),
            "commands": list(COMMAND_NAMES),
            "start_frames_with_player": [int(n) for n in start_found.sum(0)],
        },
        "players": summarize(scores, env_scores, cfg.fractions),
    }
    if area is not None:
        keep = reachable_commands(start_xy, area, commanded, cfg.steps)
        result["players_feasible"] = summarize(scores, env_scores, cfg.fractions, keep)
        result["meta"]["reachable_pixels"] = int(area.sum())
    return result


def make_two_player_batch(checkpoint: str | Path, num_envs: int, cfg: TwoPlayerGainConfig) -> LCVGBatch:
    """The env's batched core as ``LCVG-AtariTennis-v0`` runs it (players by colour), without a task."""
    from lcvg_env.env.batch import LCVGBatch
    from lcvg_env.env.config import EnvConfig
    from lcvg_env.env.registration import ATARI_TENNIS_COLOURS

    env_cfg = EnvConfig(
        task="none",
        players=2,
        player_colours=ATARI_TENNIS_COLOURS,
        device=cfg.device,
        dtype=cfg.dtype,
        region=cfg.region,
    )
    return LCVGBatch(checkpoint, num_envs, env_cfg)


def render_tables(result: dict[str, Any]) -> list[Any]:
    """Rich tables: the locator on real frames, then per player and fraction the gains, leak and drift."""
    from rich.table import Table

    loc = result["locator"]
    locator = Table(title=f"player locator vs the emulator's players_px on {loc['frames']} real frames (px)")
    for col in ("player", "median", "p90", "max", "lost"):
        locator.add_column(col, justify="right")
    for name in PLAYER_NAMES:
        e = loc[name]
        locator.add_row(name, *(_fmt(e[k]) for k in ("median_px", "p90_px", "max_px")), f"{e['lost']:.0%}")
    meta = result["meta"]
    region = meta["config"].get("region", "none")
    title = (
        f"two-player control gain after {meta['config']['steps']} steps "
        f"(max_displacement {meta['max_displacement']:g} px per step at 100 %; per-direction medians"
        f"{'; region ' + repr(region) if region != 'none' else ''})"
    )
    tables = [locator, _gains_table(title, result["players"])]
    if "players_feasible" in result:
        cfg = meta["config"]
        tables.append(
            _gains_table(
                "the same over the commands the game allows (end point within "
                f"{cfg['reach_tolerance_px']:g} px of where the {cfg['reach_split']!r} split's players go; "
                "'kept': their share)",
                result["players_feasible"],
            )
        )
    return tables


def _gains_table(title: str, entries: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    gains = Table(title=title)
    heads = ("player", "fraction", "other", "median gain", "min gain", "max gain", "max cross", "lost")
    kept = "kept" in entries[0]["alone"]
    for col in (
        *heads,
        *(("kept",) if kept else ()),
        "env view gain",
        "leak median",
        "leak max |.|",
        "drift px",
    ):
        gains.add_column(col, justify="right")
    for e in entries:
        for key, other in (("alone", "stays"), ("other_moving", "moves")):
            g, v = e[key], e[f"env_view_{key}"]
            gains.add_row(
                f"{e['player']} {e['name']}",
                f"{e['fraction']:.0%}",
                other,
                _fmt(g["median_gain"]),
                f"{_fmt(g['min_gain'])} {g['min_gain_direction'] or ''}",
                f"{_fmt(g['max_gain'])} {g['max_gain_direction'] or ''}",
                _fmt(g["max_cross"]),
                "n/a" if g["lost"] is None else f"{g['lost']:.0%}",
                *((f"{g['kept']:.0%}",) if kept else ()),
                _fmt(v["median_gain"]),
                *(
                    (_fmt(e["leak_median"]), _fmt(e["leak_max_abs"]), _fmt(e["drift_px"]))
                    if key == "alone"
                    else ("",) * 3
                ),
            )
    return gains


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def two_player_control_gain(
    checkpoint: str, data_dir: Path, cfg: TwoPlayerGainConfig, json_out: Path | None
) -> None:
    """``lcvg control-gain MODEL DATA --players 2``: the locator checked on the start episodes' real
    frames, then the measurement; tables printed, figures written to ``json_out``."""
    from rich.console import Console

    from lcvg_env.outputs import write_figures

    rows = cfg.starts * len(COMMAND_NAMES) ** 2 * len(cfg.fractions)
    batch = make_two_player_batch(checkpoint, min(cfg.batch_size, rows), cfg)
    locator = PlayerLocator(size=batch.size)
    frames = load_start_frames(data_dir, cfg.split, cfg.starts, batch.size)
    located = locator_errors(data_dir, cfg.split, cfg.starts, locator)
    area = None
    if cfg.reach_split is not None:
        try:
            area = reachable_area(data_dir, cfg.reach_split, batch.size, cfg.reach_tolerance_px)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(
                f"Where the game lets players go is read from the {cfg.reach_split!r} split of {data_dir}, "
                f"which could not be used ({exc}). Pass --reach-split SPLIT (a split with players_px) or "
                "--reach-split none (no feasible-command summaries)."
            ) from exc
    result = measure_two_players(batch, locator, frames, cfg, area)
    result["locator"] = located
    result["meta"].update(
        checkpoint=str(checkpoint), checkpoint_file=str(batch.checkpoint_path), data=str(data_dir)
    )
    console = Console(width=max(Console().width, 150))
    for table in render_tables(result):
        console.print(table)
    write_figures(json_out, result)
