"""Bad input: clear messages naming the file, skip-and-count by default, raise in strict mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lcvg_env.data import DataError, DataWarning, VideoDataset, open_episodes, write_episode
from lcvg_env.data.tfrecord import serialize_example, write_tfrecord

pytestmark = pytest.mark.filterwarnings("ignore::lcvg_env.data.DataWarning")


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        open_episodes(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"No episodes found in .*empty"):
        VideoDataset(tmp_path / "empty")


def test_missing_split_names_the_present_ones(layout_root: Path) -> None:
    with pytest.raises(DataError, match="no 'test' split; it has train, val") as info:
        open_episodes(layout_root, split="test")
    assert "lcvg data" not in str(info.value)  # no generator made these splits: only "pass one of those"


@pytest.mark.parametrize(
    ("generator", "recipe", "options"),
    [
        ("pusher", {"frames": 6, "size": 32}, "--frames 6 --size 32"),
        ("breakout", {"frames": 6, "size": [32, 40]}, "--frames 6 --height 32 --width 40"),
        ("atari-tennis", {"frames": 6, "size": 32, "frameskip": 2}, "--frames 6 --size 32 --frameskip 2"),
    ],
)
def test_missing_split_of_a_generated_dataset_says_how_to_write_it_only_if_lcvg_data_can(
    layout_root: Path, generator: str, recipe: dict, options: str
) -> None:
    from lcvg_env.data.layout import update_dataset_info

    for split in ("train", "val"):
        update_dataset_info(layout_root, split, {"generator": generator, "seed": 0, **recipe})
    with pytest.raises(DataError) as info:
        open_episodes(layout_root, split="test")
    assert str(info.value) == (
        f"{layout_root} has no 'test' split; it has train, val. Pass one of those (--split NAME on the "
        f"command line, split=NAME in Python), or write a 'test' split with "
        f"`lcvg data {generator} {layout_root} --split test {options}`."
    )
    with pytest.raises(DataError, match=r"it has train, val\. Pass one of those") as info:
        open_episodes(layout_root, split="nosplit")  # `lcvg data` refuses this name: not suggested
    assert "lcvg data" not in str(info.value) and "nosplit --" not in str(info.value)
    update_dataset_info(layout_root, "val", {"generator": "something-else"})
    with pytest.raises(DataError) as info:
        open_episodes(layout_root, split="test")  # not one lcvg generator's dataset: not suggested
    assert "lcvg data" not in str(info.value)


def test_empty_episode_folder_is_skipped(layout_root: Path) -> None:
    (layout_root / "train" / "00009").mkdir()
    with pytest.warns(DataWarning, match="00009 holds no frames"):
        eps = open_episodes(layout_root)
    assert len(eps) == 3 and eps.skipped == 1
    with pytest.raises(DataError, match="00009"):
        open_episodes(layout_root, strict=True)


def test_non_image_file_among_frames(layout_root: Path) -> None:
    bad = layout_root / "train" / "00001" / "00003.png"
    bad.write_text("not a png")
    with pytest.warns(DataWarning, match=r"00001/00003\.png is not an image"):
        ds = VideoDataset(layout_root, size=(32, 40))
    assert len(ds.episodes) == 2 and ds.skipped == 1
    with pytest.raises(DataError, match=r"00003\.png"):
        VideoDataset(layout_root, strict=True)


def test_corrupt_frame_is_found_when_the_dataset_is_built(layout_root: Path) -> None:
    path = layout_root / "train" / "00002" / "00004.png"
    path.write_bytes(path.read_bytes()[:60])  # valid header, truncated data: only decoding fails
    with pytest.warns(DataWarning, match=r"00004\.png.*\n.*Delete or re-generate"):
        ds = VideoDataset(layout_root, size=(32, 40), preload=False)  # lazy, yet checked up front
    assert ds.skipped == 1 and len(ds.episodes) == 2 and len(ds) == 2 * 5
    assert len([ds[i] for i in range(len(ds))]) == len(ds) == 2 * 5  # the index never changes later
    with pytest.raises(DataError, match=r"00004\.png"):
        VideoDataset(layout_root, size=(32, 40), preload=False, strict=True)


def test_unvalidated_lazy_dataset_still_skips_a_corrupt_frame_found_late(layout_root: Path) -> None:
    path = layout_root / "train" / "00002" / "00004.png"
    path.write_bytes(path.read_bytes()[:60])
    ds = VideoDataset(layout_root, size=(32, 40), preload=False, validate=False)
    assert ds.skipped == 0
    with pytest.warns(DataWarning, match=r"Skipping broken episode.*00004\.png"):
        items = [ds[i] for i in range(len(ds))]  # never raises: the broken episode is dropped
    assert ds.skipped == 1 and len(ds.episodes) == 2 and len(items) >= 2 * 5


def test_mixed_frame_sizes(layout_root: Path) -> None:
    Image.new("RGB", (20, 20)).save(layout_root / "train" / "00000" / "00002.png")
    with pytest.warns(DataWarning, match=r"00002\.png is 20x20 but 00000\.png is 32x40"):
        eps = open_episodes(layout_root)
    assert eps.skipped == 1
    # different sizes across episodes are fine: every episode is resized to the dataset's size
    write_episode(layout_root / "train", "00005", np.full((4, 50, 70, 3), 99, np.uint8))
    with pytest.warns(DataWarning):
        ds = VideoDataset(layout_root, size=(32, 32))
    assert {ds.episode_frames(i).shape for i in range(len(ds.episodes))} == {(6, 32, 32, 3), (4, 32, 32, 3)}


def test_episodes_shorter_than_frame_skip(layout_root: Path) -> None:
    write_episode(layout_root / "train", "00007", np.full((2, 32, 40, 3), 80, np.uint8))
    with pytest.warns(DataWarning, match=r"00007: 2 frame\(s\), too short for frame_skip=3"):
        ds = VideoDataset(layout_root, frame_skip=3, size=(32, 40))
    assert ds.skipped == 1 and len(ds) == 3 * 3
    with pytest.raises(DataError, match="00007"):
        VideoDataset(layout_root, frame_skip=3, strict=True)
    with pytest.raises(DataError, match=r"No usable episode.*4 left out.*too short for frame_skip=10"):
        VideoDataset(layout_root, frame_skip=10)


def test_truncated_video(tmp_path: Path, square_frames) -> None:
    import imageio.v2 as iio

    videos = tmp_path / "videos"
    videos.mkdir()
    iio.mimwrite(videos / "good.mp4", square_frames(8, 32, 48), fps=10, macro_block_size=1)
    data = (videos / "good.mp4").read_bytes()
    (videos / "cut.mp4").write_bytes(data[: len(data) // 2])
    (videos / "notes.txt").write_text("ignored: not a video")
    with pytest.warns(DataWarning, match=r"Cannot read video .*cut\.mp4"):
        eps = open_episodes(videos)
    assert [ep.name for ep in eps] == ["good"] and eps.skipped == 1
    with pytest.raises(DataError, match=r"cut\.mp4"):
        open_episodes(videos, strict=True)


def test_truncated_tfrecord_keeps_sound_records(tmp_path: Path) -> None:
    frames = np.full((3, 8, 8, 3), 120, np.uint8)
    record = serialize_example({f"{t}/image_aux1/encoded": f.tobytes() for t, f in enumerate(frames)})
    (tmp_path / "tf").mkdir()
    path = write_tfrecord(tmp_path / "tf" / "a.tfrecords", [record] * 3)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(DataWarning, match=r"a\.tfrecords: record 2 is truncated"):
        eps = open_episodes(tmp_path / "tf")
    assert len(eps) == 2 and eps.skipped == 1 and eps[1].frames().shape == (3, 8, 8, 3)
    with pytest.raises(DataError, match="record 2 is truncated"):
        open_episodes(tmp_path / "tf", strict=True)
    (tmp_path / "tf" / "b.tfrecords").write_bytes(b"garbage")
    with pytest.warns(DataWarning, match=r"b\.tfrecords"):
        assert len(open_episodes(tmp_path / "tf")) == 2
