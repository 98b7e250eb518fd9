"""The env keeps the foreground in the region its data showed (``EnvConfig.region``,
lcvg_env/control/region.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lcvg_env.checkpoint import read_metadata, save_checkpoint
from lcvg_env.cli import app
from lcvg_env.control.region import REGION_KEY, MotionRegion
from lcvg_env.env import LCVGEnv, LCVGVectorEnv
from lcvg_env.models import LayeredGenerator
from tests.env.conftest import square_frames, tiny_config
from tests.env.test_multi_foreground import perfect_generator, picture


def region_checkpoint(path: Path, size: int = 32, x0: int = 8, x1: int = 24, players: int = 1) -> Path:
    """A tiny checkpoint whose recorded region is x in [x0, x1), y in [8, 24) px (cells of 4 px), measured
    for ``players`` foregrounds."""
    pts = [(x + 2.0, y + 2.0) for x in range(x0, x1, 4) for y in range(8, 24, 4)]
    region = MotionRegion.from_centroids(np.array(pts), (size, size), cell=4, players=players)
    torch.manual_seed(0)
    generator = LayeredGenerator(tiny_config(size)).eval()
    return save_checkpoint(
        path,
        generator,
        control_mode="translation",
        start_frames=square_frames(4, size),
        extra={REGION_KEY: region.to_json()},
    )


def pushed_right(env: LCVGEnv, steps: int = 6) -> tuple[list[float], list[float]]:
    """Centroid x and the control made, while pushing right at full speed from a square at x 12-17."""
    env.reset(seed=0, options={"frame": picture((12, 12, 6))})
    xs, made = [], []
    for _ in range(steps):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
        xs.append(float(info["centroid_px"][0]))
        made.append(float(info["control_px"][0]))
    return xs, made


def test_a_push_stops_at_the_edge_of_the_data_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = region_checkpoint(tmp_path / "region.safetensors")
    env = LCVGEnv(ckpt, task="none", max_displacement=2.0, region="data")
    perfect_generator(env.core.sim, monkeypatch)
    xs, made = pushed_right(env)
    assert xs[0] == pytest.approx(17.0) and made[0] == 2.0  # inside: the whole move
    assert max(xs) < 24.0 and made[-1] == 0.0  # then held at the region's edge, and info says so
    free = LCVGEnv(ckpt, task="none", max_displacement=2.0)  # region="none", the default
    perfect_generator(free.core.sim, monkeypatch)
    xs, made = pushed_right(free)
    assert xs[-1] == pytest.approx(27.0) and set(made) == {2.0}  # without it: on and on


def test_the_region_applies_to_one_foreground_translation_and_rotation(
    tmp_path: Path, tiny_ckpt: Path
) -> None:
    ckpt = region_checkpoint(tmp_path / "region.safetensors")
    assert LCVGEnv(ckpt, task="none").core.region is None  # off unless asked for
    assert LCVGEnv(ckpt, task="none", region="data").core.region is not None
    assert LCVGEnv(ckpt, task="none", control="rotation", region="data").core.region is not None
    venv = LCVGVectorEnv(2, ckpt, task="none", region="data")
    assert venv.core.region is not None
    venv.close()
    for kwargs, message in (
        ({"control": "affine"}, "needs translation or rotation"),
        ({"players": 2}, r"centroids of whole masks.*--region auto --players 2"),
    ):
        with pytest.raises(ValueError, match=message):
            LCVGEnv(ckpt, task="none", region="data", **kwargs)
    per_player = region_checkpoint(tmp_path / "players.safetensors", players=2)
    with pytest.raises(ValueError, match=r"largest components of M.*players=1"):
        LCVGEnv(per_player, task="none", region="data")
    with pytest.raises(ValueError, match="with players > 1 translation"):
        LCVGEnv(per_player, task="none", region="data", players=2, control="rotation")
    with pytest.raises(ValueError, match=r"does not record.*--region auto"):
        LCVGEnv(tiny_ckpt, task="none", region="data")
    with pytest.raises(ValueError, match="region must be one of"):
        LCVGEnv(ckpt, region="auto")


def test_each_player_stops_at_the_region_edge_from_its_own_centroid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = region_checkpoint(tmp_path / "players.safetensors", x0=4, x1=28, players=2)
    env = LCVGEnv(ckpt, players=2, task="none", max_displacement=2.0, region="data")
    perfect_generator(env.core.sim, monkeypatch)
    env.reset(options={"frame": picture((4, 12, 6), (20, 12, 6))})  # centroids x 7 and 23
    apart = np.array([-1.0, 0.0, 1.0, 0.0], np.float32)  # player 0 left, player 1 right, full speed
    made = []
    for _ in range(6):
        _, _, _, _, info = env.step(apart)
        made.append(info["control_px"].tolist())
    xs = info["player_centroids_px"][:, 0]
    assert made[0] == [-2.0, 0.0, 2.0, 0.0]  # inside: whole moves
    assert 4.0 <= xs[0] < 6.0 and 26.0 < xs[1] <= 28.0  # then each held at its own edge
    assert made[-1] == [0.0, 0.0, 0.0, 0.0]
    _, _, _, _, info = env.step(np.array([-1.0, 0.0, -1.0, 0.0], np.float32))  # both left: 0 held, 1 free
    assert info["control_px"].tolist() == [0.0, 0.0, -2.0, 0.0]


def test_a_region_of_another_size_is_refused(tmp_path: Path) -> None:
    ckpt = region_checkpoint(tmp_path / "region.safetensors", size=32)
    meta = read_metadata(ckpt)
    wrong = MotionRegion.from_centroids(np.array([[8.0, 8.0]]), (64, 64))
    torch.manual_seed(0)
    path = save_checkpoint(
        tmp_path / "wrong.safetensors",
        LayeredGenerator(tiny_config(32)).eval(),
        control_mode="translation",
        start_frames=square_frames(4, 32),
        extra={**meta["extra"], REGION_KEY: wrong.to_json()},
    )
    with pytest.raises(ValueError, match=r"motion region is for \(64, 64\).*--region auto"):
        LCVGEnv(path, task="none", region="data")


def test_bundle_records_the_region_of_the_data(tiny_checkpoint, tmp_path: Path, red_mask) -> None:
    from tests.conftest import write_square_dataset

    data = write_square_dataset(tmp_path / "data", episodes=2, frames=5, speed=3)
    out = tmp_path / "region.safetensors"
    base = ["checkpoint", "bundle", str(tiny_checkpoint), str(out)]
    result = CliRunner().invoke(app, [*base, "--region", "auto", "--data", str(data), "--split", "test"])
    assert result.exit_code == 0, result.output
    region = MotionRegion.from_json(read_metadata(out)["extra"][REGION_KEY])
    assert region.size == (32, 32) and 2 <= region.visited.sum() <= 10 and "motion region" in result.output
    result = CliRunner().invoke(
        app,
        [*base, "--region", "auto", "--players", "2", "--data", str(data), "--split", "test", "--overwrite"],
    )
    assert result.exit_code == 0, result.output
    assert MotionRegion.from_json(read_metadata(out)["extra"][REGION_KEY]).players == 2
    assert "2 largest components" in result.output
    result = CliRunner().invoke(app, [*base, "--region", "none", "--overwrite"])
    assert result.exit_code == 0 and REGION_KEY not in read_metadata(out)["extra"]
    for bad, message in ((["auto"], "--data"), (["data"], "'auto' or 'none'")):
        result = CliRunner().invoke(app, [*base, "--region", *bad, "--overwrite"])
        assert result.exit_code != 0 and message in result.output, result.output


def test_measuring_commands_take_the_region(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["control-gain", "pusher", str(tmp_path), "--players", "2", "--region", "data"]
    )
    assert result.exit_code == 1 and "centroids of whole masks" in result.output  # pusher's: one arm
    from lcvg_env.sim_to_real import OpenLoopConfig

    assert OpenLoopConfig().region == "none"  # the env's default: the measured tables are the plain env's
