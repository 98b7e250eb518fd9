"""Catalogue of bad data faults (issue 19; docs/faults.md): each test feeds one bad input or fault and
checks the message (it names the file or folder and says what to do) and that nothing was lost.

Cases: broken frames and annotations in training data, frame formats, dataset layouts, generating data
over a split, data writes that replace something. Exports: test_export_faults.py.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from lcvg_env.atomic import DiskFullError
from lcvg_env.checkpoint import load_checkpoint
from lcvg_env.data import DataError, DataWarning, VideoDataset, open_episodes, write_episode
from lcvg_env.data import layout as layout_module
from lcvg_env.data.episodes import load_image
from lcvg_env.data.validate import validate_split
from lcvg_training.trainer import Trainer
from tests.faults.conftest import enospc, fail_on_call, failing_writes, fills_disk
from tests.training.conftest import tiny_config, tiny_preset_object, write_squares

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])  # the header survives: only decoding fails


def _cli(*args: str):
    from lcvg_env.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _squares(root: Path) -> Path:
    write_squares(root, "train", 5, seed=0)
    write_squares(root, "val", 2, seed=1)
    return root


# ---------------------------------------------------------------- training data
def test_truncated_png_is_left_out_before_the_first_step_and_the_run_and_its_resume_finish(tmp_path):
    data = _squares(tmp_path / "data")
    _truncate(data / "train" / "00001" / "00003.png")
    _truncate(data / "val" / "00000" / "00002.png")  # read only by the stage-1 check
    cfg = tiny_config(stage1_steps=2, stage2_steps=2, checkpoint_every=3, disc_start=1)
    with pytest.warns(DataWarning) as caught:
        straight = Trainer(cfg, data, tmp_path / "straight", preset=tiny_preset_object(), progress=False)
    text = "\n".join(str(w.message) for w in caught)
    assert (
        "train/00001/00003.png" in text and "val/00000/00002.png" in text and "Delete or re-generate" in text
    )
    with pytest.warns(DataWarning, match="train/00001/00003.png"):  # so does the action range at the end
        result = straight.train()
    assert result.step == 4 and result.mask_iou is not None and result.mask_iou["frames"] == 8  # 1 of 2 val
    assert "env_defaults" in json.dumps(load_checkpoint(result.checkpoint).extra)  # the range was measured

    def stop(trainer):
        if trainer.step == 3:
            raise RuntimeError("killed")  # after the stage-1 check, after the checkpoint at step 3

    with pytest.warns(DataWarning), pytest.raises(RuntimeError, match="killed"):
        Trainer(cfg, data, tmp_path / "resumed", preset=tiny_preset_object(), progress=False).train(stop)
    with pytest.warns(DataWarning) as caught:
        resumed = Trainer(
            cfg, data, tmp_path / "resumed", preset=tiny_preset_object(), resume=True, progress=False
        )
        assert resumed.step == 3 and resumed.train().step == 4
    assert "train/00001/00003.png" in "\n".join(str(w.message) for w in caught)
    a, b = straight.generator.state_dict(), resumed.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same episodes were left out both times


def test_no_usable_val_episode_says_the_mask_check_was_not_made(tmp_path, capsys):
    data = _squares(tmp_path / "data")
    for ep in ("00000", "00001"):
        _truncate(data / "val" / ep / "00002.png")  # every val episode broken
    cfg = tiny_config(stage1_steps=1, stage2_steps=0)
    with pytest.warns(DataWarning, match="val/00000"):
        result = Trainer(cfg, data, tmp_path / "run", preset=tiny_preset_object(), progress=False).train()
    assert result.mask_iou is None
    assert "Stage 1 done: no mask check (no readable 'val' episode" in capsys.readouterr().out


def test_annotations_of_another_frame_size_are_named_not_an_index_error(tmp_path):
    data = _squares(tmp_path / "data")
    bad = data / "val" / "00001" / "annotations.npz"
    np.savez_compressed(bad, arm_mask=np.zeros((8, 16, 16), bool))  # the frames are 32x32
    ep = next(e for e in open_episodes(data, split="val") if e.name == "00001")
    with pytest.raises(
        DataError, match=r"val/00001: annotations\.npz does not match.*arm_mask is \(8, 16, 16\)"
    ):
        ep.annotations()
    cfg = tiny_config(stage1_steps=1, stage2_steps=0)
    with pytest.warns(DataWarning, match=r"val/00001.*arm_mask"):
        trainer = Trainer(cfg, data, tmp_path / "run", preset=tiny_preset_object(), progress=False)
    assert trainer.train().mask_iou["frames"] == 8  # the stage-1 check used the sound val episode


def test_annotations_with_a_frame_count_that_no_longer_matches(tmp_path):
    data = _squares(tmp_path / "data")
    (data / "train" / "00002" / "00007.png").unlink()  # a frame deleted: 7 frames, 8 rows of annotations
    with pytest.warns(DataWarning, match=r"train/00002: annotations\.npz does not match.*8 frames|7 frames"):
        ds = VideoDataset(data, size=32)
    assert len(ds.episodes) == 4 and ds.skipped == 1


def test_data_info_reports_a_one_frame_episode_that_training_leaves_out(tmp_path):
    data = _squares(tmp_path / "data")
    write_episode(data / "train", "00009", np.zeros((1, 32, 32, 3), np.uint8), {})
    result = _cli("data", "info", data)
    assert result.exit_code == 1 and "train/00009: 1 frame(s), fewer than the 2 needed" in result.output


def test_data_info_reports_what_training_would_leave_out(tmp_path):
    data = _squares(tmp_path / "data")
    _truncate(data / "train" / "00004" / "00000.png")
    result = _cli("data", "info", data)
    assert result.exit_code == 1
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert report["episodes"] == 4 and report["broken"] == 1 and "00004/00000.png" in report["problems"][0]
    assert "Delete or re-generate" in result.output
    quick = _cli("data", "info", data, "--quick")  # headers only: the truncated data is not seen
    assert quick.exit_code == 0 and '"broken": 0' in quick.stdout


def test_full_disk_mid_training_keeps_the_last_state_and_resume_finishes(tmp_path, monkeypatch):
    from lcvg_training.state import load_state

    data = _squares(tmp_path / "data")
    cfg = tiny_config(stage1_steps=2, stage2_steps=2, checkpoint_every=2, disc_start=1)
    straight = Trainer(cfg, data, tmp_path / "straight", preset=tiny_preset_object(), progress=False)
    straight.train()
    # the step-4 state does not fit: half of it lands, then ENOSPC
    failing_writes(monkeypatch, enospc(), where=lambda p: p.name.startswith(".tensors-000000004"))
    with pytest.raises(OSError, match="No space left"):
        Trainer(cfg, data, tmp_path / "run", preset=tiny_preset_object(), progress=False).train()
    assert load_state(tmp_path / "run" / "state")[1]["step"] == 2  # the last complete state
    assert not [p.name for p in (tmp_path / "run" / "state").iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    resumed = Trainer(cfg, data, tmp_path / "run", preset=tiny_preset_object(), resume=True, progress=False)
    assert resumed.step == 2 and resumed.train().step == 4
    a, b = straight.generator.state_dict(), resumed.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the disk filling up cost nothing but the wait


def test_train_command_on_a_disk_that_fills_up_is_one_line_and_resumes(tmp_path, monkeypatch):
    """The real writer's error on a full disk (not a stand-in raised before it): ``lcvg train`` stops
    with one line naming the folder, and the run continues with --resume once there is space."""
    data = _squares(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["train", data, "--out", run, "--preset", "tiny-64", "--stage1-steps", "2", "--stage2-steps", "2"]
    argv += ["--batch-size", "2", "--threads", "1", "--no-progress", "--set", "checkpoint_every=2"]
    failing_writes(monkeypatch, enospc(), where=lambda p: p.name.startswith(".tensors-000000004"))
    result = _cli(*argv)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "the disk is full: free some space or write elsewhere" in result.output
    assert "continue with --resume" in result.output
    monkeypatch.undo()
    resumed = _cli(*argv, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(run / "model.safetensors").step == 4


def test_empty_split_is_named_with_what_is_expected(tmp_path):
    data = _squares(tmp_path / "data")
    (data / "test").mkdir()
    result = _cli("data", "info", data, "--split", "test")
    assert result.exit_code == 1 and "No episodes found in" in result.output and "test" in result.output
    with pytest.raises(DataError, match="No episodes found"):
        VideoDataset(data, split="test", size=32)


def test_empty_val_split_skips_the_stage1_check_with_a_warning_not_an_error(tmp_path):
    data = tmp_path / "data"
    write_squares(data, "train", 4)
    (data / "val").mkdir()
    with pytest.warns(DataWarning, match="stage-1 mask check will be skipped"):
        trainer = Trainer(
            tiny_config(stage1_steps=1, stage2_steps=0), data, tmp_path / "r", preset=tiny_preset_object()
        )
    assert trainer.train().mask_iou is None


def test_truncated_and_fake_videos_are_named_and_left_out(tmp_path):
    from lcvg_env.env.render import write_video

    split = tmp_path / "videos" / "train"
    frames = [np.full((16, 16, 3), 30 * i, np.uint8) for i in range(6)]
    for name in ("good", "cut", "fake"):
        write_video(frames, split / f"{name}.mp4", fps=6)
    cut = split / "cut.mp4"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])
    (split / "fake.mp4").write_text("not a video")
    report = validate_split(tmp_path / "videos", "train", warn=False)
    assert [ep.name for ep in report.episodes] == ["good"] and report.broken == 2
    assert all("It may be truncated or not a video; re-encode it" in p for p in report.problems)
    result = _cli("data", "info", tmp_path / "videos")
    assert result.exit_code == 1 and "cut.mp4" in result.output and "fake.mp4" in result.output


# ---------------------------------------------------------------- frame formats
def _save(tmp_path: Path, array: np.ndarray, mode: str | None = None, **kwargs) -> Path:
    path = tmp_path / f"frame_{mode or 'x'}.png"
    img = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    img.save(path, **kwargs)
    return path


def test_16bit_grey_png_is_scaled_not_white(tmp_path):
    grey16 = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 256  # 0 .. 65280
    path = _save(tmp_path, grey16)
    assert Image.open(path).mode == "I;16"
    rgb = load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 16, 3)
    np.testing.assert_array_equal(rgb[..., 0], np.rint(grey16 / 257.0).astype(np.uint8))
    assert rgb.mean() < 200 and (rgb[..., 0] == rgb[..., 2]).all()  # was solid 255 before the fix
    folder = tmp_path / "ep"
    folder.mkdir()
    for t in range(3):
        Image.fromarray(grey16 // (t + 1)).save(folder / f"{t:05d}.png")
    frames = open_episodes(folder)[0].frames()
    assert frames.shape == (3, 16, 16, 3) and len(np.unique(frames[0])) > 200  # a ramp, not white


def _png16_rgb(path: Path, rgb16: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG (Pillow reads these but cannot write them): IHDR, one IDAT, IEND."""
    import struct
    import zlib

    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))  # filter 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def test_16bit_colour_png_keeps_its_colours(tmp_path):
    rgb16 = np.linspace(0, 65535, 8 * 8 * 3).astype(np.uint16).reshape(8, 8, 3)
    rgb = load_image(_png16_rgb(tmp_path / "deep.png", rgb16))
    assert rgb.dtype == np.uint8 and rgb.shape == (8, 8, 3)
    assert np.abs(rgb.astype(float) - rgb16 / 257.0).max() <= 1.0  # scaled, not clipped to white


