"""Control gain: the pure gain/cross-axis computation, the rollouts through the real env core with a fake
simulator that moves a blob as commanded, and ``lcvg control-gain`` end to end on a tiny checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lcvg_env.control_gain import (
    DIRECTIONS,
    ControlGainConfig,
    command_actions,
    direction_vectors,
    gain_and_cross,
    load_start_frames,
    make_batch,
    measure,
)
from lcvg_env.env.batch import LCVGBatch
from lcvg_env.env.config import EnvConfig
from tests.env.conftest import make_checkpoint

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ckpt32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny32.safetensors", 32)


@pytest.fixture(scope="module")
def ckpt64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny64.safetensors", SIZE)


def blob_frames(centres: np.ndarray, size: int = SIZE, sigma: float = 2.0) -> np.ndarray:
    """uint8 (N, size, size, 3): a Gaussian blob in the red channel at each (x, y) centre (sub-pixel)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros((len(centres), size, size, 3), dtype=np.uint8)
    for i, (x, y) in enumerate(centres):
        out[i, ..., 0] = np.round(255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
    return out


class BlobDetector:
    """A fake tip detector: the intensity-weighted centre of the red blob, not found when it is faint."""

    def detect(self, frames: np.ndarray) -> SimpleNamespace:
        red = frames[..., 0].astype(np.float64)  # (N, H, W)
        ys, xs = np.mgrid[0 : red.shape[1], 0 : red.shape[2]]
        mass = red.sum(axis=(1, 2))
        found = red.max(axis=(1, 2)) > 200  # most of the blob is in the frame
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = np.stack([(red * xs).sum((1, 2)) / mass, (red * ys).sum((1, 2)) / mass], axis=1)
        return SimpleNamespace(xy=np.where(found[:, None], xy, np.nan).astype(np.float32), found=found)


class BlobSim:
    """A fake simulator: a blob that moves ``gain`` times the commanded pixels, turned by ``skew`` radians;
    its "M centroid" moves half as far (so the centroid column is told apart from the detector's)."""

    def __init__(self, num_envs: int, gain: float = 1.0, skew: float = 0.0) -> None:
        self.size = (SIZE, SIZE)
        self.tracker = None  # one foreground: no player split
        self.pos = np.zeros((num_envs, 2))
        self.centroids = np.zeros((num_envs, 2), dtype=np.float32)
        c, s = np.cos(skew), np.sin(skew)
        self.turn = gain * np.array([[c, -s], [s, c]])

    def load(self, rows: np.ndarray, frames: np.ndarray) -> None:
        self.pos[rows] = BlobDetector().detect(frames).xy
        self.centroids[rows] = self.pos[rows]

    def step(self, controls_norm: np.ndarray) -> None:
        px = controls_norm[:, :2] * np.array([SIZE / 2, SIZE / 2])  # normalized units -> pixels
        moved = px @ self.turn.T
        self.pos += moved
        self.centroids = (self.centroids + moved / 2).astype(np.float32)

    def observations(self) -> np.ndarray:
        return blob_frames(self.pos)

    def mask_arrays(self) -> np.ndarray:
        return np.zeros((len(self.pos), SIZE, SIZE), dtype=bool)


def blob_batch(ckpt: Path, num_envs: int, max_displacement: float = 4.0, **sim) -> LCVGBatch:
    batch = LCVGBatch(ckpt, num_envs, EnvConfig(task="none", max_displacement=max_displacement))
    batch.sim = BlobSim(num_envs, **sim)
    return batch


def test_directions_are_unit_vectors_in_image_coordinates():
    u = direction_vectors()
    names = [n for n, _ in DIRECTIONS]
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0)
    assert np.allclose(u[names.index("E")], (1, 0)) and np.allclose(u[names.index("N")], (0, -1))
    assert np.allclose(u[names.index("SW")], (-np.sqrt(0.5), np.sqrt(0.5)))


