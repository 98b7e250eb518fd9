"""The built-in robot-pushing dataset: CLI, layout, ground truth aligned with the frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mujoco")

from typer.testing import CliRunner

from lcvg_env.data import VideoDataset, open_episodes
from lcvg_env.data.cli import app
from lcvg_env.data.pusher import PusherConfig, generate_pusher


@pytest.fixture(scope="module")
def pusher_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pusher")
    result = CliRunner().invoke(app, ["pusher", str(root), "--episodes", "4"])
    assert result.exit_code == 0, result.output
    return root


def test_cli_writes_layout_and_summary(pusher_root: Path) -> None:
    episodes = sorted(p.name for p in (pusher_root / "train").iterdir())
    assert episodes == ["00000", "00001", "00002", "00003"]
    assert len(list((pusher_root / "train" / "00000").glob("*.png"))) == 30
    info = json.loads((pusher_root / "dataset.json").read_text())["splits"]["train"]
    assert info["episodes"] == 4 and info["fps"] > 0 and 0.0 <= info["moved_share"] <= 1.0


def test_dataset_pairs_shapes_and_ranges(pusher_root: Path) -> None:
    ds = VideoDataset(pusher_root, split="train", size=(64, 64), frame_skip=2)
    assert len(ds.episodes) == 4 and ds.skipped == 0
    assert len(ds) == 4 * (30 - 2)
    item = ds[len(ds) - 1]
    for key in ("frame", "next"):
        assert item[key].shape == (3, 64, 64) and str(item[key].dtype) == "torch.float32"
        assert float(item[key].min()) >= -1.0 and float(item[key].max()) <= 1.0
    assert float((item["frame"] - item["next"]).abs().max()) > 0.0  # the arm moves within 2 frames


def test_frames_not_black_and_annotations_aligned(pusher_root: Path) -> None:
    for ep in open_episodes(pusher_root, "train"):
        frames, ann = ep.frames(), ep.annotations()
        assert ann is not None and frames.shape == (30, 64, 64, 3)
        assert frames.reshape(30, -1).max(axis=1).min() > 50, "black frame"
        assert ann["tip_px"].shape == (30, 2) and ann["objects_px"].shape == (30, 4, 2)
        assert ann["arm_mask"].shape == (30, 64, 64) and ann["arm_mask"].dtype == bool
        assert ann["commands"].shape == (29, 3)
        area = ann["arm_mask"].mean(axis=(1, 2))
        assert area.min() > 0.02, "the arm must be visible in every frame"


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_arm_mask_covers_projected_tip(pusher_root: Path) -> None:
    ep = open_episodes(pusher_root, "train")[1]
    ann = ep.annotations()
    assert ann is not None
    for t in range(30):
        x, y = ann["tip_px"][t]
        tip_box = (x - 4, y - 4, x + 4, y + 4)  # the gripper around the tip point, 8x8 px at 64x64
        assert _iou(_bbox(ann["arm_mask"][t]), tip_box) > 0, f"frame {t}"
        # the tip lies on the arm: a mask pixel within 2 px of it
        yy, xx = np.nonzero(ann["arm_mask"][t])
        assert np.hypot(xx + 0.5 - x, yy + 0.5 - y).min() < 2.0


def test_annotations_follow_resize(pusher_root: Path) -> None:
    ds = VideoDataset(pusher_root, size=(32, 48))
    ann = ds.annotations(0)
    assert ann is not None and ann["arm_mask"].shape == (30, 32, 48)
    # 64x64 -> cover 48 wide: scale 0.75 to 48x48, crop rows 8..40
    raw = ds.episodes[0].annotations()
    assert raw is not None
    np.testing.assert_allclose(ann["tip_px"], raw["tip_px"] * 0.75 - [0, 8], atol=1e-4)


def test_deterministic_and_objects_move(tmp_path: Path) -> None:
    a = generate_pusher(tmp_path / "a", episodes=2, frames=12, seed=3)
    generate_pusher(tmp_path / "b", episodes=2, frames=12, seed=3)
    fa = open_episodes(tmp_path / "a")[1].frames()
    fb = open_episodes(tmp_path / "b")[1].frames()
    np.testing.assert_array_equal(fa, fb)
    assert a["moved_share"] >= 0.5 and a["mean_arm_area"] > 0.03


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="split"):
        PusherConfig(split="dev")
    with pytest.raises(ValueError, match="frames"):
        PusherConfig(frames=1)


def test_hide_arm_renders_same_states_without_the_arm(tmp_path: Path) -> None:
    generate_pusher(tmp_path / "arm", episodes=1, frames=6, seed=5)
    generate_pusher(tmp_path / "free", episodes=1, frames=6, seed=5, hide_arm=True)
    arm, free = open_episodes(tmp_path / "arm")[0], open_episodes(tmp_path / "free")[0]
    a, b = arm.annotations(), free.annotations()
    assert a is not None and b is not None
    np.testing.assert_array_equal(a["tip_px"], b["tip_px"])  # same physics
    assert not b["arm_mask"].any()
    diff = np.abs(arm.frames().astype(int) - free.frames()).max(axis=-1)  # (T, H, W)
    near_arm = a["arm_mask"].copy()
    for dy in range(-2, 3):  # grow the mask by 2 px: antialiased thin parts are below half coverage
        for dx in range(-2, 3):
            near_arm |= np.roll(a["arm_mask"], (dy, dx), axis=(1, 2))
    assert diff[~near_arm].max() == 0, "only the arm's pixels may change"
    assert (diff[a["arm_mask"]] > 20).mean() > 0.8, "the arm is gone"


def test_the_arm_follows_its_commands_with_a_lag_the_response_fits(
    pusher_root: Path, tiny_checkpoint
) -> None:
    from lcvg_env.control.actuation import actuator_of_split
    from lcvg_env.data.pusher import command_pixels

    ep = open_episodes(pusher_root, split="train")[0]
    commands, motions = command_pixels(ep.annotations(), ep.source)
    assert commands.shape == motions.shape == (29, 2)
    half, _ = command_pixels(ep.annotations(), ep.source, size=32)
    np.testing.assert_allclose(half, commands / 2, rtol=1e-6, atol=1e-9)  # pixels of a 32 px frame
    from lcvg_env.model import open_model

    act = actuator_of_split(open_model(tiny_checkpoint), pusher_root, "train")
    assert act.length == 6 and "4 episodes, 116 steps" in act.source
    assert min(act.r2) > 0.6  # the lagged commands explain most of the tip's motion
    assert act.step_response(1).max() < 0.5  # less than half a command arrives in its own step
    with pytest.raises(ValueError, match=r"lack.*commands"):
        command_pixels({"tip_px": np.zeros((3, 2))}, "episode 7")


def test_bundle_records_the_arm_response_of_the_data(
    pusher_root: Path, tiny_checkpoint, tmp_path: Path
) -> None:
    from lcvg_env.checkpoint import read_metadata
    from lcvg_env.cli import app as lcvg
    from lcvg_env.control.actuation import ACTUATOR_KEY, Actuator

    out = tmp_path / "act.safetensors"
    base = ["checkpoint", "bundle", str(tiny_checkpoint), str(out)]
    result = CliRunner().invoke(lcvg, [*base, "--actuator", "auto", "--data", str(pusher_root)])
    assert result.exit_code == 0, result.output
    assert "arm response fitted on" in result.output
    act = Actuator.from_json(read_metadata(out)["extra"][ACTUATOR_KEY])
    assert act.length == 6 and "train, 4 episodes" in act.source
    assert act.region is not None and act.region.size == (32, 32)  # steered points, at the model's size
    assert "region of steered points" in result.output
    result = CliRunner().invoke(lcvg, [*base, "--actuator", "none", "--overwrite"])
    assert result.exit_code == 0 and ACTUATOR_KEY not in read_metadata(out)["extra"]
    for bad, message in ((["auto"], "--data"), (["lagged"], "'auto' or 'none'")):
        result = CliRunner().invoke(lcvg, [*base, "--actuator", *bad, "--overwrite"])
        assert result.exit_code != 0 and message in result.output, result.output
