"""Two-player control gain: the scores of synthetic movers through the real env core (a perfect one, one
that leaks a command into the other player, one that swaps them) and ``lcvg control-gain --players 2``
end to end on a tiny random checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_env.cli import app
from lcvg_env.control_gain_players import (
    COMMAND_NAMES,
    TwoPlayerGainConfig,
    command_vectors,
    make_two_player_batch,
    measure_two_players,
    pair_actions,
    reachable_commands,
    score,
)
from lcvg_env.data import write_episode
from lcvg_env.data.atari_tennis_ram import PLAYER_COLOURS
from lcvg_env.metrics.players import COURT_COLOUR, PlayerLocator, reachable_area
from tests.env.conftest import make_checkpoint

SIZE = 64
PLAYER_HW = (6.0, 4.0)  # a player's box, h x w px, about the data's at 64x64

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def court(centres: np.ndarray) -> np.ndarray:
    """uint8 (N, SIZE, SIZE, 3): the two players (ours, opponent) as antialiased boxes at (N, 2, 2) (x, y)
    centres on the grass (each pixel coloured by the share of it the box covers, as the data's view)."""
    edges = np.arange(SIZE, dtype=np.float64)
    out = np.empty((len(centres), SIZE, SIZE, 3))
    out[:] = COURT_COLOUR
    for i, players in enumerate(centres):
        for (x, y), colour in zip(players, PLAYER_COLOURS, strict=True):
            h, w = PLAYER_HW
            cover_x = np.clip(np.minimum(edges + 1, x + w / 2) - np.maximum(edges, x - w / 2), 0, 1)
            cover_y = np.clip(np.minimum(edges + 1, y + h / 2) - np.maximum(edges, y - h / 2), 0, 1)
            cover = cover_y[:, None, None] * cover_x[None, :, None]  # (H, W, 1)
            out[i] = (1 - cover) * out[i] + cover * np.asarray(colour, dtype=np.float64)
    return np.round(out).astype(np.uint8)


class TwoPlayerSim:
    """A fake simulator: player k moves by ``mix[k, j]`` times player j's commanded pixels (identity: each
    as commanded); the env's view (its tracker) holds the true positions."""

    def __init__(self, num_envs: int, mix: np.ndarray, bands: tuple | None = None) -> None:
        self.size, self.mix, self.bands = (SIZE, SIZE), mix, bands
        self.pos = np.zeros((num_envs, 2, 2))
        self.centroids = np.zeros((num_envs, 2), dtype=np.float32)
        self.tracker = SimpleNamespace(
            masks=np.zeros((num_envs, 2, SIZE, SIZE), bool),
            centroids=self.pos,
            present=np.ones((num_envs, 2), bool),
        )

    def load(self, rows: np.ndarray, frames: np.ndarray) -> None:
        self.pos[rows] = PlayerLocator().locate(frames)[0]

    def step(self, controls_norm: np.ndarray) -> None:
        px = controls_norm.reshape(-1, 2, 2) * (SIZE / 2)  # normalized units -> pixels, per player
        self.pos += np.einsum("kj,bjc->bkc", self.mix, px)
        if self.bands is not None:  # each player kept on its half's band of rows, as the game does
            top, bottom = self.bands
            y = self.pos[..., 1]
            self.pos[..., 1] = np.where(y < SIZE / 2, y.clip(*top), y.clip(*bottom))

    def observations(self) -> np.ndarray:
        return court(self.pos)

    def mask_arrays(self) -> np.ndarray:
        return np.zeros((len(self.pos), SIZE, SIZE), dtype=bool)


@pytest.fixture(scope="module")
def ckpt64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny64.safetensors", SIZE)


STARTS = np.array([[[30.0, 14.0], [34.0, 46.0]], [[33.5, 47.2], [29.0, 15.5]]])  # either end of the court


def run(ckpt: Path, mix: np.ndarray, bands: tuple | None = None, area: np.ndarray | None = None) -> dict:
    cfg = TwoPlayerGainConfig(starts=2, fractions=(0.5, 1.0), steps=3, batch_size=64, region="none")
    batch = make_two_player_batch(ckpt, cfg.batch_size, cfg)
    batch.cfg.max_displacement = 2.0
    batch.controls = type(batch.controls)("translation", (SIZE, SIZE), 2.0, 0.2, players=2)
    batch.sim = TwoPlayerSim(cfg.batch_size, mix, bands)
    return measure_two_players(batch, PlayerLocator(), court(STARTS), cfg, area)


def entry(result: dict, player: int, fraction: float) -> dict:
    return next(e for e in result["players"] if e["player"] == player and e["fraction"] == fraction)


def test_commands_and_actions(ckpt64: Path) -> None:
    u = command_vectors()
    assert u.shape == (9, 2) and COMMAND_NAMES[0] == "stay" and not u[0].any()
    batch = make_two_player_batch(ckpt64, 1, TwoPlayerGainConfig(region="none"))
    actions = pair_actions(batch, 0.5)  # (9, 9, 4): player 0's command on rows, player 1's on columns
    assert actions.shape == (9, 9, 4)
    np.testing.assert_allclose(actions[1, 0], [0.5, 0, 0, 0])  # E for player 0, player 1 stays
    np.testing.assert_allclose(actions[0, 3], [0, 0, 0, -0.5], atol=1e-7)  # N for player 1
    np.testing.assert_allclose(np.linalg.norm(actions[1:, 0, :2], axis=-1), 0.5)


def test_a_perfect_mover_scores_gain_one_and_no_leak(ckpt64: Path) -> None:
    result = run(ckpt64, np.eye(2))
    assert result["meta"]["start_frames_with_player"] == [2, 2]
    assert len(result["players"]) == 4
    for e in result["players"]:
        for key in ("alone", "other_moving"):
            g = e[key]
            assert abs(g["median_gain"] - 1) < 0.05 and abs(g["min_gain"] - 1) < 0.05, (e, key)
            assert abs(g["max_gain"] - 1) < 0.05 and g["max_cross"] < 0.05 and g["lost"] == 0
            assert set(g["per_direction_gain"]) == set(COMMAND_NAMES[1:])
            assert abs(e[f"env_view_{key}"]["median_gain"] - 1) < 1e-6  # the fake env's view is exact
        assert abs(e["leak_median"]) < 0.05 and e["leak_max_abs"] < 0.05 and e["drift_px"] < 0.01


def test_lost_players_are_counted_per_direction(ckpt64: Path) -> None:
    from lcvg_env.control_gain_players import _gain_summary

    gain = np.ones((4, 9, 9))  # (S, own command of player 0, player 1's)
    north = COMMAND_NAMES.index("N")
    gain[:, north, 1:] = np.nan  # player 0 lost whenever it goes north while the other moves
    gain[0, COMMAND_NAMES.index("E"), 1:5] = np.nan  # and in half of one start's east runs
    summary = _gain_summary(gain, np.zeros_like(gain), 0, other_moving=True)
    lost = summary["per_direction_lost"]
    assert lost["N"] == 1.0 and lost["E"] == 0.125 and lost["W"] == 0.0  # 4 of 32 east runs
    assert summary["lost"] == round((32 + 4) / (8 * 32), 4)
    keep = np.ones(gain.shape, bool)
    keep[:, north] = False  # the game does not allow north: neither scored nor lost
    kept = _gain_summary(gain, np.zeros_like(gain), 0, other_moving=True, keep=keep)
    assert kept["per_direction_lost"]["N"] is None and kept["per_direction_lost"]["E"] == 0.125


def test_a_command_that_leaks_into_the_other_player_is_measured(ckpt64: Path) -> None:
    result = run(ckpt64, np.array([[1.0, 0.0], [0.5, 1.0]]))  # player 1 also follows half of player 0's
    for frac in (0.5, 1.0):
        assert abs(entry(result, 1, frac)["leak_median"] - 0.5) < 0.05
        assert abs(entry(result, 0, frac)["leak_median"]) < 0.05
        assert abs(entry(result, 1, frac)["alone"]["median_gain"] - 1) < 0.05
        assert entry(result, 1, frac)["other_moving"]["max_cross"] > 0.3  # the other's pull bends its path


def test_swapped_commands_give_no_gain_and_full_leak(ckpt64: Path) -> None:
    result = run(ckpt64, np.array([[0.0, 1.0], [1.0, 0.0]]))
    for k in (0, 1):
        e = entry(result, k, 1.0)
        assert abs(e["alone"]["median_gain"]) < 0.05 and abs(e["leak_median"] - 1) < 0.05


BANDS = ((9.0, 19.0), (41.0, 51.0))  # rows the fake game keeps the top and the bottom player in


def band_area() -> np.ndarray:
    area = np.zeros((SIZE, SIZE), dtype=bool)
    for lo, hi in BANDS:
        area[int(lo) : int(hi) + 1] = True
    return area


def test_commands_the_game_does_not_allow_are_scored_apart(ckpt64: Path) -> None:
    """A perfect mover held on its half: 6 px down (100 %, 3 steps) leaves every start's band and 6 px up
    all but one, so the vertical gains over all commands fall short, while over the commands that end
    inside the area the player follows exactly; 3 px (50 %) stays inside and nothing is dropped."""
    result = run(ckpt64, np.eye(2), BANDS, band_area())
    for k in (0, 1):
        full, allowed = (
            entry(result, k, 1.0),
            next(e for e in result["players_feasible"] if e["player"] == k and e["fraction"] == 1.0),
        )
        assert full["alone"]["min_gain"] < 0.8 and full["alone"]["min_gain_direction"] in ("N", "S")
        assert allowed["alone"]["per_direction_gain"]["S"] is None  # no start has 6 px of room below
        assert abs(allowed["alone"]["per_direction_gain"]["N"] - 1) < 0.05  # one start has it above
        assert allowed["alone"]["min_gain"] > 0.95 and allowed["alone"]["max_gain"] < 1.05
        assert 0.5 < allowed["alone"]["kept"] < 1 and allowed["alone"]["lost"] == 0
        half = next(e for e in result["players_feasible"] if e["player"] == k and e["fraction"] == 0.5)
        assert half["alone"]["kept"] == 1 and half["alone"]["min_gain"] > 0.95
    assert result["meta"]["reachable_pixels"] == band_area().sum()
    assert "players_feasible" not in run(ckpt64, np.eye(2))


def test_reachable_commands_follow_the_located_start() -> None:
    start = np.array([[[30.0, 14.0], [np.nan, np.nan]]])  # (S=1, K=2, 2): the opponent not found
    keep = reachable_commands(start, band_area(), np.array([2.0]), 3)  # 6 px per command
    assert keep.shape == (1, 9, 9, 1, 2)
    names = list(COMMAND_NAMES)
    assert keep[0, names.index("stay"), :, 0, 0].all() and keep[0, names.index("E"), :, 0, 0].all()
    assert not keep[0, names.index("N"), :, 0, 0].any() and not keep[0, names.index("S"), :, 0, 0].any()
    assert not keep[..., 1].any()  # a player not found at the start is never scored


def test_reachable_area_is_where_the_data_puts_players(tmp_path: Path) -> None:
    area = reachable_area(tennis_data(tmp_path / "data"), "test", (SIZE, SIZE), tolerance_px=2.0)
    assert area.shape == (SIZE, SIZE)
    assert area[14, 30] and area[14, 32] and area[16, 30] and area[46, 34] and area[47, 33]
    assert not area[19, 30] and not area[14, 40] and not area[30, 30]  # 3 px and more from any player
    with pytest.raises(ValueError, match="players_px"):
        write_episode(tmp_path / "plain" / "test", "00000", court(STARTS[:1]), {})
        reachable_area(tmp_path / "plain", "test", (SIZE, SIZE))


def test_score_is_nan_where_undefined() -> None:
    positions = np.zeros((1, 9, 9, 1, 2, 2, 2))
    out = score(positions, np.array([1.0]), 5)
    assert out["gain"].shape == (1, 9, 9, 1, 2) and out["drift_px"].shape == (1, 1, 2)
    assert np.isnan(out["gain"][0, 0, :, 0, 0]).all() and np.isfinite(out["gain"][0, 1:, :, 0, 0]).all()
    assert np.isnan(out["gain"][0, :, 0, 0, 1]).all()  # player 1 stays in column 0
    leak = out["leak"][..., 0]  # player 0's leak: defined where it stays and player 1 moves
    assert np.isfinite(leak[0, 0, 1:, 0]).all() and np.isnan(leak[0, 1:]).all() and np.isnan(leak[0, 0, 0])


def test_config_is_checked() -> None:
    for bad in ({"starts": 0}, {"steps": 0}, {"fractions": (0.5, 2.0)}):
        with pytest.raises(ValueError):
            TwoPlayerGainConfig(**bad)


def tennis_data(root: Path, episodes: int = 2, frames: int = 3) -> Path:
    """A small Atari-Tennis-like test split: the two players drifting, with players_px and masks."""
    for i in range(episodes):
        centres = STARTS[i % 2][None] + np.arange(frames)[:, None, None] * np.array([1.0, 0.0])
        ann = {
            "players_px": centres.astype(np.float32),
            "ours_mask": (court(centres) == PLAYER_COLOURS[0]).all(-1),
            "opponent_mask": (court(centres) == PLAYER_COLOURS[1]).all(-1),
        }
        write_episode(root / "test", f"{i:05d}", court(centres), ann)
    return root


def test_cli_two_players_on_a_tiny_model(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "tiny32.safetensors", 32)  # the data's 64x64 frames resized to 32
    data = tennis_data(tmp_path / "data")
    out = tmp_path / "gain.json"
    args = ["control-gain", str(ckpt), str(data), "--players", "2", "--starts", "1", "--json", str(out)]
    unbounded = CliRunner().invoke(app, [*args, "--threads", "1"])  # the id's region="data" by default
    assert unbounded.exit_code == 1 and "--region auto --players 2" in unbounded.output and not out.exists()
    args += ["--region", "none"]  # a model without a recorded region: the plain env
    missing = CliRunner().invoke(app, [*args, "--threads", "1"])  # no train split to read the court from
    assert missing.exit_code == 1 and "--reach-split" in missing.output and not out.exists()
    result = CliRunner().invoke(app, [*args, "--threads", "1", "--reach-split", "test"])
    assert result.exit_code == 0, result.output
    assert "the commands the game allows" in result.output
    assert "player locator" in result.output and "two-player control gain" in result.output
    figures = json.loads(out.read_text())
    assert len(figures["players_feasible"]) == 4 and figures["meta"]["reachable_pixels"] > 0
    assert figures["locator"]["frames"] == 3 and figures["locator"]["ours"]["median_px"] < 0.3
    assert [(e["player"], e["fraction"]) for e in figures["players"]] == [
        (0, 0.5),
        (0, 1.0),
        (1, 0.5),
        (1, 1.0),
    ]
    bad = CliRunner().invoke(app, ["control-gain", str(ckpt), str(data), "--players", "3"])
    assert bad.exit_code == 1 and "--players must be 1" in bad.output
