"""Readers behind one API: the layout, flat episode folders, video files, BAIR TFRecords; resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lcvg_env.data import (
    FolderEpisode,
    ResizeCrop,
    TFRecordEpisode,
    VideoDataset,
    VideoFileEpisode,
    open_episodes,
)
from lcvg_env.data.tfrecord import (
    crc32c,
    index_tfrecord,
    masked_crc,
    parse_example,
    serialize_example,
    write_tfrecord,
)


def test_layout_splits_and_annotations(layout_root: Path, square_frames) -> None:
    train, val = open_episodes(layout_root, "train"), open_episodes(layout_root, "val")
    assert [ep.name for ep in train] == ["00000", "00001", "00002"] and len(val) == 1
    assert all(isinstance(ep, FolderEpisode) for ep in train)
    np.testing.assert_array_equal(train[1].frames(), square_frames(6, 32, 40, seed=1))
    ann = train[0].annotations()
    assert ann is not None and ann["square_px"].shape == (6, 2)


def test_flat_folder_of_episodes(tmp_path: Path, make_layout) -> None:
    make_layout(tmp_path, {"flat": 2})
    assert len(open_episodes(tmp_path / "flat", split="train")) == 2  # no split folders: split ignored
    assert len(open_episodes(tmp_path / "flat" / "00001")) == 1  # one episode folder on its own


def test_dataset_pairs_are_k_apart(layout_root: Path) -> None:
    ds = VideoDataset(layout_root, size=(32, 40), frame_skip=2)
    assert len(ds) == 3 * (6 - 2)
    ep, t = ds.locate(5)
    assert (ep, t) == (1, 1)
    frames = ds.episode_frames(1)
    expected = torch.from_numpy(frames[t + 2]).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(ds[5]["next"], expected)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)
    assert next(iter(loader))["frame"].shape == (4, 3, 32, 40)


def test_resize_crop_geometry() -> None:
    op = ResizeCrop(src=(96, 256), dst=(64, 64))  # Tennis-like wide frames to a square
    assert op.resized == (64, 171) and op.offset == (53, 0)
    frame = np.zeros((96, 256, 3), np.uint8)
    frame[:, 128:] = 255  # right half white: the centre crop straddles the edge
    out = op.frame(frame)
    assert out.shape == (64, 64, 3) and out[:, :20].max() == 0 and out[:, -20:].min() == 255
    np.testing.assert_allclose(
        op.points(np.array([[128.0, 48.0]])), [[128 * 171 / 256 - 53, 32.0]], atol=1e-4
    )
    mask = np.zeros((96, 256), bool)
    mask[:, 128:] = True
    assert op.mask(mask)[:, 40:].all() and not op.mask(mask)[:, :20].any()


def test_cache_is_bounded(layout_root: Path) -> None:
    one_episode = 6 * 32 * 40 * 3
    ds = VideoDataset(layout_root, size=(32, 40), cache_bytes=one_episode, preload=False)
    for i in range(len(ds)):
        ds[i]
    assert len(ds._cache) == 1


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_video_folder(tmp_path: Path, suffix: str, square_frames) -> None:
    import imageio.v2 as iio

    frames = square_frames(8, 32, 48)
    for i in range(2):
        path = tmp_path / "videos" / f"clip{i}{suffix}"
        path.parent.mkdir(exist_ok=True)
        if suffix == ".gif":
            from PIL import Image

            imgs = [Image.fromarray(f) for f in frames]
            imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=100, loop=0)
        else:
            iio.mimwrite(path, frames, fps=10, macro_block_size=1)
    eps = open_episodes(tmp_path / "videos")
    assert [ep.name for ep in eps] == ["clip0", "clip1"] and isinstance(eps[0], VideoFileEpisode)
    decoded = eps[0].frames()
    assert decoded.shape == (8, 32, 48, 3)
    assert np.abs(decoded.astype(int) - frames).mean() < 20  # lossy codecs, same content
    assert VideoDataset(tmp_path / "videos", size=(16, 16))[0]["frame"].shape == (3, 16, 16)


def bair_record(frames: np.ndarray, encode_png: bool) -> bytes:
    import io

    from PIL import Image

    features: dict = {}
    for t, frame in enumerate(frames):
        if encode_png:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="PNG")
            data = buf.getvalue()
        else:
            data = frame.tobytes()
        features[f"{t}/image_aux1/encoded"] = data
        features[f"{t}/image_main/encoded"] = data
        features[f"{t}/action"] = np.array([0.1 * t, -0.2, 0.0, 1.0], np.float32)
        features[f"{t}/endeffector_pos"] = np.array([t, 2.0, 3.0], np.float32)
    return serialize_example(features)


@pytest.mark.parametrize("encode_png", [False, True])
def test_bair_tfrecord(tmp_path: Path, encode_png: bool, square_frames) -> None:
    seqs = [square_frames(30, 64, 64, seed=s) for s in range(3)]
    (tmp_path / "softmotion30_44k" / "test").mkdir(parents=True)
    path = write_tfrecord(
        tmp_path / "softmotion30_44k" / "test" / "traj_0_to_2.tfrecords",
        (bair_record(s, encode_png) for s in seqs),
    )
    index, problem = index_tfrecord(path)
    assert len(index) == 3 and problem is None
    eps = open_episodes(tmp_path / "softmotion30_44k", split="test")
    assert len(eps) == 3 and isinstance(eps[2], TFRecordEpisode) and eps[2].num_frames == 30
    np.testing.assert_array_equal(eps[2].frames(), seqs[2])
    ann = eps[1].annotations()
    assert ann is not None and ann["commands"].shape == (30, 4) and ann["endeffector_pos"][5, 0] == 5
    ds = VideoDataset(tmp_path / "softmotion30_44k", split="test", size=64)
    assert len(ds) == 3 * 29


def test_protobuf_and_crc_codecs() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert 0 <= masked_crc(b"") < 2**32
    ex = {"b": [b"x", b"yz"], "f": np.array([1.5, -2.0], np.float32), "i": np.array([3, -4, 2**40])}
    back = parse_example(serialize_example(ex))
    assert back["b"] == [b"x", b"yz"]
    np.testing.assert_array_equal(back["f"], ex["f"])
    np.testing.assert_array_equal(back["i"], ex["i"])