def test_palette_grey_rgba_and_bilevel_frames_become_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    grey = load_image(_save(tmp_path, rgb, "L"))
    assert grey.shape == (8, 8, 3) and (grey[..., 0] == grey[..., 1]).all()
    palette = load_image(_save(tmp_path, rgb, "P"))
    assert palette.shape == (8, 8, 3) and np.abs(palette.astype(int) - rgb).mean() < 40
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], axis=-1)
    rgba[0, 0, 3] = 0  # one transparent pixel
    out = load_image(_save(tmp_path, rgba))
    np.testing.assert_array_equal(out[1:], rgb[1:])  # opaque pixels exactly
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])  # transparent: composited over black
    bilevel = load_image(_save(tmp_path, rgb, "1"))
    assert set(np.unique(bilevel)) <= {0, 255}


# ---------------------------------------------------------------- episode folders
def _episode(tmp_path: Path, names: list[str], sizes: list[int] | None = None) -> Path:
    folder = tmp_path / "ep"
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        side = sizes[i] if sizes else 8
        Image.fromarray(np.full((side, side, 3), 10 * i, np.uint8)).save(folder / name)
    return folder


def test_a_non_image_file_with_a_frame_suffix_is_named(tmp_path):
    folder = _episode(tmp_path, ["00000.png", "00001.png"])
    (folder / "00002.png").write_text("not an image")
    (folder / "notes.txt").write_text("not a frame suffix: ignored")
    with pytest.raises(DataError, match=r"ep/00002\.png is not an image"):
        open_episodes(folder, strict=True)