def test_gain_and_cross_on_synthetic_tracks():
    u = direction_vectors()  # (8, 2)
    commanded, steps = np.array([1.0, 4.0]), np.array([1.0, 5.0])
    start = np.array([[30.0, 20.0], [10.0, 40.0]])  # (S=2, 2)
    angle, scale = np.deg2rad(30), 0.5  # the motion is half as long and turned by 30 degrees
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    px = commanded[:, None] * steps[None, :]  # (F, K) commanded pixels in total
    motion = (u @ rot.T)[None, :, None, None, :] * px[None, None, :, :, None]  # (1, D, F, K, 2)
    tracks = np.concatenate(
        [np.broadcast_to(start[:, None, None, None], (2, 8, 2, 1, 2)), start[:, None, None, None] + motion],
        axis=3,
    )  # (S, D, F, 1 + K, 2)
    gain, cross = gain_and_cross(tracks, u, commanded, steps)
    assert gain.shape == cross.shape == (2, 8, 2, 2)
    assert np.allclose(gain, scale * np.cos(angle)) and np.allclose(cross, scale * np.sin(angle))
    tracks[0, 3, 1, 2] = np.nan  # lost after 5 steps
    gain, _ = gain_and_cross(tracks, u, commanded, steps)
    assert np.isnan(gain[0, 3, 1, 1]) and np.isfinite(gain).sum() == gain.size - 1


def test_commands_are_the_direction_times_the_fraction(ckpt64):
    actions = command_actions(make_batch(ckpt64, 1, ControlGainConfig()), (0.25, 1.0))  # (8, 2, 2)
    assert actions.shape == (8, 2, 2)
    assert np.allclose(np.linalg.norm(actions, axis=-1), [0.25, 1.0])
    assert np.allclose(actions[2, 1], (0, -1))  # N at 100 %: up


@pytest.mark.parametrize(("max_displacement", "gain", "skew"), [(4.0, 1.0, 0.0), (2.0, 0.5, 0.4)])
def test_a_sim_that_moves_as_commanded_has_gain_one(ckpt64, max_displacement, gain, skew):
    cfg = ControlGainConfig(starts=3, fractions=(0.5, 1.0), steps=(1, 3), batch_size=10)
    batch = blob_batch(ckpt64, cfg.batch_size, max_displacement, gain=gain, skew=skew)
    starts = blob_frames(np.array([[32.0, 32.0], [28.5, 35.2], [36.0, 30.0]]))
    result = measure(batch, BlobDetector(), starts, cfg)
    assert result.gain.shape == (3, 8, 2, 2) and result.start_found.all()
    assert np.allclose(result.gain, gain * np.cos(skew), atol=0.03)
    assert np.allclose(result.cross, gain * abs(np.sin(skew)), atol=0.03)
    assert np.allclose(result.centroid_gain, gain * np.cos(skew) / 2, atol=1e-4)  # the sim's "M" view
    rows = result.rows()
    assert len(rows) == 8 * 2 * 2 and {r["commanded_px_per_step"] for r in rows} == {
        0.5 * max_displacement,
        max_displacement,
    }
    assert all(r["lost"] == 0 for r in rows)
    summary = result.summary()
    assert len(summary) == 4 and all(abs(s["worst_gain"] - gain * np.cos(skew)) < 0.03 for s in summary)
    noop = result.noop()  # the blob stays put under action 0
    assert [r["steps"] for r in noop] == [1, 3] and all(r["tip_px"] < 0.01 and r["lost"] == 0 for r in noop)


def test_a_tip_leaving_the_frame_is_counted_as_lost(ckpt64):
    cfg = ControlGainConfig(starts=2, fractions=(1.0,), steps=(1, 10), batch_size=16)
    batch = blob_batch(ckpt64, cfg.batch_size)
    result = measure(batch, BlobDetector(), blob_frames(np.array([[52.0, 32.0], [50.0, 30.0]])), cfg)
    lost = {(r["direction"], r["steps"]): r["lost"] for r in result.rows()}
    assert lost[("E", 10)] == 1.0 and lost[("E", 1)] == 0.0 and lost[("W", 10)] == 0.0
    ten = next(s for s in result.summary() if s["steps"] == 10)
    assert ten["worst_gain_direction"] != "E"  # lost everywhere: no median, not the worst


def test_bad_settings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="fractions"):
        ControlGainConfig(fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match="steps"):
        ControlGainConfig(steps=(5, 1))
    with pytest.raises(ValueError, match="starts"):
        ControlGainConfig(starts=0)


