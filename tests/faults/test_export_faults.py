"""Catalogue of export faults (issue 19; docs/faults.md): each test feeds one bad input or fault to
``lcvg export labels/rollouts`` (npz and Minari) and checks the message (it names the file or folder and
says what to do) and that nothing was lost: kills, full disks, ``--overwrite`` over files lcvg did not
write, damaged manifests, output folders that cannot be written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_env import atomic as atomic_module
from lcvg_env.atomic import DiskFullError
from lcvg_env.data import DataWarning, open_episodes, write_episode
from lcvg_env.data import layout as layout_module
from lcvg_env.export import minari_io
from lcvg_env.export import store as store_module
from lcvg_env.export.labels import export_labels
from lcvg_env.export.minari_io import load_minari
from lcvg_env.export.store import MANIFEST, ExportError, load_episode
from lcvg_env.outputs import OutputError
from tests.conftest import write_square_dataset
from tests.faults.conftest import enospc, fills_disk, must_not_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cli(*args: str):
    from lcvg_env.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------- exports
@pytest.fixture
def videos(tmp_path: Path) -> Path:
    """5 episodes of 6 frames, 32x32 (the tiny checkpoint's size), in the test split."""
    return write_square_dataset(tmp_path / "videos", episodes=5, frames=6, size=32)


def _labels(ckpt: Path, data: Path, out: Path, **kwargs):
    kwargs.setdefault("split", "test")
    return export_labels(ckpt, data, out, progress=False, **kwargs)


def test_a_one_frame_episode_is_left_out_of_label_export_by_name(tiny_checkpoint, videos, tmp_path):
    short = videos / "test" / "episode_00002"
    for extra in sorted(short.glob("0000[1-5].png")):
        extra.unlink()
    (short / "annotations.npz").unlink()
    with pytest.warns(DataWarning, match=r"episode_00002: 1 frame\(s\), fewer than the 2 needed"):
        summary = _labels(tiny_checkpoint, videos, tmp_path / "out", output_format="npz")
    assert summary.episodes == 4
    sources = [
        e["source"] for e in json.loads((tmp_path / "out" / MANIFEST).read_text())["episodes"].values()
    ]
    assert "episode_00002" not in sources


def test_killed_minari_rebuild_keeps_the_old_dataset_loadable(tiny_checkpoint, videos, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    out = tmp_path / "out"
    first = _labels(tiny_checkpoint, videos, out, max_episodes=3)
    assert first.episodes == 3
    calls = {"n": 0}
    original = minari_io._buffer

    def dies_mid_build(episode):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed while Minari writes the 5-episode dataset
        return original(episode)

    monkeypatch.setattr(minari_io, "_buffer", dies_mid_build)
    with pytest.raises(KeyboardInterrupt):
        _labels(tiny_checkpoint, videos, out, max_episodes=5)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(out))
    assert minari.load_dataset(first.dataset_id).total_episodes == 3  # the line the CLI prints
    assert load_minari(out).total_episodes == 3
    monkeypatch.setattr(minari_io, "_buffer", original)
    done = _labels(tiny_checkpoint, videos, out, max_episodes=5)
    assert (done.episodes, done.written) == (5, 0) and load_minari(out).total_episodes == 5
    assert not (out / ".minari-build").exists()


def test_swap_killed_between_its_renames_is_undone(tiny_checkpoint, videos, tmp_path, monkeypatch):
    pytest.importorskip("minari")
    out = tmp_path / "out"
    first = _labels(tiny_checkpoint, videos, out, max_episodes=2)
    monkeypatch.setattr(atomic_module, "_exchange", lambda a, b: False)  # no renameat2 here
    real_rename, calls = atomic_module.os.rename, {"n": 0}

    def rename(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed after parking the old dataset, before moving the new one in
        real_rename(src, dst)

    monkeypatch.setattr(atomic_module.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        _labels(tiny_checkpoint, videos, out, max_episodes=4)
    monkeypatch.setattr(atomic_module.os, "rename", real_rename)
    assert not (out / first.dataset_id).exists()  # parked as .<name>.old
    assert load_minari(out).total_episodes == 2  # put back on the next load


def test_overwrite_refuses_a_folder_with_user_files_and_deletes_nothing(tiny_checkpoint, videos, tmp_path):
    out = tmp_path / "out"
    _labels(tiny_checkpoint, videos, out, max_episodes=2)
    (out / "my_notes.txt").write_text("keep me")
    (out / "lcvg" / "someone-elses-v0").mkdir()
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(ExportError, match=r"Refusing to overwrite .*lcvg/someone-elses-v0, my_notes\.txt"):
        _labels(tiny_checkpoint, videos, out, max_episodes=2, overwrite=True, solver="reference")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    (out / "my_notes.txt").unlink()
    (out / "lcvg" / "someone-elses-v0").rmdir()
    summary = _labels(tiny_checkpoint, videos, out, max_episodes=1, overwrite=True, output_format="npz")
    assert summary.episodes == 1 and sorted(p.name for p in out.iterdir()) == ["episodes", MANIFEST]


def test_a_damaged_export_manifest_is_named_and_nothing_is_deleted(tiny_checkpoint, videos, tmp_path):
    out = tmp_path / "out"
    _labels(tiny_checkpoint, videos, out, output_format="npz", max_episodes=2)
    (out / MANIFEST).write_text("{damaged")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(ExportError, match=r"lcvg_export\.json is unreadable .*remove it or pass --overwrite"):
        _labels(tiny_checkpoint, videos, out, output_format="npz", max_episodes=3)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_export_into_a_file_is_refused(tiny_checkpoint, videos, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("data")
    with pytest.raises(OutputError, match=r"--out .*a_file is a file, not a directory"):
        _labels(tiny_checkpoint, videos, target, output_format="npz", overwrite=True)
    assert target.read_text() == "data"


@pytest.mark.parametrize("kind", ["labels", "rollouts"])
def test_export_into_a_folder_that_cannot_be_written_stops_before_the_model_loads(
    kind, tiny_checkpoint, videos, monkeypatch
):
    monkeypatch.setattr("lcvg_env.model.open_model", must_not_run)
    out = "/proc/lcvg-export"  # no one can make a folder there, not even root
    argv = ["export", kind, tiny_checkpoint, *([videos] if kind == "labels" else []), "--out", out]
    result = _cli(*argv)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"--out {out}" in result.output


def test_full_disk_during_npz_export_names_the_folder_and_keeps_the_episodes(
    tiny_checkpoint, videos, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    real, calls = np.savez_compressed, {"n": 0}

    def fills_up(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise enospc()
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module.np, "savez_compressed", fills_up)
    args = ["export", "labels", tiny_checkpoint, videos, out, "--split", "test", "--format", "npz", "--quiet"]
    result = _cli(*args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"No space left on the disk of {out}" in result.output and "episode 2" in result.output
    assert "2 finished episode(s) are kept" in result.output and "run the same command again" in result.output
    assert sorted(p.name for p in (out / "episodes").iterdir()) == ["episode_00000.npz", "episode_00001.npz"]
    kept = load_episode(out / "episodes" / "episode_00001.npz")
    monkeypatch.setattr(store_module.np, "savez_compressed", real)
    assert _cli(*args).exit_code == 0
    again = load_episode(out / "episodes" / "episode_00001.npz")
    np.testing.assert_array_equal(kept["observations"], again["observations"])
    assert len(list((out / "episodes").iterdir())) == 5


def test_full_disk_while_saving_the_manifest_is_a_message(tiny_checkpoint, videos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _labels(tiny_checkpoint, videos, out, output_format="npz", max_episodes=1)
    before = (out / MANIFEST).read_text()
    real, calls = store_module.atomic_write_json, {"n": 0}

    def fills_up(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the manifest save after episode 1
            raise enospc()
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "atomic_write_json", fills_up)
    with pytest.raises(
        ExportError, match=r"while writing lcvg_export\.json .*finished episode\(s\) are kept"
    ):
        _labels(tiny_checkpoint, videos, out, output_format="npz", max_episodes=3)
    assert (
        json.loads((out / MANIFEST).read_text())["episodes"].keys() == json.loads(before)["episodes"].keys()
    )
    monkeypatch.undo()
    assert _labels(tiny_checkpoint, videos, out, output_format="npz", max_episodes=3).episodes == 3


def test_full_disk_during_the_minari_build_keeps_the_old_dataset(
    tiny_checkpoint, videos, tmp_path, monkeypatch
):
    pytest.importorskip("minari")
    out = tmp_path / "out"
    _labels(tiny_checkpoint, videos, out, max_episodes=2)
    original, calls = minari_io._buffer, {"n": 0}

    def fills_up(episode):
        calls["n"] += 1
        if calls["n"] == 2:
            raise enospc()  # the disk fills while Minari writes the new 3-episode dataset
        return original(episode)

    monkeypatch.setattr(minari_io, "_buffer", fills_up)
    with pytest.raises(
        ExportError, match=r"No space left .* while writing Minari dataset lcvg/tiny-labels-v0"
    ):
        _labels(tiny_checkpoint, videos, out, max_episodes=3)
    assert load_minari(out).total_episodes == 2 and not (out / ".minari-build").exists()
    monkeypatch.undo()
    assert _labels(tiny_checkpoint, videos, out, max_episodes=3).episodes == 3


def test_a_minari_build_that_cannot_fit_is_refused_before_it_starts(
    tiny_checkpoint, videos, tmp_path, monkeypatch
):
    """h5py can take the process down (a segfault) when the disk fills mid-write, so a build whose
    episodes do not fit in the free space is refused before Minari writes a byte."""
    pytest.importorskip("minari")
    out = tmp_path / "out"
    _labels(tiny_checkpoint, videos, out, max_episodes=2)
    for module in (minari_io, atomic_module):
        monkeypatch.setattr(module, "free_bytes", lambda folder: 1000)  # 1 kB left on the disk
    monkeypatch.setattr(minari_io, "_build", must_not_run)
    with pytest.raises(
        ExportError, match=r"No space left .* Minari dataset .*needs about .* MB, 0\.0 MB free"
    ):
        _labels(tiny_checkpoint, videos, out, max_episodes=3)
    assert load_minari(out).total_episodes == 2  # the previous dataset stays, whole


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
    assert _cli(*args, "--seed", "5", "--overwrite").exit_code == 0
    episodes = open_episodes(root, split="train")
    assert [e.name for e in episodes] == ["00000", "00001"]  # the old third episode went with the rest
    assert not np.array_equal(episodes[0].frames(), before)


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