def test_frames_of_different_sizes_in_one_episode_are_named(tmp_path):
    _episode(tmp_path, ["00000.png", "00001.png", "00002.png"], sizes=[8, 8, 12])
    with pytest.raises(DataError, match=r"00002\.png is 12x12 but 00000\.png is 8x8"):
        open_episodes(tmp_path / "ep", strict=True)


def test_an_unnumbered_image_among_numbered_frames_is_named(tmp_path):
    _episode(tmp_path, ["00000.png", "00001.png", "thumbnail.png"])
    with pytest.raises(DataError, match=r"thumbnail\.png has no number"):
        open_episodes(tmp_path / "ep", strict=True)


def test_a_missing_frame_and_duplicate_numbers_are_named(tmp_path):
    _episode(tmp_path / "a", ["00000.png", "00001.png", "00003.png"])
    with pytest.raises(DataError, match=r"frame numbers go from 1 to 3 .*a frame is missing"):
        open_episodes(tmp_path / "a" / "ep", strict=True)
    _episode(tmp_path / "b", ["frame_1.png", "img_1.png"])
    with pytest.raises(DataError, match="have the same number 1"):
        open_episodes(tmp_path / "b" / "ep", strict=True)
    only_names = _episode(tmp_path / "c", ["a.png", "b.png"])  # no numbers at all: name order, accepted
    assert open_episodes(only_names)[0].num_frames == 2