def test_too_few_episodes_says_what_to_pass(tmp_path):
    from lcvg_env.data import write_episode

    for i in range(2):
        write_episode(tmp_path / "test", f"{i:05d}", blob_frames(np.array([[20.0, 20.0]] * 3)))
    assert load_start_frames(tmp_path, "test", 2, (32, 32)).shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="--starts 2"):
        load_start_frames(tmp_path, "test", 5, (SIZE, SIZE))


def test_json_of_a_result_is_strict(ckpt64):
    cfg = ControlGainConfig(starts=1, fractions=(1.0,), steps=(10,), batch_size=8)
    result = measure(blob_batch(ckpt64, 8), BlobDetector(), blob_frames(np.array([[56.0, 32.0]])), cfg)
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))  # lost tips are null, not NaN
    assert {r["direction"]: r["gain"] for r in data["rows"]}["E"] is None


def random_detector(path: Path, threshold: float) -> Path:
    """A tiny random-weight detector of the real class, saved as a file (presence decided by threshold)."""
    from lcvg_env.metrics.detector import DetectorConfig, TipDetector, save_detector

    torch.manual_seed(0)
    save_detector(TipDetector(DetectorConfig(channels=(4, 4, 4, 4), threshold=threshold)), path, {})
    return path


def write_starts(root: Path, episodes: int) -> Path:
    from lcvg_env.data import write_episode

    for i in range(episodes):
        write_episode(root / "test", f"{i:05d}", blob_frames(np.array([[20.0 + 3 * i, 30.0]] * 2)))
    return root


def test_command_runs_the_real_detector_class(ckpt32, tmp_path):
    from typer.testing import CliRunner

    from lcvg_env.cli import app

    det = random_detector(tmp_path / "det.safetensors", threshold=0.01)  # finds a "tip" everywhere
    out = tmp_path / "gain.json"
    args = ["control-gain", str(ckpt32), str(write_starts(tmp_path / "data", 2)), "--detector", str(det)]
    result = CliRunner().invoke(app, [*args, "--starts", "2", "--json", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "summary over the 8 directions" in result.output and "max_displacement = 4 px" in result.output
    data = json.loads(out.read_text())
    assert len(data["rows"]) == 8 * 3 * 3 and len(data["summary"]) == 3 * 3
    assert all(r["lost"] == 0 and r["gain"] is not None for r in data["rows"])
    assert data["meta"]["start_frames_with_tip"] == 2 and len(data["noop"]) == 3
    assert data["meta"]["detector_file"] == str(det)
    assert "no-op command" in result.output


def test_a_detector_that_finds_nothing_loses_every_start(ckpt32, tmp_path):
    from lcvg_env.metrics.detector import load_detector

    det = load_detector(random_detector(tmp_path / "det.safetensors", threshold=0.99))
    cfg = ControlGainConfig(starts=2, fractions=(1.0,), steps=(2,), batch_size=16)
    starts = blob_frames(np.array([[20.0, 20.0], [12.0, 16.0]]), size=32)
    result = measure(make_batch(ckpt32, 16, cfg), det, starts, cfg)
    assert not result.start_found.any() and all(r["lost"] == 1.0 and r["gain"] is None for r in result.rows())
    assert np.isfinite(result.centroid_gain).any()  # M's own view does not depend on the detector
    assert result.noop()[0]["lost"] == 1.0 and result.noop()[0]["tip_px"] is None


def test_command_errors_name_the_fix(ckpt32, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lcvg_env.cli import app

    data = write_starts(tmp_path / "data", 1)
    base = ["control-gain", str(ckpt32), str(data)]
    result = CliRunner().invoke(app, [*base, "--detector", str(tmp_path / "none.safetensors")])
    assert result.exit_code == 1 and "--detector pusher" in result.output
    det = random_detector(tmp_path / "det.safetensors", 0.5)
    result = CliRunner().invoke(app, [*base, "--detector", str(det)])  # 48 starts asked, 1 episode
    assert result.exit_code == 1 and "--starts 1" in result.output
    monkeypatch.setitem(sys.modules, "lcvg_env.metrics.detector", None)  # an install without it
    result = CliRunner().invoke(app, [*base, "--detector", str(det), "--starts", "1"])
    assert result.exit_code == 1 and "tip detector is not available" in result.output
