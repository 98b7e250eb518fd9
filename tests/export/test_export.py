"""Action-labelled exports: labels for raw video, env rollouts, Minari round trip, resume, refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lcvg_env.export import labels as labels_module
from lcvg_env.export.labels import export_labels, label_episode
from lcvg_env.export.minari_io import load_minari
from lcvg_env.export.rollouts import PolicyConfig, export_rollouts, sample_actions
from lcvg_env.export.store import MANIFEST, ExportError, load_episode

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def moving_square(steps: int, size: int = 32, start=(6, 8), velocity=(2, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Frames (steps+1, size, size, 3) of a red square moving by ``velocity`` px/frame, and its masks."""
    frames = np.zeros((steps + 1, size, size, 3), dtype=np.uint8)
    frames[..., 1] = (np.arange(size) * 200 // size)[None, :, None]
    masks = np.zeros((steps + 1, size, size), dtype=bool)
    for t in range(steps + 1):
        x, y = start[0] + velocity[0] * t, start[1] + velocity[1] * t
        masks[t, y : y + 8, x : x + 8] = True
    frames[masks] = (230, 30, 30)
    return frames, masks


@pytest.fixture
def video_dir(tmp_path: Path) -> Path:
    """A raw-video dataset in the project's layout: 4 episodes of 6 frames, 32x32."""
    from lcvg_env.data import write_episode

    root = tmp_path / "videos"
    for i in range(4):
        frames, _ = moving_square(5, start=(4 + i, 6), velocity=(1 + i % 2, 1))
        write_episode(root / "train", f"{i:05d}", frames)
    return root


def test_label_episode_recovers_the_motion_from_given_masks() -> None:
    frames, masks = moving_square(5)
    record = label_episode(frames, masks, "translation")
    assert record.observations.shape == (6, 32, 32, 3) and record.actions.shape == (5, 2)
    np.testing.assert_allclose(record.actions, np.tile([2.0, 1.0], (5, 1)), atol=0.1)
    for key in ("mask", "control_px", "control_norm", "fit_loss", "centroid_px"):
        assert len(record.infos[key]) == 6  # one row per observation, initial frame included
    np.testing.assert_array_equal(record.infos["control_px"][0], [0.0, 0.0])
    np.testing.assert_allclose(record.infos["control_norm"][1:], record.actions * 2 / 32, atol=1e-6)


def test_labels_minari_round_trip(
    tiny_checkpoint: Path, video_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    minari = pytest.importorskip("minari")
    out = tmp_path / "labels"
    summary = export_labels(tiny_checkpoint, video_dir, out, progress=False)
    assert (summary.episodes, summary.steps, summary.written) == (4, 20, 4)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(out))
    dataset = minari.load_dataset(summary.dataset_id)
    assert dataset.total_episodes == 4 and dataset.total_steps == 20
    assert dataset.observation_space.shape == (32, 32, 3) and dataset.action_space.shape == (2,)
    episode = dataset[1]
    assert episode.observations.shape == (6, 32, 32, 3) and episode.actions.shape == (5, 2)
    stored = load_episode(out / ".episodes" / "episode_00001.npz")
    np.testing.assert_array_equal(episode.observations, stored["observations"])  # lossless frames
    np.testing.assert_array_equal(episode.infos["mask"], stored["infos"]["mask"])
    np.testing.assert_allclose(episode.actions, stored["infos"]["control_px"][1:])
    assert load_minari(out).total_episodes == 4


def test_npz_export_and_resume_after_interruption(
    tiny_checkpoint: Path, video_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    clean = export_labels(tiny_checkpoint, video_dir, tmp_path / "clean", output_format="npz", progress=False)
    calls = {"n": 0}
    original = labels_module.label_episode

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user hits Ctrl-C during the third episode
        return original(*args, **kwargs)

    out = tmp_path / "resumed"
    monkeypatch.setattr(labels_module, "label_episode", flaky)
    with pytest.raises(KeyboardInterrupt):
        export_labels(tiny_checkpoint, video_dir, out, output_format="npz", progress=False)
    assert sorted(p.name for p in (out / "episodes").iterdir()) == ["episode_00000.npz", "episode_00001.npz"]
    (out / "episodes" / ".episode_00002.half.tmp.npz").write_bytes(b"half-written")  # a crash leftover
    monkeypatch.setattr(labels_module, "label_episode", original)
    summary = export_labels(tiny_checkpoint, video_dir, out, output_format="npz", progress=False)
    assert (summary.episodes, summary.written) == (4, 2)
    names = sorted(p.name for p in (out / "episodes").iterdir())
    assert names == [f"episode_{i:05d}.npz" for i in range(4)]  # no duplicates, no temporaries
    for name in names:
        a, b = load_episode(out / "episodes" / name), load_episode(tmp_path / "clean" / "episodes" / name)
        np.testing.assert_array_equal(a["observations"], b["observations"])
        np.testing.assert_allclose(a["actions"], b["actions"], atol=1e-6)
    assert clean.episodes == 4


def test_an_existing_different_dataset_is_never_overwritten(
    tiny_checkpoint: Path, video_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export_labels(tiny_checkpoint, video_dir, out, output_format="npz", progress=False)
    before = (out / MANIFEST).read_text()
    with pytest.raises(ExportError, match=r"different export.*solver"):
        export_labels(
            tiny_checkpoint, video_dir, out, output_format="npz", solver="reference", progress=False
        )
    assert (out / MANIFEST).read_text() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds no lcvg export"):
        export_labels(tiny_checkpoint, video_dir, foreign, output_format="npz", progress=False)
    assert (foreign / "precious.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match=r"Refusing to overwrite .*precious\.txt"):
        export_labels(
            tiny_checkpoint, video_dir, foreign, output_format="npz", overwrite=True, progress=False
        )
    assert (foreign / "precious.txt").read_text() == "keep me"  # --overwrite replaces only exports
    summary = export_labels(
        tiny_checkpoint, video_dir, out, output_format="npz", overwrite=True, max_episodes=1, progress=False
    )
    assert summary.episodes == 1 and sorted(p.name for p in (out / "episodes").iterdir()) == [
        "episode_00000.npz"
    ]


def test_cli_labels_refuses_then_overwrites(tiny_checkpoint: Path, video_dir: Path, tmp_path: Path) -> None:
    from lcvg_env.cli import app

    out = tmp_path / "cli"
    args = ["export", "labels", str(tiny_checkpoint), str(video_dir), "--out", str(out), "--format", "npz"]
    args += ["--no-progress"]
    result = CliRunner().invoke(app, [*args, "--max-episodes", "2"])
    assert result.exit_code == 0, result.output
    assert '"episodes": 2' in result.output
    result = CliRunner().invoke(app, [*args, "--control", "rotation"])
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = CliRunner().invoke(app, [*args, "--control", "rotation", "--overwrite"])
    assert result.exit_code == 0 and '"episodes": 4' in result.output


def test_random_walk_policy_is_smooth_and_bounded() -> None:
    rng = np.random.default_rng(0)
    walk = sample_actions(PolicyConfig(), rng, 400, 2)
    iid = sample_actions(PolicyConfig(name="uniform"), rng, 400, 2)
    assert walk.min() >= -1 and walk.max() <= 1 and walk.std() > 0.2
    assert np.abs(np.diff(walk, axis=0)).mean() < 0.5 * np.abs(np.diff(iid, axis=0)).mean()


def test_rollouts_minari_with_exact_actions(tiny_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    minari = pytest.importorskip("minari")
    out = tmp_path / "rollouts"
    summary = export_rollouts(
        tiny_checkpoint, out, episodes=3, steps=4, num_envs=2, dtype="float32", progress=False
    )
    assert (summary.episodes, summary.steps) == (3, 12)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(out))
    dataset = minari.load_dataset(summary.dataset_id)
    assert dataset.action_space.low.tolist() == [-1.0, -1.0] and dataset.observation_space.shape == (
        32,
        32,
        3,
    )
    for episode in dataset:
        assert episode.observations.shape == (5, 32, 32, 3) and episode.actions.shape == (4, 2)
        np.testing.assert_allclose(episode.infos["control_px"][1:], episode.actions * 4.0, atol=1e-5)
        assert episode.infos["mask"].shape == (5, 32, 32)
    again = export_rollouts(
        tiny_checkpoint, out, episodes=3, steps=4, num_envs=2, dtype="float32", progress=False
    )
    assert again.written == 0 and again.episodes == 3  # resumed: nothing left to do
    with pytest.raises(
        ExportError, match=r"different export.*compile"
    ):  # compiled frames may round differently
        export_rollouts(
            tiny_checkpoint,
            out,
            episodes=3,
            steps=4,
            num_envs=2,
            dtype="float32",
            progress=False,
            compile=True,
        )


def test_mimic_command_writes_side_by_side_video(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from PIL import Image

    from lcvg_env.cli import app
    from lcvg_env.data import write_episode
    from lcvg_env.export.mimic import mimic

    frames, _ = moving_square(4)
    driving = write_episode(tmp_path / "drive", "00000", frames)
    start = tmp_path / "start.png"
    Image.fromarray(moving_square(0, start=(20, 20))[0][0]).resize((48, 48)).save(start)
    result = mimic(tiny_checkpoint, frames)
    assert result.side_by_side().shape == (5, 32, 64, 3) and result.controls_px.shape == (4, 2)
    assert mimic(tiny_checkpoint, frames, max_frames=3).controls_px.shape == (2, 2)  # the first 3 frames
    for bad in (0, 1, -2):  # a negative count was a slice from the end, 0 meant all
        with pytest.raises(ValueError, match="max_frames must be >= 2"):
            mimic(tiny_checkpoint, frames, max_frames=bad)
    out = tmp_path / "mimic.mp4"
    cli = CliRunner().invoke(
        app, ["mimic", str(tiny_checkpoint), str(driving), "--start-frame", str(start), "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    assert out.stat().st_size > 1000


def test_rollouts_command_takes_a_model_name_and_the_convention_options(tmp_path: Path, monkeypatch) -> None:
    """``lcvg export rollouts pusher_tiny --out ...`` (issue 18: a model name failed before); the old
    spellings still work, with a note."""
    from lcvg_env.cli import app

    monkeypatch.setenv("LCVG_HOME", str(tmp_path / "home"))
    out = tmp_path / "rollouts"
    argv = ["export", "rollouts", "pusher_tiny", "--out", str(out), "--episodes", "1", "--steps", "2"]
    argv += ["--n-envs", "1", "--precision", "fp32", "--format", "npz", "--no-progress", "--threads", "1"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "pusher_tiny.safetensors" in result.output  # the model file it loaded is named
    assert len(list((out / "episodes").glob("*.npz"))) == 1
    old = ["export", "rollouts", "pusher_tiny", str(tmp_path / "old"), "--episodes", "1", "--steps", "2"]
    result = CliRunner().invoke(app, [*old, "--num-envs", "1", "--quiet", "--format", "npz"])
    assert result.exit_code == 0, result.output
    assert "--num-envs is deprecated; use --n-envs" in result.output


def test_rollouts_with_the_arm_response_export_commands_and_moves(tmp_path: Path) -> None:
    """``actuation="data"``: the commands arrive over the recorded response; the export keeps both the
    commands (``commanded_px``) and the moves (``control_px``), and a resume must use the same setting."""
    from tests.env.test_actuation_env import TAPS, actuated_checkpoint

    ckpt = actuated_checkpoint(tmp_path / "a.safetensors")
    out = tmp_path / "arm"
    kwargs = dict(episodes=2, steps=3, num_envs=2, dtype="float32", output_format="npz", progress=False)
    export_rollouts(ckpt, out, actuation="data", max_displacement=4.0, **kwargs)
    episode = load_episode(sorted((out / "episodes").glob("*.npz"))[0])
    commanded, moved = episode["infos"]["commanded_px"], episode["infos"]["control_px"]
    np.testing.assert_allclose(commanded[1:], episode["actions"] * 4.0, atol=1e-5)
    np.testing.assert_allclose(moved[1], TAPS[:, 0] * commanded[1], atol=1e-5)  # the response's first tap
    assert not np.allclose(moved[1:], commanded[1:])
    with pytest.raises(ExportError, match="different export"):
        export_rollouts(ckpt, out, actuation="direct", max_displacement=4.0, **kwargs)
    plain = tmp_path / "plain"
    export_rollouts(ckpt, plain, max_displacement=4.0, **kwargs)  # the default: infos as before
    assert "commanded_px" not in load_episode(sorted((plain / "episodes").glob("*.npz"))[0])["infos"]


@pytest.mark.parametrize("kind", ["labels", "rollouts"])
def test_a_dataset_id_with_npz_is_refused_before_anything_is_written(tmp_path: Path, kind: str) -> None:
    """--dataset-id names a Minari dataset: with --format npz it was silently ignored."""
    from lcvg_env.cli import app

    out = tmp_path / "out"
    src = ["pusher_tiny", str(tmp_path / "data")] if kind == "labels" else ["pusher_tiny"]
    argv = ["export", kind, *src, "--out", str(out), "--format", "npz", "--dataset-id", "lcvg/x-v0"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1 and "with --format npz it would be ignored" in result.output
    assert not out.exists()
