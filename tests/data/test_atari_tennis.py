"""Atari Tennis episodes from ale-py: layout, RAM ground truth matching the screen, both players moving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")

from typer.testing import CliRunner

from lcvg_env.data import atari_tennis_ram as tr
from lcvg_env.data import open_episodes
from lcvg_env.data.atari_tennis import generate_atari_tennis, make_env
from lcvg_env.data.atari_tennis_view import CourtView, box_weights
from lcvg_env.data.cli import app

FRAMES = 12


@pytest.fixture(scope="module")
def tennis_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tennis")
    args = ["atari-tennis", str(root), "--episodes", "2", "--frames", str(FRAMES), "--seed", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root


def test_frames_and_annotation_shapes(tennis_root: Path) -> None:
    episodes = open_episodes(tennis_root)
    assert len(episodes) == 2
    for ep in episodes:
        frames, ann = ep.frames(), ep.annotations()  # annotations() checks *_px / *_mask against frames
        assert ann is not None and frames.shape == (FRAMES, 64, 64, 3)
        assert ann["players_px"].shape == (FRAMES, 2, 2)
        assert ann["ours_mask"].shape == ann["opponent_mask"].shape == (FRAMES, 64, 64)
        assert ann["actions"].shape == (FRAMES - 1,) and ann["commands"].shape == (FRAMES - 1, 2)
        assert ann["ram"].shape == (FRAMES, 128) and ann["our_side"].shape == (FRAMES,)


def test_players_px_lie_on_their_masks(tennis_root: Path) -> None:
    """The RAM positions agree with the colour-segmented players in the saved frames (within 1 px)."""
    for ep in open_episodes(tennis_root):
        ann = ep.annotations()
        assert ann is not None
        for player, key in ((tr.OURS, "ours_mask"), (tr.OPPONENT, "opponent_mask")):
            masks = ann[key]
            assert masks.sum((1, 2)).min() >= 6, f"{key}: a player is (nearly) missing"
            err = np.linalg.norm(tr.mask_centroids(masks) - ann["players_px"][:, player], axis=-1)
            assert err.max() < 1.0, f"{ep.name} {key}: RAM vs mask centroid {err.max():.2f} px"
            assert not (ann["ours_mask"] & ann["opponent_mask"]).any()


def test_ram_matches_screen_on_seeded_play() -> None:
    """On the 210x160 screen: RAM centroids within 2 px of the colour masks, our side from RAM 80."""
    env = make_env(frameskip=4)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    lines = tr.court_lines(obs, env.unwrapped.ale.getRAM())
    errors, sides_ok = [], []
    for t in range(600):
        obs, *_ = env.step(int(rng.integers(18)))
        if t % 20:
            continue
        ram = env.unwrapped.ale.getRAM()
        masks = tr.player_masks(obs, lines)
        errors.append(np.linalg.norm(tr.players_from_ram(ram) - tr.mask_centroids(masks), axis=-1))
        ours_rows = np.nonzero(masks[tr.OURS].any(1))[0]
        sides_ok.append((ours_rows.mean() > tr.NET_ROW) == bool(tr.our_side(ram)))
    env.close()
    assert np.max(errors) < 2.0 and all(sides_ok)


def test_our_player_follows_the_joystick(tennis_root: Path) -> None:
    """Index 0 is the joystick's player: wherever it moves sideways, it moves the commanded way."""
    steps, commands = [], []
    for ep in open_episodes(tennis_root):
        ann = ep.annotations()
        assert ann is not None
        steps.append(np.diff(ann["players_px"][:, tr.OURS, 0]))
        commands.append(ann["commands"][:, 0])
    dx, cmd = np.concatenate(steps), np.concatenate(commands)
    moved = np.abs(dx) > 1.0  # more than a sprite's mirror shift in saved pixels
    assert moved.sum() >= 3 and (np.sign(dx[moved]) == cmd[moved]).all()


def test_same_seed_same_episode(tmp_path: Path) -> None:
    a = generate_atari_tennis(tmp_path / "a", episodes=1, frames=4, seed=5, max_warmup=20)
    b = generate_atari_tennis(tmp_path / "b", episodes=1, frames=4, seed=5, max_warmup=20)
    assert a["episodes"] == b["episodes"] == 1
    ea, eb = open_episodes(tmp_path / "a")[0], open_episodes(tmp_path / "b")[0]
    assert np.array_equal(ea.frames(), eb.frames())
    assert np.array_equal(ea.annotations()["ram"], eb.annotations()["ram"])


def test_court_view_maps_frames_masks_and_points_alike() -> None:
    view = CourtView(64)
    assert np.allclose(box_weights(171, 64).sum(1), 1.0)
    top, left, h, w = view.box
    assert np.allclose(view.points(np.array([[left, top], [left + w, top + h]])), [[0, 0], [64, 64]])
    screen = np.zeros((210, 160, 3), dtype=np.uint8)
    screen[top + 40 : top + 80, left + 30 : left + 60] = 200  # a block: frame, mask and points agree
    mask = view.masks(screen[None, ..., 0] > 0)[0]
    frame = view.frame(screen)
    assert (frame[mask, 0] >= 50).all() and (frame[~mask, 0] < 150).all()
    centre = view.points(np.array([left + 45.0, top + 60.0]))
    assert np.allclose(tr.mask_centroids(mask[None])[0], centre, atol=0.5)
    with pytest.raises(ValueError, match="size"):
        CourtView(200)
