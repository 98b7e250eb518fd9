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
from lcvg_env.data import DataWarning
from lcvg_env.export import minari_io
from lcvg_env.export import store as store_module
from lcvg_env.export.labels import export_labels
from lcvg_env.export.minari_io import load_minari
from lcvg_env.export.store import MANIFEST, ExportError, load_episode
from lcvg_env.outputs import OutputError
from tests.conftest import write_square_dataset
from tests.faults.conftest import enospc, fail_on_call, must_not_run

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
    # killed while Minari writes the 5-episode dataset
    original = fail_on_call(monkeypatch, minari_io, "_buffer", 3, KeyboardInterrupt())
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
    # killed after parking the old dataset, before moving the new one in
    real_rename = fail_on_call(monkeypatch, atomic_module.os, "rename", 2, KeyboardInterrupt())
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
    real = fail_on_call(monkeypatch, store_module.np, "savez_compressed", 3, enospc())
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
    fail_on_call(monkeypatch, store_module, "atomic_write_json", 2, enospc())  # the save after episode 1
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
    # the disk fills while Minari writes the new 3-episode dataset
    fail_on_call(monkeypatch, minari_io, "_buffer", 2, enospc())
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