class _RunsCode:
    """Unpickling this makes the folder ``marker``: a stand-in for code hidden in a data file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_annotations_holding_a_pickle_are_refused_and_run_nothing(tmp_path):
    data = _squares(tmp_path / "data")
    path = data / "train" / "00000" / "annotations.npz"
    arrays = dict(np.load(path))
    np.savez(path, **arrays, note=np.array([_RunsCode(tmp_path / "ran")], dtype=object))
    with pytest.raises(DataError, match=r"00000/annotations\.npz: Object arrays cannot be loaded"):
        open_episodes(data)[0].annotations()
    result = _cli("data", "info", data)
    assert result.exit_code == 1 and "00000/annotations.npz" in result.output
    assert not (tmp_path / "ran").exists()


def test_a_damaged_annotations_file_is_named(tmp_path):
    data = _squares(tmp_path / "data")
    path = data / "train" / "00000" / "annotations.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"Cannot read annotations .*00000/annotations\.npz"):
        open_episodes(data)[0].annotations()


# ---------------------------------------------------------------- generating data
def test_full_disk_while_generating_data_keeps_the_episode_it_was_replacing(tmp_path, monkeypatch):
    split = tmp_path / "data" / "train"
    old = np.full((3, 8, 8, 3), 7, np.uint8)
    write_episode(split, "00000", old, {"tip_px": np.zeros((3, 2), np.float32)})
    monkeypatch.setattr(layout_module.np, "savez_compressed", fills_disk)
    with pytest.raises(
        DiskFullError, match=r"No space left on the disk of .*train while writing episode 00000"
    ):
        write_episode(split, "00000", np.zeros((3, 8, 8, 3), np.uint8), {"tip_px": np.ones((3, 2))})
    assert sorted(p.name for p in split.iterdir()) == ["00000"]  # no half-written folder left
    np.testing.assert_array_equal(open_episodes(split.parent)[0].frames(), old)


def test_full_disk_in_data_generation_cli_is_a_message(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    monkeypatch.setattr(layout_module.np, "savez_compressed", fills_disk)
    result = _cli("data", "breakout", tmp_path / "bk", "--episodes", "1", "--frames", "3")
    assert result.exit_code == 1 and "No space left on the disk of" in result.output
    assert "Traceback" not in result.output


def test_generating_into_a_split_another_seed_made_is_refused_unless_overwrite(tmp_path):
    pytest.importorskip("mujoco")
    root = tmp_path / "d"
    args = ("data", "pusher", root, "--episodes", "2", "--frames", "3", "--size", "32")
    assert _cli(*args, "--seed", "0").exit_code == 0
    before = open_episodes(root, split="train")[0].frames()
    assert _cli(*args, "--seed", "0", "--episodes", "3").exit_code == 0  # the same recipe: extended
    np.testing.assert_array_equal(open_episodes(root, split="train")[0].frames(), before)
    result = _cli(*args, "--seed", "5")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "already holds 3 episode(s) (made by generator='pusher', seed=0" in result.output
    assert "pass --overwrite" in result.output
    np.testing.assert_array_equal(open_episodes(root, split="train")[0].frames(), before)  # untouched
    (root / "train" / "my_notes").mkdir()  # a folder of the user's own in the split
    (root / "train" / "my_notes" / "a.txt").write_text("keep")
    assert _cli(*args, "--seed", "5", "--overwrite").exit_code == 0
    names = sorted(p.name for p in (root / "train").iterdir())
    assert names == ["00000", "00001", "my_notes"]  # the old third episode went; the user's folder stays
    assert (root / "train" / "my_notes" / "a.txt").read_text() == "keep"
    episodes = open_episodes(root, split="train")
    assert not np.array_equal(episodes[0].frames(), before)


BAD_DATA_SETTINGS = [  # (generator, settings that make a tiny run, one bad setting)
    ("pusher", ("--frames", "3", "--size", "32"), ("--episodes", "0")),
    ("pusher", ("--frames", "3", "--size", "32"), ("--frames", "1")),
    ("pusher", ("--frames", "3", "--size", "32"), ("--size", "3")),
    ("breakout", ("--frames", "3"), ("--height", "5", "--width", "5")),
    ("breakout", ("--frames", "3"), ("--episodes", "0")),
    ("atari-tennis", ("--frames", "3", "--size", "32"), ("--size", "200")),
    ("atari-tennis", ("--frames", "3", "--size", "32"), ("--frameskip", "0")),
]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("generator", "tiny", "bad"), BAD_DATA_SETTINGS)
def test_refused_data_settings_leave_an_existing_split_and_its_dataset_json_as_they_were(
    tmp_path, generator, tiny, bad
):
    root = tmp_path / "d"
    for i in range(2):
        write_episode(root / "train", f"{i:05d}", np.full((3, 32, 32, 3), 40 * i, np.uint8), {})
    recipe = {"generator": generator, "seed": 0, "frames": 3, "episodes": 2, "complete": True}
    layout_module.update_dataset_info(root, "train", recipe)
    before = _files(root)
    result = _cli("data", generator, root, *tiny, "--seed", "5", *bad, "--overwrite")
    assert result.exit_code == 2 and "Invalid value" in result.output and "Traceback" not in result.output
    assert _files(root) == before  # dataset.json still records seed 0: nothing was written
    result = _cli("data", generator, root, *tiny, "--seed", "5", "--episodes", "1")  # no --overwrite
    assert result.exit_code == 1 and "already holds 2 episode(s)" in result.output
    assert "pass --overwrite" in result.output
    assert _files(root) == before


@pytest.mark.parametrize(("generator", "tiny", "bad"), BAD_DATA_SETTINGS)
def test_refused_data_settings_on_a_new_folder_create_nothing(tmp_path, generator, tiny, bad):
    result = _cli("data", generator, tmp_path / "new", *tiny, *bad)
    assert result.exit_code == 2 and "Invalid value" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "new").exists()


def test_ctrl_c_while_generating_data_says_what_is_kept_and_the_same_command_continues(tmp_path, monkeypatch):
    pytest.importorskip("mujoco")
    from lcvg_env.data import pusher as pusher_module

    # Ctrl-C while the second episode is written
    fail_on_call(monkeypatch, pusher_module, "write_episode", 2, KeyboardInterrupt())
    root = tmp_path / "d"
    args = ("data", "pusher", root, "--episodes", "2", "--frames", "3", "--size", "32")
    result = _cli(*args)
    assert result.exit_code == 130 and "Interrupted: the finished episodes in" in result.output
    assert sorted(p.name for p in (root / "train").iterdir()) == ["00000"]
    monkeypatch.undo()
    assert _cli(*args).exit_code == 0  # the same command again: allowed, and it finishes the split
    assert [e.name for e in open_episodes(root, split="train")] == ["00000", "00001"]


def test_a_generation_stopped_part_way_can_be_run_again_and_other_splits_do_not_count(tmp_path):
    from lcvg_env.data.layout import begin_split, check_split_free

    root = tmp_path / "d"
    recipe = {"generator": "pusher", "seed": 0, "frames": 30, "size": 64, "episodes": 240}
    write_episode(root / "train", "00000", np.zeros((3, 8, 8, 3), np.uint8), {})  # what a stopped run left
    (root / "dataset.json").write_text(json.dumps({"splits": {"val": {"generator": "pusher", "seed": 1000}}}))
    with pytest.raises(
        FileExistsError, match="not made by this generator"
    ):  # no record: refused, no KeyError
        check_split_free(root, "train", recipe)
    begin_split(root, "train", recipe)  # what `lcvg data` records before its first episode
    check_split_free(root, "train", recipe)  # the same command again: allowed
    with pytest.raises(FileExistsError, match="seed=0"):
        check_split_free(root, "train", {**recipe, "seed": 5})
    assert json.loads((root / "dataset.json").read_text())["splits"]["val"]["seed"] == 1000  # kept


# ---------------------------------------------------------------- writes that replace something
def test_killed_episode_rewrite_leaves_the_old_episode(tmp_path, monkeypatch):
    split = tmp_path / "data" / "train"
    old = np.full((2, 8, 8, 3), 9, np.uint8)
    write_episode(split, "00000", old)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(layout_module.np, "savez_compressed", killed)
    with pytest.raises(KeyboardInterrupt):
        write_episode(split, "00000", np.zeros((2, 8, 8, 3), np.uint8), {"x": np.zeros(2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the leftover temporary folder is hidden, not a broken episode
        episodes = open_episodes(split.parent)
    assert len(episodes) == 1
    np.testing.assert_array_equal(episodes[0].frames(), old)


def test_killed_dataset_info_update_keeps_the_old_file(tmp_path, monkeypatch):
    root = tmp_path / "data"
    layout_module.update_dataset_info(root.mkdir() or root, "train", {"episodes": 3})
    before = (root / "dataset.json").read_text()

    real_write = Path.write_text

    def killed(self, text, *args, **kwargs):  # killed half-way through writing the new file
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        layout_module.update_dataset_info(root, "val", {"episodes": 1})
    monkeypatch.undo()
    assert (root / "dataset.json").read_text() == before
    assert [p.name for p in root.iterdir()] == ["dataset.json"]  # no temporary left


def test_validate_split_limit_and_strict(tmp_path):
    data = _squares(tmp_path / "data")
    _truncate(data / "train" / "00000" / "00001.png")
    report = validate_split(data, "train", limit=2, warn=False)
    assert [ep.name for ep in report.episodes] == ["00001", "00002"] and report.broken == 1
    with pytest.raises(DataError, match=r"00000/00001\.png"):
        validate_split(data, "train", strict=True)
